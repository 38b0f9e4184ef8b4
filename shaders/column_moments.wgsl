//! out[j] (+)= sum over rows of x[r, j], out[cols + j] (+)= sum of x[r, j]^2, rows `stride` apart:
//! the running moments of the posterior means that count active latent units.

struct ColumnMomentsParams {
    rows: u32,
    cols: u32,
    stride: u32,
    accumulate: u32,
    x_offset: u32,
    out_offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ColumnMomentsParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn column_moments(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= params.cols) {
        return;
    }
    var sum = 0.0;
    var squares = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        let v = x[params.x_offset + r * params.stride + j];
        sum += v;
        squares += v * v;
    }
    let at = params.out_offset + j;
    if (params.accumulate != 0u) {
        sum += out[at];
        squares += out[at + params.cols];
    }
    out[at] = sum;
    out[at + params.cols] = squares;
}
