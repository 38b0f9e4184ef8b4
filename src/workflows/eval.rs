//! `vae-gpu eval`: a trained model on one split of its data, measured as the literature reports
//! it: the negative ELBO and its parts averaged over many draws of z per image, the
//! importance-weighted bound on −log p(x) with k draws, the active latent units, and the time.

use std::time::Instant;

use crate::backend::{Backend, BackendError};
use crate::data::{binarized, Dataset};
use crate::model::{DeviceData, Vae};

use super::bounds::{draws, Estimate, Measured, Pass};
use super::sample::TrainedModel;
use super::trainer::{validation_split, ACTIVE_UNIT_THRESHOLD};

/// Rows per replay of a many-draw pass (images × draws), whatever the device: the draws, and so
/// the numbers, are the same on every device for a seed.
pub const EVAL_CAPACITY: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Test,
    Val,
    Train,
}

#[derive(Clone, Copy, Debug)]
pub struct EvalSettings {
    pub split: Split,
    /// Draws of the importance-weighted bound.
    pub k: usize,
    /// Draws per image of the ELBO.
    pub elbo_samples: usize,
    /// Use only the first `limit` images of the split.
    pub limit: Option<usize>,
    pub seed: u64,
}

/// What `eval` prints and writes, losses in nats per image.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    pub split: Split,
    pub images: usize,
    pub elbo_samples: usize,
    pub k: usize,
    /// −ELBO = reconstruction + KL, each averaged over images and draws.
    pub loss: Estimate,
    pub reconstruction: f64,
    pub kl: f64,
    /// The importance-weighted bound on −log p(x).
    pub iwae_bound: Estimate,
    pub active_units: usize,
    pub latent: usize,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Refused(String),
}

/// The image indices of a split of `dataset` as the run that trained `model` made it.
pub fn split_indices(
    model: &TrainedModel,
    dataset: &Dataset,
    split: Split,
) -> Result<Vec<u32>, EvalError> {
    let meta = |key: &str| model.metadata.get(key).cloned().unwrap_or_default();
    let val_fraction: f64 = meta("val_fraction").parse().unwrap_or(0.0);
    let seed: u64 = meta("seed").parse().unwrap_or(1);
    let validation = (val_fraction * dataset.train_count as f64).round() as usize;
    let (train, val) = validation_split(dataset.train_count, validation, seed);
    Ok(match split {
        Split::Test => (dataset.train_count as u32..dataset.count() as u32).collect(),
        Split::Train => train,
        Split::Val if val.is_empty() => {
            return Err(EvalError::Refused(
                "--split val: the model was trained without a validation split (--val-fraction)"
                    .into(),
            ))
        }
        Split::Val => val,
    })
}

/// Evaluates `model` on a split of `dataset` (binarized as the model was trained, if it was).
pub fn evaluate<B: Backend>(
    backend: &mut B,
    model: &TrainedModel,
    dataset: &Dataset,
    settings: &EvalSettings,
) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    if dataset.dim() != model.config.input_dim {
        return Err(EvalError::Refused(format!(
            "{} has images of {} pixels; the model takes {}",
            dataset.name,
            dataset.dim(),
            model.config.input_dim
        )));
    }
    if settings.k == 0 || settings.elbo_samples == 0 {
        return Err(EvalError::Refused(
            "--k and --elbo-samples must be at least 1".into(),
        ));
    }
    let mut indices = split_indices(model, dataset, settings.split)?;
    if let Some(limit) = settings.limit {
        indices.truncate(limit.max(1));
    }
    let binary = model.metadata.get("binarize").is_some_and(|b| b != "none");
    let images = if binary {
        binarized(&dataset.images)
    } else {
        dataset.images.clone()
    };
    let data = DeviceData::upload(backend, &images, dataset.dim())?;
    let perm = backend.create_buffer("split images", indices.len())?;
    backend.write_u32(perm, 0, &indices);
    let perm = crate::ops::View::whole(perm, indices.len());
    let vae = Vae::new(backend, model.config.clone(), EVAL_CAPACITY)?;
    vae.write_parameters(backend, &model.parameters);
    let n = indices.len();
    let measured = Measured {
        vae: &vae,
        data: &data,
        perm,
        count: n,
    };
    let elbo = draws(
        backend,
        &measured,
        settings.elbo_samples,
        Pass::Elbo,
        settings.seed,
    )?;
    let iwae = draws(backend, &measured, settings.k, Pass::Iwae, settings.seed)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let latent = model.config.latent;
    Ok(EvalReport {
        split: settings.split,
        images: n,
        elbo_samples: settings.elbo_samples,
        k: settings.k,
        loss: Estimate::of(&elbo.negative_elbo()),
        reconstruction: mean(&elbo.reconstruction),
        kl: mean(&elbo.kl),
        iwae_bound: Estimate::of(&iwae.iwae_bound()),
        active_units: elbo.active_units(latent, ACTIVE_UNIT_THRESHOLD),
        latent,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Val => "val",
            Split::Train => "train",
        }
    }
}

impl EvalReport {
    pub fn to_text(&self) -> String {
        format!(
            "{:?} split, {} images\n\
             negative ELBO   {:9.3} ± {:.3} nats/image ({} draws of z per image)\n\
             \x20 reconstruction {:9.3}\n\
             \x20 KL             {:9.3}\n\
             IWAE bound k={:<5} {:9.3} ± {:.3} nats/image (−log p(x) ≤ this)\n\
             active units    {} of {}\n\
             time            {:.1} s\n",
            self.split,
            self.images,
            self.loss.mean,
            self.loss.stderr,
            self.elbo_samples,
            self.reconstruction,
            self.kl,
            self.k,
            self.iwae_bound.mean,
            self.iwae_bound.stderr,
            self.active_units,
            self.latent,
            self.seconds
        )
    }
}
