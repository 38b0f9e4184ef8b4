//! C = op(A) * op(B) (+ C) through workgroup-memory tiles: the kernel for real GPUs.
//!
//! A workgroup of 16 x 16 invocations owns a 128 x 128 tile of C. Per step of 8 along k it copies
//! a 128 x 8 slice of op(A) and an 8 x 128 slice of op(B) into workgroup memory, each invocation
//! four values of each, consecutive invocations on consecutive addresses of the stored matrix
//! whatever the transposes; then every invocation accumulates an 8 x 8 block of C in registers
//! from vec4 reads of workgroup memory: rows 4*ty.. and 64 + 4*ty.., columns 4*tx.. and
//! 64 + 4*tx.. (neighbouring invocations read neighbouring vec4s). 64 multiply-adds per 4
//! workgroup-memory reads. Any shape and any offset: loads outside the matrices read 0.
//! On lavapipe workgroup memory only adds loads and barriers (see matmul_subgroup.wgsl); the
//! per-adapter timing picks this kernel only where it wins.

// Rows and columns of C per workgroup, steps along k per slice, rows of C per invocation.
const TILE: u32 = 128u;
const TILE_K: u32 = 8u;
const PER_THREAD: u32 = 8u;

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;

// [TILE_K][TILE / 4] vec4s: slice element (p, r) of op(A) at [p * 32 + r / 4][r % 4], and
// (p, c) of op(B) likewise.
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// op(A)[r, p], 0 outside the matrix.
fn a_at(r: u32, p: u32) -> f32 {
    if (r >= params.m || p >= params.k) {
        return 0.0;
    }
    if (params.trans_a != 0u) {
        return a[params.a_offset + p * params.m + r];
    }
    return a[params.a_offset + r * params.k + p];
}

// op(B)[p, c], 0 outside the matrix.
fn b_at(p: u32, c: u32) -> f32 {
    if (p >= params.k || c >= params.n) {
        return 0.0;
    }
    if (params.trans_b != 0u) {
        return b[params.b_offset + c * params.k + p];
    }
    return b[params.b_offset + p * params.n + c];
}

fn store(row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        let i = params.c_offset + row * params.n + col;
        if (params.accumulate != 0u) {
            c[i] += value;
        } else if (params.epilogue != 0u) {
            c[i] = epilogue_of(value, bias[params.bias_offset + col]);
        } else {
            c[i] = value;
        }
    }
}

// Four rows of C starting at `row`, columns col..col+3 and col+64..col+67.
fn store_rows(row: u32, col: u32, left: array<vec4<f32>, 4>, right: array<vec4<f32>, 4>) {
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store(row + i, col + j, left[i][j]);
            store(row + i, col + 64u + j, right[i][j]);
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    // acc_xy: rows (x = 0: 4*ty.., 1: 64 + 4*ty..), columns (y = 0: 4*tx.., 1: 64 + 4*tx..).
    var acc_00: array<vec4<f32>, 4>;
    var acc_01: array<vec4<f32>, 4>;
    var acc_10: array<vec4<f32>, 4>;
    var acc_11: array<vec4<f32>, 4>;
    for (var p0 = 0u; p0 < params.k; p0 += TILE_K) {
        // 256 invocations, 1024 values of each slice: four rounds. The stored matrix's fastest
        // index follows the invocation index.
        for (var i = 0u; i < 4u; i++) {
            let e = t + i * 256u;
            var r = e / TILE_K;
            var p = e % TILE_K;
            if (params.trans_a != 0u) {
                r = e % TILE;
                p = e / TILE;
            }
            a_tile[p * 32u + r / 4u][r % 4u] = a_at(row0 + r, p0 + p);
            var cc = e % TILE;
            var q = e / TILE;
            if (params.trans_b != 0u) {
                cc = e / TILE_K;
                q = e % TILE_K;
            }
            b_tile[q * 32u + cc / 4u][cc % 4u] = b_at(p0 + q, col0 + cc);
        }
        workgroupBarrier();
        for (var p = 0u; p < TILE_K; p++) {
            let a0 = a_tile[p * 32u + lid.y];
            let a1 = a_tile[p * 32u + 16u + lid.y];
            let b0 = b_tile[p * 32u + lid.x];
            let b1 = b_tile[p * 32u + 16u + lid.x];
            for (var i = 0u; i < 4u; i++) {
                acc_00[i] = fma(vec4<f32>(a0[i]), b0, acc_00[i]);
                acc_01[i] = fma(vec4<f32>(a0[i]), b1, acc_01[i]);
                acc_10[i] = fma(vec4<f32>(a1[i]), b0, acc_10[i]);
                acc_11[i] = fma(vec4<f32>(a1[i]), b1, acc_11[i]);
            }
        }
        workgroupBarrier();
    }
    let col = col0 + lid.x * 4u;
    store_rows(row0 + lid.y * 4u, col, acc_00, acc_01);
    store_rows(row0 + 64u + lid.y * 4u, col, acc_10, acc_11);
}
