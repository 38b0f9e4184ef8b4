//! dst = sum(src) (+ dst): a parallel tree reduction to one number in one workgroup.

struct SumParams {
    count: u32,
    src_offset: u32,
    dst_offset: u32,
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: SumParams;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(SUM_WORKGROUP)
fn sum_into(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var i = lid; i < params.count; i += SUM_WORKGROUP) {
        sum += src[params.src_offset + i];
    }
    let total = workgroup_total(lid, sum);
    if (lid == 0u) {
        let base = select(0.0, dst[params.dst_offset], params.accumulate != 0u);
        dst[params.dst_offset] = base + total;
    }
}
