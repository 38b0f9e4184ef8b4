//! Reference of `shaders/kl_rows.wgsl` and `shaders/kl_backward.wgsl`: KL(q(z|x) ‖ N(0, I)).

/// `out[r] = -1/2 Σ_j (1 + logvar − mu² − exp(logvar))`; `stats` rows are [mu | logvar].
pub fn kl_rows(stats: &[f32], out: &mut [f32], rows: usize, latent: usize) {
    for (r, o) in out[..rows].iter_mut().enumerate() {
        let row = &stats[r * 2 * latent..(r + 1) * 2 * latent];
        let (mu, logvar) = row.split_at(latent);
        let sum: f64 = mu
            .iter()
            .zip(logvar)
            .map(|(&m, &lv)| {
                let (m, lv) = (f64::from(m), f64::from(lv));
                1.0 + lv - m * m - lv.exp()
            })
            .sum();
        *o = (-0.5 * sum) as f32;
    }
}

/// Writes `grad_mu = scale·mu`, `grad_logvar = scale·(exp(logvar) − 1)/2`.
pub fn kl_backward(stats: &[f32], grad_stats: &mut [f32], rows: usize, latent: usize, scale: f32) {
    let scale = f64::from(scale);
    for r in 0..rows {
        for j in 0..latent {
            let mu_at = r * 2 * latent + j;
            let lv_at = mu_at + latent;
            grad_stats[mu_at] = (scale * f64::from(stats[mu_at])) as f32;
            grad_stats[lv_at] = (scale * 0.5 * (f64::from(stats[lv_at]).exp() - 1.0)) as f32;
        }
    }
}
