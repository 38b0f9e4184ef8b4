//! Reference of `shaders/reparameterize.wgsl` and `shaders/reparameterize_backward.wgsl`.

use crate::rng;

/// `z = mu + exp(logvar/2)·eps`, `eps` the Philox normal of element `r·latent + j` at
/// (step, stream); with `sample == false`, `z = mu` and `eps = 0`.
#[allow(clippy::too_many_arguments)]
pub fn reparameterize(
    stats: &[f32],
    z: &mut [f32],
    eps: &mut [f32],
    rows: usize,
    latent: usize,
    key: [u32; 2],
    step: u32,
    stream: u32,
    sample: bool,
) {
    for r in 0..rows {
        for j in 0..latent {
            let at = r * latent + j;
            let mu = f64::from(stats[r * 2 * latent + j]);
            let logvar = f64::from(stats[r * 2 * latent + latent + j]);
            let e = if sample {
                rng::normal(key, at as u32, step, stream)
            } else {
                0.0
            };
            eps[at] = e;
            z[at] = (mu + (0.5 * logvar).exp() * f64::from(e)) as f32;
        }
    }
}

/// Adds `grad_mu += grad_z`, `grad_logvar += grad_z·eps·exp(logvar/2)/2`.
pub fn reparameterize_backward(
    grad_z: &[f32],
    stats: &[f32],
    eps: &[f32],
    grad_stats: &mut [f32],
    rows: usize,
    latent: usize,
) {
    for r in 0..rows {
        for j in 0..latent {
            let at = r * latent + j;
            let mu_at = r * 2 * latent + j;
            let lv_at = mu_at + latent;
            let g = f64::from(grad_z[at]);
            let std = (0.5 * f64::from(stats[lv_at])).exp();
            grad_stats[mu_at] = (f64::from(grad_stats[mu_at]) + g) as f32;
            grad_stats[lv_at] =
                (f64::from(grad_stats[lv_at]) + g * f64::from(eps[at]) * 0.5 * std) as f32;
        }
    }
}
