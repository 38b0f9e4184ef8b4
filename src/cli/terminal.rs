//! What `train` and `sweep` print: the run's description, a progress bar on a terminal, a line per
//! epoch, and the summary.

use indicatif::{ProgressBar, ProgressStyle};

use vae_gpu::workflows::train::{RunStart, RunSummary, StopReason, TrainObserver};

use super::signals::Interruption;
use vae_gpu::workflows::trainer::{EpochMetrics, Progress};

pub struct Terminal {
    bar: ProgressBar,
    images_per_step: usize,
    epochs: usize,
    started: std::time::Instant,
    images: usize,
    interruption: Interruption,
    /// Whether the "finishing the epoch" line was printed.
    told: bool,
}

impl Terminal {
    pub fn new(interruption: Interruption) -> Self {
        Self {
            interruption,
            told: false,
            bar: ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            images_per_step: 0,
            epochs: 0,
            started: std::time::Instant::now(),
            images: 0,
        }
    }

    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Terminal {
    fn step(&mut self, epoch: usize, batch: usize, batches: usize, loss: Option<f32>) {
        if self.interruption.requested() && !self.told {
            self.told = true;
            self.bar.suspend(|| {
                eprintln!(
                    "interrupted: finishing epoch {epoch} and writing its state (interrupt again to stop at once)"
                )
            });
        }
        if batch == 1 {
            self.bar.reset();
            self.bar.set_length(batches as u64);
            self.bar
                .set_prefix(format!("epoch {epoch}/{}", self.epochs));
            self.started = std::time::Instant::now();
            self.images = 0;
        }
        self.images += self.images_per_step;
        self.bar.set_position(batch as u64);
        if let Some(loss) = loss {
            let rate = self.images as f64 / self.started.elapsed().as_secs_f64();
            self.bar
                .set_message(format!("loss {loss:8.2}  {rate:6.0} images/s"));
        }
    }
}

impl TrainObserver for Terminal {
    fn interrupted(&self) -> bool {
        self.interruption.requested()
    }

    fn started(&mut self, run: &RunStart) {
        let options = run.options;
        self.images_per_step = options.batch_size;
        self.epochs = options.epochs;
        let data = run.dataset;
        let adam = &options.adam;
        println!("device:  {}", run.device);
        let split = if run.validation_images > 0 {
            format!(
                "{} train + {} validation",
                run.train_images, run.validation_images
            )
        } else {
            format!("{} train", run.train_images)
        };
        let channels = if data.channels == 1 {
            String::new()
        } else {
            format!("{}x", data.channels)
        };
        println!(
            "data:    {} ({split}, {} test, {channels}{}x{})",
            data.name,
            data.test_count(),
            data.rows,
            data.cols
        );
        report_skipped(data);
        let decay = if adam.weight_decay > 0.0 {
            format!(", weight decay {}", adam.weight_decay)
        } else {
            String::new()
        };
        println!(
            "model:   {} ({} parameters), batch {}, Adam lr {}{decay}",
            run.model.describe(),
            run.parameters,
            options.batch_size,
            adam.lr,
        );
        if run.resumed_after > 0 {
            println!(
                "run:     {} (resumed after epoch {})",
                run.run.display(),
                run.resumed_after
            );
        } else {
            println!("run:     {}", run.run.display());
        }
    }

    fn epoch_finished(&mut self, m: &EpochMetrics, epochs: usize) {
        self.bar.finish_and_clear();
        let val = m
            .val_loss
            .map(|v| format!("  val {v:8.2}"))
            .unwrap_or_default();
        let bound = m
            .test_iwae_bound
            .map(|v| format!("  IWAE bound {v:.2}"))
            .unwrap_or_default();
        println!(
            "epoch {:>3}/{epochs}  train {:8.2}{val}  test {:8.2} (reconstruction {:.2} + KL {:.2}){bound}  active {}  {:5.1} s  {:6.0} images/s",
            m.epoch,
            m.train_loss,
            m.test_loss,
            m.test_reconstruction,
            m.test_kl,
            m.active_units,
            m.seconds,
            m.images_per_second
        );
    }
}

/// The lines after a run: why it ended, which epoch the checkpoint holds, the files.
pub fn print_summary(summary: &RunSummary, patience: usize) {
    let best = &summary.best;
    let val = best
        .val_loss
        .map(|v| format!("validation {v:.2}, "))
        .unwrap_or_default();
    println!(
        "\nstopped after epoch {}: {}.",
        summary.epochs_run,
        summary.stop_reason.describe(patience)
    );
    println!(
        "model.safetensors holds epoch {} ({val}test {:.2})",
        summary.best_epoch, best.test_loss
    );
    if summary.stop_reason == StopReason::Interrupted {
        println!(
            "resume with: vae-gpu train --resume {}",
            summary.run.display()
        );
    }
    let latest = summary
        .latest
        .as_ref()
        .map(|link| format!(" ({} points here)", link.display()))
        .unwrap_or_default();
    println!("wrote {}{latest}:", summary.run.display());
    for file in &summary.files {
        println!("  {}", file.display());
    }
}

/// One warning line for the files `--on-bad-image skip` left out: how many, and the first.
pub fn report_skipped(data: &vae_gpu::data::Dataset) {
    if let Some(first) = data.skipped.first() {
        eprintln!(
            "warning: left out {} file(s) that do not decode, the first: {first}",
            data.skipped.len()
        );
    }
}
