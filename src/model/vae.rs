//! The VAE's buffers and the op lists of its programs. Nothing here knows which backend runs them.

use super::{ParamLayout, VaeConfig};
use crate::backend::{Backend, BackendError};
use crate::kernels::{
    Activation, Adam, BceRows, BiasAct, BiasActBackward, ColumnSum, Gather, KlBackward, KlRows,
    MatMul, Normal, Op, Reparameterize, ReparameterizeBackward, SumInto,
};
use crate::ops::{BufferId, View};

/// Philox streams (third counter word) of the model's draws, so that no two uses share numbers.
pub const TRAIN_STREAM: u32 = 0;
pub const EVAL_STREAM: u32 = 1;
pub const SAMPLE_STREAM: u32 = 2;

/// Loss sums kept on the device, read back only when reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Σ over the last training batch of the reconstruction NLL / of the KL.
    StepBce,
    StepKl,
    /// Σ over the training batches since the last reset.
    TrainBce,
    TrainKl,
    /// Σ over the evaluation batches since the last reset.
    EvalBce,
    EvalKl,
}

const METRIC_SLOTS: usize = 8;

impl Metric {
    fn slot(self) -> usize {
        self as usize
    }
}

/// A data set resident on the device: u8 pixels packed into u32 words.
#[derive(Clone, Copy, Debug)]
pub struct DeviceData {
    pub data: View,
    pub dim: usize,
    pub count: usize,
}

impl DeviceData {
    /// Uploads `images` (count × dim bytes) once.
    pub fn upload<B: Backend>(
        backend: &mut B,
        images: &[u8],
        dim: usize,
    ) -> Result<Self, BackendError> {
        let words = crate::data::pack_bytes(images);
        let data = backend.create_buffer("data set (u8)", words.len())?;
        backend.write_u32(data, 0, &words);
        Ok(Self {
            data: View::whole(data, words.len()),
            dim,
            count: images.len() / dim,
        })
    }
}

/// The model's buffers on one backend, sized for up to `capacity` rows per program.
pub struct Vae {
    pub config: VaeConfig,
    pub layout: ParamLayout,
    pub capacity: usize,
    pub params: BufferId,
    pub grads: BufferId,
    adam_m: BufferId,
    adam_v: BufferId,
    /// The batch the encoder reads (rows × input_dim).
    pub input: BufferId,
    enc_out: Vec<BufferId>,
    enc_grad: Vec<BufferId>,
    z: BufferId,
    eps: BufferId,
    grad_z: BufferId,
    dec_out: Vec<BufferId>,
    dec_grad: Vec<BufferId>,
    bce_rows: BufferId,
    kl_rows: BufferId,
    metrics: BufferId,
}

fn rows_of(buffer: BufferId, rows: usize, width: usize) -> View {
    View::whole(buffer, rows * width)
}

impl Vae {
    /// Creates every buffer (parameters zero until written; see `init_parameters`).
    pub fn new<B: Backend>(
        backend: &mut B,
        config: VaeConfig,
        capacity: usize,
    ) -> Result<Self, BackendError> {
        let layout = ParamLayout::new(&config);
        let mut f32_buffer = |label: &str, len: usize| backend.create_buffer(label, len.max(1));
        let params = f32_buffer("parameters", layout.len)?;
        let grads = f32_buffer("gradients", layout.len)?;
        let adam_m = f32_buffer("adam m", layout.len)?;
        let adam_v = f32_buffer("adam v", layout.len)?;
        let input = f32_buffer("input batch", capacity * config.input_dim)?;
        let z = f32_buffer("z", capacity * config.latent)?;
        let eps = f32_buffer("eps", capacity * config.latent)?;
        let grad_z = f32_buffer("z gradient", capacity * config.latent)?;
        let bce_rows = f32_buffer("reconstruction loss per row", capacity)?;
        let kl_rows = f32_buffer("kl per row", capacity)?;
        let metrics = f32_buffer("metrics", METRIC_SLOTS)?;
        // One output and one output-gradient buffer per layer.
        let mut per_layer = |prefix: &str, layers: &[super::DenseLayer]| {
            layers
                .iter()
                .enumerate()
                .map(|(i, l)| f32_buffer(&format!("{prefix} {i}"), capacity * l.outputs))
                .collect::<Result<Vec<_>, _>>()
        };
        let enc_out = per_layer("encoder output", &layout.encoder)?;
        let enc_grad = per_layer("encoder output gradient", &layout.encoder)?;
        let dec_out = per_layer("decoder output", &layout.decoder)?;
        let dec_grad = per_layer("decoder output gradient", &layout.decoder)?;
        Ok(Self {
            config,
            layout,
            capacity,
            params,
            grads,
            adam_m,
            adam_v,
            input,
            enc_out,
            enc_grad,
            z,
            eps,
            grad_z,
            dec_out,
            dec_grad,
            bce_rows,
            kl_rows,
            metrics,
        })
    }

    fn check_rows(&self, rows: usize) {
        assert!(
            rows > 0 && rows <= self.capacity,
            "a program of {rows} rows on a model built for at most {}",
            self.capacity
        );
    }

    fn param(&self, offset: usize, len: usize) -> View {
        View {
            buffer: self.params,
            offset,
            len,
        }
    }

    fn grad(&self, offset: usize, len: usize) -> View {
        View {
            buffer: self.grads,
            offset,
            len,
        }
    }

    fn stats(&self, rows: usize) -> View {
        rows_of(*self.enc_out.last().unwrap(), rows, 2 * self.config.latent)
    }

    /// The decoder's last output: logits after `decode`, probabilities after `decode_probabilities`.
    pub fn output(&self, rows: usize) -> View {
        rows_of(*self.dec_out.last().unwrap(), rows, self.config.input_dim)
    }

    /// z of the last replay (rows × latent).
    pub fn latent_codes(&self, rows: usize) -> View {
        rows_of(self.z, rows, self.config.latent)
    }

    /// mu | logvar of the last replay (rows × 2·latent).
    pub fn posterior_stats(&self, rows: usize) -> View {
        self.stats(rows)
    }

    /// Per-image reconstruction NLL and KL of the last forward pass (rows each).
    pub fn per_row_losses(&self, rows: usize) -> (View, View) {
        (
            rows_of(self.bce_rows, rows, 1),
            rows_of(self.kl_rows, rows, 1),
        )
    }

    fn dense_forward(
        &self,
        ops: &mut Vec<Op>,
        layer: &super::DenseLayer,
        input: View,
        output: BufferId,
        rows: usize,
        act: Activation,
    ) {
        let out = rows_of(output, rows, layer.outputs);
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
            }
            .into(),
        );
        ops.push(
            BiasAct {
                x: out,
                bias: self.param(layer.bias, layer.outputs),
                rows,
                cols: layer.outputs,
                act,
            }
            .into(),
        );
    }

    /// Given dLoss/d(output) in `grad_out`, writes the layer's weight and bias gradients and, if
    /// asked, dLoss/d(input) into `grad_in`.
    #[allow(clippy::too_many_arguments)]
    fn dense_backward(
        &self,
        ops: &mut Vec<Op>,
        layer: &super::DenseLayer,
        input: View,
        output: BufferId,
        grad_out: BufferId,
        grad_in: Option<View>,
        rows: usize,
    ) {
        let g = rows_of(grad_out, rows, layer.outputs);
        if layer.activation != Activation::Identity {
            ops.push(
                BiasActBackward {
                    grad: g,
                    y: rows_of(output, rows, layer.outputs),
                    rows,
                    cols: layer.outputs,
                    act: layer.activation,
                }
                .into(),
            );
        }
        ops.push(
            ColumnSum {
                x: g,
                out: self.grad(layer.bias, layer.outputs),
                rows,
                cols: layer.outputs,
            }
            .into(),
        );
        // dW[out, in] = gᵀ · input
        ops.push(
            MatMul {
                a: g,
                b: input,
                c: self.grad(layer.weight, layer.outputs * layer.inputs),
                m: layer.outputs,
                n: layer.inputs,
                k: rows,
                trans_a: true,
                trans_b: false,
                accumulate: false,
            }
            .into(),
        );
        // dInput[rows, in] = g · W
        if let Some(grad_in) = grad_in {
            ops.push(
                MatMul {
                    a: g,
                    b: self.param(layer.weight, layer.outputs * layer.inputs),
                    c: grad_in,
                    m: rows,
                    n: layer.inputs,
                    k: layer.outputs,
                    trans_a: false,
                    trans_b: false,
                    accumulate: false,
                }
                .into(),
            );
        }
    }

    fn gather(&self, ops: &mut Vec<Op>, data: &DeviceData, perm: View, rows: usize) {
        assert_eq!(
            data.dim, self.config.input_dim,
            "data and model sizes differ"
        );
        ops.push(
            Gather {
                data: data.data,
                perm,
                out: rows_of(self.input, rows, self.config.input_dim),
                rows,
                dim: data.dim,
            }
            .into(),
        );
    }

    /// input → [mu | logvar].
    fn encode(&self, ops: &mut Vec<Op>, rows: usize) {
        let mut input = rows_of(self.input, rows, self.config.input_dim);
        for (layer, &out) in self.layout.encoder.iter().zip(&self.enc_out) {
            self.dense_forward(ops, layer, input, out, rows, layer.activation);
            input = rows_of(out, rows, layer.outputs);
        }
    }

    /// z → decoder output, the last layer's activation replaced by `output_act`.
    fn decode(&self, ops: &mut Vec<Op>, rows: usize, output_act: Activation) {
        let mut input = rows_of(self.z, rows, self.config.latent);
        let last = self.layout.decoder.len() - 1;
        for (i, (layer, &out)) in self.layout.decoder.iter().zip(&self.dec_out).enumerate() {
            let act = if i == last {
                output_act
            } else {
                layer.activation
            };
            self.dense_forward(ops, layer, input, out, rows, act);
            input = rows_of(out, rows, layer.outputs);
        }
    }

    fn reparameterize(&self, ops: &mut Vec<Op>, rows: usize, stream: u32, sample: bool) {
        let l = self.config.latent;
        ops.push(
            Reparameterize {
                stats: self.stats(rows),
                z: rows_of(self.z, rows, l),
                eps: rows_of(self.eps, rows, l),
                rows,
                latent: l,
                stream,
                sample,
            }
            .into(),
        );
    }

    fn sum_metric(&self, ops: &mut Vec<Op>, src: View, metric: Metric, accumulate: bool) {
        ops.push(
            SumInto {
                src,
                dst: View {
                    buffer: self.metrics,
                    offset: metric.slot(),
                    len: 1,
                },
                accumulate,
            }
            .into(),
        );
    }

    /// Per-row losses of the current batch, and the gradient of their sum w.r.t. the logits.
    fn losses(&self, ops: &mut Vec<Op>, rows: usize, with_grad: bool) {
        let d = self.config.input_dim;
        ops.push(
            BceRows {
                logits: self.output(rows),
                targets: rows_of(self.input, rows, d),
                grad: with_grad.then(|| rows_of(*self.dec_grad.last().unwrap(), rows, d)),
                out: rows_of(self.bce_rows, rows, 1),
                rows,
                cols: d,
            }
            .into(),
        );
        ops.push(
            KlRows {
                stats: self.stats(rows),
                out: rows_of(self.kl_rows, rows, 1),
                rows,
                latent: self.config.latent,
            }
            .into(),
        );
    }

    /// gather → encoder → reparameterization (one z per image) → decoder → per-row BCE and KL;
    /// with `with_grad`, also the gradient of the BCE w.r.t. the logits. Returns the per-row
    /// (BCE, KL) views.
    fn forward_losses(
        &self,
        ops: &mut Vec<Op>,
        data: &DeviceData,
        perm: View,
        rows: usize,
        stream: u32,
        with_grad: bool,
    ) -> (View, View) {
        self.check_rows(rows);
        self.gather(ops, data, perm, rows);
        self.encode(ops, rows);
        self.reparameterize(ops, rows, stream, true);
        self.decode(ops, rows, Activation::Identity);
        self.losses(ops, rows, with_grad);
        self.per_row_losses(rows)
    }

    /// The batch's forward pass, losses, and gradients of every parameter (no update):
    /// gather → encoder → reparameterization → decoder → BCE + KL → backward.
    pub fn forward_backward(&self, data: &DeviceData, perm: View, rows: usize) -> Vec<Op> {
        let mut ops = Vec::new();
        let (bce, kl) = self.forward_losses(&mut ops, data, perm, rows, TRAIN_STREAM, true);
        self.sum_metric(&mut ops, bce, Metric::StepBce, false);
        self.sum_metric(&mut ops, kl, Metric::StepKl, false);
        self.sum_metric(&mut ops, bce, Metric::TrainBce, true);
        self.sum_metric(&mut ops, kl, Metric::TrainKl, true);

        // Decoder, last layer first; the gradient of its first layer's input is dLoss/dz.
        for i in (0..self.layout.decoder.len()).rev() {
            let layer = &self.layout.decoder[i];
            let (input, grad_in) = if i == 0 {
                (self.z, self.grad_z)
            } else {
                (self.dec_out[i - 1], self.dec_grad[i - 1])
            };
            self.dense_backward(
                &mut ops,
                layer,
                rows_of(input, rows, layer.inputs),
                self.dec_out[i],
                self.dec_grad[i],
                Some(rows_of(grad_in, rows, layer.inputs)),
                rows,
            );
        }
        // d[mu | logvar] = KL gradient (written) + reparameterization gradient (added).
        let grad_stats = rows_of(*self.enc_grad.last().unwrap(), rows, 2 * self.config.latent);
        ops.push(
            KlBackward {
                stats: self.stats(rows),
                grad_stats,
                rows,
                latent: self.config.latent,
            }
            .into(),
        );
        ops.push(
            ReparameterizeBackward {
                grad_z: rows_of(self.grad_z, rows, self.config.latent),
                stats: self.stats(rows),
                eps: rows_of(self.eps, rows, self.config.latent),
                grad_stats,
                rows,
                latent: self.config.latent,
            }
            .into(),
        );
        for i in (0..self.layout.encoder.len()).rev() {
            let layer = &self.layout.encoder[i];
            let (input, grad_in) = if i == 0 {
                (self.input, None)
            } else {
                (
                    self.enc_out[i - 1],
                    Some(rows_of(self.enc_grad[i - 1], rows, layer.inputs)),
                )
            };
            self.dense_backward(
                &mut ops,
                layer,
                rows_of(input, rows, layer.inputs),
                self.enc_out[i],
                self.enc_grad[i],
                grad_in,
                rows,
            );
        }
        ops
    }

    /// One Adam/AdamW update of every parameter, in one dispatch.
    pub fn optimizer_step(&self) -> Op {
        let n = self.layout.len;
        Adam {
            params: View::whole(self.params, n),
            grads: View::whole(self.grads, n),
            m: View::whole(self.adam_m, n),
            v: View::whole(self.adam_v, n),
        }
        .into()
    }

    /// A whole training step on the batch perm[frame.batch_start ..][.. rows].
    pub fn train_step(&self, data: &DeviceData, perm: View, rows: usize) -> Vec<Op> {
        let mut ops = self.forward_backward(data, perm, rows);
        ops.push(self.optimizer_step());
        ops
    }

    /// Losses of a batch with one z sample per image, added to the Eval metrics.
    pub fn eval_batch(&self, data: &DeviceData, perm: View, rows: usize) -> Vec<Op> {
        let mut ops = Vec::new();
        let (bce, kl) = self.forward_losses(&mut ops, data, perm, rows, EVAL_STREAM, false);
        self.sum_metric(&mut ops, bce, Metric::EvalBce, true);
        self.sum_metric(&mut ops, kl, Metric::EvalKl, true);
        ops
    }

    /// `rows` images decoded from z ~ N(0, I) (Philox at frame.seed, frame.step, SAMPLE_STREAM),
    /// as pixel probabilities in `output(rows)`.
    pub fn sample(&self, rows: usize) -> Vec<Op> {
        self.check_rows(rows);
        let mut ops = vec![Normal {
            out: rows_of(self.z, rows, self.config.latent),
            stream: SAMPLE_STREAM,
        }
        .into()];
        self.decode(&mut ops, rows, Activation::Sigmoid);
        ops
    }

    /// The images perm[frame.batch_start ..][.. rows] passed through the encoder's mean and the
    /// decoder, as pixel probabilities in `output(rows)`; the inputs stay in `input`.
    pub fn reconstruct(&self, data: &DeviceData, perm: View, rows: usize) -> Vec<Op> {
        self.check_rows(rows);
        let mut ops = Vec::new();
        self.gather(&mut ops, data, perm, rows);
        self.encode(&mut ops, rows);
        self.reparameterize(&mut ops, rows, EVAL_STREAM, false);
        self.decode(&mut ops, rows, Activation::Sigmoid);
        ops
    }

    /// Decodes the codes the caller wrote into `latent_codes(rows)`, as pixel probabilities.
    pub fn decode_given(&self, rows: usize) -> Vec<Op> {
        self.check_rows(rows);
        let mut ops = Vec::new();
        self.decode(&mut ops, rows, Activation::Sigmoid);
        ops
    }

    pub fn write_parameters<B: Backend>(&self, backend: &mut B, values: &[f32]) {
        assert_eq!(values.len(), self.layout.len, "parameter vector length");
        backend.write_f32(self.params, 0, values);
    }

    pub fn read_parameters<B: Backend>(&self, backend: &mut B) -> Result<Vec<f32>, BackendError> {
        backend.read_f32(self.params, 0, self.layout.len)
    }

    pub fn read_gradients<B: Backend>(&self, backend: &mut B) -> Result<Vec<f32>, BackendError> {
        backend.read_f32(self.grads, 0, self.layout.len)
    }

    pub fn reset_metrics<B: Backend>(&self, backend: &mut B) {
        backend.write_f32(self.metrics, 0, &[0.0; METRIC_SLOTS]);
    }

    pub fn read_metrics<B: Backend>(&self, backend: &mut B) -> Result<MetricValues, BackendError> {
        Ok(MetricValues(backend.read_f32(
            self.metrics,
            0,
            METRIC_SLOTS,
        )?))
    }

    /// Writes latent codes for `decode_given`.
    pub fn write_latent_codes<B: Backend>(&self, backend: &mut B, codes: &[f32]) {
        assert!(codes.len() <= self.capacity * self.config.latent);
        backend.write_f32(self.z, 0, codes);
    }
}

/// A read-back copy of the metric slots.
pub struct MetricValues(Vec<f32>);

impl MetricValues {
    pub fn get(&self, metric: Metric) -> f32 {
        self.0[metric.slot()]
    }
}
