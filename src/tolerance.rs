//! Parity tolerances (docs/ARCHITECTURE.md, "Tolerances") and the error measure they apply to.

/// One kernel whose outputs are reductions (matmul, sums): ‖gpu − cpu‖ / ‖cpu‖.
pub const KERNEL_REDUCTION: f64 = 1e-5;
/// One element-wise kernel.
pub const KERNEL_ELEMENTWISE: f64 = 1e-6;
/// One element-wise kernel built on log, exp, sin or cos, whose WGSL accuracy is looser than
/// f32 rounding (absolute bounds for log near 1 and for sin/cos): `normal`'s Box–Muller draws
/// came out 1.3e-6 from the CPU on an NVIDIA H200.
pub const KERNEL_TRANSCENDENTAL: f64 = 1e-5;
/// Every parameter tensor after one full training step.
pub const TRAINING_STEP: f64 = 1e-4;
/// Per-step loss over a short run.
pub const SHORT_RUN_LOSS: f64 = 1e-3;
/// One Adam step's update (parameters after minus before), apart from the parameters: the update
/// is ~1e-3 of them, so an error in it would hide in their comparison.
pub const ADAM_UPDATE: f64 = 1e-5;
/// Against the PyTorch fixture (tools/pytorch_reference.py): per-image losses, and every
/// parameter's gradient and each optimizer step's update, per tensor.
pub const ORACLE_LOSS: f64 = 1e-5;
pub const ORACLE_TENSOR: f64 = 1e-4;

/// ‖a − b‖₂ / ‖b‖₂ in f64, or infinity when any value is NaN or infinite (so it never passes).
/// Two all-zero vectors have error 0.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(
        actual.len(),
        expected.len(),
        "compared slices differ in length"
    );
    if actual.iter().chain(expected).any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&a, &e) in actual.iter().zip(expected) {
        diff += (f64::from(a) - f64::from(e)).powi(2);
        norm += f64::from(e).powi(2);
    }
    if norm == 0.0 {
        return if diff == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (diff / norm).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_never_passes() {
        assert!(relative_error(&[1.0, f32::NAN], &[1.0, 2.0]).is_infinite());
        assert!(relative_error(&[1.0, 2.0], &[1.0, f32::NAN]).is_infinite());
    }

    #[test]
    fn relative_error_measures_distance() {
        assert_eq!(relative_error(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
        let e = relative_error(&[3.0, 4.5], &[3.0, 4.0]);
        assert!((e - 0.1).abs() < 1e-12);
    }
}
