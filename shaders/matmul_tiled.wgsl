//! C = op(A) * op(B) (+ C) through workgroup-memory tiles: the kernel for real GPUs.
//!
//! A workgroup of 16 x 16 invocations owns a 64 x 64 tile of C. Per step of 16 along k it copies
//! a 64 x 16 slice of op(A) and a 16 x 64 slice of op(B) into workgroup memory, each invocation
//! four values of each, with consecutive invocations on consecutive addresses of the stored
//! matrix whatever the transposes (coalesced loads); then every invocation accumulates its 4 x 4
//! block of C from workgroup memory. Any shape and any offset: loads outside the matrices read 0.
//! On lavapipe workgroup memory only adds loads and barriers (see matmul_subgroup.wgsl); the
//! per-adapter timing picks this kernel only where it wins.

// Rows and columns of C per workgroup, steps along k per slice, and C per invocation a side.
const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
const PER_THREAD: u32 = 4u;

// [TILE_K][TILE]: slice element (p, r) of op(A) at p * TILE + r, and (p, c) of op(B) likewise.
var<workgroup> a_tile: array<f32, 1024>;
var<workgroup> b_tile: array<f32, 1024>;

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
    // The row sums of op(A) (EPILOGUE_ROW_SUMS): the first column of workgroups, one invocation
    // per 4 rows, adds its rows of each slice in workgroup memory (zeros past k add nothing).
    let row_sums = EPILOGUE == EPILOGUE_ROW_SUMS && wid.x == 0u && lid.x == 0u;
    var sums = vec4<f32>();
    for (var p0 = 0u; p0 < params.k; p0 += TILE_K) {
        // 256 invocations, 1024 values of each slice: four rounds. The stored matrix's fastest
        // index follows the invocation index, so neighbours read neighbouring addresses.
        for (var i = 0u; i < 4u; i++) {
            if (TRANS_A != 0u) {
                let p = t / TILE + i * 4u;
                let r = t % TILE;
                a_tile[p * TILE + r] = a_at(row0 + r, p0 + p);
            } else {
                let r = t / TILE_K + i * 16u;
                let p = t % TILE_K;
                a_tile[p * TILE + r] = a_at(row0 + r, p0 + p);
            }
            if (TRANS_B != 0u) {
                let cc = t / TILE_K + i * 16u;
                let p = t % TILE_K;
                b_tile[p * TILE + cc] = b_at(p0 + p, col0 + cc);
            } else {
                let p = t / TILE + i * 4u;
                let cc = t % TILE;
                b_tile[p * TILE + cc] = b_at(p0 + p, col0 + cc);
            }
        }
        workgroupBarrier();
        if (row_sums) {
            for (var p = 0u; p < TILE_K; p++) {
                let ar = p * TILE + lid.y * PER_THREAD;
                sums += vec4<f32>(a_tile[ar], a_tile[ar + 1u], a_tile[ar + 2u], a_tile[ar + 3u]);
            }
        }
        for (var p = 0u; p < TILE_K; p++) {
            let ar = p * TILE + lid.y * PER_THREAD;
            let bc = p * TILE + lid.x * PER_THREAD;
            let bv = vec4<f32>(b_tile[bc], b_tile[bc + 1u], b_tile[bc + 2u], b_tile[bc + 3u]);
            acc0 = fma(vec4<f32>(a_tile[ar]), bv, acc0);
            acc1 = fma(vec4<f32>(a_tile[ar + 1u]), bv, acc1);
            acc2 = fma(vec4<f32>(a_tile[ar + 2u]), bv, acc2);
            acc3 = fma(vec4<f32>(a_tile[ar + 3u]), bv, acc3);
        }
        workgroupBarrier();
    }
    let row = row0 + lid.y * PER_THREAD;
    let col = col0 + lid.x * PER_THREAD;
    store_row(row, col, acc0);
    store_row(row + 1u, col, acc1);
    store_row(row + 2u, col, acc2);
    store_row(row + 3u, col, acc3);
    if (row_sums) {
        store_sums(row, sums);
    }
}
