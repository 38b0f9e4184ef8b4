//! How the commands that read a trained model find it, and its data.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use vae_gpu::data::{DataSource, Dataset};
use vae_gpu::workflows::run_dir;
use vae_gpu::workflows::state::{SavedState, STATE_FILE};

use super::train_args::DataArgs;

#[derive(Args, Clone, Debug)]
pub struct CheckpointArgs {
    /// A checkpoint file, or a run folder [default: <runs>/latest]
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Folder that holds the runs
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

impl CheckpointArgs {
    /// The checkpoint file: `--checkpoint` itself, `model.safetensors` in the folder it names, or
    /// the latest run's.
    pub fn path(&self) -> Result<PathBuf> {
        let path = match &self.checkpoint {
            Some(path) if path.is_dir() => path.join(run_dir::CHECKPOINT_FILE),
            Some(path) => return Ok(path.clone()),
            None => self
                .runs
                .join(run_dir::LATEST)
                .join(run_dir::CHECKPOINT_FILE),
        };
        if !path.exists() {
            bail!(
                "{} does not exist: train a model first (`vae-gpu train`) or name one with --checkpoint",
                path.display()
            );
        }
        Ok(path)
    }
}

/// The data a command uses with a checkpoint: `--data` when given, else the data of the run that
/// wrote it (from its state beside it), else the embedded set.
pub fn data_for(checkpoint: &Path, data: &DataArgs) -> Result<Dataset> {
    if data.given() {
        let dataset = data.source().load()?;
        super::terminal::report_skipped(&dataset);
        return Ok(dataset);
    }
    let state = checkpoint.with_file_name(STATE_FILE);
    let source = if state.is_file() {
        SavedState::load(&state)?.data
    } else {
        DataSource::default()
    };
    Ok(source.load()?)
}
