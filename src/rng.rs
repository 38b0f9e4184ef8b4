//! Philox4x32-10 counter-based random numbers, bit-exact with `shaders/philox.wgsl`.
//!
//! Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3" (SC 2011). A draw is a
//! pure function of (counter, key), so the GPU and the CPU produce the same numbers for the same
//! (seed, step, stream, element) without sharing any state. Counters and streams:
//! docs/ARCHITECTURE.md, "Randomness".

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;
const PHILOX_ROUNDS: usize = 10;

/// 2π rounded to f32, the same literal as the WGSL side.
pub const TWO_PI: f32 = 6.283_185_5;

/// One Philox4x32-10 block: four 32-bit words from a 128-bit counter and a 64-bit key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..PHILOX_ROUNDS {
        if round > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The Philox key of a 64-bit seed: low word first.
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// A uniform float in (0, 1] from the top 24 bits: exact in f32, never 0 so that log() is finite.
pub fn unit_float(bits: u32) -> f32 {
    ((bits >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
}

/// The counter of element `index` of a draw: four elements share one Philox block.
pub fn element_counter(index: u32, step: u32, stream: u32) -> [u32; 4] {
    [index >> 2, step, stream, 0]
}

/// Standard normal number for element `index` of (step, stream): Box–Muller on the block's
/// uniform pair (x, y) for elements 0 and 1 of a block, (z, w) for elements 2 and 3.
pub fn normal(key: [u32; 2], index: u32, step: u32, stream: u32) -> f32 {
    let bits = philox4x32_10(element_counter(index, step, stream), key);
    let lane = index & 3;
    let (u_radius, u_angle) = if lane < 2 {
        (bits[0], bits[1])
    } else {
        (bits[2], bits[3])
    };
    // Clamped as in the WGSL, where log(1) may come out a hair above 0 and give NaN.
    let radius = (-2.0 * unit_float(u_radius).ln()).max(0.0).sqrt();
    let angle = TWO_PI * unit_float(u_angle);
    if lane & 1 == 0 {
        radius * angle.cos()
    } else {
        radius * angle.sin()
    }
}

/// The Philox word of element `index` of (step, stream): word `index % 4` of its block.
pub fn element_word(key: [u32; 2], index: u32, step: u32, stream: u32) -> u32 {
    philox4x32_10(element_counter(index, step, stream), key)[(index & 3) as usize]
}

/// A uniform float in (0, 1] for element `index` of (step, stream).
pub fn uniform(key: [u32; 2], index: u32, step: u32, stream: u32) -> f32 {
    unit_float(element_word(key, index, step, stream))
}

/// Bernoulli(1 − threshold / 2^24) for element `index`, decided on the top 24 bits in integers so
/// that the GPU and the CPU agree exactly: a dropout mask keeps the element when true.
pub fn keep(key: [u32; 2], index: u32, step: u32, stream: u32, threshold: u32) -> bool {
    (element_word(key, index, step, stream) >> 8) >= threshold
}

/// The 24-bit threshold that `keep` compares with, for a drop probability `p` in [0, 1).
pub fn drop_threshold(p: f32) -> u32 {
    (f64::from(p) * 16_777_216.0).round() as u32
}

/// Bernoulli(byte / 255) for element `index`: a binarized pixel. `v·255 < byte·2^24` in integers
/// (both fit in u32), the same comparison as shaders/philox.wgsl's `philox_bernoulli_byte`.
pub fn bernoulli_byte(key: [u32; 2], index: u32, step: u32, stream: u32, byte: u32) -> bool {
    let v = element_word(key, index, step, stream) >> 8;
    v * 255 < byte << 24
}

/// A host-side stream of Philox words, for work done once on the CPU (initialization, shuffles).
pub struct PhiloxStream {
    key: [u32; 2],
    stream: u32,
    block: u32,
    buffer: [u32; 4],
    used: usize,
}

impl PhiloxStream {
    /// Words from counter (block, 0, stream, 1): the last counter word 1 keeps host streams apart
    /// from every element draw, whose last counter word is 0.
    pub fn new(seed: u64, stream: u32) -> Self {
        Self {
            key: seed_key(seed),
            stream,
            block: 0,
            buffer: [0; 4],
            used: 4,
        }
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.buffer = philox4x32_10([self.block, 0, self.stream, 1], self.key);
            self.block = self.block.wrapping_add(1);
            self.used = 0;
        }
        self.used += 1;
        self.buffer[self.used - 1]
    }

    /// Uniform in [0, 1) with 24 bits.
    pub fn next_unit(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform integer in [0, bound) by rejection, without modulo bias.
    pub fn below(&mut self, bound: u32) -> u32 {
        assert!(bound > 0, "below(0) has no value");
        let limit = u32::MAX - u32::MAX % bound;
        loop {
            let x = self.next_u32();
            if x < limit {
                return x % bound;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Known-answer vectors of philox4x32-10 from the Random123 distribution: (counter, key, output).
pub const KNOWN_ANSWERS: &[([u32; 4], [u32; 2], [u32; 4])] = &[
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
    ),
    (
        [0xffff_ffff; 4],
        [0xffff_ffff; 2],
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
    ),
    (
        [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
        [0xa409_3822, 0x299f_31d0],
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_random123_known_answers() {
        for (counter, key, expected) in KNOWN_ANSWERS {
            assert_eq!(philox4x32_10(*counter, *key), *expected);
        }
    }

    #[test]
    fn unit_float_spans_zero_exclusive_one_inclusive() {
        assert_eq!(unit_float(u32::MAX), 1.0);
        assert_eq!(unit_float(0), 1.0 / 16_777_216.0);
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<u32> = (0..1000).collect();
        let mut b = a.clone();
        PhiloxStream::new(7, 3).shuffle(&mut a);
        PhiloxStream::new(7, 3).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }
}
