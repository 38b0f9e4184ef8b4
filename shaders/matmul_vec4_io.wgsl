//! Bindings and row stores shared by the vec4-loading matrix kernels; offsets count vec4s (snippet).

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<vec4<f32>>;

// The bias of EPILOGUE_BIAS_ACT at vec4 column `col4` (clamped into the row), zero for the
// other epilogues: loaded once for every row an invocation stores, not once per row (a load is a
// loop over the SIMD lanes on lavapipe, and the stores of a short k loop are much of a product).
fn column_bias(col4: u32) -> vec4<f32> {
    if (EPILOGUE != EPILOGUE_BIAS_ACT) {
        return vec4<f32>();
    }
    return bias[params.bias_offset + min(col4, params.n / 4u - 1u)];
}

// Stores row `row` of a block at vec4 column `col4` (adding the old value when accumulating;
// `bias4` is `column_bias(col4)`); rows past m and columns past n are not stored. Kernels write
// one call per row: a store loop over a dynamic index, or the accumulators passed by pointer,
// keeps them out of registers on lavapipe (1.4x slower).
fn store_row(value: vec4<f32>, row: u32, col4: u32, bias4: vec4<f32>) {
    let n4 = params.n / 4u;
    if (row < params.m && col4 < n4) {
        let at = params.c_offset + row * n4 + col4;
        if (ACCUMULATE != 0u) {
            c[at] = value + c[at];
        } else if (EPILOGUE == EPILOGUE_SLOPE) {
            c[at] = value * slope4(bias[epilogue_index(row, col4, n4)], ACT);
        } else if (EPILOGUE == EPILOGUE_BIAS_ACT) {
            c[at] = activate4(value + bias4, ACT);
        } else {
            c[at] = value;
        }
    }
}

// vec4 index of row `row`, clamped into [0, m) so that edge blocks read valid memory (their extra
// rows are never stored), of a row-major matrix of `width4` vec4s per row.
fn clamped_row(offset: u32, row: u32, width4: u32) -> u32 {
    return offset + min(row, params.m - 1u) * width4;
}
