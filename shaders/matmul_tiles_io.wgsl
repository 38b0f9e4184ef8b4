//! Bindings, bounded loads and stores shared by the workgroup-memory matrix kernels (the 64 and
//! 128 tiles); offsets count floats (snippet).

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;

// op(A)[r, p], 0 outside the matrix.
fn a_at(r: u32, p: u32) -> f32 {
    if (r >= params.m || p >= params.k) {
        return 0.0;
    }
    if (TRANS_A != 0u) {
        return a[params.a_offset + p * params.m + r];
    }
    return a[params.a_offset + r * params.k + p];
}

// op(B)[p, c], 0 outside the matrix.
fn b_at(p: u32, c: u32) -> f32 {
    if (p >= params.k || c >= params.n) {
        return 0.0;
    }
    if (TRANS_B != 0u) {
        return b[params.b_offset + c * params.k + p];
    }
    return b[params.b_offset + p * params.n + c];
}

// C[row, col] = value (+ the old value when accumulating, through the epilogue otherwise);
// nothing outside the matrix.
fn store(row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        let i = params.c_offset + row * params.n + col;
        if (ACCUMULATE != 0u) {
            c[i] += value;
        } else if (epilogue_in_store()) {
            c[i] = epilogue_of(value, bias[epilogue_index(row, col, params.n)]);
        } else {
            c[i] = value;
        }
    }
}

// Four columns of row `row` of C, from column `col`.
fn store_row(row: u32, col: u32, values: vec4<f32>) {
    store(row, col, values.x);
    store(row, col + 1u, values.y);
    store(row, col + 2u, values.z);
    store(row, col + 3u, values.w);
}

// The row sums of op(A) (EPILOGUE_ROW_SUMS) of rows row..row+3, those inside the matrix, at
// bias_offset in c's binding.
fn store_sums(row: u32, sums: vec4<f32>) {
    for (var i = 0u; i < 4u; i++) {
        if (row + i < params.m) {
            c[params.bias_offset + row + i] = sums[i];
        }
    }
}
