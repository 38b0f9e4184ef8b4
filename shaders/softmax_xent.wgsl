//! Softmax over each row of logits; with labels, the cross-entropy -log softmax(l)[y] per row, and
//! its gradient grad_scale * (softmax(l) - onehot(y)). Labels are read at frame.batch_start + r,
//! as gather reads its permutation, so one label buffer in batch order serves every step.

struct SoftmaxParams {
    rows: u32,
    classes: u32,
    with_labels: u32,
    write_grad: u32,
    logits_offset: u32,
    labels_offset: u32,
    probs_offset: u32,
    loss_offset: u32,
    grad_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: SoftmaxParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;

// One invocation per row: a classifier has tens of classes.
@compute @workgroup_size(64)
fn softmax_xent(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= params.rows) {
        return;
    }
    let base = params.logits_offset + r * params.classes;
    var m = logits[base];
    for (var j = 1u; j < params.classes; j++) {
        m = max(m, logits[base + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < params.classes; j++) {
        sum += exp(logits[base + j] - m);
    }
    // No class matches a label out of range: its loss is NaN, so it cannot pass unseen.
    var label = params.classes;
    if (params.with_labels != 0u) {
        label = labels[params.labels_offset + frame.batch_start + r];
        var nll = bitcast<f32>(0x7fc00000u);
        if (label < params.classes) {
            // (m - l_y) + log(sum), not (m + log(sum)) - l_y: no cancellation when l_y is the max.
            nll = (m - logits[base + label]) + log(sum);
        }
        loss[params.loss_offset + r] = nll;
    }
    let out = r * params.classes;
    for (var j = 0u; j < params.classes; j++) {
        let p = exp(logits[base + j] - m) / sum;
        probs[params.probs_offset + out + j] = p;
        if (params.write_grad != 0u) {
            grad[params.grad_offset + out + j] = frame.grad_scale * (p - select(0.0, 1.0, j == label));
        }
    }
}
