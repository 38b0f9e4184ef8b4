//! One workgroup per row: the sum of a value over the workgroup's invocations (snippet).

// Invocations per row (a power of 2, at most ROW_WORKGROUP), set by the host per adapter: one SIMD
// vector (8) on CPU adapters, where each barrier of the tree switches between the workgroup's
// vectors (1.4x faster than 64 on lavapipe); 64 on GPUs, for loads in flight.
override ROW_LANES: u32 = 64u;
// The most invocations per row: the size of the tree's workgroup memory.
const ROW_WORKGROUP: u32 = 64u;

var<workgroup> partial: array<f32, ROW_WORKGROUP>;

// Every invocation of the workgroup calls it, in uniform control flow; all get the sum.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var half = ROW_LANES / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    let sum = partial[0];
    workgroupBarrier();
    return sum;
}
