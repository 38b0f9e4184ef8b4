//! `vae-gpu train` as a workflow: checks what needs no device first (options, model shape, split,
//! run folder), then opens the backend and runs the epochs. After each one it writes the
//! checkpoint of the best epoch so far (`model.safetensors`), the metrics line and the resumable
//! state (`state.safetensors`); at the end the grids, `summary.json` and the `latest` link.
//! `resume` continues a run from its state, in its folder, exactly as if it had not stopped.
//! What the user sees along the way goes through a `TrainObserver`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backend::{Backend, BackendError};
use crate::checkpoint::{self, CheckpointError};
use crate::data::{DataSource, Dataset};
use crate::image_grid::{picture_grid, save_png, ImageError, ImageShape};
use crate::model::{to_named_tensors, VaeConfig};
use crate::plots::{line_plot, Curve, PlotError};

use super::run_dir::{self, RunDir, RunDirError};
use super::sample::{self, grid_columns, IMAGE_CHANNELS_KEY, IMAGE_HEIGHT_KEY, IMAGE_WIDTH_KEY};
use super::state::{SavedState, StateError, STATE_FILE};
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
    pub train_images: usize,
    pub validation_images: usize,
    pub run: &'a Path,
    /// Epochs already done (a resumed run).
    pub resumed_after: usize,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// It ran the epochs asked for.
    Epochs,
    /// Early stopping: no validation improvement for `--patience` epochs.
    Patience,
    /// The loss became NaN or infinite.
    Diverged,
    /// Ctrl-C or SIGTERM: the run stopped after the epoch in flight, its state written.
    Interrupted,
}

impl StopReason {
    pub fn describe(self, patience: usize) -> String {
        match self {
            StopReason::Epochs => "it ran every epoch asked for".to_string(),
            StopReason::Patience => {
                format!("no validation improvement for {patience} epochs (--patience)")
            }
            StopReason::Diverged => "the loss diverged".to_string(),
            StopReason::Interrupted => "it was interrupted (Ctrl-C or SIGTERM)".to_string(),
        }
    }
}

/// `summary.json`: why the run ended and which epoch the checkpoint holds.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run: PathBuf,
    /// `<runs>/latest`, when it was pointed at this run.
    pub latest: Option<PathBuf>,
    pub stop_reason: StopReason,
    pub epochs_run: usize,
    /// The epoch `model.safetensors` holds, and its metrics.
    pub best_epoch: usize,
    pub best: EpochMetrics,
    /// The files the run wrote.
    pub files: Vec<PathBuf>,
}

/// Hears about a training run as it goes (the command line prints it).
pub trait TrainObserver: Progress {
    fn started(&mut self, run: &RunStart);
    fn epoch_finished(&mut self, metrics: &EpochMetrics, epochs: usize);
    /// Whether the user asked the run to stop (checked between epochs).
    fn interrupted(&self) -> bool {
        false
    }
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
    State(#[from] StateError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend could not be opened (no adapter, …).
    #[error(transparent)]
    Open(OpenError),
    #[error("{error}; {kept}")]
    Diverged { error: TrainError, kept: String },
    #[error("{0}")]
    Refused(String),
}

/// Opening a backend: whatever went wrong, for the user to read.
pub type OpenError = Box<dyn std::error::Error + Send + Sync>;

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
    put(IMAGE_CHANNELS_KEY, dataset.channels.to_string());
    put("epochs", metrics.epoch.to_string());
    put("seed", options.seed.to_string());
    put("test_loss", format!("{:.4}", metrics.test_loss));
    if let Some(val) = metrics.val_loss {
        put("val_loss", format!("{val:.4}"));
    }
    put("binarize", json_name(&options.binarize));
    put("val_fraction", options.val_fraction.to_string());
    put("data", dataset.name.clone());
    put("writer", format!("vae-gpu {}", env!("CARGO_PKG_VERSION")));
    metadata
}

fn json_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Trains on `dataset` and writes a run folder. `open` is called only after every check that
/// needs no device has passed.
pub fn run<B: Backend>(
    dataset: &Dataset,
    source: &DataSource,
    options: TrainOptions,
    place: &RunPlace,
    open: impl FnOnce() -> Result<B, OpenError>,
    observer: &mut dyn TrainObserver,
) -> Result<RunSummary, TrainRunError> {
    options.check(dataset)?;
    if let Some(path) = &place.run_dir {
        RunDir::check_available(path)?;
    }
    let backend = open().map_err(TrainRunError::Open)?;
    let trainer = Trainer::new(backend, dataset, options)?;
    let run = match &place.run_dir {
        Some(path) => RunDir::create_at(path)?,
        None => RunDir::create_timestamped(&place.runs)?,
    };
    let summary = train_epochs(trainer, dataset, source, &run, None, observer)?;
    finish(summary, &run, place)
}

/// Continues the run in `run_dir` from its `state.safetensors` up to `epochs` epochs in all (the
/// run's own number without it). `dataset` must be the run's data (`SavedState::data`).
pub fn resume<B: Backend>(
    run_dir: &Path,
    saved: SavedState,
    dataset: &Dataset,
    epochs: Option<usize>,
    runs: &Path,
    open: impl FnOnce() -> Result<B, OpenError>,
    observer: &mut dyn TrainObserver,
) -> Result<RunSummary, TrainRunError> {
    let run = RunDir::open_existing(run_dir)?;
    if dataset.fingerprint() != saved.data_fingerprint {
        return Err(TrainRunError::Refused(format!(
            "{}: the data ({}) is not what the run was trained on; resume needs the same images",
            run_dir.display(),
            dataset.name
        )));
    }
    let mut options = saved.options.clone();
    let done = saved.state.epochs_done;
    if let Some(epochs) = epochs {
        if epochs <= done {
            return Err(TrainRunError::Refused(format!(
                "--epochs {epochs}: {} has done {done} epochs already; --epochs counts all of them, so ask for more",
                run_dir.display()
            )));
        }
        options.epochs = epochs;
    }
    if done >= options.epochs {
        return Err(TrainRunError::Refused(format!(
            "{} has run all its {} epochs; give a larger --epochs to go on",
            run_dir.display(),
            options.epochs
        )));
    }
    options.check(dataset)?;
    let mut backend = open().map_err(TrainRunError::Open)?;
    backend.set_tuning(saved.tuning)?;
    let mut trainer = Trainer::new(backend, dataset, options)?;
    if trainer.vae.layout.len != saved.tensors[0].len() {
        return Err(TrainRunError::Refused(format!(
            "{}: the state holds {} parameters, the model {}",
            run_dir.display(),
            saved.tensors[0].len(),
            trainer.vae.layout.len
        )));
    }
    trainer.restore(saved.state.clone(), &saved.tensors);
    run.keep_epochs(done)?;
    let place = RunPlace {
        runs: runs.to_path_buf(),
        run_dir: Some(run_dir.to_path_buf()),
    };
    let summary = train_epochs(trainer, dataset, &saved.data, &run, Some(done), observer)?;
    finish(summary, &run, &place)
}

/// What the epochs loop hands to `finish`.
struct Finished {
    stop_reason: StopReason,
    epochs_run: usize,
    best: EpochMetrics,
}

fn train_epochs<B: Backend>(
    mut trainer: Trainer<B>,
    dataset: &Dataset,
    source: &DataSource,
    run: &RunDir,
    resumed_after: Option<usize>,
    observer: &mut dyn TrainObserver,
) -> Result<Finished, TrainRunError> {
    observer.started(&RunStart {
        device: trainer.backend.describe(),
        dataset,
        model: &trainer.vae.config,
        parameters: trainer.vae.layout.parameter_count(),
        options: &trainer.options,
        train_images: trainer.train_count(),
        validation_images: trainer.validation_count(),
        run: &run.path,
        resumed_after: resumed_after.unwrap_or(0),
    });
    let checkpoint_path = run.file(run_dir::CHECKPOINT_FILE);
    let epochs = trainer.options.epochs;
    let mut best: Option<EpochMetrics> = resumed_after.and_then(|_| best_from_metrics(run));
    let mut stop_reason = StopReason::Epochs;
    while trainer.state.epochs_done < epochs {
        let metrics = match trainer.run_epoch(observer) {
            Ok(metrics) => metrics,
            Err(error @ TrainError::Diverged { .. }) => {
                let kept = match &best {
                    Some(m) => format!(
                        "the checkpoint of epoch {} is kept at {}",
                        m.epoch,
                        checkpoint_path.display()
                    ),
                    None => "no epoch finished, so no checkpoint was written".to_string(),
                };
                if let Some(best) = &best {
                    let summary =
                        summary_json(StopReason::Diverged, trainer.state.epochs_done, best);
                    run.write_summary(&summary)?;
                }
                return Err(TrainRunError::Diverged { error, kept });
            }
            Err(error) => return Err(error.into()),
        };
        observer.epoch_finished(&metrics, epochs);
        if trainer.last_epoch_is_best() {
            let metadata =
                checkpoint_metadata(&trainer.vae.config, dataset, &trainer.options, &metrics);
            let parameters = trainer.parameters()?;
            let tensors = to_named_tensors(&trainer.vae.layout, &parameters);
            checkpoint::save(&checkpoint_path, &tensors, &metadata)?;
            best = Some(metrics.clone());
        }
        run.append_metrics(&metrics)?;
        draw_losses(run)?;
        // Last, so that a state never runs ahead of the checkpoint and metrics it describes.
        let saved = SavedState {
            options: trainer.options.clone(),
            state: trainer.state.clone(),
            tuning: trainer.backend.tuning(),
            data: source.clone(),
            data_fingerprint: dataset.fingerprint(),
            tensors: trainer.snapshot()?,
        };
        saved.save(&run.file(STATE_FILE))?;
        if trainer.patience_ran_out() {
            stop_reason = StopReason::Patience;
            break;
        }
        if observer.interrupted() && trainer.state.epochs_done < epochs {
            stop_reason = StopReason::Interrupted;
            break;
        }
    }
    let best = best.expect("at least one epoch ran");
    write_grids(&mut trainer, dataset, run, &best)?;
    Ok(Finished {
        stop_reason,
        epochs_run: trainer.state.epochs_done,
        best,
    })
}

/// Every metrics line of a run folder.
fn all_metrics(run: &RunDir) -> Vec<EpochMetrics> {
    std::fs::read_to_string(run.file(run_dir::METRICS_JSONL))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The best epoch's metrics line of a run folder (for a resumed run's summary).
fn best_from_metrics(run: &RunDir) -> Option<EpochMetrics> {
    let all = all_metrics(run);
    let best_epoch = all.last()?.best_epoch;
    all.into_iter().find(|m| m.epoch == best_epoch)
}

/// loss.png: train, validation (when there is a split) and test loss against epoch.
fn draw_losses(run: &RunDir) -> Result<(), TrainRunError> {
    let all = all_metrics(run);
    let curve = |name, value: fn(&EpochMetrics) -> Option<f64>| Curve {
        name,
        points: all
            .iter()
            .filter_map(|m| value(m).map(|v| (m.epoch as f64, v)))
            .collect(),
    };
    let curves: Vec<Curve> = [
        curve("train", |m| Some(m.train_loss)),
        curve("validation", |m| m.val_loss),
        curve("test", |m| Some(m.test_loss)),
    ]
    .into_iter()
    .filter(|c| !c.points.is_empty())
    .collect();
    let path = run.file(run_dir::LOSS_PNG);
    let title = "Loss (negative ELBO) by epoch";
    line_plot(&path, title, "epoch", "nats per image", &curves)?;
    Ok(())
}

fn summary_json(
    stop_reason: StopReason,
    epochs_run: usize,
    best: &EpochMetrics,
) -> serde_json::Value {
    serde_json::json!({
        "stop_reason": stop_reason,
        "epochs_run": epochs_run,
        "best_epoch": best.epoch,
        "best": best,
    })
}

fn finish(finished: Finished, run: &RunDir, place: &RunPlace) -> Result<RunSummary, TrainRunError> {
    let Finished {
        stop_reason,
        epochs_run,
        best,
    } = finished;
    run.write_summary(&summary_json(stop_reason, epochs_run, &best))?;
    let latest = if place.run_dir.is_none() || run.path.starts_with(&place.runs) {
        run.mark_latest(&place.runs)?;
        Some(place.runs.join(run_dir::LATEST))
    } else {
        None
    };
    let files = [
        run_dir::CHECKPOINT_FILE,
        STATE_FILE,
        run_dir::METRICS_JSONL,
        run_dir::METRICS_CSV,
        run_dir::SUMMARY_JSON,
        run_dir::LOSS_PNG,
        run_dir::SAMPLES_PNG,
        run_dir::RECONSTRUCTIONS_PNG,
    ]
    .iter()
    .map(|name| run.file(name))
    .collect();
    Ok(RunSummary {
        run: run.path.clone(),
        latest,
        stop_reason,
        epochs_run,
        best_epoch: best.epoch,
        best,
        files,
    })
}

/// samples.png (draws z ~ N(0, I) from the run's seed) and reconstructions.png (the first test
/// images above their reconstructions through the posterior mean), both from the best epoch's
/// parameters.
fn write_grids<B: Backend>(
    trainer: &mut Trainer<B>,
    dataset: &Dataset,
    run: &RunDir,
    best: &EpochMetrics,
) -> Result<(), TrainRunError> {
    if best.epoch != trainer.state.epochs_done {
        let (tensors, _) = checkpoint::load(&run.file(run_dir::CHECKPOINT_FILE))?;
        let config = trainer.vae.config.clone();
        let parameters = crate::model::from_named_tensors(&config, &trainer.vae.layout, &tensors)
            .map_err(|e| TrainRunError::Refused(e.to_string()))?;
        trainer
            .vae
            .write_parameters(&mut trainer.backend, &parameters);
    }
    let shape = ImageShape {
        channels: dataset.channels,
        height: dataset.rows,
        width: dataset.cols,
    };
    let n = SAMPLE_GRID.min(trainer.vae.capacity);
    let pixels = trainer.samples(n, trainer.options.seed)?;
    let columns = grid_columns(n);
    let samples = picture_grid(&pixels, n, shape, columns, sample::GRID_PADDING);
    save_png(&run.file(run_dir::SAMPLES_PNG), &samples)?;
    let (inputs, outputs) = trainer.reconstructions(RECONSTRUCTIONS)?;
    let shown = inputs.len() / dataset.dim();
    let grid = sample::reconstruction_grid(&inputs, &outputs, shown, shape, 8);
    save_png(&run.file(run_dir::RECONSTRUCTIONS_PNG), &grid)?;
    Ok(())
}
