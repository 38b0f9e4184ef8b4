//! C = op(A) * op(B) (+ C) through 128 x 128 workgroup-memory tiles: large products on real GPUs.
//!
//! A workgroup of 16 x 16 invocations owns a 128 x 128 tile of C; each invocation an 8 x 8 block
//! of it, in four 4 x 4 quarters: rows 4*ty.. and 64 + 4*ty.., columns 4*tx.. and 64 + 4*tx..
//! (neighbouring invocations read neighbouring vec4s of workgroup memory). Per slice of 8 along k
//! each invocation loads four values of op(A) and four of op(B), consecutive invocations on
//! consecutive addresses of the stored matrix whatever the transposes (coalesced), and makes 64
//! multiply-adds per four vec4 reads of workgroup memory. Slices are double-buffered: the next
//! slice's loads are in flight while this one is multiplied, and one barrier a slice suffices.
//! Any shape and any offset: loads outside the matrices read 0.
//!
//! The accumulators are named vec4s in structs, never arrays: an earlier 128 x 128 kernel that
//! kept them in arrays indexed in loops ran 4.6x slower than 64 x 64 tiles on an NVIDIA H200
//! (arrays can go to local memory; whether they did there is not known). The 64 x 64 kernel
//! (matmul_tiled.wgsl) stays for products too small to fill a GPU with these tiles; the
//! per-shape timing chooses. Not yet timed on a real GPU (see README, Numbers). To look at
//! first when it is: naga clamps every dynamic index into workgroup memory (wgpu's Vulkan index
//! policy), which may keep the driver from folding p * ROW_VEC4S into the loads' offsets, and
//! whether the driver keeps it under 128 registers (two workgroups per multiprocessor).

// Rows and columns of C per workgroup, and steps along k per slice.
const TILE: u32 = 128u;
const TILE_K: u32 = 8u;
// Invocations per workgroup.
const INVOCATIONS: u32 = 256u;
// vec4s per k-row of a slice in workgroup memory: 32, and one of padding so that the scalar
// stores of a warp that loads 4 rows x 8 along k land in 32 different banks.
const ROW_VEC4S: u32 = 33u;
// vec4s per slice buffer.
const SLICE_VEC4S: u32 = 264u;

// Two slice buffers of op(A) and of op(B) each: element (p, r) of a slice at
// [buffer * SLICE_VEC4S + p * ROW_VEC4S + r / 4][r % 4]. 16,896 bytes in all.
var<workgroup> a_tiles: array<vec4<f32>, 528>;
var<workgroup> b_tiles: array<vec4<f32>, 528>;

// Four rows of four columns of C.
struct Quarter {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
}

// q + outer(a, b): a holds the four rows' values of op(A), b the four columns' of op(B).
fn fma_quarter(q: Quarter, a: vec4<f32>, b: vec4<f32>) -> Quarter {
    return Quarter(
        fma(vec4<f32>(a.x), b, q.r0),
        fma(vec4<f32>(a.y), b, q.r1),
        fma(vec4<f32>(a.z), b, q.r2),
        fma(vec4<f32>(a.w), b, q.r3),
    );
}

// The place (row or column within the tile, step within the slice) of the i-th value (0..3) an
// invocation loads: the stored matrix's fastest index follows the invocation index.
fn place(t: u32, i: u32, fastest_along_k: bool) -> vec2<u32> {
    let e = t + i * INVOCATIONS;
    if (fastest_along_k) {
        return vec2<u32>(e / TILE_K, e % TILE_K);
    }
    return vec2<u32>(e % TILE, e / TILE);
}

// A stored m x k runs fastest along k; stored k x m (TRANS_A), along m. B the other way round.
fn a_place(t: u32, i: u32) -> vec2<u32> {
    return place(t, i, TRANS_A == 0u);
}

fn b_place(t: u32, i: u32) -> vec2<u32> {
    return place(t, i, TRANS_B != 0u);
}

fn a_load(t: u32, i: u32, row0: u32, p0: u32) -> f32 {
    let at = a_place(t, i);
    return a_at(row0 + at.x, p0 + at.y);
}

fn b_load(t: u32, i: u32, col0: u32, p0: u32) -> f32 {
    let at = b_place(t, i);
    return b_at(p0 + at.y, col0 + at.x);
}

// An invocation's four values of op(A) and four of op(B) of the slice starting at p0 (written
// out, not looped: a vector indexed in a loop can end up in local memory).
struct Staged {
    a: vec4<f32>,
    b: vec4<f32>,
}

fn load_slice(t: u32, row0: u32, col0: u32, p0: u32) -> Staged {
    return Staged(
        vec4<f32>(
            a_load(t, 0u, row0, p0),
            a_load(t, 1u, row0, p0),
            a_load(t, 2u, row0, p0),
            a_load(t, 3u, row0, p0),
        ),
        vec4<f32>(
            b_load(t, 0u, col0, p0),
            b_load(t, 1u, col0, p0),
            b_load(t, 2u, col0, p0),
            b_load(t, 3u, col0, p0),
        ),
    );
}

fn a_store(t: u32, i: u32, buffer: u32, value: f32) {
    let at = a_place(t, i);
    a_tiles[buffer + at.y * ROW_VEC4S + at.x / 4u][at.x % 4u] = value;
}

fn b_store(t: u32, i: u32, buffer: u32, value: f32) {
    let at = b_place(t, i);
    b_tiles[buffer + at.y * ROW_VEC4S + at.x / 4u][at.x % 4u] = value;
}

fn store_slice(t: u32, buffer: u32, staged: Staged) {
    a_store(t, 0u, buffer, staged.a.x);
    a_store(t, 1u, buffer, staged.a.y);
    a_store(t, 2u, buffer, staged.a.z);
    a_store(t, 3u, buffer, staged.a.w);
    b_store(t, 0u, buffer, staged.b.x);
    b_store(t, 1u, buffer, staged.b.y);
    b_store(t, 2u, buffer, staged.b.z);
    b_store(t, 3u, buffer, staged.b.w);
}

fn store_quarter(row: u32, col: u32, q: Quarter) {
    store_row(row, col, q.r0);
    store_row(row + 1u, col, q.r1);
    store_row(row + 2u, col, q.r2);
    store_row(row + 3u, col, q.r3);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled128(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    // q_rc: rows (r = 0: 4*ty.., 1: 64 + 4*ty..), columns (c = 0: 4*tx.., 1: 64 + 4*tx..).
    var q00 = Quarter();
    var q01 = Quarter();
    var q10 = Quarter();
    var q11 = Quarter();
    // The row sums of op(A) (EPILOGUE_ROW_SUMS): in the first column of workgroups, the
    // invocations with tx = 0 add their 8 rows of each slice (zeros past k add nothing).
    let row_sums = EPILOGUE == EPILOGUE_ROW_SUMS && wid.x == 0u && lid.x == 0u;
    var sums0 = vec4<f32>();
    var sums1 = vec4<f32>();
    let slices = (params.k + TILE_K - 1u) / TILE_K;
    store_slice(t, 0u, load_slice(t, row0, col0, 0u));
    workgroupBarrier();
    for (var s = 0u; s < slices; s++) {
        let buffer = (s % 2u) * SLICE_VEC4S;
        let more = s + 1u < slices;
        // The next slice's loads go out before this slice's arithmetic.
        var next = Staged();
        if (more) {
            next = load_slice(t, row0, col0, (s + 1u) * TILE_K);
        }
        // Apart from the multiply loop, which then holds no branch and no sums in registers.
        if (row_sums) {
            for (var p = 0u; p < TILE_K; p++) {
                let at = buffer + p * ROW_VEC4S;
                sums0 += a_tiles[at + lid.y];
                sums1 += a_tiles[at + 16u + lid.y];
            }
        }
        for (var p = 0u; p < TILE_K; p++) {
            let at = buffer + p * ROW_VEC4S;
            let a0 = a_tiles[at + lid.y];
            let a1 = a_tiles[at + 16u + lid.y];
            let b0 = b_tiles[at + lid.x];
            let b1 = b_tiles[at + 16u + lid.x];
            q00 = fma_quarter(q00, a0, b0);
            q01 = fma_quarter(q01, a0, b1);
            q10 = fma_quarter(q10, a1, b0);
            q11 = fma_quarter(q11, a1, b1);
        }
        // The other buffer was last read in the slice before this one, which every invocation
        // finished before the barrier that ended it.
        if (more) {
            store_slice(t, SLICE_VEC4S - buffer, next);
        }
        workgroupBarrier();
    }
    let row = row0 + lid.y * 4u;
    let col = col0 + lid.x * 4u;
    store_quarter(row, col, q00);
    store_quarter(row, col + 64u, q01);
    store_quarter(row + 64u, col, q10);
    store_quarter(row + 64u, col + 64u, q11);
    if (row_sums) {
        store_sums(row, sums0);
        store_sums(row + 64u, sums1);
    }
}
