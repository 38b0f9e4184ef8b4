//! `vae-gpu score`: judges generated images with a classifier trained on the data (the judge):
//! the Fréchet distance between Gaussians fitted to its features of generated and of test images,
//! its confidence score, and the share of images it puts in each class. Rows for a model's
//! samples and its reconstructions of test images, for any set of images, and for the training
//! images against the test images (what a perfect model would reach).

use crate::backend::{Backend, BackendError};
use crate::data::Dataset;
use crate::image_grid::to_byte;
use crate::rng::PhiloxStream;
use crate::scores::{
    class_shares, confidence_score, frechet_distance, largest_shortfall, predicted_classes,
    Gaussian,
};

use super::judge::{Judge, Seen};
use super::pictures::{OnDevice, PictureError};
use super::sample::{sample_pixels, TrainedModel};

/// Host Philox stream of the training images drawn for the floor row (seed added).
const FLOOR_STREAM: u32 = 0x5C0;

/// What to judge besides the floor.
pub enum Candidate<'a> {
    /// A model's samples (at `temperature`) and its reconstructions of test images.
    Model {
        model: &'a TrainedModel,
        temperature: f32,
    },
    /// Images from a file or folder (bytes, shaped as the data set's).
    Images { name: String, images: Vec<u8> },
}

#[derive(Clone, Debug)]
pub struct ScoreSettings {
    /// Images on each side; `None`: the test set's size (capped by what a candidate has).
    pub n: Option<usize>,
    /// Seed of the first repeat; repeat r uses seed + r.
    pub seed: u64,
    /// Repeats of each random row (samples, the floor): the spread of its scores.
    pub repeats: usize,
}

/// A number over the repeats of a row.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub values: Vec<f64>,
}

impl Spread {
    fn of(values: Vec<f64>) -> Self {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self {
            mean,
            min,
            max,
            values,
        }
    }
}

/// The scores of one set of images against the test images.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SetScore {
    pub name: String,
    pub n: usize,
    pub frechet_distance: Spread,
    pub confidence: Spread,
    /// Share of the images the judge assigns to each class (over every repeat's images).
    pub class_shares: Vec<f64>,
    /// The class furthest below its share of the test set's labels, and by how much.
    pub shortfall_class: usize,
    pub shortfall: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ScoreReport {
    pub data: String,
    pub judge: String,
    pub judge_accuracy: f64,
    pub judge_file: String,
    /// Test images on the reference side of every distance.
    pub n: usize,
    /// The test set's label shares (the reference of the coverage).
    pub test_shares: Vec<f64>,
    pub sets: Vec<SetScore>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Picture(#[from] PictureError),
}

/// Pixel means in [0, 1] as the bytes a PNG of them would hold.
fn to_bytes(pixels: &[f32]) -> Vec<u8> {
    pixels.iter().map(|&v| to_byte(v)).collect()
}

/// The images of `dataset` at `indices`.
fn pick(dataset: &Dataset, indices: impl Iterator<Item = usize>) -> Vec<u8> {
    let dim = dataset.dim();
    indices
        .flat_map(|i| dataset.images[i * dim..(i + 1) * dim].iter().copied())
        .collect()
}

/// The statistics of one judged set against the test images' Gaussian.
struct Judged {
    frechet: f64,
    confidence: f64,
    assigned: Vec<usize>,
}

fn judge_set(seen: &Seen, test: &Gaussian, feature_dim: usize, classes: usize) -> Judged {
    let gaussian = Gaussian::fit(&seen.features, feature_dim);
    Judged {
        frechet: frechet_distance(&gaussian, test),
        confidence: confidence_score(&seen.probabilities, classes),
        assigned: predicted_classes(&seen.probabilities, classes),
    }
}

fn set_score(name: String, n: usize, repeats: Vec<Judged>, test_shares: &[f64]) -> SetScore {
    let classes = test_shares.len();
    let assigned: Vec<usize> = repeats.iter().flat_map(|r| r.assigned.clone()).collect();
    let shares = class_shares(&assigned, classes);
    let (shortfall_class, shortfall) = largest_shortfall(&shares, test_shares);
    SetScore {
        name,
        n,
        frechet_distance: Spread::of(repeats.iter().map(|r| r.frechet).collect()),
        confidence: Spread::of(repeats.iter().map(|r| r.confidence).collect()),
        class_shares: shares,
        shortfall_class,
        shortfall,
    }
}

/// Scores the candidate and the floor against the first n test images.
pub fn score<B: Backend>(
    backend: &mut B,
    judge: &Judge,
    judge_file: &str,
    dataset: &Dataset,
    candidate: &Candidate,
    settings: &ScoreSettings,
    mut progress: impl FnMut(&str),
) -> Result<ScoreReport, ScoreError> {
    let test_count = dataset.test_count();
    let available = match candidate {
        Candidate::Images { images, .. } => images.len() / dataset.dim(),
        Candidate::Model { .. } => test_count,
    };
    let n = settings.n.unwrap_or(test_count.min(available));
    if n < 2 {
        return Err(ScoreError::Refused(format!(
            "--n must be at least 2 (a covariance needs two images), got {n}"
        )));
    }
    if n > test_count {
        return Err(ScoreError::Refused(format!(
            "--n {n} is more than the {test_count} test images of {}: the distance compares n \
             images with n test images",
            dataset.name
        )));
    }
    if n > available {
        return Err(ScoreError::Refused(format!(
            "--n {n} is more than the {available} images given"
        )));
    }
    let repeats = settings.repeats.max(1);
    let classes = judge.config.classes;
    let feature_dim = judge.config.feature_dim();
    let judge_on_device = judge.on_device(backend)?;

    progress("the test images");
    let train = dataset.train_count;
    let test_images = pick(dataset, train..train + n);
    let test_seen = judge_on_device.look_at(backend, &test_images)?;
    let test_gaussian = Gaussian::fit(&test_seen.features, feature_dim);
    let test_labels: Vec<usize> = dataset.labels[train..train + n]
        .iter()
        .map(|&y| usize::from(y))
        .collect();
    let test_shares = class_shares(&test_labels, classes);

    let mut sets = Vec::new();
    match candidate {
        Candidate::Model { model, temperature } => {
            let mut runs = Vec::new();
            for r in 0..repeats {
                progress(&format!("samples, seed {}", settings.seed + r as u64));
                let pixels =
                    sample_pixels(backend, model, n, settings.seed + r as u64, *temperature)?;
                let seen = judge_on_device.look_at(backend, &to_bytes(&pixels))?;
                runs.push(judge_set(&seen, &test_gaussian, feature_dim, classes));
            }
            let name = format!("samples (T = {temperature})");
            sets.push(set_score(name, n, runs, &test_shares));

            progress("reconstructions of the test images");
            let pixels = OnDevice::new(backend, model, dataset)?.test_reconstructions(n)?;
            let seen = judge_on_device.look_at(backend, &to_bytes(&pixels))?;
            let run = judge_set(&seen, &test_gaussian, feature_dim, classes);
            sets.push(set_score(
                "reconstructions".to_string(),
                n,
                vec![run],
                &test_shares,
            ));
        }
        Candidate::Images { name, images } => {
            progress(name);
            let dim = dataset.dim();
            let seen = judge_on_device.look_at(backend, &images[..n * dim])?;
            let run = judge_set(&seen, &test_gaussian, feature_dim, classes);
            sets.push(set_score(name.clone(), n, vec![run], &test_shares));
        }
    }

    // The floor: n training images (a seeded draw per repeat) against the same test images.
    let drawn = n.min(train);
    let mut runs = Vec::new();
    for r in 0..repeats {
        progress(&format!(
            "training images, seed {}",
            settings.seed + r as u64
        ));
        let mut order: Vec<u32> = (0..train as u32).collect();
        PhiloxStream::new(settings.seed + r as u64, FLOOR_STREAM).shuffle(&mut order);
        let images = pick(dataset, order[..drawn].iter().map(|&i| i as usize));
        let seen = judge_on_device.look_at(backend, &images)?;
        runs.push(judge_set(&seen, &test_gaussian, feature_dim, classes));
    }
    sets.push(set_score(
        "training images (floor)".to_string(),
        drawn,
        runs,
        &test_shares,
    ));

    Ok(ScoreReport {
        data: dataset.name.clone(),
        judge: judge.config.describe(),
        judge_accuracy: judge.accuracy,
        judge_file: judge_file.to_string(),
        n,
        test_shares,
        sets,
    })
}

impl ScoreReport {
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "judge: {} trained on {}, test accuracy {:.2}% ({})\n",
            self.judge,
            self.data,
            100.0 * self.judge_accuracy,
            self.judge_file
        );
        text += &format!(
            "each set of n images against the first {} test images; ranges over the repeats\n\n",
            self.n
        );
        let spread = |s: &Spread| {
            if s.values.len() > 1 {
                format!("{:.2} ({:.2}–{:.2})", s.mean, s.min, s.max)
            } else {
                format!("{:.2}", s.mean)
            }
        };
        text += &format!(
            "{:<26} {:>6}  {:<22} {:<20} {}\n",
            "set", "n", "Fréchet distance", "confidence", "largest class shortfall"
        );
        for set in &self.sets {
            text += &format!(
                "{:<26} {:>6}  {:<22} {:<20} {:.1} points (class {})\n",
                set.name,
                set.n,
                spread(&set.frechet_distance),
                spread(&set.confidence),
                100.0 * set.shortfall,
                set.shortfall_class
            );
        }
        text += "\nshare of each class (%), the test set's labels first\n";
        let classes = self.test_shares.len();
        text += &format!("{:<26}", "class");
        for c in 0..classes {
            text += &format!("{c:>6}");
        }
        text += "\n";
        let row = |name: &str, shares: &[f64]| {
            let mut line = format!("{name:<26}");
            for share in shares {
                line += &format!("{:>6.1}", 100.0 * share);
            }
            line + "\n"
        };
        text += &row("test labels", &self.test_shares);
        for set in &self.sets {
            text += &row(&set.name, &set.class_shares);
        }
        text
    }
}
