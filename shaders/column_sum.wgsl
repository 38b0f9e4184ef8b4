//! out[j] = sum over rows of x[r, j]: the bias gradient of a dense layer.

struct ColumnSumParams {
    rows: u32,
    cols: u32,
    x_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<uniform> params: ColumnSumParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// One invocation per column: adjacent invocations read adjacent addresses on every row.
@compute @workgroup_size(64)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= params.cols) {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        sum += x[params.x_offset + r * params.cols + j];
    }
    out[params.out_offset + j] = sum;
}
