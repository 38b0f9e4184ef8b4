//! Run folders: `runs/<UTC timestamp>/` (or a folder the user names), never reusing one that holds
//! files, the per-epoch metrics files, and the `runs/latest` link to the newest run.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::trainer::EpochMetrics;

pub const LATEST: &str = "latest";
pub const CHECKPOINT_FILE: &str = "model.safetensors";
pub const METRICS_JSONL: &str = "metrics.jsonl";
pub const METRICS_CSV: &str = "metrics.csv";
pub const SAMPLES_PNG: &str = "samples.png";
pub const RECONSTRUCTIONS_PNG: &str = "reconstructions.png";
pub const SUMMARY_JSON: &str = "summary.json";
pub const LOSS_PNG: &str = "loss.png";

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}: already holds files of another run; choose another --run-dir (nothing was overwritten)")]
    NotEmpty(PathBuf),
    #[error("{0}: not a run folder that can be resumed (it has no {file}); give the folder `vae-gpu train` wrote", file = super::state::STATE_FILE)]
    NotResumable(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |error| RunDirError::Io {
        path: path.to_path_buf(),
        error,
    }
}

pub struct RunDir {
    pub path: PathBuf,
}

/// UTC date and time as `YYYYMMDD-HHMMSS` (civil-from-days, Howard Hinnant's algorithm).
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl RunDir {
    /// A new folder `<root>/<timestamp>` (with `-2`, `-3`, … if that exists).
    pub fn create_timestamped(root: &Path) -> Result<Self, RunDirError> {
        Self::initialized(new_timestamped_folder(root, "")?)
    }

    /// Fails if a run could not be written at `path` (it holds files, or is not a folder), without
    /// creating anything.
    pub fn check_available(path: &Path) -> Result<(), RunDirError> {
        if path.exists() {
            let mut entries = fs::read_dir(path).map_err(io(path))?;
            if entries.next().is_some() {
                return Err(RunDirError::NotEmpty(path.to_path_buf()));
            }
        }
        Ok(())
    }

    /// The folder the user named: created if missing, refused if it holds anything.
    pub fn create_at(path: &Path) -> Result<Self, RunDirError> {
        Self::check_available(path)?;
        fs::create_dir_all(path).map_err(io(path))?;
        Self::initialized(path.to_path_buf())
    }

    /// A run folder written before, to resume: it must hold a training state.
    pub fn open_existing(path: &Path) -> Result<Self, RunDirError> {
        if !path.join(super::state::STATE_FILE).is_file() {
            return Err(RunDirError::NotResumable(path.to_path_buf()));
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    fn initialized(path: PathBuf) -> Result<Self, RunDirError> {
        let csv = path.join(METRICS_CSV);
        fs::write(&csv, format!("{}\n", CSV_COLUMNS.join(","))).map_err(io(&csv))?;
        let jsonl = path.join(METRICS_JSONL);
        fs::write(&jsonl, "").map_err(io(&jsonl))?;
        Ok(Self { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Appends one epoch to metrics.jsonl and metrics.csv (a value that is not there, such as the
    /// validation loss without a split, is an empty cell).
    pub fn append_metrics(&self, m: &EpochMetrics) -> Result<(), RunDirError> {
        let jsonl = self.file(METRICS_JSONL);
        let value = serde_json::to_value(m).expect("metrics serialize");
        append(&jsonl, &format!("{value}\n"))?;
        let cell = |column: &str| match &value[column] {
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let row: Vec<String> = CSV_COLUMNS.iter().map(|c| cell(c)).collect();
        append(&self.file(METRICS_CSV), &format!("{}\n", row.join(",")))
    }

    /// Keeps the metrics of the first `epochs` epochs only: a resume continues from its state's
    /// epoch, and a run killed between its metrics line and its state must not count an epoch
    /// twice.
    pub fn keep_epochs(&self, epochs: usize) -> Result<(), RunDirError> {
        let jsonl = self.file(METRICS_JSONL);
        let text = fs::read_to_string(&jsonl).map_err(io(&jsonl))?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                value["epoch"]
                    .as_u64()
                    .is_some_and(|e| e as usize <= epochs)
            })
            .collect();
        let csv = self.file(METRICS_CSV);
        let csv_text = fs::read_to_string(&csv).map_err(io(&csv))?;
        let csv_kept: Vec<&str> = csv_text.lines().take(kept.len() + 1).collect();
        write_atomic(
            &jsonl,
            &kept.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )?;
        write_atomic(
            &csv,
            &csv_kept
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        )
    }

    /// Writes `summary.json` (replacing an earlier one atomically).
    pub fn write_summary(&self, summary: &serde_json::Value) -> Result<(), RunDirError> {
        let text = serde_json::to_string_pretty(summary).expect("summary serializes");
        write_atomic(&self.file(SUMMARY_JSON), &format!("{text}\n"))
    }

    /// Points `<root>/latest` at this run (replaced atomically: a new link renamed over the old).
    pub fn mark_latest(&self, root: &Path) -> Result<(), RunDirError> {
        let link = root.join(LATEST);
        let target = match (self.path.parent(), self.path.file_name()) {
            (Some(parent), Some(name)) if same_dir(parent, root) => PathBuf::from(name),
            _ => fs::canonicalize(&self.path).map_err(io(&self.path))?,
        };
        let temporary = root.join(format!(".latest-{}", std::process::id()));
        let _ = fs::remove_file(&temporary);
        make_link(&target, &temporary).map_err(io(&temporary))?;
        fs::rename(&temporary, &link).map_err(io(&link))
    }
}

/// Creates `<root>/<prefix><UTC timestamp>` (with `-2`, `-3`, … if that exists) and returns it.
pub fn new_timestamped_folder(root: &Path, prefix: &str) -> Result<PathBuf, RunDirError> {
    fs::create_dir_all(root).map_err(io(root))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = format!("{prefix}{}", utc_timestamp(now));
    for n in 1.. {
        let name = if n == 1 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let path = root.join(name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(&path)(e)),
        }
    }
    unreachable!("an unbounded search ends with a free name")
}

/// The columns of metrics.csv: the fields of `EpochMetrics`.
const CSV_COLUMNS: [&str; 18] = [
    "epoch",
    "train_loss",
    "train_reconstruction",
    "train_kl",
    "val_loss",
    "val_reconstruction",
    "val_kl",
    "test_loss",
    "test_reconstruction",
    "test_kl",
    "active_units",
    "learning_rate",
    "kl_weight",
    "grad_norm",
    "test_iwae_bound",
    "best_epoch",
    "seconds",
    "images_per_second",
];

/// Replaces `path` by `text` atomically (`checkpoint::write_atomic`).
fn write_atomic(path: &Path, text: &str) -> Result<(), RunDirError> {
    crate::checkpoint::write_atomic(path, text.as_bytes()).map_err(io(path))
}

fn append(path: &Path, text: &str) -> Result<(), RunDirError> {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io(path))?;
    file.write_all(text.as_bytes()).map_err(io(path))?;
    file.flush().map_err(io(path))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(unix)]
fn make_link(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn make_link(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_dir(target, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_are_the_metrics_fields() {
        let metrics = EpochMetrics {
            epoch: 1,
            train_loss: 0.0,
            train_reconstruction: 0.0,
            train_kl: 0.0,
            val_loss: None,
            val_reconstruction: None,
            val_kl: None,
            test_loss: 0.0,
            test_reconstruction: 0.0,
            test_kl: 0.0,
            active_units: 0,
            learning_rate: 0.0,
            kl_weight: 0.0,
            grad_norm: None,
            test_iwae_bound: None,
            best_epoch: 1,
            seconds: 0.0,
            images_per_second: 0.0,
        };
        let value = serde_json::to_value(&metrics).unwrap();
        let mut fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut columns = CSV_COLUMNS.to_vec();
        fields.sort_unstable();
        columns.sort_unstable();
        assert_eq!(fields, columns);
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "19700101-000000");
        assert_eq!(utc_timestamp(951_782_400), "20000229-000000");
        assert_eq!(utc_timestamp(1_795_782_896), "20261127-123456");
    }

    #[test]
    fn run_folders_are_never_reused_and_latest_follows_the_newest() {
        let root = std::env::temp_dir().join(format!("vae-gpu-runs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let a = RunDir::create_timestamped(&root).unwrap();
        let b = RunDir::create_timestamped(&root).unwrap();
        assert_ne!(a.path, b.path);
        a.mark_latest(&root).unwrap();
        b.mark_latest(&root).unwrap();
        assert_eq!(
            fs::canonicalize(root.join(LATEST)).unwrap(),
            fs::canonicalize(&b.path).unwrap()
        );
        let error = RunDir::create_at(&a.path)
            .err()
            .expect("a used folder was accepted");
        assert!(error.to_string().contains("already holds files"), "{error}");
        fs::remove_dir_all(&root).unwrap();
    }
}
