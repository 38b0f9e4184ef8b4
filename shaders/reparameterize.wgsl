//! z = mu + exp(logvar/2) * eps, eps ~ N(0, 1) drawn here from Philox; eps is kept for the backward.

struct ReparameterizeParams {
    rows: u32,
    latent: u32,
    stream: u32,
    sample: u32,
    stats_offset: u32,
    z_offset: u32,
    eps_offset: u32,
    repeat: u32,
}

@group(0) @binding(0) var<uniform> params: ReparameterizeParams;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> eps: array<f32>;

@compute @workgroup_size(256)
fn reparameterize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.rows * params.latent) {
        return;
    }
    // Row r of z draws from row r / repeat of the statistics (several draws per image).
    let r = i / params.latent / params.repeat;
    let j = i % params.latent;
    let mu = stats[params.stats_offset + r * 2u * params.latent + j];
    let logvar = stats[params.stats_offset + r * 2u * params.latent + params.latent + j];
    var e = 0.0;
    if (params.sample != 0u) {
        e = philox_normal(frame_key(), i, frame.step, params.stream);
    }
    eps[params.eps_offset + i] = e;
    z[params.z_offset + i] = mu + exp(0.5 * logvar) * e;
}
