//! Where each weight and bias lives in the flat parameter buffer, and its PyTorch-style name.
//!
//! One flat buffer lets the optimizer update the whole model in one dispatch. Weights are stored
//! [out, in] row-major, as `nn.Linear` keeps them, so checkpoints are plain copies. Every tensor
//! starts at a multiple of 4 floats so that the vec4 kernels can read it.

use super::VaeConfig;
use crate::kernels::Activation;

/// Offsets are aligned to this many floats (one vec4).
const ALIGN: usize = 4;

#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    pub inputs: usize,
    pub outputs: usize,
    /// Offset of the [outputs, inputs] weight.
    pub weight: usize,
    /// Offset of the [outputs] bias.
    pub bias: usize,
    pub activation: Activation,
}

/// A named tensor of the checkpoint: a range of the flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl ParamTensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamLayout {
    /// Hidden layers, then the head that outputs [mu | logvar] (2·latent, identity).
    pub encoder: Vec<DenseLayer>,
    /// Mirrored hidden layers, then the output layer (logits, identity).
    pub decoder: Vec<DenseLayer>,
    pub tensors: Vec<ParamTensor>,
    /// Offset of the Gaussian likelihood's learned per-pixel log-variance, when it has one.
    pub likelihood_logvar: Option<usize>,
    /// Length of the flat buffer, padding included.
    pub len: usize,
}

/// Hands out aligned ranges of a flat parameter buffer, in order.
#[derive(Default)]
pub struct FlatAllocator {
    /// Length so far, padding included.
    pub len: usize,
}

impl FlatAllocator {
    /// The offset of `count` new values (a multiple of `ALIGN`).
    pub fn alloc(&mut self, count: usize) -> usize {
        let offset = self.len;
        self.len += count.div_ceil(ALIGN) * ALIGN;
        offset
    }

    /// A dense layer's weight, then its bias.
    pub fn dense(&mut self, inputs: usize, outputs: usize, activation: Activation) -> DenseLayer {
        DenseLayer {
            inputs,
            outputs,
            weight: self.alloc(inputs * outputs),
            bias: self.alloc(outputs),
            activation,
        }
    }

    /// The checkpoint tensors of a layer named as an `nn.Linear` at `prefix`.
    pub fn linear_tensors(prefix: &str, layer: &DenseLayer) -> [ParamTensor; 2] {
        [
            ParamTensor {
                name: format!("{prefix}.weight"),
                shape: vec![layer.outputs, layer.inputs],
                offset: layer.weight,
            },
            ParamTensor {
                name: format!("{prefix}.bias"),
                shape: vec![layer.outputs],
                offset: layer.bias,
            },
        ]
    }
}

impl ParamLayout {
    pub fn new(config: &VaeConfig) -> Self {
        let mut flat = FlatAllocator::default();
        let mut layer = |inputs: usize, outputs: usize, activation: Activation| {
            flat.dense(inputs, outputs, activation)
        };
        let l = config.latent;
        let mut encoder = Vec::new();
        let mut width = config.input_dim;
        for &h in &config.hidden {
            encoder.push(layer(width, h, config.activation));
            width = h;
        }
        encoder.push(layer(width, 2 * l, Activation::Identity));
        let mut decoder = Vec::new();
        let mut width = l;
        for &h in config.hidden.iter().rev() {
            decoder.push(layer(width, h, config.activation));
            width = h;
        }
        decoder.push(layer(width, config.input_dim, Activation::Identity));

        // Names as an nn.Sequential with activations between the Linear modules (indices 0, 2,
        // …), and separate mu / logvar heads, which are the two halves of the fused head here.
        let mut tensors = Vec::new();
        let mut linear = |prefix: String, layer: &DenseLayer| {
            tensors.extend(FlatAllocator::linear_tensors(&prefix, layer));
        };
        let (head, hidden) = encoder.split_last().expect("the encoder has a head");
        for (i, layer) in hidden.iter().enumerate() {
            linear(format!("encoder.{}", 2 * i), layer);
        }
        for (i, layer) in decoder.iter().enumerate() {
            linear(format!("decoder.{}", 2 * i), layer);
        }
        let w = head.inputs;
        for (half, name) in ["mu", "logvar"].into_iter().enumerate() {
            tensors.push(ParamTensor {
                name: format!("{name}.weight"),
                shape: vec![l, w],
                offset: head.weight + half * l * w,
            });
            tensors.push(ParamTensor {
                name: format!("{name}.bias"),
                shape: vec![l],
                offset: head.bias + half * l,
            });
        }
        let likelihood_logvar = config.likelihood.learns_variance().then(|| {
            let offset = flat.alloc(config.input_dim);
            tensors.push(ParamTensor {
                name: "likelihood.logvar".to_string(),
                shape: vec![config.input_dim],
                offset,
            });
            offset
        });
        Self {
            encoder,
            decoder,
            tensors,
            likelihood_logvar,
            len: flat.len,
        }
    }

    /// The tensor holding flat parameter `index`; `None` in the padding between tensors.
    pub fn tensor_at(&self, index: usize) -> Option<&ParamTensor> {
        self.tensors
            .iter()
            .find(|t| (t.offset..t.offset + t.len()).contains(&index))
    }

    /// Every dense layer, encoder first.
    pub fn layers(&self) -> impl Iterator<Item = &DenseLayer> {
        self.encoder.iter().chain(&self.decoder)
    }

    /// Number of trainable values (padding excluded).
    pub fn parameter_count(&self) -> usize {
        self.tensors.iter().map(ParamTensor::len).sum()
    }
}
