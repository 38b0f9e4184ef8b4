//! What changes over a training run on the host, step by step: the learning rate (a schedule,
//! linear warm-up, and reduction on a validation plateau) and the KL weight (β and linear
//! warm-up). The numbers go into each step's frame; nothing here touches a device.

use serde::{Deserialize, Serialize};

/// The shape of the learning rate over the epochs, before warm-up and plateau reductions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LrShape {
    Constant,
    /// × `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f32,
    },
    /// × `gamma` each epoch.
    Exponential {
        gamma: f32,
    },
    /// From the base rate down to `min_lr` along a half cosine over `epochs` epochs (counted from
    /// the end of warm-up), then `min_lr`.
    Cosine {
        min_lr: f32,
        epochs: usize,
    },
}

/// Reduce the rate by `factor` when the validation loss has not improved for `patience` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    pub factor: f32,
    pub patience: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub shape: LrShape,
    /// Steps of linear warm-up: step t (0-based) runs at (t + 1)/warmup of the rate.
    pub warmup_steps: u64,
    pub plateau: Option<Plateau>,
}

impl Default for LrSchedule {
    fn default() -> Self {
        Self {
            shape: LrShape::Constant,
            warmup_steps: 0,
            plateau: None,
        }
    }
}

impl LrSchedule {
    /// The rate of step `step` (0-based) in epoch `epoch` (0-based), `steps_per_epoch` steps to an
    /// epoch, from the base rate `lr` and the plateau reductions so far (`plateau_scale`).
    pub fn lr_at(
        &self,
        lr: f32,
        step: u64,
        epoch: usize,
        steps_per_epoch: usize,
        plateau_scale: f32,
    ) -> f32 {
        let lr = f64::from(lr);
        let shaped = match self.shape {
            LrShape::Constant => lr,
            LrShape::Step { every, gamma } => {
                lr * f64::from(gamma).powi((epoch / every.max(1)) as i32)
            }
            LrShape::Exponential { gamma } => lr * f64::from(gamma).powi(epoch as i32),
            LrShape::Cosine { min_lr, epochs } => {
                let span = (epochs * steps_per_epoch) as f64;
                let t = step.saturating_sub(self.warmup_steps) as f64;
                let progress = if span > 0.0 { (t / span).min(1.0) } else { 1.0 };
                let min_lr = f64::from(min_lr);
                min_lr + (lr - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        };
        let warm = if step < self.warmup_steps {
            (step + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        (shaped * warm * f64::from(plateau_scale)) as f32
    }
}

/// β-VAE weight of the KL term, reached linearly over `warmup_epochs` epochs of steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KlWeight {
    pub beta: f32,
    pub warmup_epochs: usize,
}

impl Default for KlWeight {
    fn default() -> Self {
        Self {
            beta: 1.0,
            warmup_epochs: 0,
        }
    }
}

impl KlWeight {
    /// The weight of step `step` (0-based): β·(t + 1)/(warm-up steps), then β.
    pub fn at(&self, step: u64, steps_per_epoch: usize) -> f32 {
        let warmup = (self.warmup_epochs * steps_per_epoch) as u64;
        if step >= warmup {
            return self.beta;
        }
        (f64::from(self.beta) * (step + 1) as f64 / warmup as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(shape: LrShape) -> LrSchedule {
        LrSchedule {
            shape,
            ..LrSchedule::default()
        }
    }

    #[test]
    fn shapes_follow_their_formulas() {
        let constant = schedule(LrShape::Constant);
        assert_eq!(constant.lr_at(0.1, 500, 7, 10, 1.0), 0.1);
        let step = schedule(LrShape::Step {
            every: 3,
            gamma: 0.5,
        });
        let rates: Vec<f32> = (0..7).map(|e| step.lr_at(0.1, 0, e, 10, 1.0)).collect();
        assert_eq!(rates, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
        let exponential = schedule(LrShape::Exponential { gamma: 0.9 });
        assert!((exponential.lr_at(1.0, 0, 2, 10, 1.0) - 0.81).abs() < 1e-6);
        let cosine = schedule(LrShape::Cosine {
            min_lr: 0.01,
            epochs: 2,
        });
        assert_eq!(cosine.lr_at(0.11, 0, 0, 10, 1.0), 0.11);
        assert!((cosine.lr_at(0.11, 10, 1, 10, 1.0) - 0.06).abs() < 1e-6);
        assert!((cosine.lr_at(0.11, 20, 2, 10, 1.0) - 0.01).abs() < 1e-7);
        assert!((cosine.lr_at(0.11, 35, 3, 10, 1.0) - 0.01).abs() < 1e-7);
    }

    #[test]
    fn warmup_ramps_linearly_and_plateaus_scale() {
        let warm = LrSchedule {
            warmup_steps: 4,
            ..LrSchedule::default()
        };
        let rates: Vec<f32> = (0..6).map(|t| warm.lr_at(1.0, t, 0, 10, 1.0)).collect();
        assert_eq!(rates, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        assert_eq!(warm.lr_at(1.0, 9, 0, 10, 0.5), 0.5);
    }

    #[test]
    fn kl_weight_warms_up_to_beta() {
        let kl = KlWeight {
            beta: 2.0,
            warmup_epochs: 2,
        };
        assert_eq!(kl.at(0, 5), 0.2);
        assert_eq!(kl.at(4, 5), 1.0);
        assert_eq!(kl.at(9, 5), 2.0);
        assert_eq!(kl.at(100, 5), 2.0);
        assert_eq!(KlWeight::default().at(0, 5), 1.0);
    }
}
