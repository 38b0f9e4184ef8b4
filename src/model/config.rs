//! The shape of a VAE: input size, hidden layers, latent size, activation, and the likelihood
//! p(x|z) its decoder parameterizes.

use std::collections::BTreeMap;

use crate::kernels::Activation;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
    pub input_dim: usize,
    /// Encoder hidden widths, input side first; the decoder mirrors them.
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub activation: Activation,
    /// Bernoulli when a state written before likelihoods existed does not say.
    #[serde(default)]
    pub likelihood: Likelihood,
}

/// The decoder's distribution of a pixel given z.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Likelihood {
    /// Bernoulli from logits (binary cross-entropy), on gray levels or binarized pixels.
    #[default]
    Bernoulli,
    /// Normal with mean the decoder's output and a fixed or learned per-pixel variance.
    Gaussian { sigma: Sigma },
    /// Continuous Bernoulli from logits: the normalized density on [0, 1].
    ContinuousBernoulli,
}

/// The Gaussian likelihood's standard deviation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sigma {
    Fixed(f32),
    /// log σ² per pixel, a parameter vector (`likelihood.logvar`), floored at σ = 1e-3.
    Learned,
}

/// The kinds of likelihood, for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LikelihoodKind {
    Bernoulli,
    Gaussian,
    ContinuousBernoulli,
}

impl Likelihood {
    pub fn new(kind: LikelihoodKind, sigma: Sigma) -> Self {
        match kind {
            LikelihoodKind::Bernoulli => Likelihood::Bernoulli,
            LikelihoodKind::Gaussian => Likelihood::Gaussian { sigma },
            LikelihoodKind::ContinuousBernoulli => Likelihood::ContinuousBernoulli,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Bernoulli => "bernoulli",
            Likelihood::Gaussian { .. } => "gaussian",
            Likelihood::ContinuousBernoulli => "continuous-bernoulli",
        }
    }

    /// What turns the decoder's output into the likelihood's mean, for pictures.
    pub fn mean_activation(self) -> Activation {
        match self {
            Likelihood::Bernoulli => Activation::Sigmoid,
            Likelihood::Gaussian { .. } => Activation::Identity,
            Likelihood::ContinuousBernoulli => Activation::ContinuousBernoulliMean,
        }
    }

    /// Whether the model carries a learned per-pixel log-variance.
    pub fn learns_variance(self) -> bool {
        matches!(
            self,
            Likelihood::Gaussian {
                sigma: Sigma::Learned
            }
        )
    }
}

impl Sigma {
    /// `0.1` or `learned`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "learned" => Ok(Sigma::Learned),
            number => number
                .parse::<f32>()
                .map(Sigma::Fixed)
                .map_err(|_| format!("{text:?}: expected a number or `learned`")),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Sigma::Fixed(sigma) => sigma.to_string(),
            Sigma::Learned => "learned".to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid model configuration: {0}")]
    Invalid(String),
    #[error("checkpoint metadata lacks {0:?}: not a vae-gpu checkpoint, which records its model's shape there")]
    Missing(&'static str),
    #[error("checkpoint metadata {key:?} = {value:?} is not valid")]
    BadValue { key: &'static str, value: String },
}

/// The most parameters a model may have: the kernels index with u32 and no device here holds
/// more in one buffer anyway.
pub const MAX_PARAMETERS: usize = 1 << 30;

impl VaeConfig {
    /// The canonical PyTorch example: 784-400-(20, 20) and 20-400-784, ReLU.
    pub fn mnist_default() -> Self {
        Self {
            input_dim: 784,
            hidden: vec![400],
            latent: 20,
            activation: Activation::Relu,
            likelihood: Likelihood::Bernoulli,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.input_dim == 0 {
            return bad("the input size is 0".into());
        }
        if self.latent == 0 {
            return bad("the latent size must be at least 1".into());
        }
        if let Likelihood::Gaussian {
            sigma: Sigma::Fixed(sigma),
        } = self.likelihood
        {
            if !(sigma.is_finite() && sigma >= 1e-3) {
                return bad(format!(
                    "--sigma {sigma}: the Gaussian's standard deviation must be at least 1e-3 (or `learned`)"
                ));
            }
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return bad(format!(
                "hidden layer {} has width 0; every width must be at least 1",
                i + 1
            ));
        }
        match self.checked_parameter_count() {
            Some(count) if count <= MAX_PARAMETERS => Ok(()),
            count => bad(format!(
                "{} has {} parameters; at most {MAX_PARAMETERS} ({} GiB of f32) are supported",
                self.describe(),
                count.map_or("more than 2^64".to_string(), |c| c.to_string()),
                (MAX_PARAMETERS * 4) >> 30
            )),
        }
    }

    /// Weights and biases of every layer, or `None` past `usize`: sizes from a file or the
    /// command line may be absurd, and must be refused before anything is allocated.
    fn checked_parameter_count(&self) -> Option<usize> {
        let head = self.latent.checked_mul(2)?;
        let mut widths = vec![self.input_dim];
        widths.extend(&self.hidden);
        let encoder = widths.windows(2).map(|w| (w[0], w[1]));
        let encoder = encoder.chain([(*widths.last()?, head)]);
        let mut back: Vec<usize> = vec![self.latent];
        back.extend(self.hidden.iter().rev());
        back.push(self.input_dim);
        let decoder = back.windows(2).map(|w| (w[0], w[1]));
        encoder
            .chain(decoder)
            .try_fold(self.input_dim, |sum, (inputs, outputs)| {
                let layer = inputs.checked_mul(outputs)?.checked_add(outputs)?;
                sum.checked_add(layer)
            })
    }

    /// "784-400-(20,20) / 20-400-784, relu"
    pub fn describe(&self) -> String {
        let widths = |v: &[usize]| {
            v.iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("-")
        };
        let mut enc = vec![self.input_dim];
        enc.extend(&self.hidden);
        let mut dec = vec![self.latent];
        dec.extend(self.hidden.iter().rev());
        dec.push(self.input_dim);
        let likelihood = match self.likelihood {
            Likelihood::Bernoulli => String::new(),
            Likelihood::Gaussian { sigma } => format!(", gaussian (sigma {})", sigma.describe()),
            Likelihood::ContinuousBernoulli => ", continuous bernoulli".to_string(),
        };
        format!(
            "{}-({l},{l}) / {}, {}{likelihood}",
            widths(&enc),
            widths(&dec),
            self.activation.name(),
            l = self.latent
        )
    }

    /// The config as safetensors metadata strings.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let hidden = self
            .hidden
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(",");
        BTreeMap::from([
            ("input_dim".to_string(), self.input_dim.to_string()),
            ("hidden".to_string(), hidden),
            ("latent".to_string(), self.latent.to_string()),
            ("activation".to_string(), self.activation.name().to_string()),
            ("likelihood".to_string(), self.likelihood.name().to_string()),
        ])
        .into_iter()
        .chain(match self.likelihood {
            Likelihood::Gaussian { sigma } => Some(("sigma".to_string(), sigma.describe())),
            _ => None,
        })
        .collect()
    }

    pub fn from_metadata(meta: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &'static str| meta.get(key).ok_or(ConfigError::Missing(key));
        let number = |key: &'static str| -> Result<usize, ConfigError> {
            let value = get(key)?;
            value.trim().parse().map_err(|_| ConfigError::BadValue {
                key,
                value: value.clone(),
            })
        };
        let hidden_text = get("hidden")?;
        let hidden = if hidden_text.trim().is_empty() {
            Vec::new()
        } else {
            hidden_text
                .split(',')
                .map(|h| h.trim().parse())
                .collect::<Result<Vec<usize>, _>>()
                .map_err(|_| ConfigError::BadValue {
                    key: "hidden",
                    value: hidden_text.clone(),
                })?
        };
        let act_text = get("activation")?;
        let activation = Activation::from_name(act_text).ok_or(ConfigError::BadValue {
            key: "activation",
            value: act_text.clone(),
        })?;
        let likelihood = match meta.get("likelihood").map(String::as_str) {
            None | Some("bernoulli") => Likelihood::Bernoulli,
            Some("continuous-bernoulli") => Likelihood::ContinuousBernoulli,
            Some("gaussian") => {
                let text = get("sigma")?;
                let sigma = Sigma::parse(text).map_err(|_| ConfigError::BadValue {
                    key: "sigma",
                    value: text.clone(),
                })?;
                Likelihood::Gaussian { sigma }
            }
            Some(other) => {
                return Err(ConfigError::BadValue {
                    key: "likelihood",
                    value: other.to_string(),
                })
            }
        };
        let config = Self {
            input_dim: number("input_dim")?,
            hidden,
            latent: number("latent")?,
            activation,
            likelihood,
        };
        config.validate()?;
        Ok(config)
    }
}
