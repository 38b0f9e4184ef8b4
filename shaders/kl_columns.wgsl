//! out[j] = sum over rows of 1/2 (mu^2 + exp(logvar) - 1 - logvar) for latent dimension j: the
//! batch's KL per dimension, which free bits compare with their floor.

struct KlColumnsParams {
    rows: u32,
    latent: u32,
    stats_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<uniform> params: KlColumnsParams;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// One invocation per latent dimension (tens of them), looping over the rows.
@compute @workgroup_size(64)
fn kl_columns(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= params.latent) {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        let base = params.stats_offset + r * 2u * params.latent;
        let mu = stats[base + j];
        let logvar = stats[base + params.latent + j];
        sum += kl_term(mu, logvar);
    }
    out[params.out_offset + j] = sum;
}
