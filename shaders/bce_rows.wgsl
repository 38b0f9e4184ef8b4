//! Bernoulli NLL from logits summed per row, max(l,0) - x*l + log1p(exp(-|l|)), and its gradient
//! sigmoid(l) - x; specialized with NORMALIZED, the continuous Bernoulli's: minus its log
//! normalizer log C(l), and minus d log C / dl in the gradient (bce_element.wgsl). Any offsets;
//! bce_rows_vec4.wgsl reads four columns at a time where they allow.

@group(0) @binding(0) var<uniform> params: BceParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// One workgroup per row: a strided pass over the columns, then a tree over the workgroup.
@compute @workgroup_size(ROW_LANES)
fn bce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.x;
    var sum = 0.0;
    for (var j = lid; j < params.cols; j += ROW_LANES) {
        let i = r * params.cols + j;
        let term = bce_element(logits[params.logits_offset + i], targets[params.targets_offset + i]);
        sum += term.x;
        if (params.write_grad != 0u) {
            grad[params.grad_offset + i] = frame.grad_scale * term.y;
        }
    }
    let total = workgroup_sum(lid, sum);
    if (lid == 0u) {
        out[params.out_offset + r] = total;
    }
}
