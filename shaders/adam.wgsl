//! Adam / AdamW step over flat parameter, gradient and moment buffers at any offsets, one
//! parameter at a time (adam_vec4.wgsl takes four where offsets and count allow), with optional
//! clipping by global norm and classic L2 (adam_step.wgsl). A parameter that becomes non-finite
//! is recorded in `health`: the first step it happened at, and the smallest such index in that
//! step.

@group(0) @binding(0) var<uniform> params: AdamParams;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read> norm_sq: array<f32>;
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(6) var<storage, read_write> moment2: array<f32>;
// [first step with a non-finite parameter, its smallest index]; 0xffffffff while none.
@group(0) @binding(7) var<storage, read_write> health: array<atomic<u32>>;

const PER_INVOCATION: u32 = 8u;

// Each invocation updates PER_INVOCATION parameters, one dispatch-width apart (neighbouring
// invocations on neighbouring addresses): the frame's numbers are read once per invocation, not
// once per parameter, and a dispatch has 8x fewer workgroups to start (on lavapipe both cost as
// much as the arithmetic).
@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let first = element_index(gid, groups);
    let stride = groups.x * groups.y * ELEMENTWISE_WORKGROUP;
    var factor = 1.0;
    if (CLIP != 0u) {
        factor = clip_factor(norm_sq[params.norm_sq_offset]);
    }
    var first_bad = NO_INDEX;
    for (var j = 0u; j < PER_INVOCATION; j++) {
        let i = first + j * stride;
        if (i >= params.count) {
            break;
        }
        // The four-wide arithmetic on one parameter: the other lanes are dead code.
        let step = adam_step(
            vec4<f32>(weights[params.params_offset + i]),
            vec4<f32>(grads[params.grads_offset + i]),
            vec4<f32>(moment1[params.m_offset + i]),
            vec4<f32>(moment2[params.v_offset + i]),
            factor,
        );
        moment1[params.m_offset + i] = step.m.x;
        moment2[params.v_offset + i] = step.v.x;
        weights[params.params_offset + i] = step.params.x;
        first_bad = first_non_finite(first_bad, step.params, vec4<u32>(i));
    }
    if (first_bad != NO_INDEX) {
        record_non_finite(first_bad);
    }
}
