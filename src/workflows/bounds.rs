//! Many-draw estimates on a set of images, in chunks that fit the model's capacity: the negative
//! ELBO averaged over `S` draws of z per image (analytic KL), and the importance-weighted bound
//! −log (1/k) Σᵢ p(x, zᵢ)/q(zᵢ|x) (Burda, Grosse & Salakhutdinov 2016, eq. 8) with a running
//! log-sum-exp on the device, so memory stays bounded for any k.

use std::collections::hash_map::{Entry, HashMap};

use crate::backend::{Backend, BackendError};
use crate::model::{DeviceData, Vae, ELBO_STREAM, IWAE_STREAM};
use crate::ops::{Frame, View};

/// A mean over images and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub stderr: f64,
}

impl Estimate {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Self {
            mean,
            stderr: (var / n).sqrt(),
        }
    }
}

/// Per image, from one pass of `samples` draws each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Draws {
    /// log (1/S) Σ exp(log w): minus the importance-weighted bound with k = S.
    pub log_mean_weight: Vec<f64>,
    /// Mean reconstruction NLL over the draws.
    pub reconstruction: Vec<f64>,
    /// The analytic KL of q(z|x) to the prior.
    pub kl: Vec<f64>,
    /// Posterior means, images × latent.
    pub means: Vec<f32>,
}

impl Draws {
    /// The negative ELBO of each image: mean reconstruction NLL + analytic KL.
    pub fn negative_elbo(&self) -> Vec<f64> {
        self.reconstruction
            .iter()
            .zip(&self.kl)
            .map(|(r, k)| r + k)
            .collect()
    }

    /// The importance-weighted bound of each image (k = the pass's draws).
    pub fn iwae_bound(&self) -> Vec<f64> {
        self.log_mean_weight.iter().map(|v| -v).collect()
    }

    /// Latent dimensions whose posterior mean varies by more than `threshold` over the images.
    pub fn active_units(&self, latent: usize, threshold: f64) -> usize {
        let n = (self.means.len() / latent.max(1)).max(1) as f64;
        (0..latent)
            .filter(|&j| {
                let values = self
                    .means
                    .iter()
                    .skip(j)
                    .step_by(latent)
                    .map(|&v| f64::from(v));
                let (sum, squares) = values.fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
                let mean = sum / n;
                squares / n - mean * mean > threshold
            })
            .count()
    }
}

/// Which draws a pass makes: the ELBO's or the bound's (their own Philox streams).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Elbo,
    Iwae,
}

/// A model on the device and the images it is measured on: the first `count` listed in `perm`.
pub struct Measured<'a> {
    pub vae: &'a Vae,
    pub data: &'a DeviceData,
    pub perm: View,
    pub count: usize,
}

/// `samples` draws of z for each image.
pub fn draws<B: Backend>(
    backend: &mut B,
    measured: &Measured,
    samples: usize,
    pass: Pass,
    seed: u64,
) -> Result<Draws, BackendError> {
    let &Measured {
        vae,
        data,
        perm,
        count,
    } = measured;
    let stream = match pass {
        Pass::Elbo => ELBO_STREAM,
        Pass::Iwae => IWAE_STREAM,
    };
    let samples = samples.max(1);
    let per_chunk = samples.min(vae.capacity);
    let images_per_chunk = (vae.capacity / per_chunk).max(1).min(count.max(1));
    let latent = vae.config.latent;
    let mut programs: HashMap<(usize, usize), B::Program> = HashMap::new();
    let mut result = Draws::default();
    let mut step = 0u32;
    for image_start in (0..count).step_by(images_per_chunk) {
        let images = images_per_chunk.min(count - image_start);
        vae.reset_bound_accumulators(backend, images);
        for sample_start in (0..samples).step_by(per_chunk) {
            let chunk = per_chunk.min(samples - sample_start);
            let program = match programs.entry((images, chunk)) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    let ops = vae.multi_sample(data, perm, images, chunk, stream);
                    entry.insert(backend.prepare(&ops)?)
                }
            };
            let mut frame = Frame::with_seed(seed);
            frame.step = step;
            frame.batch_start = image_start as u32;
            backend.run(program, &frame)?;
            step += 1;
        }
        let (acc, recon) = vae.read_bound_accumulators(backend, images)?;
        let (_, kl) = vae.per_row_losses(images);
        let kl = backend.read_f32(kl.buffer, kl.offset, kl.len)?;
        let stats = vae.posterior_stats(images);
        let stats = backend.read_f32(stats.buffer, stats.offset, stats.len)?;
        let log_samples = (samples as f64).ln();
        for i in 0..images {
            let (m, s) = (f64::from(acc[2 * i]), f64::from(acc[2 * i + 1]));
            result.log_mean_weight.push(m + s.ln() - log_samples);
            result
                .reconstruction
                .push(f64::from(recon[i]) / samples as f64);
            result.kl.push(f64::from(kl[i]));
            result
                .means
                .extend_from_slice(&stats[i * 2 * latent..i * 2 * latent + latent]);
        }
    }
    Ok(result)
}
