//! Continuous Bernoulli negative log-likelihood from logits summed per row,
//! sum_j bce(eta, x) - log C(eta), and its gradient sigmoid(eta) - x - d log C / d eta.

struct ContinuousBernoulliParams {
    rows: u32,
    cols: u32,
    write_grad: u32,
    logits_offset: u32,
    targets_offset: u32,
    grad_offset: u32,
    out_offset: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: ContinuousBernoulliParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(ROW_WORKGROUP)
fn continuous_bernoulli_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.x;
    var sum = 0.0;
    for (var j = lid; j < params.cols; j += ROW_WORKGROUP) {
        let i = r * params.cols + j;
        let eta = logits[params.logits_offset + i];
        let x = targets[params.targets_offset + i];
        sum += bce_term(eta, x) - cb_log_normalizer(eta);
        if (params.write_grad != 0u) {
            grad[params.grad_offset + i] = frame.grad_scale * (sigmoid_of(eta) - x - cb_log_normalizer_slope(eta));
        }
    }
    let total = workgroup_sum(lid, sum);
    if (lid == 0u) {
        out[params.out_offset + r] = total;
    }
}
