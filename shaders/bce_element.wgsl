//! One element of the per-row Bernoulli (or continuous Bernoulli) loss, shared by bce_rows.wgsl
//! and bce_rows_vec4.wgsl so that both compute the same terms (snippet).

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

// 1: the continuous Bernoulli (specialized at pipeline creation: plain BCE pays nothing for it).
override NORMALIZED: u32 = 0u;

// (-log p(x | logit l), its slope in l), without frame.grad_scale.
fn bce_element(l: f32, x: f32) -> vec2<f32> {
    let e = exp(-abs(l));
    var nll = bce_term(l, x, e);
    var slope = sigmoid_of(l, e) - x;
    if (NORMALIZED != 0u) {
        nll -= cb_log_normalizer(l);
        slope -= cb_log_normalizer_slope(l);
    }
    return vec2<f32>(nll, slope);
}
