//! C = op(A) * op(B) (+ C) with vec4 loads and an 8 x 4 register block per invocation: the kernels for adapters without subgroups.
//!
//! Each workgroup owns ROWS rows of C; its invocations spread over groups of 4 columns. Per 4 steps
//! along k an invocation makes 12 vec4 loads for 128 multiply-adds. On lavapipe that is load-bound
//! (about 0.9 GFLOP/s: a storage load costs per float, vec4 or not, whether or not the lanes'
//! addresses agree); matmul_subgroup.wgsl shares loads through subgroups and runs 4x faster there.
//!
//! Needs the vectorized dimensions and all offsets to be multiples of 4; offsets here count vec4s.
//! Three entry points, one per product of a dense layer: NT (forward X*W^T), NN (input gradient
//! dY*W), TN (weight gradient dY^T*X).

// Rows of C per workgroup; each invocation owns ROWS x 4 outputs (one vec4 of columns).
const ROWS: u32 = 8u;
// Invocations per workgroup, each on its own group of 4 columns.
const LANES: u32 = 32u;

// Stores the block's ROWS rows from row0 at vec4 column col4 (the bias loaded once), one call
// per row: a store loop over a dynamic index would keep `acc` out of registers. `acc` comes by
// value (by pointer it stayed in memory, see store_row); on lavapipe this ran as fast as the
// calls written out in each entry point (step 1.00x, three alternated runs).
fn store_block(acc: array<vec4<f32>, ROWS>, row0: u32, col4: u32) {
    let bias4 = column_bias(col4);
    store_row(acc[0], row0 + 0u, col4, bias4);
    store_row(acc[1], row0 + 1u, col4, bias4);
    store_row(acc[2], row0 + 2u, col4, bias4);
    store_row(acc[3], row0 + 3u, col4, bias4);
    store_row(acc[4], row0 + 4u, col4, bias4);
    store_row(acc[5], row0 + 5u, col4, bias4);
    store_row(acc[6], row0 + 6u, col4, bias4);
    store_row(acc[7], row0 + 7u, col4, bias4);
}

// C[m x n] = A[m x k] * B[k x n]; needs k % 4 == 0 and n % 4 == 0.
@compute @workgroup_size(LANES)
fn matmul_vec4_nn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    let col4 = wid.x * LANES + lane;
    let row0 = wid.y * ROWS;
    if (col4 >= n4) {
        return;
    }
    var acc: array<vec4<f32>, ROWS>;
    for (var p4 = 0u; p4 < k4; p4++) {
        let b_at = params.b_offset + p4 * 4u * n4 + col4;
        let b0 = b[b_at];
        let b1 = b[b_at + n4];
        let b2 = b[b_at + 2u * n4];
        let b3 = b[b_at + 3u * n4];
        for (var r = 0u; r < ROWS; r++) {
            let av = a[clamped_row(params.a_offset, row0 + r, k4) + p4];
            acc[r] = fma(vec4<f32>(av.x), b0, fma(vec4<f32>(av.y), b1, fma(vec4<f32>(av.z), b2, fma(vec4<f32>(av.w), b3, acc[r]))));
        }
    }
    store_block(acc, row0, col4);
}

// C[m x n] = A[m x k] * B[n x k]^T; needs k % 4 == 0 and n % 4 == 0.
@compute @workgroup_size(LANES)
fn matmul_vec4_nt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    let col4 = wid.x * LANES + lane;
    let row0 = wid.y * ROWS;
    if (col4 >= n4) {
        return;
    }
    let b_row0 = params.b_offset + col4 * 4u * k4;
    var acc: array<vec4<f32>, ROWS>;
    for (var p4 = 0u; p4 < k4; p4++) {
        let b0 = b[b_row0 + p4];
        let b1 = b[b_row0 + k4 + p4];
        let b2 = b[b_row0 + 2u * k4 + p4];
        let b3 = b[b_row0 + 3u * k4 + p4];
        for (var r = 0u; r < ROWS; r++) {
            let av = a[clamped_row(params.a_offset, row0 + r, k4) + p4];
            acc[r] += vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
        }
    }
    store_block(acc, row0, col4);
}

// C[m x n] = A[k x m]^T * B[k x n]; needs m % 4 == 0 and n % 4 == 0.
@compute @workgroup_size(LANES)
fn matmul_vec4_tn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let m4 = params.m / 4u;
    let n4 = params.n / 4u;
    let col4 = wid.x * LANES + lane;
    let row0 = wid.y * ROWS;
    if (col4 >= n4) {
        return;
    }
    // ROWS = 8 rows of C are two vec4s of a row of A; the second may lie past m (clamped, not stored).
    let a_lo = params.a_offset + row0 / 4u;
    let a_hi = params.a_offset + min(row0 / 4u + 1u, m4 - 1u);
    var acc: array<vec4<f32>, ROWS>;
    // The row sums of op(A) (EPILOGUE_ROW_SUMS): the first invocation of the first column of
    // workgroups adds the two vec4s of A it loads on every step.
    let row_sums = EPILOGUE == EPILOGUE_ROW_SUMS && col4 == 0u;
    var sums_lo = vec4<f32>();
    var sums_hi = vec4<f32>();
    for (var p = 0u; p < params.k; p++) {
        let lo = a[a_lo + p * m4];
        let hi = a[a_hi + p * m4];
        let bv = b[params.b_offset + p * n4 + col4];
        if (row_sums) {
            sums_lo += lo;
            sums_hi += hi;
        }
        acc[0] = fma(vec4<f32>(lo.x), bv, acc[0]);
        acc[1] = fma(vec4<f32>(lo.y), bv, acc[1]);
        acc[2] = fma(vec4<f32>(lo.z), bv, acc[2]);
        acc[3] = fma(vec4<f32>(lo.w), bv, acc[3]);
        acc[4] = fma(vec4<f32>(hi.x), bv, acc[4]);
        acc[5] = fma(vec4<f32>(hi.y), bv, acc[5]);
        acc[6] = fma(vec4<f32>(hi.z), bv, acc[6]);
        acc[7] = fma(vec4<f32>(hi.w), bv, acc[7]);
    }
    store_block(acc, row0, col4);
    if (row_sums) {
        c[params.bias_offset + row0 / 4u] = sums_lo;
        if (row0 + 4u < params.m) {
            c[params.bias_offset + row0 / 4u + 1u] = sums_hi;
        }
    }
}
