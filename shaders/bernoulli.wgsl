//! The Bernoulli likelihood from logits, term by term, stable for any logit (snippet).

// log(1 + t) without losing tiny t (WGSL has no log1p): log(u) * t / (u - 1) with u = 1 + t
// corrects the rounding of u.
fn log1p_small(t: f32) -> f32 {
    let u = 1.0 + t;
    if (u == 1.0) {
        return t;
    }
    return log(u) * t / (u - 1.0);
}

// -log p(x | logit l) = max(l, 0) - x l + log1p(exp(-|l|)).
fn bce_term(l: f32, x: f32) -> f32 {
    return max(l, 0.0) - x * l + log1p_small(exp(-abs(l)));
}

// sigmoid(l) without overflow on either side.
fn sigmoid_of(l: f32) -> f32 {
    return select(exp(l) / (1.0 + exp(l)), 1.0 / (1.0 + exp(-l)), l >= 0.0);
}
