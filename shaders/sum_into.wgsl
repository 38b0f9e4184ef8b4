//! dst = sum(src) (+ dst): a parallel tree reduction to one number in one workgroup.

struct SumParams {
    count: u32,
    src_offset: u32,
    dst_offset: u32,
    accumulate: u32,
}

const SUM_WORKGROUP: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SumParams;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

var<workgroup> partial: array<f32, SUM_WORKGROUP>;

@compute @workgroup_size(SUM_WORKGROUP)
fn sum_into(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var i = lid; i < params.count; i += SUM_WORKGROUP) {
        sum += src[params.src_offset + i];
    }
    partial[lid] = sum;
    workgroupBarrier();
    for (var half = SUM_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let base = select(0.0, dst[params.dst_offset], params.accumulate != 0u);
        dst[params.dst_offset] = base + partial[0];
    }
}
