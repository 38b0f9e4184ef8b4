//! The VAE's buffers and the op lists of its programs. Nothing here knows which backend runs them.
//! The reconstruction term under each likelihood is in `likelihood.rs`, the many-draw program of
//! the bounds in `bounds.rs`.

mod bounds;
mod likelihood;

use super::{DenseLayer, DenseParams, GradInput, ParamLayout, VaeConfig};
use crate::backend::{Backend, BackendError};
use crate::kernels::adam::HEALTHY;
use crate::kernels::square_sums::partials_for;
use crate::kernels::{
    Activation, Adam, ColumnMoments, Dropout, Gather, KlColumns, KlReparameterizeBackward,
    LossSums, Normal, Op, Reparameterize, ReparameterizeKl, SquareSums, SumInto,
};
use crate::ops::{BufferId, View};

/// Philox streams (third counter word) of the model's draws, so that no two uses share numbers.
pub const TRAIN_STREAM: u32 = 0;
pub const EVAL_STREAM: u32 = 1;
pub const SAMPLE_STREAM: u32 = 2;
/// Dynamic binarization of the training batches.
pub const BINARIZE_STREAM: u32 = 3;
/// The draws of the many-sample bounds: the ELBO's and the importance-weighted bound's.
pub const ELBO_STREAM: u32 = 4;
pub const IWAE_STREAM: u32 = 5;
/// Dropout masks: encoder hidden layer i draws on `ENCODER_DROPOUT_STREAM + i`, decoder hidden
/// layer i on `DECODER_DROPOUT_STREAM + i`.
pub const ENCODER_DROPOUT_STREAM: u32 = 0x100;
pub const DECODER_DROPOUT_STREAM: u32 = 0x180;

/// Loss sums kept on the device, read back only when reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Σ over the last training batch of the reconstruction NLL / of the KL.
    StepBce,
    StepKl,
    /// Σ over the training batches since the last reset.
    TrainBce,
    TrainKl,
    /// Σ over the test batches since the last reset.
    EvalBce,
    EvalKl,
    /// Σ over the validation batches since the last reset.
    ValBce,
    ValKl,
    /// The last step's squared global gradient norm, before clipping (only when clipping).
    GradNormSq,
}

const METRIC_SLOTS: usize = 12;

impl Metric {
    fn slot(self) -> usize {
        self as usize
    }
}

/// Which held-out set an evaluation adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalSet {
    Test,
    Validation,
}

/// What a training step does beyond the plain example's: dropout on the hidden layers, dynamic
/// binarization of the batch, free bits on the KL, clipping by global gradient norm. The amounts
/// that may change from step to step (free-bits floor, clipping norm, L2, KL weight) come from the
/// frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepOptions {
    /// Drop probabilities of the encoder's and the decoder's hidden layers (0: no dropout).
    pub dropout_encoder: f32,
    pub dropout_decoder: f32,
    /// x ~ Bernoulli(pixel), drawn anew at every step.
    pub binarize: bool,
    /// The KL gradient of a dimension is 0 while its batch KL is below `frame.free_bits`.
    pub free_bits: bool,
    /// Clip the gradient to `frame.clip_norm` by its global norm.
    pub clip: bool,
}

/// A data set resident on the device: u8 pixels packed little-endian in u32 words, in as many
/// shards (buffers) as the device's binding limit requires, each holding whole images.
#[derive(Clone, Debug)]
pub struct DeviceData {
    pub shards: Vec<DataShard>,
    pub dim: usize,
    pub count: usize,
}

/// Images `first_image ..` `first_image + images` of a data set, in one buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataShard {
    pub data: View,
    pub first_image: usize,
    pub images: usize,
}

impl DeviceData {
    /// Uploads `images` (count × dim bytes) once, split into shards no larger than one buffer may
    /// be here (one shard for MNIST on every device).
    pub fn upload<B: Backend>(
        backend: &mut B,
        images: &[u8],
        dim: usize,
    ) -> Result<Self, BackendError> {
        let count = images.len() / dim;
        // The kernel indexes a shard's bytes with u32.
        let max_bytes = (backend.max_buffer_words() * 4).min(u32::MAX as usize);
        if dim > max_bytes {
            return Err(BackendError::BufferTooLarge {
                label: "one image".to_string(),
                bytes: dim as u64,
                limit: max_bytes as u64,
            });
        }
        let per_shard = max_bytes / dim;
        let shard_count = count.div_ceil(per_shard).max(1);
        let mut shards = Vec::with_capacity(shard_count);
        for shard in 0..shard_count {
            let first_image = shard * per_shard;
            let end = (first_image + per_shard).min(count);
            let words = crate::data::pack_bytes(&images[first_image * dim..end * dim]);
            let label = if shard_count == 1 {
                format!("data set ({count} images of {dim} bytes)")
            } else {
                format!(
                    "data set ({count} images of {dim} bytes, {} bytes in all), shard {} of \
                     {shard_count}",
                    count * dim,
                    shard + 1
                )
            };
            let data = backend.create_buffer(&label, words.len())?;
            backend.write_u32(data, 0, &words);
            shards.push(DataShard {
                data: View::whole(data, words.len()),
                first_image,
                images: end - first_image,
            });
        }
        Ok(Self { shards, dim, count })
    }

    /// The images `perm[frame.batch_start ..]` into `rows` rows of `out` (`repeat` rows per
    /// image), binarized with Philox `stream` if given: one gather per shard, each writing the
    /// rows of its own images.
    pub fn gather(
        &self,
        perm: View,
        out: View,
        rows: usize,
        binarize: Option<u32>,
        repeat: usize,
    ) -> impl Iterator<Item = Op> + '_ {
        self.shards.iter().map(move |shard| {
            Gather {
                data: shard.data,
                first_image: shard.first_image,
                images: shard.images,
                perm,
                out,
                rows,
                dim: self.dim,
                binarize,
                repeat,
            }
            .into()
        })
    }
}

/// One side of the model (encoder or decoder): per layer, its output and that output's gradient,
/// and, for hidden layers, the dropped output the next layer reads in training and its gradient.
struct Side {
    layers: Vec<DenseLayer>,
    out: Vec<BufferId>,
    grad: Vec<BufferId>,
    dropped: Vec<BufferId>,
    dropped_grad: Vec<BufferId>,
    dropout_stream: u32,
}

impl Side {
    fn new<B: Backend>(
        backend: &mut B,
        name: &str,
        layers: &[DenseLayer],
        capacity: usize,
        dropout_stream: u32,
    ) -> Result<Self, BackendError> {
        let mut buffers = |what: &str, layers: &[DenseLayer]| {
            layers
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    backend.create_buffer(&format!("{name} {what} {i}"), capacity * l.outputs)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let hidden = &layers[..layers.len() - 1];
        Ok(Self {
            layers: layers.to_vec(),
            out: buffers("output", layers)?,
            grad: buffers("output gradient", layers)?,
            dropped: buffers("dropped output", hidden)?,
            dropped_grad: buffers("dropped output gradient", hidden)?,
            dropout_stream,
        })
    }

    /// The view layer `i + 1` reads (and the buffer its input gradient goes to) when layer `i`'s
    /// output is dropped out with probability `p`.
    fn feeds(&self, i: usize, p: f32) -> (BufferId, BufferId) {
        if p > 0.0 {
            (self.dropped[i], self.dropped_grad[i])
        } else {
            (self.out[i], self.grad[i])
        }
    }

    fn dropout(&self, i: usize, x: BufferId, out: BufferId, rows: usize, p: f32) -> Op {
        let width = self.layers[i].outputs;
        Dropout {
            x: rows_of(x, rows, width),
            out: rows_of(out, rows, width),
            p,
            stream: self.dropout_stream + i as u32,
        }
        .into()
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
    encoder: Side,
    z: BufferId,
    eps: BufferId,
    grad_z: BufferId,
    decoder: Side,
    bce_rows: BufferId,
    kl_rows: BufferId,
    kl_columns: BufferId,
    /// Images repeated once per draw (the targets of a many-draw pass), their log weights, and
    /// per image the running log-sum-exp (m, s) and the sum of the reconstruction NLLs.
    targets: BufferId,
    log_weights: BufferId,
    bound_acc: BufferId,
    recon_sums: BufferId,
    /// Per-element gradient of a learned Gaussian log-variance, before its column sum.
    grad_logvar_elements: BufferId,
    norm_partials: BufferId,
    metrics: BufferId,
    /// Adam's record of the first non-finite parameter (see `adam::Adam::health`).
    health: BufferId,
    /// Σ mu and Σ mu² per latent dimension over an evaluation (active units).
    moments: BufferId,
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
        let encoder = Side::new(
            backend,
            "encoder",
            &layout.encoder,
            capacity,
            ENCODER_DROPOUT_STREAM,
        )?;
        let decoder = Side::new(
            backend,
            "decoder",
            &layout.decoder,
            capacity,
            DECODER_DROPOUT_STREAM,
        )?;
        let mut f32_buffer = |label: &str, len: usize| backend.create_buffer(label, len.max(1));
        let latent = config.latent;
        let vae = Self {
            params: f32_buffer("parameters", layout.len)?,
            grads: f32_buffer("gradients", layout.len)?,
            adam_m: f32_buffer("adam m", layout.len)?,
            adam_v: f32_buffer("adam v", layout.len)?,
            input: f32_buffer("input batch", capacity * config.input_dim)?,
            z: f32_buffer("z", capacity * latent)?,
            eps: f32_buffer("eps", capacity * latent)?,
            grad_z: f32_buffer("z gradient", capacity * latent)?,
            bce_rows: f32_buffer("reconstruction loss per row", capacity)?,
            kl_rows: f32_buffer("kl per row", capacity)?,
            kl_columns: f32_buffer("kl per latent dimension", latent)?,
            targets: f32_buffer("targets of the draws", capacity * config.input_dim)?,
            log_weights: f32_buffer("log importance weights", capacity)?,
            bound_acc: f32_buffer("log-sum-exp per image", 2 * capacity)?,
            recon_sums: f32_buffer("reconstruction sums per image", capacity)?,
            grad_logvar_elements: f32_buffer(
                "log-variance gradient per pixel",
                if config.likelihood.learns_variance() {
                    capacity * config.input_dim
                } else {
                    1
                },
            )?,
            norm_partials: f32_buffer("gradient norm partials", partials_for(layout.len))?,
            metrics: f32_buffer("metrics", METRIC_SLOTS)?,
            health: f32_buffer("non-finite parameter record", 2)?,
            moments: f32_buffer("posterior mean moments", 2 * latent)?,
            encoder,
            decoder,
            config,
            layout,
            capacity,
        };
        backend.write_u32(vae.health, 0, &[HEALTHY; 2]);
        Ok(vae)
    }

    fn check_rows(&self, rows: usize) {
        assert!(
            rows > 0 && rows <= self.capacity,
            "a program of {rows} rows on a model built for at most {}",
            self.capacity
        );
    }

    fn metric(&self, metric: Metric) -> View {
        View {
            buffer: self.metrics,
            offset: metric.slot(),
            len: 1,
        }
    }

    fn stats(&self, rows: usize) -> View {
        rows_of(
            *self.encoder.out.last().unwrap(),
            rows,
            2 * self.config.latent,
        )
    }

    /// The decoder's last output: logits after `decode`, probabilities after `decode_probabilities`.
    pub fn output(&self, rows: usize) -> View {
        rows_of(
            *self.decoder.out.last().unwrap(),
            rows,
            self.config.input_dim,
        )
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

    fn dense(&self) -> DenseParams {
        DenseParams {
            params: self.params,
            grads: self.grads,
        }
    }

    fn dense_forward(
        &self,
        ops: &mut Vec<Op>,
        layer: &DenseLayer,
        input: View,
        output: BufferId,
        rows: usize,
        act: Activation,
    ) {
        let out = rows_of(output, rows, layer.outputs);
        self.dense().forward(ops, layer, input, out, rows, act);
    }

    /// Given dLoss/d(output) in `grad_out`, writes the layer's weight and bias gradients and, if
    /// asked, dLoss/d(input) into `grad_in`.
    #[allow(clippy::too_many_arguments)]
    fn dense_backward(
        &self,
        ops: &mut Vec<Op>,
        layer: &DenseLayer,
        input: View,
        output: BufferId,
        grad_out: BufferId,
        grad_in: Option<GradInput>,
        rows: usize,
        slope_applied: bool,
    ) {
        let output = rows_of(output, rows, layer.outputs);
        let grad_out = rows_of(grad_out, rows, layer.outputs);
        self.dense().backward(
            ops,
            layer,
            input,
            output,
            grad_out,
            grad_in,
            rows,
            slope_applied,
        );
    }

    fn gather(
        &self,
        ops: &mut Vec<Op>,
        data: &DeviceData,
        perm: View,
        rows: usize,
        binarize: bool,
    ) {
        assert_eq!(
            data.dim, self.config.input_dim,
            "data and model sizes differ"
        );
        let out = rows_of(self.input, rows, self.config.input_dim);
        let stream = binarize.then_some(BINARIZE_STREAM);
        ops.extend(data.gather(perm, out, rows, stream, 1));
    }

    /// The forward pass of one side from `input`: each layer's output in `side.out`, the last
    /// layer's activation replaced by `last_act`, hidden outputs dropped out with probability `p`.
    fn side_forward(
        &self,
        ops: &mut Vec<Op>,
        side: &Side,
        mut input: View,
        rows: usize,
        last_act: Activation,
        p: f32,
    ) {
        let last = side.layers.len() - 1;
        for (i, layer) in side.layers.iter().enumerate() {
            let act = if i == last {
                last_act
            } else {
                layer.activation
            };
            self.dense_forward(ops, layer, input, side.out[i], rows, act);
            input = rows_of(side.out[i], rows, layer.outputs);
            if i < last && p > 0.0 {
                let (dropped, _) = side.feeds(i, p);
                ops.push(side.dropout(i, side.out[i], dropped, rows, p));
                input = rows_of(dropped, rows, layer.outputs);
            }
        }
    }

    /// The backward pass of one side, last layer first, from the gradient of its last output;
    /// the first layer's input is `input` and its input gradient goes to `grad_input`.
    fn side_backward(
        &self,
        ops: &mut Vec<Op>,
        side: &Side,
        input: View,
        grad_input: Option<View>,
        rows: usize,
        p: f32,
    ) {
        let last = side.layers.len() - 1;
        for i in (0..side.layers.len()).rev() {
            let layer = &side.layers[i];
            let (below, grad_below) = if i == 0 {
                let grad = grad_input.map(|view| GradInput { view, slope: None });
                (input, grad)
            } else {
                let (fed, grad_fed) = side.feeds(i - 1, p);
                let width = layer.inputs;
                // Without dropout between, the input gradient's store applies the slope of the
                // layer below (one pass fewer over it).
                let slope = (p == 0.0).then_some(side.layers[i - 1].activation);
                let view = rows_of(grad_fed, rows, width);
                (rows_of(fed, rows, width), Some(GradInput { view, slope }))
            };
            self.dense_backward(
                ops,
                layer,
                below,
                side.out[i],
                side.grad[i],
                grad_below,
                rows,
                i < last && p == 0.0,
            );
            if i > 0 && p > 0.0 {
                // The same mask as the forward: the same (element, step, stream).
                let (_, grad_fed) = side.feeds(i - 1, p);
                ops.push(side.dropout(i - 1, grad_fed, side.grad[i - 1], rows, p));
            }
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
                repeat: 1,
            }
            .into(),
        );
    }

    /// The batch's (reconstruction, KL) sums set into `step`'s metrics, if given, and added to
    /// `running`'s, in one dispatch.
    fn loss_sums(
        &self,
        ops: &mut Vec<Op>,
        (bce, kl): (View, View),
        rows: usize,
        step: Option<(Metric, Metric)>,
        running: (Metric, Metric),
    ) {
        ops.push(
            LossSums {
                bce,
                kl,
                rows,
                metrics: View::whole(self.metrics, METRIC_SLOTS),
                step: step.map(|(b, k)| (b.slot(), k.slot())),
                running: (running.0.slot(), running.1.slot()),
            }
            .into(),
        );
    }

    fn sum_metric(&self, ops: &mut Vec<Op>, src: View, metric: Metric, accumulate: bool) {
        ops.push(
            SumInto {
                src,
                dst: self.metric(metric),
                accumulate,
            }
            .into(),
        );
    }

    /// z drawn from the posterior and each row's KL to the prior, in one dispatch.
    fn reparameterize_kl(&self, ops: &mut Vec<Op>, rows: usize, stream: u32) {
        let l = self.config.latent;
        ops.push(
            ReparameterizeKl {
                stats: self.stats(rows),
                z: rows_of(self.z, rows, l),
                eps: rows_of(self.eps, rows, l),
                kl: rows_of(self.kl_rows, rows, 1),
                rows,
                latent: l,
                stream,
                sample: true,
            }
            .into(),
        );
    }

    /// gather → encoder → reparameterization (one z per image) → decoder → per-row BCE and KL;
    /// in training (`step` given), dropout, binarization and the gradient of the BCE w.r.t. the
    /// logits. Returns the per-row (BCE, KL) views.
    fn forward_losses(
        &self,
        ops: &mut Vec<Op>,
        data: &DeviceData,
        perm: View,
        rows: usize,
        stream: u32,
        step: Option<&StepOptions>,
    ) -> (View, View) {
        self.check_rows(rows);
        let training = step.copied().unwrap_or_default();
        self.gather(ops, data, perm, rows, training.binarize);
        let input = rows_of(self.input, rows, self.config.input_dim);
        let (p_enc, p_dec) = (training.dropout_encoder, training.dropout_decoder);
        self.side_forward(ops, &self.encoder, input, rows, Activation::Identity, p_enc);
        self.reparameterize_kl(ops, rows, stream);
        let z = rows_of(self.z, rows, self.config.latent);
        self.side_forward(ops, &self.decoder, z, rows, Activation::Identity, p_dec);
        // Per-row reconstruction losses, and the gradient of their sum w.r.t. the logits.
        let targets = rows_of(self.input, rows, self.config.input_dim);
        let out = rows_of(self.bce_rows, rows, 1);
        self.reconstruction(ops, targets, out, rows, step.is_some());
        self.per_row_losses(rows)
    }

    /// The batch's forward pass, losses, and gradients of every parameter (no update):
    /// gather → encoder → reparameterization → decoder → BCE + KL → backward.
    pub fn forward_backward(
        &self,
        data: &DeviceData,
        perm: View,
        rows: usize,
        options: &StepOptions,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        let (bce, kl) =
            self.forward_losses(&mut ops, data, perm, rows, TRAIN_STREAM, Some(options));
        self.loss_sums(
            &mut ops,
            (bce, kl),
            rows,
            Some((Metric::StepBce, Metric::StepKl)),
            (Metric::TrainBce, Metric::TrainKl),
        );

        // Decoder, last layer first; the gradient of its first layer's input is dLoss/dz.
        let latent = self.config.latent;
        let z = rows_of(self.z, rows, latent);
        let grad_z = rows_of(self.grad_z, rows, latent);
        self.side_backward(
            &mut ops,
            &self.decoder,
            z,
            Some(grad_z),
            rows,
            options.dropout_decoder,
        );
        // d[mu | logvar] = KL gradient + reparameterization gradient, in one dispatch.
        let grad_stats = rows_of(*self.encoder.grad.last().unwrap(), rows, 2 * latent);
        let column_kl = options
            .free_bits
            .then(|| rows_of(self.kl_columns, 1, latent));
        if let Some(out) = column_kl {
            ops.push(
                KlColumns {
                    stats: self.stats(rows),
                    out,
                    rows,
                    latent,
                }
                .into(),
            );
        }
        ops.push(
            KlReparameterizeBackward {
                stats: self.stats(rows),
                grad_z,
                eps: rows_of(self.eps, rows, latent),
                column_kl,
                grad_stats,
                rows,
                latent,
            }
            .into(),
        );
        let input = rows_of(self.input, rows, self.config.input_dim);
        self.side_backward(
            &mut ops,
            &self.encoder,
            input,
            None,
            rows,
            options.dropout_encoder,
        );
        ops
    }

    /// One Adam/AdamW update of every parameter, in one dispatch; with `clip`, the gradient's
    /// squared global norm is reduced first (into `Metric::GradNormSq`) and clipped to.
    pub fn optimizer_step(&self, clip: bool) -> Vec<Op> {
        let n = self.layout.len;
        let grads = View::whole(self.grads, n);
        let mut ops = Vec::new();
        if clip {
            let partials = rows_of(self.norm_partials, 1, partials_for(n));
            ops.push(
                SquareSums {
                    src: grads,
                    partials,
                }
                .into(),
            );
            self.sum_metric(&mut ops, partials, Metric::GradNormSq, false);
        }
        ops.push(
            Adam {
                params: View::whole(self.params, n),
                grads,
                m: View::whole(self.adam_m, n),
                v: View::whole(self.adam_v, n),
                norm_sq: clip.then(|| self.metric(Metric::GradNormSq)),
                health: View::whole(self.health, 2),
            }
            .into(),
        );
        ops
    }

    /// A whole training step on the batch perm[frame.batch_start ..][.. rows].
    pub fn train_step(
        &self,
        data: &DeviceData,
        perm: View,
        rows: usize,
        options: &StepOptions,
    ) -> Vec<Op> {
        let mut ops = self.forward_backward(data, perm, rows, options);
        ops.extend(self.optimizer_step(options.clip));
        ops
    }

    /// Losses of a batch with one z sample per image, added to the metrics of `set`; with
    /// `moments`, the posterior means' sums and squares are added up too (`active_units`).
    pub fn eval_batch(
        &self,
        data: &DeviceData,
        perm: View,
        rows: usize,
        set: EvalSet,
        moments: bool,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        let (bce, kl) = self.forward_losses(&mut ops, data, perm, rows, EVAL_STREAM, None);
        let (bce_metric, kl_metric) = match set {
            EvalSet::Test => (Metric::EvalBce, Metric::EvalKl),
            EvalSet::Validation => (Metric::ValBce, Metric::ValKl),
        };
        self.loss_sums(&mut ops, (bce, kl), rows, None, (bce_metric, kl_metric));
        if moments {
            let latent = self.config.latent;
            ops.push(
                ColumnMoments {
                    x: self.stats(rows),
                    out: rows_of(self.moments, 2, latent),
                    rows,
                    cols: latent,
                    stride: 2 * latent,
                    accumulate: true,
                }
                .into(),
            );
        }
        ops
    }

    /// The number of latent dimensions whose posterior mean varies over the images added up since
    /// `reset_metrics` by more than `threshold` (Burda et al. 2016 use 0.01), out of `images`.
    pub fn active_units<B: Backend>(
        &self,
        backend: &mut B,
        images: usize,
        threshold: f64,
    ) -> Result<usize, BackendError> {
        let latent = self.config.latent;
        let sums = backend.read_f32(self.moments, 0, 2 * latent)?;
        let n = images.max(1) as f64;
        Ok((0..latent)
            .filter(|&j| {
                let mean = f64::from(sums[j]) / n;
                f64::from(sums[latent + j]) / n - mean * mean > threshold
            })
            .count())
    }

    /// `rows` images decoded from z ~ N(0, temperature² I) (Philox at frame.seed, frame.step,
    /// SAMPLE_STREAM), as the likelihood's means in `output(rows)`.
    pub fn sample(&self, rows: usize, temperature: f32) -> Vec<Op> {
        self.check_rows(rows);
        let mut ops = vec![Normal {
            out: rows_of(self.z, rows, self.config.latent),
            stream: SAMPLE_STREAM,
            scale: temperature,
        }
        .into()];
        self.decode_probabilities(&mut ops, rows);
        ops
    }

    /// The decoder's output turned into the likelihood's mean (the pixels of a picture).
    fn decode_probabilities(&self, ops: &mut Vec<Op>, rows: usize) {
        let z = rows_of(self.z, rows, self.config.latent);
        let mean = self.config.likelihood.mean_activation();
        self.side_forward(ops, &self.decoder, z, rows, mean, 0.0);
    }

    /// The images perm[frame.batch_start ..][.. rows] passed through the encoder's mean and the
    /// decoder, as pixel probabilities in `output(rows)`; the inputs stay in `input`.
    pub fn reconstruct(&self, data: &DeviceData, perm: View, rows: usize) -> Vec<Op> {
        self.check_rows(rows);
        let mut ops = Vec::new();
        self.gather(&mut ops, data, perm, rows, false);
        let input = rows_of(self.input, rows, self.config.input_dim);
        self.side_forward(
            &mut ops,
            &self.encoder,
            input,
            rows,
            Activation::Identity,
            0.0,
        );
        self.reparameterize(&mut ops, rows, EVAL_STREAM, false);
        self.decode_probabilities(&mut ops, rows);
        ops
    }

    /// Decodes the codes the caller wrote into `latent_codes(rows)`, as pixel probabilities.
    pub fn decode_given(&self, rows: usize) -> Vec<Op> {
        self.check_rows(rows);
        let mut ops = Vec::new();
        self.decode_probabilities(&mut ops, rows);
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

    /// Adam's first and second moments (for a resumable training state).
    pub fn read_moments<B: Backend>(
        &self,
        backend: &mut B,
    ) -> Result<(Vec<f32>, Vec<f32>), BackendError> {
        Ok((
            backend.read_f32(self.adam_m, 0, self.layout.len)?,
            backend.read_f32(self.adam_v, 0, self.layout.len)?,
        ))
    }

    pub fn write_moments<B: Backend>(&self, backend: &mut B, m: &[f32], v: &[f32]) {
        assert_eq!(m.len(), self.layout.len, "first moment length");
        assert_eq!(v.len(), self.layout.len, "second moment length");
        backend.write_f32(self.adam_m, 0, m);
        backend.write_f32(self.adam_v, 0, v);
    }

    /// The first optimizer step that made a parameter non-finite, and the name of the tensor
    /// and the index in it of the first such parameter; `None` while all are finite.
    pub fn read_divergence<B: Backend>(
        &self,
        backend: &mut B,
    ) -> Result<Option<Divergence>, BackendError> {
        let health = backend.read_u32(self.health, 0, 2)?;
        if health[0] == HEALTHY {
            return Ok(None);
        }
        let flat = health[1] as usize;
        let (tensor, index) = match self.layout.tensor_at(flat) {
            Some(t) => (t.name.clone(), flat - t.offset),
            None => (format!("parameter {flat}"), 0),
        };
        Ok(Some(Divergence {
            step: health[0],
            tensor,
            index,
        }))
    }

    /// Zeroes the loss sums and the posterior-mean moments.
    pub fn reset_metrics<B: Backend>(&self, backend: &mut B) {
        backend.write_f32(self.metrics, 0, &[0.0; METRIC_SLOTS]);
        backend.write_f32(self.moments, 0, &vec![0.0; 2 * self.config.latent]);
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

/// Where training first produced a non-finite parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The optimizer step (`frame.step`, counting from 0).
    pub step: u32,
    pub tensor: String,
    /// The flat index within the tensor.
    pub index: usize,
}

/// A read-back copy of the metric slots.
pub struct MetricValues(Vec<f32>);

impl MetricValues {
    pub fn get(&self, metric: Metric) -> f32 {
        self.0[metric.slot()]
    }
}
