//! A dense layer's forward and backward op lists, shared by every model (the VAE's encoder and
//! decoder, the judge's classifier): `y = act(x·Wᵀ + b)`, one product with the bias and the
//! activation fused into its store, and its gradients.

use super::DenseLayer;
use crate::kernels::matmul::Epilogue;
use crate::kernels::{Activation, BiasActBackward, MatMul, Op};
use crate::ops::{BufferId, View};

/// Where a layer's backward writes dLoss/d(input).
#[derive(Clone, Copy, Debug)]
pub struct GradInput {
    pub view: View,
    /// The activation of the layer below, when `view` is the gradient of that layer's output
    /// (no dropout between): the product's store then multiplies by that activation's slope,
    /// taken from this layer's input (`Epilogue::Slope`), and the layer below's backward is told
    /// so (`slope_applied`) and skips its `bias_act_backward`.
    pub slope: Option<Activation>,
}

/// The flat buffers a model's dense layers read their parameters from and write gradients to.
#[derive(Clone, Copy, Debug)]
pub struct DenseParams {
    pub params: BufferId,
    pub grads: BufferId,
}

impl DenseParams {
    /// `len` parameters from `offset` of the flat parameter buffer.
    pub fn param(&self, offset: usize, len: usize) -> View {
        View {
            buffer: self.params,
            offset,
            len,
        }
    }

    /// Their gradients' view in the flat gradient buffer.
    pub fn grad(&self, offset: usize, len: usize) -> View {
        View {
            buffer: self.grads,
            offset,
            len,
        }
    }

    /// `out = act(input · Wᵀ + b)` over `rows` rows (`act` replaces the layer's own activation).
    pub fn forward(
        &self,
        ops: &mut Vec<Op>,
        layer: &DenseLayer,
        input: View,
        out: View,
        rows: usize,
        act: Activation,
    ) {
        ops.push(
            MatMul {
                a: input,
                b: self.param(layer.weight, layer.outputs * layer.inputs),
                c: out,
                m: rows,
                n: layer.outputs,
                k: layer.inputs,
                trans_a: false,
                trans_b: true,
                accumulate: false,
                // Bias and activation in the product's store: the output is written once.
                epilogue: Some(Epilogue::BiasAct {
                    bias: self.param(layer.bias, layer.outputs),
                    act,
                }),
            }
            .into(),
        );
    }

    /// Given dLoss/d(output) in `grad_out` (of the activated `output`; with `slope_applied`, of
    /// the pre-activation value already), turns it into the pre-activation gradient in place,
    /// writes the layer's weight and bias gradients and, if asked, dLoss/d(input) into `grad_in`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        ops: &mut Vec<Op>,
        layer: &DenseLayer,
        input: View,
        output: View,
        grad_out: View,
        grad_in: Option<GradInput>,
        rows: usize,
        slope_applied: bool,
    ) {
        if layer.activation != Activation::Identity && !slope_applied {
            ops.push(
                BiasActBackward {
                    grad: grad_out,
                    y: output,
                    rows,
                    cols: layer.outputs,
                    act: layer.activation,
                }
                .into(),
            );
        }
        // dW[out, in] = gᵀ · input, and db = the sums of g over the rows from the same loads.
        ops.push(
            MatMul {
                a: grad_out,
                b: input,
                c: self.grad(layer.weight, layer.outputs * layer.inputs),
                m: layer.outputs,
                n: layer.inputs,
                k: rows,
                trans_a: true,
                trans_b: false,
                accumulate: false,
                epilogue: Some(Epilogue::RowSums {
                    sums: self.grad(layer.bias, layer.outputs),
                }),
            }
            .into(),
        );
        // dInput[rows, in] = g · W
        // (times the slope of the layer below, taken from its output: this layer's input)
        if let Some(grad_in) = grad_in {
            let slope = grad_in
                .slope
                .filter(|&act| act != Activation::Identity)
                .map(|act| Epilogue::Slope { y: input, act });
            ops.push(
                MatMul {
                    a: grad_out,
                    b: self.param(layer.weight, layer.outputs * layer.inputs),
                    c: grad_in.view,
                    m: rows,
                    n: layer.inputs,
                    k: layer.outputs,
                    trans_a: false,
                    trans_b: false,
                    accumulate: false,
                    epilogue: slope,
                }
                .into(),
            );
        }
    }
}
