//! For each group g of `size` values: acc[2g], acc[2g+1] = (m, s) with the group's values merged
//! into the running log-sum-exp m + log s, without overflow: m' = max(m, max v),
//! s' = s exp(m - m') + sum exp(v - m').

struct LogsumexpParams {
    groups: u32,
    size: u32,
    values_offset: u32,
    acc_offset: u32,
}

@group(0) @binding(0) var<uniform> params: LogsumexpParams;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(64)
fn logsumexp_groups(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    if (g >= params.groups) {
        return;
    }
    let base = params.values_offset + g * params.size;
    var m = acc[params.acc_offset + 2u * g];
    for (var i = 0u; i < params.size; i++) {
        m = max(m, values[base + i]);
    }
    var s = acc[params.acc_offset + 2u * g + 1u] * exp(acc[params.acc_offset + 2u * g] - m);
    for (var i = 0u; i < params.size; i++) {
        s += exp(values[base + i] - m);
    }
    acc[params.acc_offset + 2u * g] = m;
    acc[params.acc_offset + 2u * g + 1u] = s;
}
