//! out[g] (+)= sum of the `size` values of group g: per-image sums over several draws.

struct GroupSumsParams {
    groups: u32,
    size: u32,
    accumulate: u32,
    values_offset: u32,
    out_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: GroupSumsParams;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn group_sums(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    if (g >= params.groups) {
        return;
    }
    var sum = 0.0;
    for (var i = 0u; i < params.size; i++) {
        sum += values[params.values_offset + g * params.size + i];
    }
    if (params.accumulate != 0u) {
        sum += out[params.out_offset + g];
    }
    out[params.out_offset + g] = sum;
}
