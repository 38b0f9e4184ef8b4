//! The judge's classifier (`vae-gpu score`): an MLP over the flattened image, ReLU between dense
//! layers, softmax cross-entropy on the labels. It reuses the VAE's kernels (gather, matmul,
//! bias + activation, Adam) and adds `softmax_xent`. Its penultimate layer's outputs are the
//! features the Fréchet distance compares.

use super::{init_dense_layers, DenseLayer, DenseParams, FlatAllocator, GradInput, ParamTensor};
use crate::backend::{Backend, BackendError};
use crate::kernels::adam::HEALTHY;
use crate::kernels::softmax_xent::CrossEntropy;
use crate::kernels::{Activation, Adam, Op, SoftmaxXent, SumInto};
use crate::model::DeviceData;
use crate::ops::{BufferId, View};

/// The host Philox stream of the classifier's initial parameters.
const CLASSIFIER_INIT_STREAM: u32 = 0x1D6E;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassifierConfig {
    pub input_dim: usize,
    /// Hidden widths; the last is the feature size.
    pub hidden: Vec<usize>,
    pub classes: usize,
}

impl ClassifierConfig {
    pub fn describe(&self) -> String {
        let widths: Vec<String> = std::iter::once(self.input_dim)
            .chain(self.hidden.iter().copied())
            .chain([self.classes])
            .map(|w| w.to_string())
            .collect();
        format!("MLP {}", widths.join("-"))
    }

    /// Width of the features (the last hidden layer's outputs).
    pub fn feature_dim(&self) -> usize {
        *self.hidden.last().expect("a classifier has a hidden layer")
    }
}

/// Dense layers in one flat buffer (offsets multiples of 4 floats), named as an `nn.Sequential`
/// of Linear and ReLU modules: `layers.0.weight`, `layers.2.weight`, ….
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierLayout {
    pub layers: Vec<DenseLayer>,
    pub tensors: Vec<ParamTensor>,
    pub len: usize,
}

impl ClassifierLayout {
    pub fn new(config: &ClassifierConfig) -> Self {
        let widths: Vec<usize> = std::iter::once(config.input_dim)
            .chain(config.hidden.iter().copied())
            .chain([config.classes])
            .collect();
        let last = widths.len() - 2;
        let mut flat = FlatAllocator::default();
        let mut layers = Vec::new();
        let mut tensors = Vec::new();
        for (i, pair) in widths.windows(2).enumerate() {
            let activation = if i == last {
                Activation::Identity
            } else {
                Activation::Relu
            };
            let layer = flat.dense(pair[0], pair[1], activation);
            tensors.extend(FlatAllocator::linear_tensors(
                &format!("layers.{}", 2 * i),
                &layer,
            ));
            layers.push(layer);
        }
        Self {
            layers,
            tensors,
            len: flat.len,
        }
    }

    /// PyTorch's `nn.Linear` default: weights and biases uniform in ±1/sqrt(fan_in), from a
    /// seeded Philox stream.
    pub fn init_parameters(&self, seed: u64) -> Vec<f32> {
        let mut params = vec![0.0f32; self.len];
        init_dense_layers(
            &mut params,
            self.layers.iter(),
            seed,
            CLASSIFIER_INIT_STREAM,
        );
        params
    }
}

/// The classifier's buffers on one backend, for up to `capacity` rows per program.
pub struct Classifier {
    pub config: ClassifierConfig,
    pub layout: ClassifierLayout,
    pub capacity: usize,
    pub params: BufferId,
    pub grads: BufferId,
    adam_m: BufferId,
    adam_v: BufferId,
    health: BufferId,
    input: BufferId,
    /// Per layer: its output and that output's gradient.
    out: Vec<BufferId>,
    grad: Vec<BufferId>,
    probs: BufferId,
    loss_rows: BufferId,
    /// The summed cross-entropy since the last reset.
    loss_sum: BufferId,
}

fn rows_of(buffer: BufferId, rows: usize, width: usize) -> View {
    View::whole(buffer, rows * width)
}

impl Classifier {
    pub fn new<B: Backend>(
        backend: &mut B,
        config: ClassifierConfig,
        capacity: usize,
    ) -> Result<Self, BackendError> {
        let layout = ClassifierLayout::new(&config);
        let mut buffer = |label: &str, len: usize| backend.create_buffer(label, len.max(1));
        let mut out = Vec::new();
        let mut grad = Vec::new();
        for (i, layer) in layout.layers.iter().enumerate() {
            out.push(buffer(
                &format!("classifier output {i}"),
                capacity * layer.outputs,
            )?);
            grad.push(buffer(
                &format!("classifier gradient {i}"),
                capacity * layer.outputs,
            )?);
        }
        let classifier = Self {
            params: buffer("classifier parameters", layout.len)?,
            grads: buffer("classifier gradients", layout.len)?,
            adam_m: buffer("classifier adam m", layout.len)?,
            adam_v: buffer("classifier adam v", layout.len)?,
            health: buffer("classifier non-finite parameter record", 2)?,
            input: buffer("classifier input batch", capacity * config.input_dim)?,
            probs: buffer("class probabilities", capacity * config.classes)?,
            loss_rows: buffer("cross-entropy per row", capacity)?,
            loss_sum: buffer("cross-entropy sum", 1)?,
            out,
            grad,
            config,
            layout,
            capacity,
        };
        backend.write_u32(classifier.health, 0, &[HEALTHY; 2]);
        Ok(classifier)
    }

    fn dense(&self) -> DenseParams {
        DenseParams {
            params: self.params,
            grads: self.grads,
        }
    }

    fn check_rows(&self, rows: usize) {
        assert!(
            rows > 0 && rows <= self.capacity,
            "a program of {rows} rows on a classifier built for at most {}",
            self.capacity
        );
    }

    /// The features of the last replay: the last hidden layer's outputs (rows × feature_dim).
    pub fn features(&self, rows: usize) -> View {
        let i = self.layout.layers.len() - 2;
        rows_of(self.out[i], rows, self.config.feature_dim())
    }

    /// p(y|x) of the last replay (rows × classes).
    pub fn probabilities(&self, rows: usize) -> View {
        rows_of(self.probs, rows, self.config.classes)
    }

    /// gather → dense layers → softmax (and, with labels, the cross-entropy and its gradient).
    fn forward(
        &self,
        ops: &mut Vec<Op>,
        data: &DeviceData,
        perm: View,
        rows: usize,
        labels: Option<View>,
    ) {
        self.check_rows(rows);
        assert_eq!(
            data.dim, self.config.input_dim,
            "data and model sizes differ"
        );
        let mut input = rows_of(self.input, rows, self.config.input_dim);
        ops.extend(data.gather(perm, input, rows, None, 1));
        for (i, layer) in self.layout.layers.iter().enumerate() {
            let out = rows_of(self.out[i], rows, layer.outputs);
            self.dense()
                .forward(ops, layer, input, out, rows, layer.activation);
            input = out;
        }
        let last = self.layout.layers.len() - 1;
        let classes = self.config.classes;
        ops.push(
            SoftmaxXent {
                logits: input,
                probs: self.probabilities(rows),
                cross_entropy: labels.map(|labels| CrossEntropy {
                    labels,
                    loss: rows_of(self.loss_rows, rows, 1),
                    grad: Some(rows_of(self.grad[last], rows, classes)),
                }),
                rows,
                classes,
            }
            .into(),
        );
    }

    /// Images `perm[frame.batch_start ..][.. rows]` through the network: `features` and
    /// `probabilities` hold the result.
    pub fn classify(&self, data: &DeviceData, perm: View, rows: usize) -> Vec<Op> {
        let mut ops = Vec::new();
        self.forward(&mut ops, data, perm, rows, None);
        ops
    }

    /// The batch's forward pass, its cross-entropy added to the loss sum, and the gradient of
    /// `frame.grad_scale ×` the summed cross-entropy w.r.t. every parameter (no update). Labels
    /// are read at `labels[frame.batch_start ..]`, in the order of `perm`.
    pub fn forward_backward(
        &self,
        data: &DeviceData,
        perm: View,
        labels: View,
        rows: usize,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        self.forward(&mut ops, data, perm, rows, Some(labels));
        ops.push(
            SumInto {
                src: rows_of(self.loss_rows, rows, 1),
                dst: View::whole(self.loss_sum, 1),
                accumulate: true,
            }
            .into(),
        );
        let layers = &self.layout.layers;
        for i in (0..layers.len()).rev() {
            let layer = &layers[i];
            let (below, grad_below) = if i == 0 {
                (rows_of(self.input, rows, layer.inputs), None)
            } else {
                // The input gradient's store applies the slope of the layer below.
                let grad = GradInput {
                    view: rows_of(self.grad[i - 1], rows, layer.inputs),
                    slope: Some(self.layout.layers[i - 1].activation),
                };
                (rows_of(self.out[i - 1], rows, layer.inputs), Some(grad))
            };
            self.dense().backward(
                &mut ops,
                layer,
                below,
                rows_of(self.out[i], rows, layer.outputs),
                rows_of(self.grad[i], rows, layer.outputs),
                grad_below,
                rows,
                i + 1 < self.layout.layers.len(),
            );
        }
        ops
    }

    /// A training step: `forward_backward` and one Adam update of every parameter.
    pub fn train_step(&self, data: &DeviceData, perm: View, labels: View, rows: usize) -> Vec<Op> {
        let mut ops = self.forward_backward(data, perm, labels, rows);
        let n = self.layout.len;
        ops.push(
            Adam {
                params: View::whole(self.params, n),
                grads: View::whole(self.grads, n),
                m: View::whole(self.adam_m, n),
                v: View::whole(self.adam_v, n),
                norm_sq: None,
                health: View::whole(self.health, 2),
            }
            .into(),
        );
        ops
    }

    pub fn write_parameters<B: Backend>(&self, backend: &mut B, values: &[f32]) {
        assert_eq!(values.len(), self.layout.len, "classifier parameter count");
        backend.write_f32(self.params, 0, values);
    }

    pub fn read_parameters<B: Backend>(&self, backend: &mut B) -> Result<Vec<f32>, BackendError> {
        backend.read_f32(self.params, 0, self.layout.len)
    }

    pub fn read_gradients<B: Backend>(&self, backend: &mut B) -> Result<Vec<f32>, BackendError> {
        backend.read_f32(self.grads, 0, self.layout.len)
    }

    /// The summed cross-entropy since the last reset, and resets it.
    pub fn take_loss_sum<B: Backend>(&self, backend: &mut B) -> Result<f32, BackendError> {
        let sum = backend.read_f32(self.loss_sum, 0, 1)?[0];
        backend.write_f32(self.loss_sum, 0, &[0.0]);
        Ok(sum)
    }

    /// Whether Adam ever made a parameter non-finite.
    pub fn diverged<B: Backend>(&self, backend: &mut B) -> Result<bool, BackendError> {
        Ok(backend.read_u32(self.health, 0, 1)?[0] != HEALTHY)
    }
}
