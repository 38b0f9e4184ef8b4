//! Between the flat parameter buffer and the checkpoint's named tensors.

use super::{ParamLayout, VaeConfig};
use crate::checkpoint::NamedTensor;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("checkpoint lacks tensor {name:?} (shape {shape:?}) that a {model} model needs")]
    Missing {
        name: String,
        shape: Vec<usize>,
        model: String,
    },
    #[error("checkpoint tensor {name:?} has shape {found:?}; the model needs {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("checkpoint tensor {name:?} holds a non-finite value at index {index}")]
    NotFinite { name: String, index: usize },
}

/// The named tensors of a flat parameter vector, in layout order.
pub fn to_named_tensors(layout: &ParamLayout, flat: &[f32]) -> Vec<NamedTensor> {
    layout
        .tensors
        .iter()
        .map(|t| NamedTensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            data: flat[t.offset..t.offset + t.len()].to_vec(),
        })
        .collect()
}

/// The flat parameter vector of a model from named tensors; extra tensors are ignored.
pub fn from_named_tensors(
    config: &VaeConfig,
    layout: &ParamLayout,
    tensors: &[NamedTensor],
) -> Result<Vec<f32>, WeightsError> {
    // Every tensor is found and checked before the buffer is allocated, so that a file whose
    // metadata declares a huge model costs no more memory than the file itself.
    let mut found = Vec::with_capacity(layout.tensors.len());
    for spec in &layout.tensors {
        let tensor = tensors
            .iter()
            .find(|t| t.name == spec.name)
            .ok_or_else(|| WeightsError::Missing {
                name: spec.name.clone(),
                shape: spec.shape.clone(),
                model: config.describe(),
            })?;
        if tensor.shape != spec.shape {
            return Err(WeightsError::Shape {
                name: spec.name.clone(),
                expected: spec.shape.clone(),
                found: tensor.shape.clone(),
            });
        }
        if let Some(index) = tensor.data.iter().position(|v| !v.is_finite()) {
            return Err(WeightsError::NotFinite {
                name: spec.name.clone(),
                index,
            });
        }
        found.push((spec, tensor));
    }
    let mut flat = vec![0.0; layout.len];
    for (spec, tensor) in found {
        flat[spec.offset..spec.offset + spec.len()].copy_from_slice(&tensor.data);
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init_parameters;

    #[test]
    fn named_tensors_round_trip_and_follow_pytorch_names_and_shapes() {
        let config = VaeConfig {
            input_dim: 10,
            hidden: vec![7, 5],
            latent: 3,
            activation: crate::kernels::Activation::Relu,
            likelihood: crate::model::Likelihood::Bernoulli,
        };
        let layout = ParamLayout::new(&config);
        let flat = init_parameters(&layout, 1);
        let tensors = to_named_tensors(&layout, &flat);
        let names: Vec<(&str, &[usize])> = tensors
            .iter()
            .map(|t| (t.name.as_str(), t.shape.as_slice()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("encoder.0.weight", &[7, 10][..]),
                ("encoder.0.bias", &[7][..]),
                ("encoder.2.weight", &[5, 7][..]),
                ("encoder.2.bias", &[5][..]),
                ("decoder.0.weight", &[5, 3][..]),
                ("decoder.0.bias", &[5][..]),
                ("decoder.2.weight", &[7, 5][..]),
                ("decoder.2.bias", &[7][..]),
                ("decoder.4.weight", &[10, 7][..]),
                ("decoder.4.bias", &[10][..]),
                ("mu.weight", &[3, 5][..]),
                ("mu.bias", &[3][..]),
                ("logvar.weight", &[3, 5][..]),
                ("logvar.bias", &[3][..]),
            ]
        );
        assert_eq!(
            from_named_tensors(&config, &layout, &tensors).unwrap(),
            flat
        );
        let mut wrong = tensors.clone();
        wrong[2].shape = vec![7, 5];
        let error = from_named_tensors(&config, &layout, &wrong).unwrap_err();
        assert!(error.to_string().contains("encoder.2.weight"), "{error}");
        let error = from_named_tensors(&config, &layout, &tensors[1..]).unwrap_err();
        assert!(error.to_string().contains("encoder.0.weight"), "{error}");
    }

    #[test]
    fn initialization_is_pytorch_uniform_and_seeded() {
        let config = VaeConfig::mnist_default();
        let layout = ParamLayout::new(&config);
        let a = init_parameters(&layout, 1);
        assert_eq!(a, init_parameters(&layout, 1));
        assert_ne!(a, init_parameters(&layout, 2));
        for layer in layout.layers() {
            let bound = 1.0 / (layer.inputs as f32).sqrt();
            let w = &a[layer.weight..layer.weight + layer.inputs * layer.outputs];
            assert!(w.iter().all(|v| v.abs() <= bound));
            let spread = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(spread > 0.9 * bound, "weights fill ±1/sqrt(fan_in)");
        }
        assert_eq!(layout.parameter_count(), 652_824);
    }
}
