//! out[r] = 1/2 sum_j (mu^2 + exp(logvar) - 1 - logvar): the KL of each row's q(z|x) to N(0, I), from the cancellation-free kl_term.

struct KlParams {
    rows: u32,
    latent: u32,
    stats_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<uniform> params: KlParams;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// One invocation per row: the latent size is small (tens), the reduction over rows follows in
// sum_into.
@compute @workgroup_size(64)
fn kl_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= params.rows) {
        return;
    }
    let base = params.stats_offset + r * 2u * params.latent;
    var sum = 0.0;
    for (var j = 0u; j < params.latent; j++) {
        let mu = stats[base + j];
        let logvar = stats[base + params.latent + j];
        sum += kl_term(mu, logvar);
    }
    out[params.out_offset + r] = sum;
}
