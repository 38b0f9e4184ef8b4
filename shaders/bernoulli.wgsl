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

// -log p(x | logit l) = max(l, 0) - x l + log1p(e), given e = exp(-|l|).
fn bce_term(l: f32, x: f32, e: f32) -> f32 {
    return max(l, 0.0) - x * l + log1p_small(e);
}

// sigmoid(l) without overflow on either side, given e = exp(-|l|): exp(l) / (1 + exp(l)) below
// 0 and 1 / (1 + exp(-l)) above, from the one exponential both need (a select evaluates both
// sides, so two exp calls would cost two on every element).
fn sigmoid_of(l: f32, e: f32) -> f32 {
    return select(e / (1.0 + e), 1.0 / (1.0 + e), l >= 0.0);
}
