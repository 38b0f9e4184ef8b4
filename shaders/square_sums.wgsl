//! partials[g] = sum of src[i]^2 over the SQUARE_SUMS_CHUNK elements of workgroup g: the first pass
//! of the gradient's global norm (sum_into adds the partials up).

struct SquareSumsParams {
    count: u32,
    src_offset: u32,
    partials_offset: u32,
    _pad0: u32,
}

// Elements per workgroup: each invocation adds up CHUNK / SUM_WORKGROUP of them, strided.
const SQUARE_SUMS_CHUNK: u32 = 4096u;

@group(0) @binding(0) var<uniform> params: SquareSumsParams;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(SUM_WORKGROUP)
fn square_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let start = wid.x * SQUARE_SUMS_CHUNK;
    let end = min(start + SQUARE_SUMS_CHUNK, params.count);
    var sum = 0.0;
    for (var i = start + lid; i < end; i += SUM_WORKGROUP) {
        let v = src[params.src_offset + i];
        sum += v * v;
    }
    let total = workgroup_total(lid, sum);
    if (lid == 0u) {
        partials[params.partials_offset + wid.x] = total;
    }
}
