//! Philox4x32-10 counter-based random numbers, bit-exact with src/rng.rs (snippet, composed in).

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const TWO_PI: f32 = 6.2831855;

// Full 32x32 -> 64-bit product as (hi, lo), built from 16-bit halves: WGSL has no u64.
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // At most 0xFFFF + 0xFFFF + 0xFFFE0001 = 0xFFFFFFFF: this sum never wraps.
    let mid = (p00 >> 16u) + (p10 & 0xFFFFu) + p01;
    let hi = p11 + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var i_round = 0u; i_round < 10u; i_round++) {
        if (i_round > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let p0 = philox_mulhilo(PHILOX_M0, c.x);
        let p1 = philox_mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// Uniform in (0, 1] from the top 24 bits: exact in f32, never 0.
fn philox_unit(bits: u32) -> f32 {
    return f32((bits >> 8u) + 1u) * (1.0 / 16777216.0);
}

// The word of element `index` of (step, stream): word index % 4 of its block (src/rng.rs
// `element_word`).
fn philox_word(key: vec2<u32>, index: u32, step: u32, stream: u32) -> u32 {
    let bits = philox4x32_10(vec4<u32>(index >> 2u, step, stream, 0u), key);
    return bits[index & 3u];
}

// Bernoulli(byte / 255), decided in integers as src/rng.rs `bernoulli_byte`.
fn philox_bernoulli_byte(key: vec2<u32>, index: u32, step: u32, stream: u32, byte: u32) -> bool {
    return (philox_word(key, index, step, stream) >> 8u) * 255u < (byte << 24u);
}

// N(0, 1) for element `index` of (step, stream): Box-Muller on the block's (x, y) pair for
// elements 0 and 1 of a block of four, on (z, w) for elements 2 and 3.
fn philox_normal(key: vec2<u32>, index: u32, step: u32, stream: u32) -> f32 {
    let bits = philox4x32_10(vec4<u32>(index >> 2u, step, stream, 0u), key);
    let lane = index & 3u;
    let pair = select(bits.xy, bits.zw, lane >= 2u);
    // WGSL's log has an absolute error bound: at u = 1 it may be a hair above 0, so clamp.
    let radius = sqrt(max(-2.0 * log(philox_unit(pair.x)), 0.0));
    let angle = TWO_PI * philox_unit(pair.y);
    return select(radius * cos(angle), radius * sin(angle), (lane & 1u) == 1u);
}
