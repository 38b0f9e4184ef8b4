//! The per-replay uniform shared by the kernels that need it; mirrors `Frame` in src/ops.rs (snippet).

struct Frame {
    seed_lo: u32,
    seed_hi: u32,
    step: u32,
    batch_start: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    kl_weight: f32,
    grad_scale: f32,
    l2: f32,
    clip_norm: f32,
    free_bits: f32,
}

@group(0) @binding(1) var<uniform> frame: Frame;

fn frame_key() -> vec2<u32> {
    return vec2<u32>(frame.seed_lo, frame.seed_hi);
}
