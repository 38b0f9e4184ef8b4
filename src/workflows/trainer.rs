//! Epochs of training and evaluation on one backend: the data set resident on the device, one
//! shuffled permutation per epoch, programs built once, loss sums read back once per report.

use std::time::Instant;

use crate::backend::{Backend, BackendError};
use crate::data::Dataset;
use crate::model::{init_parameters, DeviceData, Metric, Vae, VaeConfig};
use crate::ops::{BufferId, Frame, View};
use crate::optim::AdamConfig;
use crate::rng::PhiloxStream;

/// Host Philox stream of the per-epoch shuffles (epoch number added).
const SHUFFLE_STREAM: u32 = 0x5000;
/// Rows per evaluation replay.
pub const EVAL_BATCH: usize = 500;

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub model: VaeConfig,
    pub adam: AdamConfig,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
}

impl TrainOptions {
    /// Checks everything but the model's input size, which comes from the data; the model's shape
    /// is checked by `VaeConfig::validate` once the data has set it.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Options(m.to_string()));
        if self.batch_size == 0 {
            return bad("the batch size must be at least 1");
        }
        if self.epochs == 0 {
            return bad("the number of epochs must be at least 1");
        }
        if !(self.adam.lr.is_finite() && self.adam.lr > 0.0) {
            return bad("the learning rate must be a positive number");
        }
        if !(self.adam.weight_decay.is_finite() && self.adam.weight_decay >= 0.0) {
            return bad("the weight decay must be 0 or a positive number");
        }
        Ok(())
    }

    /// The model for this data: the input size set from it, the whole shape checked.
    pub fn model_for(&self, dataset: &Dataset) -> Result<VaeConfig, TrainError> {
        let mut model = self.model.clone();
        model.input_dim = dataset.dim();
        model.validate()?;
        Ok(model)
    }

    /// The canonical PyTorch VAE example's settings.
    pub fn mnist_default() -> Self {
        Self {
            model: VaeConfig::mnist_default(),
            adam: AdamConfig::default(),
            batch_size: 128,
            epochs: 10,
            seed: 1,
        }
    }
}

/// One epoch's numbers, in nats per image.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_reconstruction: f64,
    pub train_kl: f64,
    pub test_loss: f64,
    pub test_reconstruction: f64,
    pub test_kl: f64,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Training images per second (evaluation excluded).
    pub images_per_second: f64,
    pub learning_rate: f32,
}

impl EpochMetrics {
    pub fn is_finite(&self) -> bool {
        [self.train_loss, self.test_loss]
            .iter()
            .all(|v| v.is_finite())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("invalid training options: {0}")]
    Options(String),
    #[error(transparent)]
    Model(#[from] crate::model::ConfigError),
    #[error("training diverged in epoch {epoch} at step {step}: the loss is {loss}")]
    Diverged { epoch: usize, step: u64, loss: f32 },
}

/// A replayable program over `rows` rows.
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

pub struct Trainer<B: Backend> {
    pub backend: B,
    pub vae: Vae,
    pub options: TrainOptions,
    data: DeviceData,
    train_perm: BufferId,
    test_perm: BufferId,
    train_count: usize,
    test_count: usize,
    train: Batches<B::Program>,
    eval: Batches<B::Program>,
    /// Training steps taken (the RNG step and Adam's t − 1 of the next one).
    pub steps: u64,
    epochs_done: usize,
    /// Seconds between progress read-backs (each one waits for the device).
    pub report_interval: f64,
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
        options.validate()?;
        options.model = options.model_for(dataset)?;
        let (train_count, test_count) = (dataset.train_count, dataset.test_count());
        if train_count == 0 || test_count == 0 {
            return Err(TrainError::Options(format!(
                "{} has {train_count} training and {test_count} test images; both must be non-empty",
                dataset.name
            )));
        }
        let capacity = options
            .batch_size
            .min(train_count)
            .max(EVAL_BATCH.min(test_count));
        let data = DeviceData::upload(&mut backend, &dataset.images, dataset.dim())?;
        let train_perm = backend.create_buffer("train permutation", train_count)?;
        let test_perm = backend.create_buffer("test permutation", test_count)?;
        let test_indices: Vec<u32> = (train_count as u32..dataset.count() as u32).collect();
        backend.write_u32(test_perm, 0, &test_indices);
        let vae = Vae::new(&mut backend, options.model.clone(), capacity)?;
        vae.write_parameters(&mut backend, &init_parameters(&vae.layout, options.seed));
        let train_view = View::whole(train_perm, train_count);
        let test_view = View::whole(test_perm, test_count);
        let train = Batches::new(train_count, options.batch_size, |rows| {
            backend.prepare(&vae.train_step(&data, train_view, rows))
        })?;
        let eval = Batches::new(test_count, EVAL_BATCH, |rows| {
            backend.prepare(&vae.eval_batch(&data, test_view, rows))
        })?;
        Ok(Self {
            backend,
            vae,
            options,
            data,
            train_perm,
            test_perm,
            train_count,
            test_count,
            train,
            eval,
            steps: 0,
            epochs_done: 0,
            report_interval: 0.5,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train.count
    }

    fn frame(&self, step: u32, batch_start: usize) -> Frame {
        let mut frame = Frame::with_seed(self.options.seed);
        frame.step = step;
        frame.batch_start = batch_start as u32;
        frame
    }

    /// One epoch: a seeded shuffle, every training batch, then the test set.
    pub fn run_epoch<P: Progress + ?Sized>(
        &mut self,
        progress: &mut P,
    ) -> Result<EpochMetrics, TrainError> {
        let epoch = self.epochs_done + 1;
        let started = Instant::now();
        let mut perm: Vec<u32> = (0..self.train_count as u32).collect();
        PhiloxStream::new(self.options.seed, SHUFFLE_STREAM + epoch as u32).shuffle(&mut perm);
        self.backend.write_u32(self.train_perm, 0, &perm);
        self.vae.reset_metrics(&mut self.backend);

        let lr = self.options.adam.lr;
        let mut last_report = Instant::now();
        for batch in 0..self.train.count {
            let (program, start) = self.train.get(batch);
            let mut frame = self.frame(self.steps as u32, start);
            self.options.adam.fill_frame(&mut frame, self.steps + 1, lr);
            self.backend.run(program, &frame)?;
            self.steps += 1;
            let last = batch + 1 == self.train.count;
            let mut loss = None;
            if last || last_report.elapsed().as_secs_f64() >= self.report_interval {
                let m = self.vae.read_metrics(&mut self.backend)?;
                let rows = if last {
                    self.train_count - start
                } else {
                    self.train.rows
                };
                let value = (m.get(Metric::StepBce) + m.get(Metric::StepKl)) / rows as f32;
                if !value.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch,
                        step: self.steps,
                        loss: value,
                    });
                }
                loss = Some(value);
                last_report = Instant::now();
            }
            progress.step(epoch, batch + 1, self.train.count, loss);
        }
        self.backend.synchronize()?;
        let train_seconds = started.elapsed().as_secs_f64();

        for batch in 0..self.eval.count {
            let (program, start) = self.eval.get(batch);
            let step = (self.epochs_done * self.eval.count + batch) as u32;
            self.backend.run(program, &self.frame(step, start))?;
        }
        let m = self.vae.read_metrics(&mut self.backend)?;
        let per = |sum: f32, n: usize| f64::from(sum) / n as f64;
        let (train_rec, train_kl) = (
            per(m.get(Metric::TrainBce), self.train_count),
            per(m.get(Metric::TrainKl), self.train_count),
        );
        let (test_rec, test_kl) = (
            per(m.get(Metric::EvalBce), self.test_count),
            per(m.get(Metric::EvalKl), self.test_count),
        );
        self.epochs_done = epoch;
        let metrics = EpochMetrics {
            epoch,
            train_loss: train_rec + train_kl,
            train_reconstruction: train_rec,
            train_kl,
            test_loss: test_rec + test_kl,
            test_reconstruction: test_rec,
            test_kl,
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: self.train_count as f64 / train_seconds,
            learning_rate: lr,
        };
        if !metrics.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                step: self.steps,
                loss: metrics.train_loss as f32,
            });
        }
        Ok(metrics)
    }

    pub fn parameters(&mut self) -> Result<Vec<f32>, BackendError> {
        self.vae.read_parameters(&mut self.backend)
    }

    /// `n` images decoded from z ~ N(0, I) drawn from `seed`, as probabilities (n × dim).
    pub fn samples(&mut self, n: usize, seed: u64) -> Result<Vec<f32>, BackendError> {
        let n = n.min(self.vae.capacity);
        let program = self.backend.prepare(&self.vae.sample(n))?;
        self.backend.run(&program, &Frame::with_seed(seed))?;
        self.backend
            .read_f32(self.vae.output(n).buffer, 0, n * self.data.dim)
    }

    /// The first `n` test images and their reconstructions through the posterior mean.
    pub fn reconstructions(&mut self, n: usize) -> Result<(Vec<f32>, Vec<f32>), BackendError> {
        let n = n.min(self.test_count).min(self.vae.capacity);
        let test_perm = View::whole(self.test_perm, self.test_count);
        let program = self
            .backend
            .prepare(&self.vae.reconstruct(&self.data, test_perm, n))?;
        self.backend
            .run(&program, &Frame::with_seed(self.options.seed))?;
        let dim = self.data.dim;
        let inputs = self.backend.read_f32(self.vae.input, 0, n * dim)?;
        let outputs = self
            .backend
            .read_f32(self.vae.output(n).buffer, 0, n * dim)?;
        Ok((inputs, outputs))
    }
}
