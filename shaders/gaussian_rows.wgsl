//! Gaussian negative log-likelihood summed per row, 1/2 sum_j ((x - mu)^2 / s2 + log s2 + log 2 pi)
//! with log s2 per pixel (learned) or fixed, floored at LOGVAR_FLOOR; and its gradients.

struct GaussianParams {
    rows: u32,
    cols: u32,
    write_grad: u32,
    learned: u32,
    // log sigma^2 as f32 bits, when it is not learned.
    fixed_logvar_bits: u32,
    mean_offset: u32,
    targets_offset: u32,
    logvar_offset: u32,
    grad_offset: u32,
    grad_logvar_offset: u32,
    out_offset: u32,
    _pad0: u32,
}

const LOG_2PI: f32 = 1.8378770664093453;
// sigma >= 1e-3, so that the density stays bounded.
const LOGVAR_FLOOR: f32 = -13.815511;

@group(0) @binding(0) var<uniform> params: GaussianParams;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read> logvar: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_logvar: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(ROW_LANES)
fn gaussian_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.x;
    var sum = 0.0;
    for (var j = lid; j < params.cols; j += ROW_LANES) {
        let i = r * params.cols + j;
        let mu = mean[params.mean_offset + i];
        let x = targets[params.targets_offset + i];
        var raw = bitcast<f32>(params.fixed_logvar_bits);
        if (params.learned != 0u) {
            raw = logvar[params.logvar_offset + j];
        }
        let lv = max(raw, LOGVAR_FLOOR);
        let inv_var = exp(-lv);
        let d = x - mu;
        sum += 0.5 * (d * d * inv_var + lv + LOG_2PI);
        if (params.write_grad != 0u) {
            grad[params.grad_offset + i] = frame.grad_scale * (mu - x) * inv_var;
            if (params.learned != 0u) {
                // No gradient below the floor, where log s2 does not act.
                let slope = select(0.0, 1.0, raw > LOGVAR_FLOOR);
                grad_logvar[params.grad_logvar_offset + i] = frame.grad_scale * 0.5 * (1.0 - d * d * inv_var) * slope;
            }
        }
    }
    let total = workgroup_sum(lid, sum);
    if (lid == 0u) {
        out[params.out_offset + r] = total;
    }
}
