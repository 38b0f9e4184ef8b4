//! kl_backward and reparameterize_backward in one pass: the gradient of [mu | logvar] from the KL
//! (scaled by s = kl_weight * grad_scale; 0 in a dimension below its free bits) plus the one that
//! flows back through z = mu + exp(logvar/2) * eps:
//! grad_mu = s*mu + grad_z, grad_logvar = s*(exp(logvar) - 1)/2 + grad_z*eps*exp(logvar/2)/2.

struct KlReparameterizeBackwardParams {
    rows: u32,
    latent: u32,
    stats_offset: u32,
    grad_z_offset: u32,
    eps_offset: u32,
    grad_offset: u32,
    free_bits: u32,
    column_kl_offset: u32,
}

@group(0) @binding(0) var<uniform> params: KlReparameterizeBackwardParams;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> grad_z: array<f32>;
@group(0) @binding(4) var<storage, read> eps: array<f32>;
@group(0) @binding(5) var<storage, read> column_kl: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_stats: array<f32>;

@compute @workgroup_size(256)
fn kl_reparameterize_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.rows * params.latent) {
        return;
    }
    let r = i / params.latent;
    let j = i % params.latent;
    let mu_at = r * 2u * params.latent + j;
    let lv_at = mu_at + params.latent;
    var scale = frame.kl_weight * frame.grad_scale;
    // Free bits: a dimension whose KL over the batch is below its floor gets no KL gradient.
    if (params.free_bits != 0u && column_kl[params.column_kl_offset + j] < frame.free_bits * f32(params.rows)) {
        scale = 0.0;
    }
    let logvar = stats[params.stats_offset + lv_at];
    // The unfused pair's sum: kl_backward's value, then reparameterize_backward's added.
    let grad = kl_grad(stats[params.stats_offset + mu_at], logvar, scale)
        + reparameterize_grad(grad_z[params.grad_z_offset + i], eps[params.eps_offset + i], logvar);
    grad_stats[params.grad_offset + mu_at] = grad.x;
    grad_stats[params.grad_offset + lv_at] = grad.y;
}
