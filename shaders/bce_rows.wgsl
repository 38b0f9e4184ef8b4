//! Bernoulli NLL from logits summed per row, max(l,0) - x*l + log1p(exp(-|l|)), and its gradient.

struct BceParams {
    rows: u32,
    cols: u32,
    write_grad: u32,
    logits_offset: u32,
    targets_offset: u32,
    grad_offset: u32,
    out_offset: u32,
    _pad0: u32,
}

const BCE_WORKGROUP: u32 = 64u;

@group(0) @binding(0) var<uniform> params: BceParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, BCE_WORKGROUP>;

// log(1 + t) without losing tiny t (WGSL has no log1p): log(u) * t / (u - 1) with u = 1 + t
// corrects the rounding of u.
fn log1p_small(t: f32) -> f32 {
    let u = 1.0 + t;
    if (u == 1.0) {
        return t;
    }
    return log(u) * t / (u - 1.0);
}

// One workgroup per row: a strided pass over the columns, then a tree over the workgroup.
@compute @workgroup_size(BCE_WORKGROUP)
fn bce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.x;
    var sum = 0.0;
    for (var j = lid; j < params.cols; j += BCE_WORKGROUP) {
        let i = r * params.cols + j;
        let l = logits[params.logits_offset + i];
        let x = targets[params.targets_offset + i];
        sum += max(l, 0.0) - x * l + log1p_small(exp(-abs(l)));
        if (params.write_grad != 0u) {
            let p = select(exp(l) / (1.0 + exp(l)), 1.0 / (1.0 + exp(-l)), l >= 0.0);
            grad[params.grad_offset + i] = frame.grad_scale * (p - x);
        }
    }
    partial[lid] = sum;
    workgroupBarrier();
    for (var half = BCE_WORKGROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[params.out_offset + r] = partial[0];
    }
}
