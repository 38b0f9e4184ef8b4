//! Everything a training run is configured by, and the checks that refuse a bad value with one
//! line naming the flag, before any device is opened.

use serde::{Deserialize, Serialize};

use crate::data::{Binarize, Dataset};
use crate::model::VaeConfig;
use crate::optim::AdamConfig;
use crate::schedule::{KlWeight, LrSchedule, LrShape};

use super::trainer::TrainError;

/// End training after `patience` epochs without a validation loss below the best by `min_delta`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub model: VaeConfig,
    pub adam: AdamConfig,
    /// Classic L2: `l2 · p` added to every gradient (unlike AdamW's decoupled decay).
    pub l2: f32,
    pub batch_size: usize,
    /// The total number of epochs (a resumed run continues up to it).
    pub epochs: usize,
    pub seed: u64,
    /// Share of the training images held out for validation (0: none).
    pub val_fraction: f32,
    pub early_stopping: Option<EarlyStopping>,
    /// Drop probabilities of the encoder's and decoder's hidden layers.
    pub dropout_encoder: f32,
    pub dropout_decoder: f32,
    pub binarize: Binarize,
    pub lr_schedule: LrSchedule,
    pub kl: KlWeight,
    /// Free bits: nats per latent dimension (0: none).
    pub free_bits: f32,
    /// Clip the gradient's global norm to this (0: no clipping).
    pub clip_grad_norm: f32,
    /// Log the importance-weighted bound with this many draws on the test set (0: off) every
    /// `eval_every` epochs.
    #[serde(default)]
    pub eval_k: usize,
    #[serde(default = "one")]
    pub eval_every: usize,
}

fn one() -> usize {
    1
}

impl TrainOptions {
    /// The canonical PyTorch VAE example's settings.
    pub fn mnist_default() -> Self {
        Self {
            model: VaeConfig::mnist_default(),
            adam: AdamConfig::default(),
            l2: 0.0,
            batch_size: 128,
            epochs: 10,
            seed: 1,
            val_fraction: 0.0,
            early_stopping: None,
            dropout_encoder: 0.0,
            dropout_decoder: 0.0,
            binarize: Binarize::None,
            lr_schedule: LrSchedule::default(),
            kl: KlWeight::default(),
            free_bits: 0.0,
            clip_grad_norm: 0.0,
            eval_k: 0,
            eval_every: 1,
        }
    }

    /// Checks every option but the model's input size, which comes from the data (the model's
    /// shape is judged by `VaeConfig::validate` in `model_for`). Errors name the flag.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Options(m));
        let finite_at_least_0 = |v: f32| v.is_finite() && v >= 0.0;
        let probability = |v: f32| (0.0..1.0).contains(&v);
        if self.batch_size == 0 {
            return bad("--batch-size: the batch size must be at least 1".into());
        }
        if self.epochs == 0 {
            return bad("--epochs: the number of epochs must be at least 1".into());
        }
        let adam = &self.adam;
        if !(adam.lr.is_finite() && adam.lr > 0.0) {
            return bad(format!(
                "--lr {}: the learning rate must be a positive number",
                adam.lr
            ));
        }
        if !finite_at_least_0(adam.weight_decay) {
            return bad(format!(
                "--weight-decay {}: must be 0 or more",
                adam.weight_decay
            ));
        }
        if !finite_at_least_0(self.l2) {
            return bad(format!("--l2 {}: must be 0 or more", self.l2));
        }
        if !probability(adam.beta1) || !probability(adam.beta2) {
            return bad(format!(
                "--beta1 {} / --beta2 {}: Adam's betas must lie in [0, 1)",
                adam.beta1, adam.beta2
            ));
        }
        if !(adam.eps.is_finite() && adam.eps > 0.0) {
            return bad(format!(
                "--adam-eps {}: must be a positive number",
                adam.eps
            ));
        }
        if !probability(self.val_fraction) {
            return bad(format!(
                "--val-fraction {}: must lie in [0, 1)",
                self.val_fraction
            ));
        }
        if let Some(early) = &self.early_stopping {
            if self.val_fraction == 0.0 {
                return bad(
                    "--patience needs a validation split: add --val-fraction (e.g. 0.1)".into(),
                );
            }
            if early.patience == 0 {
                return bad("--patience: must be at least 1 epoch".into());
            }
            if !(early.min_delta.is_finite() && early.min_delta >= 0.0) {
                return bad(format!(
                    "--min-delta {}: must be 0 or more",
                    early.min_delta
                ));
            }
        }
        for (flag, p) in [
            ("--dropout-encoder (or --dropout)", self.dropout_encoder),
            ("--dropout-decoder (or --dropout)", self.dropout_decoder),
        ] {
            if !probability(p) {
                return bad(format!("{flag} {p}: a drop probability must lie in [0, 1)"));
            }
        }
        self.validate_schedule()?;
        if !finite_at_least_0(self.kl.beta) {
            return bad(format!("--beta {}: must be 0 or more", self.kl.beta));
        }
        if !finite_at_least_0(self.free_bits) {
            return bad(format!("--free-bits {}: must be 0 or more", self.free_bits));
        }
        if self.eval_every == 0 {
            return bad("--eval-every: must be at least 1 epoch".into());
        }
        if !finite_at_least_0(self.clip_grad_norm) {
            return bad(format!(
                "--clip-grad-norm {}: must be 0 (off) or more",
                self.clip_grad_norm
            ));
        }
        Ok(())
    }

    fn validate_schedule(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Options(m));
        let gamma_ok = |g: f32| g > 0.0 && g <= 1.0;
        match self.lr_schedule.shape {
            LrShape::Constant => {}
            LrShape::Step { every, gamma } => {
                if every == 0 {
                    return bad("--lr-step-epochs: must be at least 1".into());
                }
                if !gamma_ok(gamma) {
                    return bad(format!("--lr-gamma {gamma}: must lie in (0, 1]"));
                }
            }
            LrShape::Exponential { gamma } => {
                if !gamma_ok(gamma) {
                    return bad(format!("--lr-gamma {gamma}: must lie in (0, 1]"));
                }
            }
            LrShape::Cosine { min_lr, .. } => {
                if !(min_lr.is_finite() && min_lr >= 0.0 && min_lr <= self.adam.lr) {
                    return bad(format!(
                        "--lr-min {min_lr}: must lie between 0 and --lr ({})",
                        self.adam.lr
                    ));
                }
            }
        }
        if let Some(plateau) = self.lr_schedule.plateau {
            if self.val_fraction == 0.0 {
                return bad("--lr-plateau needs a validation split: add --val-fraction".into());
            }
            if !(plateau.factor > 0.0 && plateau.factor < 1.0) || plateau.patience == 0 {
                return bad(format!(
                    "--lr-plateau {},{}: FACTOR must lie in (0, 1) and PATIENCE be at least 1",
                    plateau.factor, plateau.patience
                ));
            }
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

    /// (training, validation) image counts of `dataset` under `val_fraction`; both must be at
    /// least 1 when there is a split.
    pub fn split_sizes(&self, dataset: &Dataset) -> Result<(usize, usize), TrainError> {
        let total = dataset.train_count;
        let val = (f64::from(self.val_fraction) * total as f64).round() as usize;
        if self.val_fraction > 0.0 && (val == 0 || val >= total) {
            return Err(TrainError::Options(format!(
                "--val-fraction {} of {total} training images leaves {val} for validation and {} \
                 for training; both need at least 1",
                self.val_fraction,
                total - val.min(total)
            )));
        }
        Ok((total - val, val))
    }

    /// Every check that needs the data but no device.
    pub fn check(&self, dataset: &Dataset) -> Result<(), TrainError> {
        self.validate()?;
        self.model_for(dataset)?;
        self.split_sizes(dataset)?;
        if dataset.test_count() == 0 {
            return Err(TrainError::Options(format!(
                "{} has no test images",
                dataset.name
            )));
        }
        Ok(())
    }
}
