//! Adam / AdamW settings and the per-step numbers the optimizer kernel reads from the frame.

use crate::ops::Frame;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Decoupled weight decay (AdamW), of every parameter, biases included (as PyTorch's AdamW
    /// over `model.parameters()`); 0 is plain Adam.
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    /// PyTorch's Adam defaults, which the canonical VAE example uses.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Writes the optimizer's fields of `frame` for update number `t` (1-based) at rate `lr`;
    /// the bias corrections are computed here in f64, once, for both backends.
    pub fn fill_frame(&self, frame: &mut Frame, t: u64, lr: f32) {
        let t = t.max(1) as i32;
        frame.lr = lr;
        frame.beta1 = self.beta1;
        frame.beta2 = self.beta2;
        frame.eps = self.eps;
        frame.weight_decay = self.weight_decay;
        frame.step_size = (f64::from(lr) / (1.0 - f64::from(self.beta1).powi(t))) as f32;
        frame.bias_correction2_sqrt = (1.0 - f64::from(self.beta2).powi(t)).sqrt() as f32;
    }
}
