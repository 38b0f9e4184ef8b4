//! The sum of one value per invocation over a workgroup of SUM_WORKGROUP invocations, by a tree in
//! workgroup memory: the reductions to one number (sum_into, loss_sums, square_sums) add in
//! this one order (snippet).

const SUM_WORKGROUP: u32 = 256u;

var<workgroup> partial: array<f32, SUM_WORKGROUP>;

// Every invocation calls it, in uniform control flow; all get the sum.
fn workgroup_total(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var half = SUM_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}
