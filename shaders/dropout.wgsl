//! out = x * mask / (1 - p), the mask drawn from Philox at (element, frame.step, stream): dropout
//! forward (x = a layer's output) and backward (x = the gradient of the dropped output), which
//! redraws the same mask from the same counters instead of storing it.

struct DropoutParams {
    count: u32,
    stream: u32,
    // Keep an element when the top 24 bits of its Philox word are >= threshold (p * 2^24).
    threshold: u32,
    // 1 / (1 - p) as f32 bits, computed once on the host.
    scale_bits: u32,
    x_offset: u32,
    out_offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: DropoutParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.count) {
        return;
    }
    let keep = (philox_word(frame_key(), i, frame.step, params.stream) >> 8u) >= params.threshold;
    let kept = x[params.x_offset + i] * bitcast<f32>(params.scale_bits);
    out[params.out_offset + i] = select(0.0, kept, keep);
}
