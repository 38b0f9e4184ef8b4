//! Adds the reparameterization's gradient: grad_mu += grad_z, grad_logvar += grad_z*eps*exp(logvar/2)/2.

struct ReparameterizeBackwardParams {
    rows: u32,
    latent: u32,
    grad_z_offset: u32,
    stats_offset: u32,
    eps_offset: u32,
    grad_stats_offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ReparameterizeBackwardParams;
@group(0) @binding(2) var<storage, read> grad_z: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> eps: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_stats: array<f32>;

@compute @workgroup_size(256)
fn reparameterize_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.rows * params.latent) {
        return;
    }
    let r = i / params.latent;
    let j = i % params.latent;
    let mu_at = r * 2u * params.latent + j;
    let lv_at = mu_at + params.latent;
    let grad = reparameterize_grad(
        grad_z[params.grad_z_offset + i],
        eps[params.eps_offset + i],
        stats[params.stats_offset + lv_at],
    );
    grad_stats[params.grad_stats_offset + mu_at] += grad.x;
    grad_stats[params.grad_stats_offset + lv_at] += grad.y;
}
