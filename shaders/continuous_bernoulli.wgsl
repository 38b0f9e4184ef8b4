//! The continuous Bernoulli of logit eta (Loaiza-Ganem & Cunningham 2019): its log normalizer
//! log C(eta) = log(eta / tanh(eta / 2)), that function's slope, and the mean, each from a series
//! near eta = 0 where the closed forms divide 0 by 0 (snippet).

const CB_SERIES_BELOW: f32 = 0.7;

// log C = log 2 + eta^2/12 - 7 eta^4/1440 + 31 eta^6/90720 near 0; log|eta| - log tanh(|eta|/2)
// elsewhere (finite for any eta: tanh goes to 1, not past it).
fn cb_log_normalizer(eta: f32) -> f32 {
    let a = abs(eta);
    if (a < CB_SERIES_BELOW) {
        let e2 = eta * eta;
        return 0.6931472 + e2 * (1.0 / 12.0 + e2 * (-7.0 / 1440.0 + e2 * (31.0 / 90720.0)));
    }
    return log(a) - log(tanh(0.5 * a));
}

// d log C / d eta = 1/eta - 1/sinh(eta): eta/6 - 7 eta^3/360 + 31 eta^5/15120 - 127 eta^7/604800
// + 73 eta^9/3421440 near 0.
fn cb_log_normalizer_slope(eta: f32) -> f32 {
    if (abs(eta) < CB_SERIES_BELOW) {
        let e2 = eta * eta;
        return eta * (1.0 / 6.0 + e2 * (-7.0 / 360.0 + e2 * (31.0 / 15120.0 + e2 * (-127.0 / 604800.0 + e2 * (73.0 / 3421440.0)))));
    }
    // sinh overflows to inf past |eta| = 89, where 1/sinh is 0 anyway.
    return 1.0 / eta - 1.0 / sinh(eta);
}

// E[x] = 1/(1 - exp(-eta)) - 1/eta: 1/2 + eta/12 - eta^3/720 + eta^5/30240 - eta^7/1209600 near 0.
fn cb_mean(eta: f32) -> f32 {
    if (abs(eta) < CB_SERIES_BELOW) {
        let e2 = eta * eta;
        return 0.5 + eta * (1.0 / 12.0 + e2 * (-1.0 / 720.0 + e2 * (1.0 / 30240.0 + e2 * (-1.0 / 1209600.0))));
    }
    return 1.0 / (1.0 - exp(-eta)) - 1.0 / eta;
}
