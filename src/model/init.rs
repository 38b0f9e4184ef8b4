//! Initial parameters as PyTorch's `nn.Linear` default draws them: weights and biases uniform in
//! ±1/sqrt(fan_in), here from a seeded Philox stream so that runs are reproducible.

use super::ParamLayout;
use crate::rng::PhiloxStream;

/// The host Philox stream reserved for initialization.
const INIT_STREAM: u32 = 0x1417;

pub fn init_parameters(layout: &ParamLayout, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0f32; layout.len];
    let mut stream = PhiloxStream::new(seed, INIT_STREAM);
    for layer in layout.layers() {
        let bound = 1.0 / (layer.inputs as f32).sqrt();
        let weights = layer.weight..layer.weight + layer.inputs * layer.outputs;
        let biases = layer.bias..layer.bias + layer.outputs;
        for i in weights.chain(biases) {
            params[i] = (stream.next_unit() * 2.0 - 1.0) * bound;
        }
    }
    params
}
