//! C = op(A) * op(B) (+ C) sharing loads through subgroup broadcasts: the fast kernels on lavapipe.
//!
//! On lavapipe (llvmpipe) a storage load costs about as much per float as 25 multiply-adds: it is a
//! loop over the 8 SIMD lanes whether or not their addresses agree, with a bounds check per value
//! (a vec4 load makes the loop once for its four values: in Adam it cost about 1.7 scalar ones).
//! So these kernels load each value once per subgroup: a subgroup of 8 invocations works on one
//! block of ROWS = 32 rows of C, each invocation loads 1/8 of the block's row data and
//! `subgroupBroadcast` hands it to the others (an element extract on a SIMD CPU); each invocation
//! loads only its own 4 columns of op(B). Per 4 steps along k an invocation makes 8 loads for 512
//! multiply-adds, against 12 for 128 in matmul_vec4.wgsl (4.3x the multiply-adds per load).
//!
//! Needs subgroups of at least 8 invocations made of consecutive local invocation indices (true of
//! lavapipe and of real GPUs), the vectorized dimensions and every offset a multiple of 4 (offsets
//! count vec4s). Entry points as in matmul_vec4.wgsl: NT (forward X*W^T), NN (input gradient dY*W),
//! TN (weight gradient dY^T*X).

// Rows of C per workgroup (shared by its subgroups).
const ROWS: u32 = 32u;
// Invocations per workgroup, each on its own group of 4 columns. Set by the host per adapter:
// one SIMD vector (8) on CPU adapters, where it makes a step 1.25x faster than 32 on lavapipe;
// a warp (32) on GPUs, where a workgroup of 8 would leave most of a warp idle.
override LANES: u32 = 32u;

fn dots(av: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(av, b0), dot(av, b1), dot(av, b2), dot(av, b3));
}

// acc + av.x*b0 + av.y*b1 + av.z*b2 + av.w*b3
fn mix4(av: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>, acc: vec4<f32>) -> vec4<f32> {
    return fma(vec4<f32>(av.x), b0, fma(vec4<f32>(av.y), b1, fma(vec4<f32>(av.z), b2, fma(vec4<f32>(av.w), b3, acc))));
}

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
    store_row(acc[8], row0 + 8u, col4, bias4);
    store_row(acc[9], row0 + 9u, col4, bias4);
    store_row(acc[10], row0 + 10u, col4, bias4);
    store_row(acc[11], row0 + 11u, col4, bias4);
    store_row(acc[12], row0 + 12u, col4, bias4);
    store_row(acc[13], row0 + 13u, col4, bias4);
    store_row(acc[14], row0 + 14u, col4, bias4);
    store_row(acc[15], row0 + 15u, col4, bias4);
    store_row(acc[16], row0 + 16u, col4, bias4);
    store_row(acc[17], row0 + 17u, col4, bias4);
    store_row(acc[18], row0 + 18u, col4, bias4);
    store_row(acc[19], row0 + 19u, col4, bias4);
    store_row(acc[20], row0 + 20u, col4, bias4);
    store_row(acc[21], row0 + 21u, col4, bias4);
    store_row(acc[22], row0 + 22u, col4, bias4);
    store_row(acc[23], row0 + 23u, col4, bias4);
    store_row(acc[24], row0 + 24u, col4, bias4);
    store_row(acc[25], row0 + 25u, col4, bias4);
    store_row(acc[26], row0 + 26u, col4, bias4);
    store_row(acc[27], row0 + 27u, col4, bias4);
    store_row(acc[28], row0 + 28u, col4, bias4);
    store_row(acc[29], row0 + 29u, col4, bias4);
    store_row(acc[30], row0 + 30u, col4, bias4);
    store_row(acc[31], row0 + 31u, col4, bias4);
}

// C[m x n] = A[m x k] * B[n x k]^T; needs k % 4 == 0 and n % 4 == 0.
@compute @workgroup_size(LANES)
fn matmul_subgroup_nt(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
    @builtin(subgroup_invocation_id) sub: u32,
) {
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    let col4 = wid.x * LANES + lane;
    let row0 = wid.y * ROWS;
    let b_row0 = params.b_offset + min(col4, n4 - 1u) * 4u * k4;
    // This invocation's share of the block's rows: rows 8i + sub % 8.
    let a0 = clamped_row(params.a_offset, row0 + 0u + sub % 8u, k4);
    let a1 = clamped_row(params.a_offset, row0 + 8u + sub % 8u, k4);
    let a2 = clamped_row(params.a_offset, row0 + 16u + sub % 8u, k4);
    let a3 = clamped_row(params.a_offset, row0 + 24u + sub % 8u, k4);
    var acc: array<vec4<f32>, ROWS>;
    for (var p4 = 0u; p4 < k4; p4++) {
        let b0 = b[b_row0 + p4];
        let b1 = b[b_row0 + k4 + p4];
        let b2 = b[b_row0 + 2u * k4 + p4];
        let b3 = b[b_row0 + 3u * k4 + p4];
        let x0 = a[a0 + p4];
        let x1 = a[a1 + p4];
        let x2 = a[a2 + p4];
        let x3 = a[a3 + p4];
        acc[0] += dots(subgroupBroadcast(x0, 0u), b0, b1, b2, b3);
        acc[1] += dots(subgroupBroadcast(x0, 1u), b0, b1, b2, b3);
        acc[2] += dots(subgroupBroadcast(x0, 2u), b0, b1, b2, b3);
        acc[3] += dots(subgroupBroadcast(x0, 3u), b0, b1, b2, b3);
        acc[4] += dots(subgroupBroadcast(x0, 4u), b0, b1, b2, b3);
        acc[5] += dots(subgroupBroadcast(x0, 5u), b0, b1, b2, b3);
        acc[6] += dots(subgroupBroadcast(x0, 6u), b0, b1, b2, b3);
        acc[7] += dots(subgroupBroadcast(x0, 7u), b0, b1, b2, b3);
        acc[8] += dots(subgroupBroadcast(x1, 0u), b0, b1, b2, b3);
        acc[9] += dots(subgroupBroadcast(x1, 1u), b0, b1, b2, b3);
        acc[10] += dots(subgroupBroadcast(x1, 2u), b0, b1, b2, b3);
        acc[11] += dots(subgroupBroadcast(x1, 3u), b0, b1, b2, b3);
        acc[12] += dots(subgroupBroadcast(x1, 4u), b0, b1, b2, b3);
        acc[13] += dots(subgroupBroadcast(x1, 5u), b0, b1, b2, b3);
        acc[14] += dots(subgroupBroadcast(x1, 6u), b0, b1, b2, b3);
        acc[15] += dots(subgroupBroadcast(x1, 7u), b0, b1, b2, b3);
        acc[16] += dots(subgroupBroadcast(x2, 0u), b0, b1, b2, b3);
        acc[17] += dots(subgroupBroadcast(x2, 1u), b0, b1, b2, b3);
        acc[18] += dots(subgroupBroadcast(x2, 2u), b0, b1, b2, b3);
        acc[19] += dots(subgroupBroadcast(x2, 3u), b0, b1, b2, b3);
        acc[20] += dots(subgroupBroadcast(x2, 4u), b0, b1, b2, b3);
        acc[21] += dots(subgroupBroadcast(x2, 5u), b0, b1, b2, b3);
        acc[22] += dots(subgroupBroadcast(x2, 6u), b0, b1, b2, b3);
        acc[23] += dots(subgroupBroadcast(x2, 7u), b0, b1, b2, b3);
        acc[24] += dots(subgroupBroadcast(x3, 0u), b0, b1, b2, b3);
        acc[25] += dots(subgroupBroadcast(x3, 1u), b0, b1, b2, b3);
        acc[26] += dots(subgroupBroadcast(x3, 2u), b0, b1, b2, b3);
        acc[27] += dots(subgroupBroadcast(x3, 3u), b0, b1, b2, b3);
        acc[28] += dots(subgroupBroadcast(x3, 4u), b0, b1, b2, b3);
        acc[29] += dots(subgroupBroadcast(x3, 5u), b0, b1, b2, b3);
        acc[30] += dots(subgroupBroadcast(x3, 6u), b0, b1, b2, b3);
        acc[31] += dots(subgroupBroadcast(x3, 7u), b0, b1, b2, b3);
    }
    // Every invocation took part in the broadcasts; those past the last column store nothing.
    store_block(acc, row0, col4);
}

// C[m x n] = A[m x k] * B[k x n]; needs k % 4 == 0 and n % 4 == 0.
@compute @workgroup_size(LANES)
fn matmul_subgroup_nn(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
    @builtin(subgroup_invocation_id) sub: u32,
) {
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    let col4 = wid.x * LANES + lane;
    let col4c = min(col4, n4 - 1u);
    let row0 = wid.y * ROWS;
    let a0 = clamped_row(params.a_offset, row0 + 0u + sub % 8u, k4);
    let a1 = clamped_row(params.a_offset, row0 + 8u + sub % 8u, k4);
    let a2 = clamped_row(params.a_offset, row0 + 16u + sub % 8u, k4);
    let a3 = clamped_row(params.a_offset, row0 + 24u + sub % 8u, k4);
    var acc: array<vec4<f32>, ROWS>;
    for (var p4 = 0u; p4 < k4; p4++) {
        let b_at = params.b_offset + p4 * 4u * n4 + col4c;
        let b0 = b[b_at];
        let b1 = b[b_at + n4];
        let b2 = b[b_at + 2u * n4];
        let b3 = b[b_at + 3u * n4];
        let x0 = a[a0 + p4];
        let x1 = a[a1 + p4];
        let x2 = a[a2 + p4];
        let x3 = a[a3 + p4];
        acc[0] = mix4(subgroupBroadcast(x0, 0u), b0, b1, b2, b3, acc[0]);
        acc[1] = mix4(subgroupBroadcast(x0, 1u), b0, b1, b2, b3, acc[1]);
        acc[2] = mix4(subgroupBroadcast(x0, 2u), b0, b1, b2, b3, acc[2]);
        acc[3] = mix4(subgroupBroadcast(x0, 3u), b0, b1, b2, b3, acc[3]);
        acc[4] = mix4(subgroupBroadcast(x0, 4u), b0, b1, b2, b3, acc[4]);
        acc[5] = mix4(subgroupBroadcast(x0, 5u), b0, b1, b2, b3, acc[5]);
        acc[6] = mix4(subgroupBroadcast(x0, 6u), b0, b1, b2, b3, acc[6]);
        acc[7] = mix4(subgroupBroadcast(x0, 7u), b0, b1, b2, b3, acc[7]);
        acc[8] = mix4(subgroupBroadcast(x1, 0u), b0, b1, b2, b3, acc[8]);
        acc[9] = mix4(subgroupBroadcast(x1, 1u), b0, b1, b2, b3, acc[9]);
        acc[10] = mix4(subgroupBroadcast(x1, 2u), b0, b1, b2, b3, acc[10]);
        acc[11] = mix4(subgroupBroadcast(x1, 3u), b0, b1, b2, b3, acc[11]);
        acc[12] = mix4(subgroupBroadcast(x1, 4u), b0, b1, b2, b3, acc[12]);
        acc[13] = mix4(subgroupBroadcast(x1, 5u), b0, b1, b2, b3, acc[13]);
        acc[14] = mix4(subgroupBroadcast(x1, 6u), b0, b1, b2, b3, acc[14]);
        acc[15] = mix4(subgroupBroadcast(x1, 7u), b0, b1, b2, b3, acc[15]);
        acc[16] = mix4(subgroupBroadcast(x2, 0u), b0, b1, b2, b3, acc[16]);
        acc[17] = mix4(subgroupBroadcast(x2, 1u), b0, b1, b2, b3, acc[17]);
        acc[18] = mix4(subgroupBroadcast(x2, 2u), b0, b1, b2, b3, acc[18]);
        acc[19] = mix4(subgroupBroadcast(x2, 3u), b0, b1, b2, b3, acc[19]);
        acc[20] = mix4(subgroupBroadcast(x2, 4u), b0, b1, b2, b3, acc[20]);
        acc[21] = mix4(subgroupBroadcast(x2, 5u), b0, b1, b2, b3, acc[21]);
        acc[22] = mix4(subgroupBroadcast(x2, 6u), b0, b1, b2, b3, acc[22]);
        acc[23] = mix4(subgroupBroadcast(x2, 7u), b0, b1, b2, b3, acc[23]);
        acc[24] = mix4(subgroupBroadcast(x3, 0u), b0, b1, b2, b3, acc[24]);
        acc[25] = mix4(subgroupBroadcast(x3, 1u), b0, b1, b2, b3, acc[25]);
        acc[26] = mix4(subgroupBroadcast(x3, 2u), b0, b1, b2, b3, acc[26]);
        acc[27] = mix4(subgroupBroadcast(x3, 3u), b0, b1, b2, b3, acc[27]);
        acc[28] = mix4(subgroupBroadcast(x3, 4u), b0, b1, b2, b3, acc[28]);
        acc[29] = mix4(subgroupBroadcast(x3, 5u), b0, b1, b2, b3, acc[29]);
        acc[30] = mix4(subgroupBroadcast(x3, 6u), b0, b1, b2, b3, acc[30]);
        acc[31] = mix4(subgroupBroadcast(x3, 7u), b0, b1, b2, b3, acc[31]);
    }
    // Every invocation took part in the broadcasts; those past the last column store nothing.
    store_block(acc, row0, col4);
}

// C[m x n] = A[k x m]^T * B[k x n]; needs m % 4 == 0 and n % 4 == 0.
@compute @workgroup_size(LANES)
fn matmul_subgroup_tn(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
    @builtin(subgroup_invocation_id) sub: u32,
) {
    let m4 = params.m / 4u;
    let n4 = params.n / 4u;
    let col4 = wid.x * LANES + lane;
    let col4c = min(col4, n4 - 1u);
    let row0 = wid.y * ROWS;
    // The block's 32 rows of C are 8 vec4s of a row of A; invocation `sub` loads vec4 sub % 8
    // (clamped past the last row: those rows are never stored).
    let a_col = params.a_offset + min(row0 / 4u + sub % 8u, m4 - 1u);
    var acc: array<vec4<f32>, ROWS>;
    // The row sums of op(A) over k for EPILOGUE_ROW_SUMS: this invocation's 4 rows, from the loads
    // it makes anyway, added one step of k at a time (the order of column_sum's loop).
    var sums = vec4<f32>();
    // Four steps along k per pass, so that each accumulator is read and written once per 16
    // multiply-adds (as in NT and NN): 32 vec4 accumulators live in memory on a CPU, and one step
    // per pass ran the weight-gradient products 1.15x slower on lavapipe.
    let k4 = params.k / 4u;
    for (var q = 0u; q < k4; q++) {
        let at = a_col + 4u * q * m4;
        let bt = params.b_offset + 4u * q * n4 + col4c;
        let t0 = a[at];
        let t1 = a[at + m4];
        let t2 = a[at + 2u * m4];
        let t3 = a[at + 3u * m4];
        sums = sums + t0;
        sums = sums + t1;
        sums = sums + t2;
        sums = sums + t3;
        let b0 = b[bt];
        let b1 = b[bt + n4];
        let b2 = b[bt + 2u * n4];
        let b3 = b[bt + 3u * n4];
        let u0 = subgroupBroadcast(t0, 0u);
        let v0 = subgroupBroadcast(t1, 0u);
        let w0 = subgroupBroadcast(t2, 0u);
        let z0 = subgroupBroadcast(t3, 0u);
        acc[0] = mix4(vec4<f32>(u0.x, v0.x, w0.x, z0.x), b0, b1, b2, b3, acc[0]);
        acc[1] = mix4(vec4<f32>(u0.y, v0.y, w0.y, z0.y), b0, b1, b2, b3, acc[1]);
        acc[2] = mix4(vec4<f32>(u0.z, v0.z, w0.z, z0.z), b0, b1, b2, b3, acc[2]);
        acc[3] = mix4(vec4<f32>(u0.w, v0.w, w0.w, z0.w), b0, b1, b2, b3, acc[3]);
        let u1 = subgroupBroadcast(t0, 1u);
        let v1 = subgroupBroadcast(t1, 1u);
        let w1 = subgroupBroadcast(t2, 1u);
        let z1 = subgroupBroadcast(t3, 1u);
        acc[4] = mix4(vec4<f32>(u1.x, v1.x, w1.x, z1.x), b0, b1, b2, b3, acc[4]);
        acc[5] = mix4(vec4<f32>(u1.y, v1.y, w1.y, z1.y), b0, b1, b2, b3, acc[5]);
        acc[6] = mix4(vec4<f32>(u1.z, v1.z, w1.z, z1.z), b0, b1, b2, b3, acc[6]);
        acc[7] = mix4(vec4<f32>(u1.w, v1.w, w1.w, z1.w), b0, b1, b2, b3, acc[7]);
        let u2 = subgroupBroadcast(t0, 2u);
        let v2 = subgroupBroadcast(t1, 2u);
        let w2 = subgroupBroadcast(t2, 2u);
        let z2 = subgroupBroadcast(t3, 2u);
        acc[8] = mix4(vec4<f32>(u2.x, v2.x, w2.x, z2.x), b0, b1, b2, b3, acc[8]);
        acc[9] = mix4(vec4<f32>(u2.y, v2.y, w2.y, z2.y), b0, b1, b2, b3, acc[9]);
        acc[10] = mix4(vec4<f32>(u2.z, v2.z, w2.z, z2.z), b0, b1, b2, b3, acc[10]);
        acc[11] = mix4(vec4<f32>(u2.w, v2.w, w2.w, z2.w), b0, b1, b2, b3, acc[11]);
        let u3 = subgroupBroadcast(t0, 3u);
        let v3 = subgroupBroadcast(t1, 3u);
        let w3 = subgroupBroadcast(t2, 3u);
        let z3 = subgroupBroadcast(t3, 3u);
        acc[12] = mix4(vec4<f32>(u3.x, v3.x, w3.x, z3.x), b0, b1, b2, b3, acc[12]);
        acc[13] = mix4(vec4<f32>(u3.y, v3.y, w3.y, z3.y), b0, b1, b2, b3, acc[13]);
        acc[14] = mix4(vec4<f32>(u3.z, v3.z, w3.z, z3.z), b0, b1, b2, b3, acc[14]);
        acc[15] = mix4(vec4<f32>(u3.w, v3.w, w3.w, z3.w), b0, b1, b2, b3, acc[15]);
        let u4 = subgroupBroadcast(t0, 4u);
        let v4 = subgroupBroadcast(t1, 4u);
        let w4 = subgroupBroadcast(t2, 4u);
        let z4 = subgroupBroadcast(t3, 4u);
        acc[16] = mix4(vec4<f32>(u4.x, v4.x, w4.x, z4.x), b0, b1, b2, b3, acc[16]);
        acc[17] = mix4(vec4<f32>(u4.y, v4.y, w4.y, z4.y), b0, b1, b2, b3, acc[17]);
        acc[18] = mix4(vec4<f32>(u4.z, v4.z, w4.z, z4.z), b0, b1, b2, b3, acc[18]);
        acc[19] = mix4(vec4<f32>(u4.w, v4.w, w4.w, z4.w), b0, b1, b2, b3, acc[19]);
        let u5 = subgroupBroadcast(t0, 5u);
        let v5 = subgroupBroadcast(t1, 5u);
        let w5 = subgroupBroadcast(t2, 5u);
        let z5 = subgroupBroadcast(t3, 5u);
        acc[20] = mix4(vec4<f32>(u5.x, v5.x, w5.x, z5.x), b0, b1, b2, b3, acc[20]);
        acc[21] = mix4(vec4<f32>(u5.y, v5.y, w5.y, z5.y), b0, b1, b2, b3, acc[21]);
        acc[22] = mix4(vec4<f32>(u5.z, v5.z, w5.z, z5.z), b0, b1, b2, b3, acc[22]);
        acc[23] = mix4(vec4<f32>(u5.w, v5.w, w5.w, z5.w), b0, b1, b2, b3, acc[23]);
        let u6 = subgroupBroadcast(t0, 6u);
        let v6 = subgroupBroadcast(t1, 6u);
        let w6 = subgroupBroadcast(t2, 6u);
        let z6 = subgroupBroadcast(t3, 6u);
        acc[24] = mix4(vec4<f32>(u6.x, v6.x, w6.x, z6.x), b0, b1, b2, b3, acc[24]);
        acc[25] = mix4(vec4<f32>(u6.y, v6.y, w6.y, z6.y), b0, b1, b2, b3, acc[25]);
        acc[26] = mix4(vec4<f32>(u6.z, v6.z, w6.z, z6.z), b0, b1, b2, b3, acc[26]);
        acc[27] = mix4(vec4<f32>(u6.w, v6.w, w6.w, z6.w), b0, b1, b2, b3, acc[27]);
        let u7 = subgroupBroadcast(t0, 7u);
        let v7 = subgroupBroadcast(t1, 7u);
        let w7 = subgroupBroadcast(t2, 7u);
        let z7 = subgroupBroadcast(t3, 7u);
        acc[28] = mix4(vec4<f32>(u7.x, v7.x, w7.x, z7.x), b0, b1, b2, b3, acc[28]);
        acc[29] = mix4(vec4<f32>(u7.y, v7.y, w7.y, z7.y), b0, b1, b2, b3, acc[29]);
        acc[30] = mix4(vec4<f32>(u7.z, v7.z, w7.z, z7.z), b0, b1, b2, b3, acc[30]);
        acc[31] = mix4(vec4<f32>(u7.w, v7.w, w7.w, z7.w), b0, b1, b2, b3, acc[31]);
    }
    // The last k % 4 steps, one at a time.
    for (var p = 4u * k4; p < params.k; p++) {
        let strip = a[a_col + p * m4];
        sums = sums + strip;
        let bv = b[params.b_offset + p * n4 + col4c];
        let s0 = subgroupBroadcast(strip, 0u);
        let s1 = subgroupBroadcast(strip, 1u);
        let s2 = subgroupBroadcast(strip, 2u);
        let s3 = subgroupBroadcast(strip, 3u);
        let s4 = subgroupBroadcast(strip, 4u);
        let s5 = subgroupBroadcast(strip, 5u);
        let s6 = subgroupBroadcast(strip, 6u);
        let s7 = subgroupBroadcast(strip, 7u);
        acc[0] = fma(vec4<f32>(s0.x), bv, acc[0]);
        acc[1] = fma(vec4<f32>(s0.y), bv, acc[1]);
        acc[2] = fma(vec4<f32>(s0.z), bv, acc[2]);
        acc[3] = fma(vec4<f32>(s0.w), bv, acc[3]);
        acc[4] = fma(vec4<f32>(s1.x), bv, acc[4]);
        acc[5] = fma(vec4<f32>(s1.y), bv, acc[5]);
        acc[6] = fma(vec4<f32>(s1.z), bv, acc[6]);
        acc[7] = fma(vec4<f32>(s1.w), bv, acc[7]);
        acc[8] = fma(vec4<f32>(s2.x), bv, acc[8]);
        acc[9] = fma(vec4<f32>(s2.y), bv, acc[9]);
        acc[10] = fma(vec4<f32>(s2.z), bv, acc[10]);
        acc[11] = fma(vec4<f32>(s2.w), bv, acc[11]);
        acc[12] = fma(vec4<f32>(s3.x), bv, acc[12]);
        acc[13] = fma(vec4<f32>(s3.y), bv, acc[13]);
        acc[14] = fma(vec4<f32>(s3.z), bv, acc[14]);
        acc[15] = fma(vec4<f32>(s3.w), bv, acc[15]);
        acc[16] = fma(vec4<f32>(s4.x), bv, acc[16]);
        acc[17] = fma(vec4<f32>(s4.y), bv, acc[17]);
        acc[18] = fma(vec4<f32>(s4.z), bv, acc[18]);
        acc[19] = fma(vec4<f32>(s4.w), bv, acc[19]);
        acc[20] = fma(vec4<f32>(s5.x), bv, acc[20]);
        acc[21] = fma(vec4<f32>(s5.y), bv, acc[21]);
        acc[22] = fma(vec4<f32>(s5.z), bv, acc[22]);
        acc[23] = fma(vec4<f32>(s5.w), bv, acc[23]);
        acc[24] = fma(vec4<f32>(s6.x), bv, acc[24]);
        acc[25] = fma(vec4<f32>(s6.y), bv, acc[25]);
        acc[26] = fma(vec4<f32>(s6.z), bv, acc[26]);
        acc[27] = fma(vec4<f32>(s6.w), bv, acc[27]);
        acc[28] = fma(vec4<f32>(s7.x), bv, acc[28]);
        acc[29] = fma(vec4<f32>(s7.y), bv, acc[29]);
        acc[30] = fma(vec4<f32>(s7.z), bv, acc[30]);
        acc[31] = fma(vec4<f32>(s7.w), bv, acc[31]);
    }
    // Every invocation took part in the broadcasts; those past the last column store nothing.
    store_block(acc, row0, col4);
    // The first column of workgroups stores them, one invocation per 4 rows.
    let quad = sub % 8u;
    if (EPILOGUE == EPILOGUE_ROW_SUMS && wid.x == 0u && lane < 8u && row0 + 4u * quad < params.m) {
        c[params.bias_offset + row0 / 4u + quad] = sums;
    }
}
