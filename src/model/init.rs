//! Initial parameters as PyTorch's `nn.Linear` default draws them: weights and biases uniform in
//! ±1/sqrt(fan_in), here from a seeded Philox stream so that runs are reproducible; a learned
//! Gaussian log-variance starts at σ = 0.1.

use super::{DenseLayer, ParamLayout};
use crate::rng::PhiloxStream;

/// The host Philox stream reserved for initialization.
const INIT_STREAM: u32 = 0x1417;

pub fn init_parameters(layout: &ParamLayout, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0f32; layout.len];
    init_dense_layers(&mut params, layout.layers(), seed, INIT_STREAM);
    // A learned Gaussian variance starts at sigma = 0.1, the scale of pixel noise in [0, 1]
    // (from sigma = 1 it would take epochs of Adam's small steps to get there).
    if let Some(at) = layout.likelihood_logvar {
        let dim = layout.decoder.last().map_or(0, |l| l.outputs);
        params[at..at + dim].fill(LEARNED_LOGVAR_START);
    }
    params
}

/// `nn.Linear`'s default draws for each layer, weights then bias, from Philox `stream` of `seed`:
/// uniform in ±1/sqrt(fan_in).
pub fn init_dense_layers<'a>(
    params: &mut [f32],
    layers: impl Iterator<Item = &'a DenseLayer>,
    seed: u64,
    stream: u32,
) {
    let mut stream = PhiloxStream::new(seed, stream);
    for layer in layers {
        let bound = 1.0 / (layer.inputs as f32).sqrt();
        let weights = layer.weight..layer.weight + layer.inputs * layer.outputs;
        let biases = layer.bias..layer.bias + layer.outputs;
        for i in weights.chain(biases) {
            params[i] = (stream.next_unit() * 2.0 - 1.0) * bound;
        }
    }
}

/// log(0.1²): where a learned per-pixel log-variance starts.
pub const LEARNED_LOGVAR_START: f32 = -4.605_17;
