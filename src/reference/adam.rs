//! Reference of `shaders/adam.wgsl`: Adam / AdamW over flat buffers.

use crate::ops::Frame;

/// The optimizer's numbers for one step, as the frame carries them.
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub step_size: f32,
    pub bias_correction2_sqrt: f32,
}

impl AdamHyper {
    pub fn from_frame(frame: &Frame) -> Self {
        Self {
            lr: frame.lr,
            beta1: frame.beta1,
            beta2: frame.beta2,
            eps: frame.eps,
            weight_decay: frame.weight_decay,
            step_size: frame.step_size,
            bias_correction2_sqrt: frame.bias_correction2_sqrt,
        }
    }
}

/// PyTorch's Adam/AdamW update, decoupled weight decay first.
pub fn adam(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], h: AdamHyper) {
    let f = f64::from;
    for i in 0..params.len() {
        let g = f(grads[i]);
        let m_new = f(h.beta1) * f(m[i]) + (1.0 - f(h.beta1)) * g;
        let v_new = f(h.beta2) * f(v[i]) + (1.0 - f(h.beta2)) * g * g;
        m[i] = m_new as f32;
        v[i] = v_new as f32;
        let decayed = f(params[i]) * (1.0 - f(h.lr) * f(h.weight_decay));
        let denom = f(v[i]).sqrt() / f(h.bias_correction2_sqrt) + f(h.eps);
        params[i] = (decayed - f(h.step_size) * f(m[i]) / denom) as f32;
    }
}
