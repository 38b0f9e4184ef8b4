//! The Adam / AdamW arithmetic shared by adam.wgsl (any offsets, a parameter at a time) and
//! adam_vec4.wgsl (offsets and count multiples of 4, four at a time), so that both compute the
//! same bits (snippet). PyTorch's formulation and order: clip the raw gradient, add l2 * p, then
//! the moments, then the update.

struct AdamParams {
    count: u32,
    params_offset: u32,
    grads_offset: u32,
    m_offset: u32,
    v_offset: u32,
    norm_sq_offset: u32,
    health_offset: u32,
    _pad0: u32,
}

// 1: clip by the global norm in norm_sq (specialized at pipeline creation: no cost when off).
override CLIP: u32 = 0u;

// The factor the gradient is clipped by, from its squared global norm (1 without clipping).
fn clip_factor(norm_sq: f32) -> f32 {
    if (CLIP == 0u) {
        return 1.0;
    }
    // torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), never above 1.
    return min(1.0, frame.clip_norm / (sqrt(norm_sq) + 1e-6));
}

struct AdamStep {
    params: vec4<f32>,
    m: vec4<f32>,
    v: vec4<f32>,
}

// One step of four parameters p with raw gradients g and moments m, v.
fn adam_step(p: vec4<f32>, raw_g: vec4<f32>, m_old: vec4<f32>, v_old: vec4<f32>, factor: f32) -> AdamStep {
    var g = raw_g;
    if (CLIP != 0u) {
        g = g * factor;
    }
    g = g + frame.l2 * p;
    let m = frame.beta1 * m_old + (1.0 - frame.beta1) * g;
    let v = frame.beta2 * v_old + (1.0 - frame.beta2) * g * g;
    // Decoupled weight decay (AdamW) first; weight_decay = 0 is plain Adam.
    let decay = 1.0 - frame.lr * frame.weight_decay;
    let denom = sqrt(v) / frame.bias_correction2_sqrt + frame.eps;
    return AdamStep(p * decay - frame.step_size * m / denom, m, v);
}

// WGSL has no isNan/isInf: an all-ones exponent is infinity or NaN.
fn non_finite(x: vec4<f32>) -> vec4<bool> {
    return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u);
}

// No non-finite parameter seen: larger than every index.
const NO_INDEX: u32 = 0xffffffffu;

// The smallest of `smallest` and the indices `at` whose `values` are non-finite. An invocation
// keeps it over its parameters and records it once after them: lavapipe runs a branch under a
// lane mask whether or not a lane takes it, so a record per parameter (two atomics, each a loop
// over the lanes) cost a sixth of Adam's time even when nothing was ever recorded.
fn first_non_finite(smallest: u32, values: vec4<f32>, at: vec4<u32>) -> u32 {
    let candidates = select(vec4<u32>(NO_INDEX), at, non_finite(values));
    return min(smallest, min(min(candidates.x, candidates.y), min(candidates.z, candidates.w)));
}

// Records parameter `index` as non-finite in `health`: only the first step's indices count
// (later steps find everything non-finite).
fn record_non_finite(index: u32) {
    let first_step = atomicMin(&health[params.health_offset], frame.step);
    if (first_step >= frame.step) {
        atomicMin(&health[params.health_offset + 1u], index);
    }
}
