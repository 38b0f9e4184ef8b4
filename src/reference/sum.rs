//! Reference of `shaders/sum_into.wgsl`: a reduction to one number.

/// `dst = Σ src (+ dst if accumulate)`.
pub fn sum_into(src: &[f32], dst: &mut f32, accumulate: bool) {
    let total: f64 = src.iter().map(|&v| f64::from(v)).sum();
    let base = if accumulate { f64::from(*dst) } else { 0.0 };
    *dst = (base + total) as f32;
}
