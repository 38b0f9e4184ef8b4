//! C = op(A) * op(B) (+ C) for any shapes and transposes, scalar loads: the fallback when vec4 loads do not fit.

// Each invocation owns a BLOCK x BLOCK tile of C; a workgroup is 8 x 8 invocations.
const BLOCK: u32 = 4u;

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;

fn load_a(i: u32, p: u32) -> f32 {
    if (TRANS_A != 0u) {
        return a[params.a_offset + p * params.m + i];
    }
    return a[params.a_offset + i * params.k + p];
}

fn load_b(p: u32, j: u32) -> f32 {
    if (TRANS_B != 0u) {
        return b[params.b_offset + j * params.k + p];
    }
    return b[params.b_offset + p * params.n + j];
}

@compute @workgroup_size(8, 8)
fn matmul_scalar(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * BLOCK;
    let col0 = gid.x * BLOCK;
    if (row0 >= params.m || col0 >= params.n) {
        return;
    }
    // Edge tiles load clamped rows/columns (valid memory) and never store them.
    var rows: array<u32, BLOCK>;
    var cols: array<u32, BLOCK>;
    for (var t = 0u; t < BLOCK; t++) {
        rows[t] = min(row0 + t, params.m - 1u);
        cols[t] = min(col0 + t, params.n - 1u);
    }
    var acc: array<array<f32, BLOCK>, BLOCK>;
    // The row sums of op(A) (EPILOGUE_ROW_SUMS), from the first column of blocks' loads.
    let row_sums = EPILOGUE == EPILOGUE_ROW_SUMS && gid.x == 0u;
    var sums: array<f32, BLOCK>;
    for (var p = 0u; p < params.k; p++) {
        var av: array<f32, BLOCK>;
        var bv: array<f32, BLOCK>;
        for (var t = 0u; t < BLOCK; t++) {
            av[t] = load_a(rows[t], p);
            bv[t] = load_b(p, cols[t]);
        }
        if (row_sums) {
            for (var t = 0u; t < BLOCK; t++) {
                sums[t] += av[t];
            }
        }
        for (var i = 0u; i < BLOCK; i++) {
            for (var j = 0u; j < BLOCK; j++) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    for (var i = 0u; i < BLOCK; i++) {
        for (var j = 0u; j < BLOCK; j++) {
            if (row0 + i < params.m && col0 + j < params.n) {
                let at = params.c_offset + (row0 + i) * params.n + col0 + j;
                var value = acc[i][j];
                if (ACCUMULATE != 0u) {
                    value += c[at];
                } else if (epilogue_in_store()) {
                    value = epilogue_of(value, bias[epilogue_index(row0 + i, col0 + j, params.n)]);
                }
                c[at] = value;
            }
        }
    }
    if (row_sums) {
        for (var t = 0u; t < BLOCK; t++) {
            if (row0 + t < params.m) {
                c[params.bias_offset + row0 + t] = sums[t];
            }
        }
    }
}
