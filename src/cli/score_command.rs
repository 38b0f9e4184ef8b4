//! `vae-gpu score`: the judge (trained once per data set and cached) and the scores of a model's
//! samples, of its reconstructions, or of any images, against the test images.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use vae_gpu::backend::Backend;
use vae_gpu::data::image_set::{self, GridLayout};
use vae_gpu::data::Dataset;
use vae_gpu::image_grid::ImageShape;
use vae_gpu::workflows::judge::{self, JudgeSettings, Origin};
use vae_gpu::workflows::sample;
use vae_gpu::workflows::score::{self, Candidate, ScoreSettings};

use super::checkpoint_args::{data_for, CheckpointArgs};
use super::train_args::DataArgs;

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Score these images instead of a model's: an IDX images file, a folder of PNG/JPEG images,
    /// or a PNG grid (with --grid)
    #[arg(long, conflicts_with_all = ["checkpoint", "temperature"])]
    pub images: Option<PathBuf>,
    /// The PNG given with --images is a grid of ROWSxCOLUMNS images (as `vae-gpu sample` draws
    /// them)
    #[arg(long, value_parser = vae_gpu::values::parse_grid, value_name = "RxC", requires = "images")]
    pub grid: Option<(usize, usize)>,
    /// Pixels around and between the images of a --grid PNG
    #[arg(long, default_value_t = sample::GRID_PADDING, requires = "grid")]
    pub padding: usize,
    /// Images on each side of a distance [default: the test set's size]
    #[arg(long)]
    pub n: Option<usize>,
    /// Scale of z for the samples: z ~ N(0, T² I)
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Seed of the first repeat's draws (repeat r uses seed + r)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repeats of the random rows (samples, training images), for the spread of their scores
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Refuse to score with a judge whose test accuracy (in %) is below this [default: 95 on the
    /// embedded digits, 85 on other data]
    #[arg(long, value_name = "PERCENT")]
    pub min_accuracy: Option<f64>,
    /// Epochs of the judge's training (another number is another judge, cached apart)
    #[arg(long, default_value_t = JudgeSettings::default().epochs)]
    pub judge_epochs: usize,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: CheckpointArgs,
    #[command(flatten)]
    pub data: DataArgs,
}

/// The default floor of the judge's accuracy: the embedded digits are easy, other data may not be.
fn default_min_accuracy(dataset: &Dataset) -> f64 {
    if dataset.name.starts_with("embedded MNIST") {
        95.0
    } else {
        85.0
    }
}

/// `cache`: the cache folder the judge is kept in (`--cache`, else the user's).
pub fn run<B: Backend>(
    open: impl FnOnce() -> Result<B>,
    cache: Option<PathBuf>,
    args: &ScoreArgs,
) -> Result<()> {
    if let Some(t) = args.temperature {
        if !(t.is_finite() && t >= 0.0) {
            bail!("--temperature must be a finite number of at least 0, got {t}");
        }
    }
    if args.judge_epochs == 0 {
        bail!("--judge-epochs must be at least 1");
    }
    if let Some(floor) = args.min_accuracy {
        if !(0.0..=100.0).contains(&floor) {
            bail!("--min-accuracy is a percentage between 0 and 100, got {floor}");
        }
    }
    // Everything that needs no device first: the model, the data, the labels, the images.
    let (model, dataset) = match &args.images {
        Some(_) => {
            let dataset = args.data.source().load()?;
            super::terminal::report_skipped(&dataset);
            (None, dataset)
        }
        None => {
            let path = args.model.path()?;
            let model = sample::load_model(&path)?;
            let dataset = data_for(&path, &args.data)?;
            if dataset.dim() != model.config.input_dim {
                bail!(
                    "{}: the model takes images of {} values; {} has {}",
                    path.display(),
                    model.config.input_dim,
                    dataset.name,
                    dataset.dim()
                );
            }
            (Some(model), dataset)
        }
    };
    if let Err(error) = judge::check_data(&dataset) {
        // Unlabeled data: one line, nothing else done.
        println!("{error}");
        return Ok(());
    }
    let shape = ImageShape {
        channels: dataset.channels,
        height: dataset.rows,
        width: dataset.cols,
    };
    let candidate = match (&args.images, &model) {
        (Some(path), _) => {
            let grid = args.grid.map(|(rows, columns)| GridLayout {
                rows,
                columns,
                padding: args.padding,
            });
            let images = image_set::read(path, grid, shape)?;
            Candidate::Images {
                name: path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into(),
                ),
                images,
            }
        }
        (None, Some(model)) => Candidate::Model {
            model,
            temperature: args.temperature.unwrap_or(1.0),
        },
        (None, None) => unreachable!("a model is loaded when no images are given"),
    };
    let cache = cache.context(
        "no cache folder for the judge: neither XDG_CACHE_HOME nor HOME is set; name one with --cache",
    )?;
    let settings = JudgeSettings {
        epochs: args.judge_epochs,
        ..JudgeSettings::default()
    };

    let mut backend = open()?;
    let (judge, origin) =
        judge::load_or_train(&mut backend, &dataset, &settings, &cache, |epoch, loss| {
            eprintln!(
                "judge: epoch {epoch}/{} cross-entropy {loss:.4}",
                settings.epochs
            );
        })?;
    let (file, how) = match &origin {
        Origin::Cached(path) => (path, "cached"),
        Origin::Trained(path) => (path, "trained and cached"),
    };
    let accuracy = 100.0 * judge.accuracy;
    eprintln!(
        "judge: {} {how} in {}, test accuracy {accuracy:.2}%",
        judge.config.describe(),
        file.display()
    );
    let floor = args
        .min_accuracy
        .unwrap_or_else(|| default_min_accuracy(&dataset));
    if accuracy < floor {
        bail!(
            "the judge classifies only {accuracy:.2}% of {}'s test images right, below the floor of \
             {floor}%: its features would not tell good images from bad (train it longer with \
             --judge-epochs, or lower the floor with --min-accuracy)",
            dataset.name
        );
    }
    let settings = ScoreSettings {
        n: args.n,
        seed: args.seed,
        repeats: args.repeats,
    };
    let report = score::score(
        &mut backend,
        &judge,
        &file.display().to_string(),
        &dataset,
        &candidate,
        &settings,
        |what| eprintln!("judging {what}"),
    )?;
    let features = judge.config.feature_dim();
    if report.n <= features {
        eprintln!(
            "note: {} images per side for {features} features: the covariances are singular and \
             the distances noisy; compare them only at the same n",
            report.n
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
