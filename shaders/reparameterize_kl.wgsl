//! reparameterize and kl_rows in one pass over the statistics, one invocation per row:
//! z = mu + exp(logvar/2) * eps with eps ~ N(0, 1) drawn from Philox at (element, frame.step,
//! stream) and kept for the backward (eps = 0 and z = mu without `sample`), and
//! kl[r] = 1/2 sum_j (mu^2 + exp(logvar) - 1 - logvar). The same values, bit for bit, as the two
//! kernels apart: the same draws, and the KL summed over j in the same order.

struct ReparameterizeKlParams {
    rows: u32,
    latent: u32,
    stream: u32,
    sample: u32,
    stats_offset: u32,
    z_offset: u32,
    eps_offset: u32,
    kl_offset: u32,
}

@group(0) @binding(0) var<uniform> params: ReparameterizeKlParams;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> eps: array<f32>;
@group(0) @binding(5) var<storage, read_write> kl: array<f32>;

@compute @workgroup_size(64)
fn reparameterize_kl(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= params.rows) {
        return;
    }
    let base = params.stats_offset + r * 2u * params.latent;
    var sum = 0.0;
    for (var j = 0u; j < params.latent; j++) {
        let i = r * params.latent + j;
        let mu = stats[base + j];
        let logvar = stats[base + params.latent + j];
        var e = 0.0;
        if (params.sample != 0u) {
            e = philox_normal(frame_key(), i, frame.step, params.stream);
        }
        eps[params.eps_offset + i] = e;
        z[params.z_offset + i] = mu + exp(0.5 * logvar) * e;
        sum += kl_term(mu, logvar);
    }
    kl[params.kl_offset + r] = sum;
}
