//! lw[r] = -nll[r] - 1/2 sum_j (z^2 - eps^2 - logvar_j): the log importance weight
//! log p(x|z) + log p(z) - log q(z|x) of each draw, the statistics row r / repeat.

struct LogWeightsParams {
    rows: u32,
    latent: u32,
    repeat: u32,
    nll_offset: u32,
    z_offset: u32,
    eps_offset: u32,
    stats_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<uniform> params: LogWeightsParams;
@group(0) @binding(2) var<storage, read> nll: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read> eps: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn log_weights(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= params.rows) {
        return;
    }
    let image = r / params.repeat;
    var sum = 0.0;
    for (var j = 0u; j < params.latent; j++) {
        let zj = z[params.z_offset + r * params.latent + j];
        let ej = eps[params.eps_offset + r * params.latent + j];
        let logvar = stats[params.stats_offset + image * 2u * params.latent + params.latent + j];
        sum += zj * zj - ej * ej - logvar;
    }
    out[params.out_offset + r] = -nll[params.nll_offset + r] - 0.5 * sum;
}
