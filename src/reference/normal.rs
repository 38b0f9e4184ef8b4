//! Reference of `shaders/normal.wgsl`: a buffer of standard normal numbers.

use crate::rng;

/// `out[i] ~ N(0, 1)` from Philox at (i, step, stream).
pub fn normal(out: &mut [f32], key: [u32; 2], step: u32, stream: u32) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = rng::normal(key, i as u32, step, stream);
    }
}
