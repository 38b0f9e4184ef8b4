//! Adam / AdamW step over flat parameter, gradient and moment buffers (PyTorch's formulation), with
//! optional clipping by global norm and classic L2, in PyTorch's order: clip the raw gradient, add
//! l2 * p, then the moments. A parameter that becomes non-finite is recorded in `health`: the
//! first step it happened at, and the smallest such index in that step.

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

@group(0) @binding(0) var<uniform> params: AdamParams;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read> norm_sq: array<f32>;
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(6) var<storage, read_write> moment2: array<f32>;
// [first step with a non-finite parameter, its smallest index]; 0xffffffff while none.
@group(0) @binding(7) var<storage, read_write> health: array<atomic<u32>>;

// WGSL has no isNan/isInf: an all-ones exponent is infinity or NaN.
fn is_finite_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

const PER_INVOCATION: u32 = 8u;

// Each invocation updates PER_INVOCATION parameters, one dispatch-width apart (neighbouring
// invocations on neighbouring addresses): the frame's numbers are read once per invocation, not
// once per parameter, and a dispatch has 8x fewer workgroups to start (on lavapipe both cost as
// much as the arithmetic).
@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let first = element_index(gid, groups);
    let stride = groups.x * groups.y * ELEMENTWISE_WORKGROUP;
    let beta1 = frame.beta1;
    let beta2 = frame.beta2;
    let l2 = frame.l2;
    let decay = 1.0 - frame.lr * frame.weight_decay;
    let correction2 = frame.bias_correction2_sqrt;
    let eps = frame.eps;
    let step_size = frame.step_size;
    var factor = 1.0;
    if (CLIP != 0u) {
        // torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), never above 1.
        factor = min(1.0, frame.clip_norm / (sqrt(norm_sq[params.norm_sq_offset]) + 1e-6));
    }
    for (var j = 0u; j < PER_INVOCATION; j++) {
        let i = first + j * stride;
        if (i >= params.count) {
            return;
        }
        let p = weights[params.params_offset + i];
        var g = grads[params.grads_offset + i];
        if (CLIP != 0u) {
            g = g * factor;
        }
        g = g + l2 * p;
        let m = beta1 * moment1[params.m_offset + i] + (1.0 - beta1) * g;
        let v = beta2 * moment2[params.v_offset + i] + (1.0 - beta2) * g * g;
        moment1[params.m_offset + i] = m;
        moment2[params.v_offset + i] = v;
        // Decoupled weight decay (AdamW) first; weight_decay = 0 is plain Adam.
        let updated = p * decay - step_size * m / (sqrt(v) / correction2 + eps);
        weights[params.params_offset + i] = updated;
        if (!is_finite_f32(updated)) {
            // Only the first step's indices count: later steps find everything non-finite.
            let first_step = atomicMin(&health[params.health_offset], frame.step);
            if (first_step >= frame.step) {
                atomicMin(&health[params.health_offset + 1u], i);
            }
        }
    }
}
