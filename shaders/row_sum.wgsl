//! One workgroup per row: the sum of a value over the workgroup's invocations (snippet).

const ROW_WORKGROUP: u32 = 64u;

var<workgroup> partial: array<f32, ROW_WORKGROUP>;

// Every invocation of the workgroup calls it, in uniform control flow; all get the sum.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var half = ROW_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    let sum = partial[0];
    workgroupBarrier();
    return sum;
}
