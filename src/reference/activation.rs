//! Reference of `shaders/bias_act.wgsl` and `shaders/bias_act_backward.wgsl`.

use crate::ops::{Activation, LEAKY_RELU_SLOPE};

pub fn activate(v: f64, act: Activation) -> f64 {
    match act {
        Activation::Identity => v,
        Activation::Relu => v.max(0.0),
        Activation::LeakyRelu => {
            if v > 0.0 {
                v
            } else {
                f64::from(LEAKY_RELU_SLOPE) * v
            }
        }
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => sigmoid(v),
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
    }
}

pub fn sigmoid(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// In place: `x[r, j] = act(x[r, j] + bias[j])`.
pub fn bias_act(x: &mut [f32], bias: &[f32], rows: usize, cols: usize, act: Activation) {
    for (i, value) in x[..rows * cols].iter_mut().enumerate() {
        *value = activate(f64::from(*value) + f64::from(bias[i % cols]), act) as f32;
    }
}

/// In place: `grad[i] *= act'` evaluated from the layer output `y`.
pub fn bias_act_backward(grad: &mut [f32], y: &[f32], rows: usize, cols: usize, act: Activation) {
    for (g, &out) in grad[..rows * cols].iter_mut().zip(y) {
        *g = (f64::from(*g) * slope_from_output(f64::from(out), act)) as f32;
    }
}
