//! Reference of `shaders/column_sum.wgsl`: the bias gradient.

/// `out[j] = Σ_r x[r, j]`.
pub fn column_sum(x: &[f32], out: &mut [f32], rows: usize, cols: usize) {
    for (j, o) in out[..cols].iter_mut().enumerate() {
        *o = (0..rows).map(|r| f64::from(x[r * cols + j])).sum::<f64>() as f32;
    }
}
