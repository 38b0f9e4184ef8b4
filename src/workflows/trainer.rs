//! Epochs of training and evaluation on one backend: the data set resident on the device, a
//! validation split carved from the training images, one shuffled permutation per epoch, programs
//! built once, loss sums read back once per report, and the state a resume needs.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError};
use crate::data::{binarized, Binarize, Dataset};
use crate::model::{init_parameters, DeviceData, EvalSet, Metric, StepOptions, Vae};
use crate::ops::{BufferId, Frame, View};
use crate::rng::PhiloxStream;

use super::bounds::{draws, Measured, Pass};
pub use super::options::{EarlyStopping, TrainOptions};

/// Host Philox streams of the per-epoch shuffles (epoch number added) and of the validation split.
const SHUFFLE_STREAM: u32 = 0x5000;
const VALIDATION_STREAM: u32 = 0x7A1;
/// Device work one submit of training steps aims at: long enough that a submit's fixed cost
/// vanishes, short enough that progress and read-backs follow the device closely.
const SUBMIT_SECONDS: f64 = 0.05;
/// Most training steps per submit.
const MAX_STEPS_PER_SUBMIT: usize = 64;
/// Rows per evaluation replay.
pub const EVAL_BATCH: usize = 500;
/// A latent dimension is active when its posterior mean varies over the data by more than this
/// (Burda, Grosse & Salakhutdinov 2016).
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// One epoch's numbers, losses in nats per image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_reconstruction: f64,
    pub train_kl: f64,
    /// On the validation split, when there is one.
    pub val_loss: Option<f64>,
    pub val_reconstruction: Option<f64>,
    pub val_kl: Option<f64>,
    pub test_loss: f64,
    pub test_reconstruction: f64,
    pub test_kl: f64,
    /// Latent dimensions whose posterior mean varies by more than 0.01 over the validation split
    /// (the test set without one).
    pub active_units: usize,
    /// The learning rate and KL weight of the epoch's last step.
    pub learning_rate: f32,
    pub kl_weight: f32,
    /// The gradient's global norm at the epoch's last step, before clipping (only when clipping).
    pub grad_norm: Option<f64>,
    /// The importance-weighted bound on the test set (`--eval-k` draws), when it was computed.
    #[serde(default)]
    pub test_iwae_bound: Option<f64>,
    /// The epoch of the best validation loss so far (this one, without a validation split).
    pub best_epoch: usize,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Training images per second (evaluation excluded).
    pub images_per_second: f64,
}

impl EpochMetrics {
    pub fn is_finite(&self) -> bool {
        [self.train_loss, self.test_loss]
            .iter()
            .chain(&self.val_loss)
            .all(|v| v.is_finite())
    }
}

/// Where a run stands between epochs: with the parameters and Adam's moments, everything a resume
/// needs to continue exactly as the uninterrupted run would.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Training steps taken (the RNG step and Adam's t − 1 of the next one).
    pub steps: u64,
    pub epochs_done: usize,
    /// Product of the plateau reductions of the learning rate so far.
    pub plateau_scale: f32,
    pub plateau_best: Option<f64>,
    pub plateau_bad_epochs: usize,
    /// Best validation loss so far and its epoch; epochs since it.
    pub best_val_loss: Option<f64>,
    pub best_epoch: usize,
    pub bad_epochs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Model(#[from] crate::model::ConfigError),
    #[error("training diverged in epoch {epoch} at step {step}: {cause}")]
    Diverged {
        epoch: usize,
        step: u64,
        cause: String,
    },
}

/// The usual cause of a divergence, with the learning rate in use.
fn lr_hint(lr: f32) -> String {
    format!(
        "; the learning rate ({lr:e}) is the usual cause: try a smaller --lr, a warm-up \
         (--lr-warmup) or --clip-grad-norm"
    )
}

/// A replayable program over `rows` rows, and its tail.
struct Batches<P> {
    full: P,
    tail: Option<P>,
    rows: usize,
    count: usize,
}

impl<P> Batches<P> {
    fn new<E>(
        total: usize,
        rows: usize,
        mut build: impl FnMut(usize) -> Result<P, E>,
    ) -> Result<Self, E> {
        let rows = rows.min(total);
        let tail_rows = total % rows;
        Ok(Self {
            full: build(rows)?,
            tail: if tail_rows > 0 {
                Some(build(tail_rows)?)
            } else {
                None
            },
            rows,
            count: total.div_ceil(rows),
        })
    }

    /// (program, first row) of batch `i`.
    fn get(&self, i: usize) -> (&P, usize) {
        let start = i * self.rows;
        match (&self.tail, i + 1 == self.count) {
            (Some(tail), true) => (tail, start),
            _ => (&self.full, start),
        }
    }
}

/// A held-out set on the device: its permutation and its evaluation programs.
struct HeldOut<P> {
    perm: View,
    count: usize,
    batches: Batches<P>,
}

/// Progress reports while an epoch runs.
pub trait Progress {
    /// `loss`: the last batch's loss per image, when it was read back.
    fn step(&mut self, epoch: usize, batch: usize, batches: usize, loss: Option<f32>);
}

/// No progress reports.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&mut self, _: usize, _: usize, _: usize, _: Option<f32>) {}
}

/// The images as the model sees them: (training data, evaluation data), binarized as asked.
fn resident_data<B: Backend>(
    backend: &mut B,
    dataset: &Dataset,
    binarize: Binarize,
) -> Result<(DeviceData, DeviceData), BackendError> {
    let dim = dataset.dim();
    Ok(match binarize {
        Binarize::None => {
            let data = DeviceData::upload(backend, &dataset.images, dim)?;
            (data.clone(), data)
        }
        Binarize::Static => {
            let data = DeviceData::upload(backend, &binarized(&dataset.images), dim)?;
            (data.clone(), data)
        }
        Binarize::Dynamic => {
            let gray = DeviceData::upload(backend, &dataset.images, dim)?;
            let fixed = DeviceData::upload(backend, &binarized(&dataset.images), dim)?;
            (gray, fixed)
        }
    })
}

/// (training indices, validation indices) of the training images: a seeded choice of
/// `validation` of them, each list in ascending order.
pub fn validation_split(train_count: usize, validation: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut order: Vec<u32> = (0..train_count as u32).collect();
    PhiloxStream::new(seed, VALIDATION_STREAM).shuffle(&mut order);
    let (val, train) = order.split_at(validation);
    let (mut train, mut val) = (train.to_vec(), val.to_vec());
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

pub struct Trainer<B: Backend> {
    pub backend: B,
    pub vae: Vae,
    pub options: TrainOptions,
    pub state: TrainingState,
    step_options: StepOptions,
    eval_data: DeviceData,
    train_perm: BufferId,
    train_indices: Vec<u32>,
    train: Batches<B::Program>,
    validation: Option<HeldOut<B::Program>>,
    test: HeldOut<B::Program>,
    /// Seconds between progress read-backs (each one waits for the device).
    pub report_interval: f64,
    /// Training steps per submit: starts at 1 and follows the measured step time towards
    /// `SUBMIT_SECONDS` of work (the results are the same to the bit whatever it is).
    steps_per_submit: usize,
}

impl<B: Backend> Trainer<B> {
    /// Uploads the data set, creates the model with freshly initialized parameters, and builds
    /// every program it will replay.
    pub fn new(
        mut backend: B,
        dataset: &Dataset,
        options: TrainOptions,
    ) -> Result<Self, TrainError> {
        let mut options = options;
        options.check(dataset)?;
        options.model = options.model_for(dataset)?;
        let (train_count, val_count) = options.split_sizes(dataset)?;
        let test_count = dataset.test_count();
        let (train_indices, val_indices) =
            validation_split(dataset.train_count, val_count, options.seed);
        let capacity = options
            .batch_size
            .min(train_count)
            .max(EVAL_BATCH.min(test_count))
            .max(EVAL_BATCH.min(val_count));
        let (train_data, eval_data) = resident_data(&mut backend, dataset, options.binarize)?;
        let mut perm_buffer = |label: &str, indices: &[u32]| -> Result<View, BackendError> {
            let buffer = backend.create_buffer(label, indices.len().max(1))?;
            backend.write_u32(buffer, 0, indices);
            Ok(View::whole(buffer, indices.len()))
        };
        let train_view = perm_buffer("train permutation", &train_indices)?;
        let val_perm = perm_buffer("validation images", &val_indices)?;
        let test_indices: Vec<u32> = (dataset.train_count as u32..dataset.count() as u32).collect();
        let test_perm = perm_buffer("test images", &test_indices)?;

        let vae = Vae::new(&mut backend, options.model.clone(), capacity)?;
        vae.write_parameters(&mut backend, &init_parameters(&vae.layout, options.seed));
        let step_options = StepOptions {
            dropout_encoder: options.dropout_encoder,
            dropout_decoder: options.dropout_decoder,
            binarize: options.binarize == Binarize::Dynamic,
            free_bits: options.free_bits > 0.0,
            clip: options.clip_grad_norm > 0.0,
        };
        let train = Batches::new(train_count, options.batch_size, |rows| {
            backend.prepare(&vae.train_step(&train_data, train_view, rows, &step_options))
        })?;
        let mut held_out = |perm: View, count: usize, set: EvalSet, moments: bool| {
            let batches = Batches::new(count, EVAL_BATCH, |rows| {
                backend.prepare(&vae.eval_batch(&eval_data, perm, rows, set, moments))
            })?;
            Ok::<_, BackendError>(HeldOut {
                perm,
                count,
                batches,
            })
        };
        let validation = if val_count > 0 {
            Some(held_out(val_perm, val_count, EvalSet::Validation, true)?)
        } else {
            None
        };
        let test = held_out(test_perm, test_count, EvalSet::Test, validation.is_none())?;
        Ok(Self {
            backend,
            vae,
            state: TrainingState {
                plateau_scale: 1.0,
                ..TrainingState::default()
            },
            options,
            step_options,
            eval_data,
            train_perm: train_view.buffer,
            train_indices,
            train,
            validation,
            test,
            report_interval: 0.5,
            steps_per_submit: 1,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train.count
    }

    /// The images each epoch trains on (the training split).
    pub fn train_count(&self) -> usize {
        self.train_indices.len()
    }

    pub fn validation_count(&self) -> usize {
        self.validation.as_ref().map_or(0, |v| v.count)
    }

    /// The frame of training step `state.steps` on the batch starting at `batch_start`.
    fn train_frame(&self, batch_start: usize) -> Frame {
        let options = &self.options;
        let state = &self.state;
        let spe = self.train.count;
        let epoch = state.epochs_done;
        let lr = options.lr_schedule.lr_at(
            options.adam.lr,
            state.steps,
            epoch,
            spe,
            state.plateau_scale,
        );
        let mut frame = Frame::with_seed(options.seed);
        frame.step = state.steps as u32;
        frame.batch_start = batch_start as u32;
        options.adam.fill_frame(&mut frame, state.steps + 1, lr);
        frame.kl_weight = options.kl.at(state.steps, spe);
        frame.l2 = options.l2;
        frame.clip_norm = options.clip_grad_norm;
        frame.free_bits = options.free_bits;
        frame
    }

    /// One epoch: a seeded shuffle, every training batch, then the validation and test sets with
    /// the same draws of z every epoch (batch b of a held-out set always uses RNG step b).
    pub fn run_epoch<P: Progress + ?Sized>(
        &mut self,
        progress: &mut P,
    ) -> Result<EpochMetrics, TrainError> {
        let epoch = self.state.epochs_done + 1;
        let started = Instant::now();
        let mut perm = self.train_indices.clone();
        PhiloxStream::new(self.options.seed, SHUFFLE_STREAM + epoch as u32).shuffle(&mut perm);
        self.backend.write_u32(self.train_perm, 0, &perm);
        self.vae.reset_metrics(&mut self.backend);

        let mut last_report = Instant::now();
        let mut last_frame = Frame::default();
        let mut batch = 0;
        // Steps in the submit that the last `run_many` waited for.
        let mut waited_for = None;
        while batch < self.train.count {
            // A chunk of steps, one submit: each step its own frame.
            let chunk_started = Instant::now();
            let chunk = self.steps_per_submit.min(self.train.count - batch);
            let mut steps = Vec::with_capacity(chunk);
            let mut start = 0;
            for b in batch..batch + chunk {
                let (program, first_row) = self.train.get(b);
                start = first_row;
                last_frame = self.train_frame(first_row);
                steps.push((program, last_frame));
                self.state.steps += 1;
            }
            self.backend.run_many(&steps)?;
            batch += chunk;
            // `run_many` returned once the device had finished the previous submit: the time it
            // took is about that submit's device time.
            if let Some(previous) = waited_for {
                let step_seconds = chunk_started.elapsed().as_secs_f64() / previous as f64;
                let wanted = (SUBMIT_SECONDS / step_seconds.max(1e-6)) as usize;
                self.steps_per_submit = wanted.clamp(1, (2 * chunk).min(MAX_STEPS_PER_SUBMIT));
            }
            waited_for = Some(chunk);
            let last = batch == self.train.count;
            let mut loss = None;
            if last || last_report.elapsed().as_secs_f64() >= self.report_interval {
                self.check_parameters(epoch, last_frame.lr)?;
                let m = self.vae.read_metrics(&mut self.backend)?;
                let rows = if last {
                    self.train_count() - start
                } else {
                    self.train.rows
                };
                let value = (m.get(Metric::StepBce) + m.get(Metric::StepKl)) / rows as f32;
                if !value.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch,
                        step: self.state.steps,
                        cause: format!(
                            "the training loss is {value} while the parameters are finite{}",
                            lr_hint(last_frame.lr)
                        ),
                    });
                }
                loss = Some(value);
                last_report = Instant::now();
            }
            progress.step(epoch, batch, self.train.count, loss);
        }
        self.backend.synchronize()?;
        let train_seconds = started.elapsed().as_secs_f64();

        for held_out in self.validation.iter().chain([&self.test]) {
            let steps: Vec<_> = (0..held_out.batches.count)
                .map(|batch| {
                    let (program, start) = held_out.batches.get(batch);
                    let mut frame = Frame::with_seed(self.options.seed);
                    frame.step = batch as u32;
                    frame.batch_start = start as u32;
                    (program, frame)
                })
                .collect();
            self.backend.run_many(&steps)?;
        }
        let m = self.vae.read_metrics(&mut self.backend)?;
        let per = |sum: f32, n: usize| f64::from(sum) / n.max(1) as f64;
        let train_count = self.train_count();
        let (train_rec, train_kl) = (
            per(m.get(Metric::TrainBce), train_count),
            per(m.get(Metric::TrainKl), train_count),
        );
        let test_count = self.test.count;
        let (test_rec, test_kl) = (
            per(m.get(Metric::EvalBce), test_count),
            per(m.get(Metric::EvalKl), test_count),
        );
        let val_count = self.validation_count();
        let val = (val_count > 0).then(|| {
            (
                per(m.get(Metric::ValBce), val_count),
                per(m.get(Metric::ValKl), val_count),
            )
        });
        let moment_images = if val_count > 0 { val_count } else { test_count };
        let active_units =
            self.vae
                .active_units(&mut self.backend, moment_images, ACTIVE_UNIT_THRESHOLD)?;
        let grad_norm = self
            .step_options
            .clip
            .then(|| f64::from(m.get(Metric::GradNormSq)).sqrt());
        let val_loss = val.map(|(rec, kl)| rec + kl);
        let test_iwae_bound = if self.options.eval_k > 0 && epoch % self.options.eval_every == 0 {
            let measured = Measured {
                vae: &self.vae,
                data: &self.eval_data,
                perm: self.test.perm,
                count: self.test.count,
            };
            let seed = self.options.seed;
            let draws = draws(
                &mut self.backend,
                &measured,
                self.options.eval_k,
                Pass::Iwae,
                seed,
            )?;
            let bounds = draws.iwae_bound();
            Some(bounds.iter().sum::<f64>() / bounds.len().max(1) as f64)
        } else {
            None
        };
        self.state.epochs_done = epoch;
        self.record_validation(epoch, val_loss);
        let metrics = EpochMetrics {
            epoch,
            train_loss: train_rec + train_kl,
            train_reconstruction: train_rec,
            train_kl,
            val_loss,
            val_reconstruction: val.map(|v| v.0),
            val_kl: val.map(|v| v.1),
            test_loss: test_rec + test_kl,
            test_reconstruction: test_rec,
            test_kl,
            active_units,
            learning_rate: last_frame.lr,
            kl_weight: last_frame.kl_weight,
            grad_norm,
            test_iwae_bound,
            best_epoch: self.state.best_epoch,
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: train_count as f64 / train_seconds,
        };
        if !metrics.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                step: self.state.steps,
                cause: format!(
                    "the epoch's losses are not finite (train {}, test {}){}",
                    metrics.train_loss,
                    metrics.test_loss,
                    lr_hint(last_frame.lr)
                ),
            });
        }
        Ok(metrics)
    }

    /// Fails, naming the step and the tensor, once Adam has recorded a non-finite parameter.
    fn check_parameters(&mut self, epoch: usize, lr: f32) -> Result<(), TrainError> {
        let Some(divergence) = self.vae.read_divergence(&mut self.backend)? else {
            return Ok(());
        };
        // Steps count from 1 in messages, as `state.steps` does.
        let step = u64::from(divergence.step) + 1;
        Err(TrainError::Diverged {
            epoch,
            step,
            cause: format!(
                "the update made `{}` non-finite (first at index {}){}",
                divergence.tensor,
                divergence.index,
                lr_hint(lr)
            ),
        })
    }

    /// Updates the best epoch, the early-stopping count and the plateau reduction with this
    /// epoch's validation loss (without a validation split, every epoch is the best).
    fn record_validation(&mut self, epoch: usize, val_loss: Option<f64>) {
        let state = &mut self.state;
        let Some(val) = val_loss else {
            state.best_epoch = epoch;
            return;
        };
        let min_delta = self.options.early_stopping.map_or(0.0, |e| e.min_delta);
        if state
            .best_val_loss
            .is_none_or(|best| val < best - min_delta)
        {
            state.best_val_loss = Some(val);
            state.best_epoch = epoch;
            state.bad_epochs = 0;
        } else {
            state.bad_epochs += 1;
        }
        if let Some(plateau) = self.options.lr_schedule.plateau {
            if state.plateau_best.is_none_or(|best| val < best) {
                state.plateau_best = Some(val);
                state.plateau_bad_epochs = 0;
            } else {
                state.plateau_bad_epochs += 1;
                if state.plateau_bad_epochs >= plateau.patience {
                    state.plateau_scale *= plateau.factor;
                    state.plateau_bad_epochs = 0;
                }
            }
        }
    }

    /// Whether the last epoch was the best so far (by validation loss, or simply the last).
    pub fn last_epoch_is_best(&self) -> bool {
        self.state.best_epoch == self.state.epochs_done
    }

    /// Whether early stopping ends the run now.
    pub fn patience_ran_out(&self) -> bool {
        self.options
            .early_stopping
            .is_some_and(|e| self.state.bad_epochs >= e.patience)
    }

    pub fn parameters(&mut self) -> Result<Vec<f32>, BackendError> {
        self.vae.read_parameters(&mut self.backend)
    }

    /// Parameters and Adam's moments, for a resumable state.
    pub fn snapshot(&mut self) -> Result<[Vec<f32>; 3], BackendError> {
        let parameters = self.vae.read_parameters(&mut self.backend)?;
        let (m, v) = self.vae.read_moments(&mut self.backend)?;
        Ok([parameters, m, v])
    }

    /// Continues from a saved state: parameters, moments and the counters of `state`.
    pub fn restore(&mut self, state: TrainingState, [parameters, m, v]: &[Vec<f32>; 3]) {
        self.vae.write_parameters(&mut self.backend, parameters);
        self.vae.write_moments(&mut self.backend, m, v);
        self.state = state;
    }

    /// `n` images decoded from z ~ N(0, I) drawn from `seed`, as probabilities (n × dim).
    pub fn samples(&mut self, n: usize, seed: u64) -> Result<Vec<f32>, BackendError> {
        let n = n.min(self.vae.capacity);
        let program = self.backend.prepare(&self.vae.sample(n, 1.0))?;
        self.backend.run(&program, &Frame::with_seed(seed))?;
        let output = self.vae.output(n);
        self.backend.read_f32(output.buffer, 0, output.len)
    }

    /// The first `n` test images (as the model sees them) and their reconstructions through the
    /// posterior mean.
    pub fn reconstructions(&mut self, n: usize) -> Result<(Vec<f32>, Vec<f32>), BackendError> {
        let n = n.min(self.test.count).min(self.vae.capacity);
        let program =
            self.backend
                .prepare(&self.vae.reconstruct(&self.eval_data, self.test.perm, n))?;
        self.backend
            .run(&program, &Frame::with_seed(self.options.seed))?;
        let dim = self.eval_data.dim;
        let inputs = self.backend.read_f32(self.vae.input, 0, n * dim)?;
        let output = self.vae.output(n);
        let outputs = self.backend.read_f32(output.buffer, 0, output.len)?;
        Ok((inputs, outputs))
    }
}
