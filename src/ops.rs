//! The vocabulary of op lists: buffers, views of them, and the per-replay `Frame`.
//!
//! A model describes a training step as a list of ops (`kernels::Op`) over buffer views, once.
//! Each backend turns that list into something it can replay (the GPU: pipelines, bind groups and
//! shape uniforms built once) and replays it every step with a small per-step `Frame`.

use bytemuck::{Pod, Zeroable};

/// A buffer created by a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferId(pub usize);

/// A contiguous range of a buffer, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub buffer: BufferId,
    pub offset: usize,
    pub len: usize,
}

impl View {
    pub fn whole(buffer: BufferId, len: usize) -> Self {
        Self {
            buffer,
            offset: 0,
            len,
        }
    }

    /// The sub-range [start, start + len) of this view.
    pub fn slice(&self, start: usize, len: usize) -> Self {
        assert!(
            start + len <= self.len,
            "slice {start}+{len} out of a view of {}",
            self.len
        );
        Self {
            buffer: self.buffer,
            offset: self.offset + start,
            len,
        }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// What changes from one replay of an op list to the next. Mirrors `struct Frame` in
/// `shaders/frame.wgsl` field for field (`FIELDS`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Frame {
    pub seed_lo: u32,
    pub seed_hi: u32,
    /// RNG step: the second Philox counter word of every draw of this replay.
    pub step: u32,
    /// Position in the permutation of the first row that `Gather` reads.
    pub batch_start: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// lr / (1 − β1ᵗ)
    pub step_size: f32,
    /// sqrt(1 − β2ᵗ)
    pub bias_correction2_sqrt: f32,
    pub kl_weight: f32,
    /// Multiplies every loss gradient (1 = gradient of the loss summed over the batch).
    pub grad_scale: f32,
    /// Classic L2 regularization: `l2 · p` added to each gradient before Adam (0: none).
    pub l2: f32,
    /// Gradient clipping by global norm (0: none).
    pub clip_norm: f32,
    /// Free bits: nats per latent dimension and image below which a dimension's KL has no
    /// gradient (0: none).
    pub free_bits: f32,
}

impl Frame {
    /// The WGSL field names of `struct Frame` (shaders/frame.wgsl), in order; the reflection test
    /// holds the shader to them.
    pub const FIELDS: [&'static str; 16] = [
        "seed_lo",
        "seed_hi",
        "step",
        "batch_start",
        "lr",
        "beta1",
        "beta2",
        "eps",
        "weight_decay",
        "step_size",
        "bias_correction2_sqrt",
        "kl_weight",
        "grad_scale",
        "l2",
        "clip_norm",
        "free_bits",
    ];

    pub fn key(&self) -> [u32; 2] {
        [self.seed_lo, self.seed_hi]
    }

    pub fn with_seed(seed: u64) -> Self {
        let [seed_lo, seed_hi] = crate::rng::seed_key(seed);
        Self {
            seed_lo,
            seed_hi,
            kl_weight: 1.0,
            grad_scale: 1.0,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_fields_name_every_word_of_the_frame() {
        assert_eq!(std::mem::size_of::<Frame>(), 4 * Frame::FIELDS.len());
    }
}
