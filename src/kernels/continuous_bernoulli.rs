//! The continuous Bernoulli of logit η (Loaiza-Ganem & Cunningham, NeurIPS 2019), the CPU twin of
//! `shaders/continuous_bernoulli.wgsl`: its log normalizer log C(η) = log(η / tanh(η/2)), that
//! function's slope 1/η − 1/sinh η, and its mean 1/(1 − e^−η) − 1/η (not sigmoid(η)). In f64,
//! from series below |η| = 0.1 where the closed forms divide 0 by 0.

const SERIES_BELOW: f64 = 0.1;

pub fn log_normalizer(eta: f64) -> f64 {
    let a = eta.abs();
    if a < SERIES_BELOW {
        let e2 = eta * eta;
        return std::f64::consts::LN_2
            + e2 * (1.0 / 12.0 + e2 * (-7.0 / 1440.0 + e2 * (31.0 / 90720.0)));
    }
    // tanh(a/2) = (1 − e^−a)/(1 + e^−a), without tanh rounding to 1 too early.
    let t = (-a).exp();
    a.ln() - (-t).ln_1p() + t.ln_1p()
}

pub fn log_normalizer_slope(eta: f64) -> f64 {
    if eta.abs() < SERIES_BELOW {
        let e2 = eta * eta;
        return eta * (1.0 / 6.0 + e2 * (-7.0 / 360.0 + e2 * (31.0 / 15120.0)));
    }
    1.0 / eta - 1.0 / eta.sinh()
}

pub fn mean(eta: f64) -> f64 {
    if eta.abs() < SERIES_BELOW {
        let e2 = eta * eta;
        return 0.5 + eta * (1.0 / 12.0 + e2 * (-1.0 / 720.0 + e2 * (1.0 / 30240.0)));
    }
    -1.0 / (-eta).exp_m1() - 1.0 / eta
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C(η) = 1/∫₀¹ λ^x (1 − λ)^(1−x) dx, λ = sigmoid(η), by Simpson's rule; and the mean
    /// ∫ x p(x) dx the same way: a check of the closed forms that does not use them.
    fn by_quadrature(eta: f64) -> (f64, f64) {
        let lambda = 1.0 / (1.0 + (-eta).exp());
        let n = 20_000;
        let h = 1.0 / n as f64;
        let (mut mass, mut first) = (0.0, 0.0);
        for i in 0..=n {
            let x = i as f64 * h;
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let density = (x * lambda.ln() + (1.0 - x) * (1.0 - lambda).ln()).exp();
            mass += w * density;
            first += w * x * density;
        }
        mass *= h / 3.0;
        first *= h / 3.0;
        (-mass.ln(), first / mass)
    }

    #[test]
    fn closed_forms_match_quadrature_across_logits() {
        for eta in [
            -20.0f64, -3.0, -0.5, -0.05, -1e-4, 1e-6, 0.09, 0.11, 0.7, 2.0, 15.0,
        ] {
            let (log_c, mean_x) = by_quadrature(eta);
            assert!((log_normalizer(eta) - log_c).abs() < 1e-8, "log C({eta})");
            assert!((mean(eta) - mean_x).abs() < 1e-8, "mean({eta})");
        }
    }

    #[test]
    fn the_slope_is_the_derivative_of_the_log_normalizer() {
        for eta in [-40.0f64, -2.0, -0.3, -0.099, 1e-5, 0.05, 0.101, 1.0, 35.0] {
            let h = 1e-5 * (1.0f64).max(eta.abs());
            let numeric = (log_normalizer(eta + h) - log_normalizer(eta - h)) / (2.0 * h);
            let slope = log_normalizer_slope(eta);
            assert!(
                (slope - numeric).abs() < 1e-7,
                "slope at {eta}: {slope} vs {numeric}"
            );
        }
    }

    #[test]
    fn the_normalizer_stays_finite_for_large_logits() {
        for eta in [-1e4f64, -100.0, 100.0, 1e4] {
            assert!(log_normalizer(eta).is_finite());
            assert!((log_normalizer(eta) - eta.abs().ln()).abs() < 1e-12);
            assert!(mean(eta).is_finite() && (0.0..=1.0).contains(&mean(eta)));
        }
    }
}
