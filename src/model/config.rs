//! The shape of a VAE: input size, hidden layers, latent size, activation.

use std::collections::BTreeMap;

use crate::kernels::Activation;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaeConfig {
    pub input_dim: usize,
    /// Encoder hidden widths, input side first; the decoder mirrors them.
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub activation: Activation,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid model configuration: {0}")]
    Invalid(String),
    #[error("checkpoint metadata lacks {0:?}")]
    Missing(&'static str),
    #[error("checkpoint metadata {key:?} = {value:?} is not valid")]
    BadValue { key: &'static str, value: String },
}

impl VaeConfig {
    /// The canonical PyTorch example: 784-400-(20, 20) and 20-400-784, ReLU.
    pub fn mnist_default() -> Self {
        Self {
            input_dim: 784,
            hidden: vec![400],
            latent: 20,
            activation: Activation::Relu,
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
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return bad(format!(
                "hidden layer {} has width 0; every width must be at least 1",
                i + 1
            ));
        }
        Ok(())
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
        format!(
            "{}-({l},{l}) / {}, {}",
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
            ("likelihood".to_string(), "bernoulli".to_string()),
        ])
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
        let config = Self {
            input_dim: number("input_dim")?,
            hidden,
            latent: number("latent")?,
            activation,
        };
        config.validate()?;
        Ok(config)
    }
}
