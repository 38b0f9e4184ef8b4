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

// GPUs: TREE_COLUMNS columns per workgroup, TREE_LANES invocations on each, every one summing
// every TREE_LANES-th row, then one adds the lanes' partial sums from workgroup memory. One
// invocation per column leaves a big GPU nearly idle on a batch's few hundred columns, each
// waiting out its rows one load after another.
const TREE_COLUMNS: u32 = 32u;
const TREE_LANES: u32 = 8u;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(32, 8, 1)
fn column_sum_tree(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = wid.x * TREE_COLUMNS + lid.x;
    var sum = 0.0;
    if (j < params.cols) {
        for (var r = lid.y; r < params.rows; r += TREE_LANES) {
            sum += x[params.x_offset + r * params.cols + j];
        }
    }
    partial[lid.y * TREE_COLUMNS + lid.x] = sum;
    workgroupBarrier();
    if (lid.y == 0u && j < params.cols) {
        var total = 0.0;
        for (var i = 0u; i < TREE_LANES; i++) {
            total += partial[i * TREE_COLUMNS + lid.x];
        }
        out[params.out_offset + j] = total;
    }
}
