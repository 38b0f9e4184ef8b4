//! `vae-gpu sweep`: one training run per setting (latent size, hidden widths, β, dropout), each
//! with early stopping on its validation split, in `<runs>/sweep-<timestamp>/<label>/`; a table of
//! the best validation loss of each, the winner by validation loss, and `sweep.csv`/`sweep.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::backend::Backend;
use crate::data::{DataSource, Dataset};

use super::run_dir::{self, RunDir};
use super::train::{self, OpenError, RunPlace, StopReason, TrainObserver, TrainRunError};
use super::trainer::TrainOptions;

/// One run of a sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    /// The swept settings of this run, as `name=value` words.
    pub label: String,
    pub best_val_loss: Option<f64>,
    pub best_epoch: usize,
    pub test_loss: f64,
    pub active_units: usize,
    pub latent: usize,
    pub seconds: f64,
    pub run: PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub folder: PathBuf,
    pub rows: Vec<SweepRow>,
    /// Index into `rows` of the lowest best validation loss.
    pub winner: usize,
}

/// A folder name from a label: `latent=20 beta=1` → `latent-20_beta-1`.
fn folder_name(label: &str) -> String {
    label
        .split_whitespace()
        .map(|word| word.replace('=', "-"))
        .collect::<Vec<_>>()
        .join("_")
}

/// Runs every `(label, options)` in turn. All options must have a validation split.
pub fn run<B: Backend>(
    dataset: &Dataset,
    source: &DataSource,
    runs: Vec<(String, TrainOptions)>,
    root: &Path,
    mut open: impl FnMut() -> Result<B, OpenError>,
    observer: &mut dyn TrainObserver,
) -> Result<SweepReport, TrainRunError> {
    for (label, options) in &runs {
        if options.val_fraction == 0.0 {
            return Err(TrainRunError::Refused(format!(
                "{label}: a sweep chooses on validation loss; --val-fraction must be above 0"
            )));
        }
        options.check(dataset)?;
    }
    let folder = run_dir::new_timestamped_folder(root, "sweep-")?;
    let mut rows = Vec::new();
    for (label, options) in runs {
        let started = Instant::now();
        let latent = options.model.latent;
        let place = RunPlace {
            runs: root.to_path_buf(),
            run_dir: Some(folder.join(folder_name(&label))),
        };
        let summary = train::run(dataset, source, options, &place, &mut open, observer)?;
        let interrupted = summary.stop_reason == StopReason::Interrupted;
        let best = &summary.best;
        rows.push(SweepRow {
            label,
            best_val_loss: best.val_loss,
            best_epoch: best.epoch,
            test_loss: best.test_loss,
            active_units: best.active_units,
            latent,
            seconds: started.elapsed().as_secs_f64(),
            run: summary.run,
        });
        if interrupted || observer.interrupted() {
            break;
        }
    }
    let winner = (0..rows.len())
        .min_by(|&a, &b| {
            let loss = |i: usize| rows[i].best_val_loss.unwrap_or(f64::INFINITY);
            loss(a).total_cmp(&loss(b))
        })
        .expect("a sweep has runs");
    RunDir {
        path: rows[winner].run.clone(),
    }
    .mark_latest(root)?;
    let report = SweepReport {
        folder,
        rows,
        winner,
    };
    write_tables(&report)?;
    Ok(report)
}

fn write_tables(report: &SweepReport) -> Result<(), TrainRunError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| TrainRunError::RunDir(run_dir::RunDirError::Io { path, error })
    };
    let json_path = report.folder.join("sweep.json");
    let json = serde_json::to_string_pretty(report).expect("the report serializes");
    std::fs::write(&json_path, json + "\n").map_err(io(&json_path))?;
    let mut csv =
        String::from("label,best_val_loss,best_epoch,test_loss,active_units,seconds,run\n");
    for row in &report.rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{:.1},{}\n",
            row.label,
            row.best_val_loss.map(|v| v.to_string()).unwrap_or_default(),
            row.best_epoch,
            row.test_loss,
            row.active_units,
            row.seconds,
            row.run.display()
        ));
    }
    let csv_path = report.folder.join("sweep.csv");
    std::fs::write(&csv_path, csv).map_err(io(&csv_path))?;
    Ok(())
}

impl SweepReport {
    /// The table for people, the winner marked.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:<28} {:>10} {:>6} {:>10} {:>7} {:>8}\n",
            "run", "best val", "epoch", "test", "active", "seconds"
        );
        for (i, row) in self.rows.iter().enumerate() {
            let val = row
                .best_val_loss
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<28} {:>10} {:>6} {:>10.2} {:>4}/{:<2} {:>8.1}{}\n",
                row.label,
                val,
                row.best_epoch,
                row.test_loss,
                row.active_units,
                row.latent,
                row.seconds,
                if i == self.winner { "  <- best" } else { "" }
            ));
        }
        out
    }
}
