//! The KL of one latent dimension to N(0, 1), written without cancellation, and the gradients of
//! the latent layer in (mu, logvar): the KL's and the reparameterization's (snippet).

// exp(x) - 1 - x: near 0, where exp(x) - 1 - x cancels to nothing in f32, a Taylor series to x^9
// (relative error below 1e-7 for |x| < 0.5); beyond, the direct formula loses little.
fn exp_minus_1_minus(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        let tail = 1.0 / 5040.0 + x * (1.0 / 40320.0 + x * (1.0 / 362880.0));
        return x * x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * tail)))));
    }
    return exp(x) - 1.0 - x;
}

// KL(N(mu, exp(logvar)) || N(0, 1)) = (mu^2 + exp(logvar) - 1 - logvar) / 2.
fn kl_term(mu: f32, logvar: f32) -> f32 {
    return 0.5 * (mu * mu + exp_minus_1_minus(logvar));
}

// The KL's gradient in (mu, logvar), times s: (s mu, s (exp(logvar) - 1) / 2), exp(logvar) - 1
// as logvar + (exp(logvar) - 1 - logvar), without cancellation near 0.
fn kl_grad(mu: f32, logvar: f32, s: f32) -> vec2<f32> {
    return vec2<f32>(s * mu, s * 0.5 * (logvar + exp_minus_1_minus(logvar)));
}

// The gradient that flows to (mu, logvar) through z = mu + exp(logvar/2) * eps from grad_z = g.
fn reparameterize_grad(g: f32, eps: f32, logvar: f32) -> vec2<f32> {
    return vec2<f32>(g, g * eps * 0.5 * exp(0.5 * logvar));
}
