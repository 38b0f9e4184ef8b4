//! Activations of a dense layer: the codes `shaders/activation.wgsl` switches on, and the CPU twin
//! of its formulas (the forward, and the slope written in terms of the output). NaN goes through
//! every activation, so that a diverging run shows as NaN instead of being clipped to 0.

/// Activation of a dense layer. The codes are the WGSL constants of `shaders/activation.wgsl`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    // No activation (the heads and output layers); not offered on the command line.
    #[value(skip)]
    Identity,
    Relu,
    LeakyRelu,
    Tanh,
    Sigmoid,
    // The mean of a continuous Bernoulli of this logit: the pictures of such a model. Output only
    // (its slope is 0: nothing trains through it); not offered on the command line.
    #[value(skip)]
    ContinuousBernoulliMean,
}

/// Slope of leaky ReLU for negative inputs (PyTorch's default).
pub const LEAKY_RELU_SLOPE: f32 = 0.01;

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::ContinuousBernoulliMean,
    ];

    /// The `ACT_*` constant of shaders/activation.wgsl.
    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::LeakyRelu => 2,
            Activation::Tanh => 3,
            Activation::Sigmoid => 4,
            Activation::ContinuousBernoulliMean => 5,
        }
    }

    /// The name on the command line and in checkpoint metadata.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky-relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::ContinuousBernoulliMean => "continuous-bernoulli-mean",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

pub fn activate(v: f64, act: Activation) -> f64 {
    match act {
        Activation::Identity => v,
        // Written so that NaN is passed on (`f64::max` would return 0).
        Activation::Relu => {
            if v <= 0.0 {
                0.0
            } else {
                v
            }
        }
        Activation::LeakyRelu => {
            if v > 0.0 {
                v
            } else {
                f64::from(LEAKY_RELU_SLOPE) * v
            }
        }
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => sigmoid(v),
        Activation::ContinuousBernoulliMean => super::continuous_bernoulli::mean(v),
    }
}

/// The derivative act'(v) written in terms of the output y = act(v), so the backward pass needs
/// only the stored output.
pub fn slope_from_output(y: f64, act: Activation) -> f64 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu => {
            if y > 0.0 {
                1.0
            } else {
                f64::from(LEAKY_RELU_SLOPE)
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        Activation::ContinuousBernoulliMean => 0.0,
    }
}

/// 1 / (1 + e^-v) without overflow on either side.
pub fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn command_line_names_are_the_metadata_names() {
        for act in Activation::value_variants() {
            let value = act.to_possible_value().unwrap();
            assert_eq!(value.get_name(), act.name());
            assert_eq!(Activation::from_name(act.name()), Some(*act));
        }
        assert_eq!(
            Activation::from_name("identity"),
            Some(Activation::Identity)
        );
    }

    #[test]
    fn every_activation_passes_nan_on() {
        for act in Activation::ALL {
            assert!(activate(f64::NAN, act).is_nan(), "{act:?}");
        }
    }
}
