//! Reference of `shaders/bce_rows.wgsl`: Bernoulli negative log-likelihood from logits.

use super::activation::sigmoid;

/// `out[r] = Σ_j max(l,0) − x·l + log1p(exp(−|l|))`; `grad = grad_scale·(sigmoid(l) − x)`.
#[allow(clippy::too_many_arguments)]
pub fn bce_rows(
    logits: &[f32],
    target: &[f32],
    mut grad: Option<&mut [f32]>,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    grad_scale: f32,
) {
    for (r, o) in out[..rows].iter_mut().enumerate() {
        let mut sum = 0.0f64;
        for j in r * cols..(r + 1) * cols {
            let l = f64::from(logits[j]);
            let x = f64::from(target[j]);
            sum += l.max(0.0) - x * l + (-l.abs()).exp().ln_1p();
            if let Some(g) = grad.as_deref_mut() {
                g[j] = (f64::from(grad_scale) * (sigmoid(l) - x)) as f32;
            }
        }
        *o = sum as f32;
    }
}
