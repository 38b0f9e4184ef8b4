//! The flags of `train` and `sweep`, and how they become `TrainOptions`: every training flag
//! lives here once; `train` adds one value each of the sweepable ones, `sweep` lists of them.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use vae_gpu::data::folder::{FolderOptions, OnBadImage};
use vae_gpu::data::{Binarize, DataSource};
use vae_gpu::kernels::Activation;
use vae_gpu::model::{Likelihood, LikelihoodKind, Sigma, VaeConfig};
use vae_gpu::optim::AdamConfig;
use vae_gpu::schedule::{KlWeight, LrSchedule, LrShape, Plateau};
pub use vae_gpu::values::{parse_numbers, parse_plateau, parse_sizes, Numbers, Sizes};
use vae_gpu::workflows::options::{EarlyStopping, TrainOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleKind {
    Constant,
    Step,
    Exponential,
    Cosine,
}

#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// IDX data (a folder with train-* and t10k-* files as MNIST and Fashion-MNIST ship them, a
    /// folder with one images file, or an images file; labels files optional), or a folder of
    /// PNG/JPEG images, at its top or in class sub-folders [default: the embedded MNIST-10k]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N training images
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only the first N test images
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Image folders: read images as gray (1) or RGB (3) [default: 1]
    #[arg(long, value_enum)]
    pub channels: Option<Channels>,
    /// Image folders: resize every image to HEIGHTxWIDTH [default: all must share the first
    /// image's size]
    #[arg(long, value_parser = vae_gpu::values::parse_image_size, value_name = "HxW")]
    pub image_size: Option<(usize, usize)>,
    /// Image folders: a file that does not decode stops the command (fail) or is left out and
    /// reported (skip) [default: fail]
    #[arg(long, value_enum)]
    pub on_bad_image: Option<OnBadImage>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Channels {
    #[value(name = "1")]
    Gray,
    #[value(name = "3")]
    Rgb,
}

impl DataArgs {
    pub fn source(&self) -> DataSource {
        let folder =
            (self.channels.is_some() || self.image_size.is_some() || self.on_bad_image.is_some())
                .then(|| FolderOptions {
                    channels: match self.channels {
                        Some(Channels::Rgb) => 3,
                        _ => 1,
                    },
                    image_size: self.image_size,
                    on_bad_image: self.on_bad_image.unwrap_or_default(),
                });
        DataSource {
            path: self.data.clone(),
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            folder,
        }
    }

    /// Whether any data flag was given (else a command on a checkpoint uses the run's data).
    pub fn given(&self) -> bool {
        self.source() != DataSource::default()
    }
}

/// Every training flag but the model's widths and the sweepable knobs.
#[derive(Args, Clone, Debug)]
pub struct CommonArgs {
    /// Hidden-layer activation
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// The decoder's distribution of a pixel: Bernoulli from logits (BCE), Gaussian, or the
    /// continuous Bernoulli (normalized on [0, 1])
    #[arg(long, value_enum, default_value_t = LikelihoodKind::Bernoulli)]
    pub likelihood: LikelihoodKind,
    /// The Gaussian likelihood's standard deviation, or `learned` (per pixel, floored at 1e-3)
    #[arg(long, default_value = "0.1", value_parser = Sigma::parse)]
    pub sigma: Sigma,
    #[command(flatten)]
    pub data: DataArgs,
    /// Passes over the training set (in all, for --resume) [default: 10; sweep: 50]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per training step
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = 1e-3, help_heading = "Optimization")]
    pub lr: f32,
    /// Adam's beta1
    #[arg(long, default_value_t = 0.9, help_heading = "Optimization")]
    pub beta1: f32,
    /// Adam's beta2
    #[arg(long, default_value_t = 0.999, help_heading = "Optimization")]
    pub beta2: f32,
    /// Adam's epsilon
    #[arg(long, default_value_t = 1e-8, help_heading = "Optimization")]
    pub adam_eps: f32,
    /// Learning-rate schedule over the epochs
    #[arg(long, value_enum, default_value_t = ScheduleKind::Constant, help_heading = "Optimization")]
    pub lr_schedule: ScheduleKind,
    /// Epochs between the step schedule's reductions
    #[arg(long, default_value_t = 10, help_heading = "Optimization")]
    pub lr_step_epochs: usize,
    /// Factor of the step schedule (per --lr-step-epochs) or the exponential one (per epoch)
    /// [default: 0.1 for step, 0.95 for exponential]
    #[arg(long, help_heading = "Optimization")]
    pub lr_gamma: Option<f32>,
    /// The cosine schedule's final learning rate
    #[arg(long, default_value_t = 0.0, help_heading = "Optimization")]
    pub lr_min: f32,
    /// Steps of linear learning-rate warm-up
    #[arg(long, default_value_t = 0, help_heading = "Optimization")]
    pub lr_warmup: u64,
    /// Multiply the learning rate by FACTOR after PATIENCE epochs without a validation
    /// improvement, e.g. 0.5,3 (needs --val-fraction)
    #[arg(long, value_parser = parse_plateau, value_name = "FACTOR,PATIENCE", help_heading = "Optimization")]
    pub lr_plateau: Option<Plateau>,
    /// Clip the gradient to this global norm (0: off); the pre-clip norm is logged
    #[arg(long, default_value_t = 0.0, help_heading = "Optimization")]
    pub clip_grad_norm: f32,
    /// Epochs over which the KL weight rises linearly from 0 to --beta
    #[arg(long, default_value_t = 0, help_heading = "KL control")]
    pub kl_warmup: usize,
    /// Free bits: nats per latent dimension (over the batch) below which the KL is not pushed down
    #[arg(long, default_value_t = 0.0, help_heading = "KL control")]
    pub free_bits: f32,
    /// Also log the importance-weighted bound on the test set with K draws per image (0: off;
    /// costly on a software GPU)
    #[arg(long, default_value_t = 0, help_heading = "Evaluation")]
    pub eval_k: usize,
    /// Epochs between two computations of --eval-k's bound
    #[arg(long, default_value_t = 1, help_heading = "Evaluation")]
    pub eval_every: usize,
    /// Share of the training images held out for validation [default: 0; sweep: 0.1]
    #[arg(long, help_heading = "Generalization")]
    pub val_fraction: Option<f32>,
    /// Stop after N epochs without a validation improvement (needs --val-fraction)
    /// [sweep default: 5]
    #[arg(long, help_heading = "Generalization")]
    pub patience: Option<usize>,
    /// Smallest decrease of the validation loss that counts as an improvement (nats/image)
    #[arg(long, default_value_t = 0.0, help_heading = "Generalization")]
    pub min_delta: f64,
    /// Dropout probability of the encoder's hidden layers [default: --dropout]
    #[arg(long, help_heading = "Generalization")]
    pub dropout_encoder: Option<f32>,
    /// Dropout probability of the decoder's hidden layers [default: --dropout]
    #[arg(long, help_heading = "Generalization")]
    pub dropout_decoder: Option<f32>,
    /// Decoupled weight decay (AdamW) of every parameter, biases included; 0 is plain Adam
    #[arg(long, default_value_t = 0.0, help_heading = "Generalization")]
    pub weight_decay: f32,
    /// Classic L2: l2 * p added to every gradient before Adam
    #[arg(long, default_value_t = 0.0, help_heading = "Generalization")]
    pub l2: f32,
    /// Binarize pixels: once at load with a fixed seed (static), or anew at every step on the GPU
    /// (dynamic; evaluation then uses the static binarization)
    #[arg(long, value_enum, default_value_t = Binarize::None, help_heading = "Generalization")]
    pub binarize: Binarize,
    /// Seed of the initialization, the split, the shuffles and every random draw
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder that holds the runs; `<runs>/latest` points at the newest
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Run the kernels on the CPU reference instead of the GPU (slow; for checking)
    #[arg(long)]
    pub cpu_reference: bool,
}

/// The defaults that differ between `train` and `sweep`.
pub struct CommandDefaults {
    pub epochs: usize,
    pub val_fraction: f32,
    pub patience: Option<usize>,
}

pub const TRAIN_DEFAULTS: CommandDefaults = CommandDefaults {
    epochs: 10,
    val_fraction: 0.0,
    patience: None,
};

pub const SWEEP_DEFAULTS: CommandDefaults = CommandDefaults {
    epochs: 50,
    val_fraction: 0.1,
    patience: Some(5),
};

/// One value of each sweepable setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Knobs {
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub beta: f32,
    pub dropout: f32,
}

impl CommonArgs {
    pub fn options(&self, knobs: &Knobs, defaults: &CommandDefaults) -> Result<TrainOptions> {
        let epochs = self.epochs.unwrap_or(defaults.epochs);
        let shape = match self.lr_schedule {
            ScheduleKind::Constant => LrShape::Constant,
            ScheduleKind::Step => LrShape::Step {
                every: self.lr_step_epochs,
                gamma: self.lr_gamma.unwrap_or(0.1),
            },
            ScheduleKind::Exponential => LrShape::Exponential {
                gamma: self.lr_gamma.unwrap_or(0.95),
            },
            ScheduleKind::Cosine => LrShape::Cosine {
                min_lr: self.lr_min,
                epochs,
            },
        };
        if self.lr_gamma.is_some()
            && !matches!(
                self.lr_schedule,
                ScheduleKind::Step | ScheduleKind::Exponential
            )
        {
            bail!("--lr-gamma applies to --lr-schedule step or exponential");
        }
        let patience = self.patience.or(defaults.patience);
        Ok(TrainOptions {
            model: VaeConfig {
                input_dim: 0, // set from the data
                hidden: knobs.hidden.clone(),
                latent: knobs.latent,
                activation: self.activation,
                likelihood: Likelihood::new(self.likelihood, self.sigma),
            },
            adam: AdamConfig {
                lr: self.lr,
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.adam_eps,
                weight_decay: self.weight_decay,
            },
            l2: self.l2,
            batch_size: self.batch_size,
            epochs,
            seed: self.seed,
            val_fraction: self.val_fraction.unwrap_or(defaults.val_fraction),
            early_stopping: patience.map(|patience| EarlyStopping {
                patience,
                min_delta: self.min_delta,
            }),
            dropout_encoder: self.dropout_encoder.unwrap_or(knobs.dropout),
            dropout_decoder: self.dropout_decoder.unwrap_or(knobs.dropout),
            binarize: self.binarize,
            lr_schedule: LrSchedule {
                shape,
                warmup_steps: self.lr_warmup,
                plateau: self.lr_plateau,
            },
            kl: KlWeight {
                beta: knobs.beta,
                warmup_epochs: self.kl_warmup,
            },
            free_bits: self.free_bits,
            clip_grad_norm: self.clip_grad_norm,
            eval_k: self.eval_k,
            eval_every: self.eval_every,
        })
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Encoder hidden widths, comma-separated (the decoder mirrors them); "" for none
    #[arg(long, default_value = "400", value_parser = parse_sizes)]
    pub hidden: Sizes,
    /// Latent dimensions
    #[arg(long, default_value_t = 20)]
    pub latent: usize,
    /// Weight of the KL term (beta-VAE); 1 is the ELBO
    #[arg(long, default_value_t = 1.0, help_heading = "KL control")]
    pub beta: f32,
    /// Dropout probability of every hidden layer (0: none)
    #[arg(long, default_value_t = 0.0, help_heading = "Generalization")]
    pub dropout: f32,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Write this run here instead of `<runs>/<timestamp>` (must be empty or missing)
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in this folder from its state.safetensors, in that folder, with its own
    /// settings (only --epochs, the total, may change)
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "run_dir")]
    pub resume: Option<PathBuf>,
}

impl TrainArgs {
    pub fn knobs(&self) -> Knobs {
        Knobs {
            hidden: self.hidden.0.clone(),
            latent: self.latent,
            beta: self.beta,
            dropout: self.dropout,
        }
    }
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Latent sizes to try, comma-separated
    #[arg(long, value_parser = parse_sizes, default_value = "20")]
    pub latent: Sizes,
    /// Encoder hidden widths to try: repeat the flag once per value (`,` separates layers)
    #[arg(long, value_parser = parse_sizes)]
    pub hidden: Vec<Sizes>,
    /// KL weights to try, comma-separated
    #[arg(long, value_parser = parse_numbers, default_value = "1")]
    pub beta: Numbers,
    /// Dropout probabilities to try, comma-separated
    #[arg(long, value_parser = parse_numbers, default_value = "0")]
    pub dropout: Numbers,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl SweepArgs {
    /// Every combination of the swept values, latent size varying fastest.
    pub fn grid(&self) -> Vec<Knobs> {
        let hidden = if self.hidden.is_empty() {
            vec![vec![400]]
        } else {
            self.hidden.iter().map(|h| h.0.clone()).collect()
        };
        let mut grid = Vec::new();
        for h in &hidden {
            for &beta in &self.beta.0 {
                for &dropout in &self.dropout.0 {
                    for &latent in &self.latent.0 {
                        grid.push(Knobs {
                            hidden: h.clone(),
                            latent,
                            beta,
                            dropout,
                        });
                    }
                }
            }
        }
        grid
    }
}

/// The value of the setting behind a `train` flag, for comparing a resume's flags with the run's
/// (`None`: the flag is no setting of the run: --epochs, --resume, --runs, GPU options).
pub fn setting_of(flag: &str, options: &TrainOptions, data: &DataSource) -> Option<String> {
    let o = options;
    let schedule = match o.lr_schedule.shape {
        // The cosine's length comes from --epochs, which a resume may change.
        LrShape::Cosine { min_lr, .. } => format!("cosine to {min_lr}"),
        other => format!("{other:?}"),
    };
    Some(match flag {
        "hidden" => format!("{:?}", o.model.hidden),
        "latent" => o.model.latent.to_string(),
        "activation" => o.model.activation.name().to_string(),
        "likelihood" | "sigma" => format!("{:?}", o.model.likelihood),
        "batch_size" => o.batch_size.to_string(),
        "lr" => o.adam.lr.to_string(),
        "beta1" => o.adam.beta1.to_string(),
        "beta2" => o.adam.beta2.to_string(),
        "adam_eps" => o.adam.eps.to_string(),
        "weight_decay" => o.adam.weight_decay.to_string(),
        "l2" => o.l2.to_string(),
        "seed" => o.seed.to_string(),
        "val_fraction" => o.val_fraction.to_string(),
        "patience" | "min_delta" => format!("{:?}", o.early_stopping),
        "dropout" | "dropout_encoder" | "dropout_decoder" => {
            format!(
                "encoder {}, decoder {}",
                o.dropout_encoder, o.dropout_decoder
            )
        }
        "binarize" => format!("{:?}", o.binarize),
        "lr_schedule" | "lr_step_epochs" | "lr_gamma" | "lr_min" => schedule,
        "lr_warmup" => o.lr_schedule.warmup_steps.to_string(),
        "lr_plateau" => format!("{:?}", o.lr_schedule.plateau),
        "beta" => o.kl.beta.to_string(),
        "kl_warmup" => o.kl.warmup_epochs.to_string(),
        "free_bits" => o.free_bits.to_string(),
        "clip_grad_norm" => o.clip_grad_norm.to_string(),
        "eval_k" | "eval_every" => format!("{} every {}", o.eval_k, o.eval_every),
        "data" | "train_limit" | "test_limit" => format!("{data:?}"),
        _ => return None,
    })
}
