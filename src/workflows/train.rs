//! `vae-gpu train` as a workflow: checks what needs no device first (options, model shape, run
//! folder), then opens the backend, runs the epochs, writes the checkpoint and metrics after each
//! one, the sample and reconstruction grids at the end, and points `<runs>/latest` at the run.
//! What the user sees along the way goes through a `TrainObserver`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::backend::{Backend, BackendError};
use crate::checkpoint::{self, CheckpointError};
use crate::data::Dataset;
use crate::image_grid::{grid_image, save_png, ImageError};
use crate::model::{to_named_tensors, VaeConfig};

use super::run_dir::{self, RunDir, RunDirError};
use super::sample::{self, grid_columns, IMAGE_HEIGHT_KEY, IMAGE_WIDTH_KEY};
use super::trainer::{EpochMetrics, Progress, TrainError, TrainOptions, Trainer};

/// Images in the run's sample grid, and test images in its reconstruction grid.
const SAMPLE_GRID: usize = 64;
const RECONSTRUCTIONS: usize = 16;

/// Where a training run is written.
#[derive(Clone, Debug)]
pub struct RunPlace {
    /// The folder that holds the runs and the `latest` link.
    pub runs: PathBuf,
    /// The run's own folder, instead of `<runs>/<timestamp>` (must be empty or missing).
    pub run_dir: Option<PathBuf>,
}

/// What the run is, once the backend is open: for the lines printed before the first epoch.
pub struct RunStart<'a> {
    pub device: String,
    pub dataset: &'a Dataset,
    pub model: &'a VaeConfig,
    pub parameters: usize,
    pub options: &'a TrainOptions,
    pub run: &'a Path,
}

/// What the run wrote.
pub struct RunSummary {
    pub run: PathBuf,
    /// `<runs>/latest`, when it was pointed at this run.
    pub latest: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub last: EpochMetrics,
}

/// Hears about a training run as it goes (the command line prints it).
pub trait TrainObserver: Progress {
    fn started(&mut self, run: &RunStart);
    fn epoch_finished(&mut self, metrics: &EpochMetrics, epochs: usize);
}

#[derive(Debug, thiserror::Error)]
pub enum TrainRunError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend could not be opened (no adapter, …).
    #[error(transparent)]
    Open(OpenError),
    #[error("{error}; {kept}. Try a lower --lr.")]
    Diverged { error: TrainError, kept: String },
}

/// The checkpoint's metadata: the model config, the image shape and where the weights came from.
pub fn checkpoint_metadata(
    config: &VaeConfig,
    dataset: &Dataset,
    options: &TrainOptions,
    metrics: &EpochMetrics,
) -> BTreeMap<String, String> {
    let mut metadata = config.to_metadata();
    let mut put = |key: &str, value: String| metadata.insert(key.to_string(), value);
    put(IMAGE_HEIGHT_KEY, dataset.rows.to_string());
    put(IMAGE_WIDTH_KEY, dataset.cols.to_string());
    put("epochs", metrics.epoch.to_string());
    put("seed", options.seed.to_string());
    put("test_loss", format!("{:.4}", metrics.test_loss));
    put("data", dataset.name.clone());
    put("writer", format!("vae-gpu {}", env!("CARGO_PKG_VERSION")));
    metadata
}

/// Trains on `dataset` and writes a run folder. `open` is called only after every check that
/// needs no device has passed.
/// Opening a backend: whatever went wrong, for the user to read.
pub type OpenError = Box<dyn std::error::Error + Send + Sync>;

pub fn run<B: Backend>(
    dataset: &Dataset,
    options: TrainOptions,
    place: &RunPlace,
    open: impl FnOnce() -> Result<B, OpenError>,
    observer: &mut dyn TrainObserver,
) -> Result<RunSummary, TrainRunError> {
    options.validate()?;
    options.model_for(dataset)?;
    if let Some(path) = &place.run_dir {
        RunDir::check_available(path)?;
    }
    let backend = open().map_err(TrainRunError::Open)?;
    let device = backend.describe();
    let mut trainer = Trainer::new(backend, dataset, options)?;
    let run = match &place.run_dir {
        Some(path) => RunDir::create_at(path)?,
        None => RunDir::create_timestamped(&place.runs)?,
    };
    observer.started(&RunStart {
        device,
        dataset,
        model: &trainer.vae.config,
        parameters: trainer.vae.layout.parameter_count(),
        options: &trainer.options,
        run: &run.path,
    });

    let checkpoint_path = run.file(run_dir::CHECKPOINT_FILE);
    let epochs = trainer.options.epochs;
    let mut last: Option<EpochMetrics> = None;
    for _ in 0..epochs {
        let metrics = match trainer.run_epoch(observer) {
            Ok(metrics) => metrics,
            Err(error @ TrainError::Diverged { .. }) => {
                let kept = match &last {
                    Some(m) => format!(
                        "the checkpoint of epoch {} is kept at {}",
                        m.epoch,
                        checkpoint_path.display()
                    ),
                    None => "no epoch finished, so no checkpoint was written".to_string(),
                };
                return Err(TrainRunError::Diverged { error, kept });
            }
            Err(error) => return Err(error.into()),
        };
        observer.epoch_finished(&metrics, epochs);
        let metadata =
            checkpoint_metadata(&trainer.vae.config, dataset, &trainer.options, &metrics);
        let parameters = trainer.parameters()?;
        let tensors = to_named_tensors(&trainer.vae.layout, &parameters);
        checkpoint::save(&checkpoint_path, &tensors, &metadata)?;
        run.append_metrics(&metrics)?;
        last = Some(metrics);
    }
    let last = last.expect("at least one epoch ran");
    write_grids(&mut trainer, dataset, &run)?;

    let latest = if place.run_dir.is_none() || run.path.starts_with(&place.runs) {
        run.mark_latest(&place.runs)?;
        Some(place.runs.join(run_dir::LATEST))
    } else {
        None
    };
    let files = [
        run_dir::CHECKPOINT_FILE,
        run_dir::METRICS_JSONL,
        run_dir::METRICS_CSV,
        run_dir::SAMPLES_PNG,
        run_dir::RECONSTRUCTIONS_PNG,
    ]
    .iter()
    .map(|name| run.file(name))
    .collect();
    Ok(RunSummary {
        run: run.path,
        latest,
        files,
        last,
    })
}

/// samples.png (draws z ~ N(0, I) from the run's seed) and reconstructions.png (the first test
/// images above their reconstructions through the posterior mean).
fn write_grids<B: Backend>(
    trainer: &mut Trainer<B>,
    dataset: &Dataset,
    run: &RunDir,
) -> Result<(), TrainRunError> {
    let (height, width) = (dataset.rows, dataset.cols);
    let n = SAMPLE_GRID.min(trainer.vae.capacity);
    let pixels = trainer.samples(n, trainer.options.seed)?;
    let columns = grid_columns(n);
    let samples = grid_image(&pixels, n, height, width, columns, sample::GRID_PADDING);
    save_png(&run.file(run_dir::SAMPLES_PNG), &samples)?;
    let (inputs, outputs) = trainer.reconstructions(RECONSTRUCTIONS)?;
    let shown = inputs.len() / dataset.dim();
    let grid = sample::reconstruction_grid(&inputs, &outputs, shown, height, width, 8);
    save_png(&run.file(run_dir::RECONSTRUCTIONS_PNG), &grid)?;
    Ok(())
}
