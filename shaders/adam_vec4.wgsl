//! Adam / AdamW as adam.wgsl, four parameters per load and store: for views whose offsets and
//! count are multiples of 4 (the model's flat buffers). On lavapipe a step of the default model's
//! 652,824 parameters took 2.0-2.5 ms against 4.2-4.7 one at a time: a load costs a loop over the
//! SIMD lanes, and a vec4 load makes that loop once for four values.

@group(0) @binding(0) var<uniform> params: AdamParams;
// Offsets in the uniform count vec4s here; count still counts parameters.
@group(0) @binding(2) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norm_sq: array<f32>;
@group(0) @binding(4) var<storage, read_write> weights: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> moment1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> moment2: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> health: array<atomic<u32>>;

// Parameters per invocation (PER_INVOCATION / 4 vec4s, one dispatch-width apart).
const PER_INVOCATION: u32 = 8u;

@compute @workgroup_size(256)
fn adam_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let first = element_index(gid, groups);
    let stride = groups.x * groups.y * ELEMENTWISE_WORKGROUP;
    var factor = 1.0;
    if (CLIP != 0u) {
        // norm_sq is a float buffer: its offset counts floats.
        factor = clip_factor(norm_sq[params.norm_sq_offset]);
    }
    let count4 = params.count / 4u;
    var first_bad = NO_INDEX;
    for (var j = 0u; j < PER_INVOCATION / 4u; j++) {
        let i = first + j * stride;
        if (i >= count4) {
            break;
        }
        let step = adam_step(
            weights[params.params_offset + i],
            grads[params.grads_offset + i],
            moment1[params.m_offset + i],
            moment2[params.v_offset + i],
            factor,
        );
        moment1[params.m_offset + i] = step.m;
        moment2[params.v_offset + i] = step.v;
        weights[params.params_offset + i] = step.params;
        first_bad = first_non_finite(first_bad, step.params, vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u));
    }
    if (first_bad != NO_INDEX) {
        record_non_finite(first_bad);
    }
}
