//! Fills a buffer with N(0, scale^2) numbers from Philox at (element, frame.step, stream).

struct NormalParams {
    count: u32,
    stream: u32,
    out_offset: u32,
    // The standard deviation as f32 bits (a sampling temperature).
    scale_bits: u32,
}

@group(0) @binding(0) var<uniform> params: NormalParams;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.count) {
        return;
    }
    out[params.out_offset + i] = bitcast<f32>(params.scale_bits) * philox_normal(frame_key(), i, frame.step, params.stream);
}
