//! The WGSL Philox4x32-10 against the Random123 known answers and, bit for bit, against the Rust
//! one; the uniforms the host draws; and the statistics of the GPU's normal numbers.

mod common;

use common::{view, Pair};
use vae_gpu::backend::Backend;
use vae_gpu::kernels::{Normal, PhiloxBlocks};
use vae_gpu::ops::Frame;
use vae_gpu::rng::{self, philox4x32_10, KNOWN_ANSWERS};

#[test]
fn cpu_philox_matches_random123_known_answers() {
    for (counter, key, expected) in KNOWN_ANSWERS {
        assert_eq!(philox4x32_10(*counter, *key), *expected);
    }
}

/// Philox blocks of `counters` under `key`, on both backends.
fn blocks(pair: &mut Pair, counters: &[[u32; 4]], key: [u32; 2]) -> (Vec<u32>, Vec<u32>) {
    let count = counters.len();
    // Both views start one block into their buffers, so that the offsets are exercised.
    let mut words = vec![0u32; 4];
    words.extend(counters.iter().flatten());
    let input = view(pair.input_u32(&words), 4, 4 * count);
    let output = view(pair.poisoned(4 + 4 * count + 4), 4, 4 * count);
    let op = PhiloxBlocks {
        counters: input,
        blocks: output,
        count,
        key,
    };
    pair.run(&[op.into()], &Frame::default());
    pair.check_untouched_outside("philox_blocks", output);
    (
        pair.gpu.read_u32(output.buffer, 4, 4 * count).unwrap(),
        pair.cpu.read_u32(output.buffer, 4, 4 * count).unwrap(),
    )
}

#[test]
fn gpu_philox_matches_random123_known_answers() {
    let Some(mut pair) = Pair::new() else { return };
    for (counter, key, expected) in KNOWN_ANSWERS {
        let (gpu, cpu) = blocks(&mut pair, &[*counter], *key);
        assert_eq!(gpu, expected, "counter {counter:08x?} key {key:08x?}");
        assert_eq!(cpu, expected, "counter {counter:08x?} key {key:08x?}");
    }
}

#[test]
fn gpu_philox_blocks_equal_cpu_bit_for_bit() {
    let Some(mut pair) = Pair::new() else { return };
    let mut stream = rng::PhiloxStream::new(2024, 5);
    // Random counters and counters with extreme words, where the 16-bit-half multiply carries.
    let mut counters: Vec<[u32; 4]> = (0..200_000)
        .map(|_| {
            [
                stream.next_u32(),
                stream.next_u32(),
                stream.next_u32(),
                stream.next_u32(),
            ]
        })
        .collect();
    counters.extend([
        [u32::MAX, 0, u32::MAX, 0],
        [0xFFFF, 0xFFFF_0000, 0x1_0000, 1],
    ]);
    for key in [[0, 0], [0xDEAD_BEEF, 0x0123_4567], [u32::MAX, u32::MAX]] {
        let (gpu, cpu) = blocks(&mut pair, &counters, key);
        let mismatches = gpu
            .chunks(4)
            .zip(cpu.chunks(4))
            .filter(|(g, c)| g != c)
            .count();
        assert_eq!(mismatches, 0, "key {key:08x?}: {mismatches} blocks differ");
        // The CPU reference is rng::philox4x32_10 itself.
        assert_eq!(&cpu[..4], &philox4x32_10(counters[0], key)[..]);
    }
}

/// The uniforms that dropout masks and binarization will draw: word `index % 4` of the element's
/// block, in (0, 1], spread evenly.
#[test]
fn philox_uniforms_are_the_element_words_and_spread_evenly() {
    let key = rng::seed_key(99);
    for index in [0u32, 1, 2, 3, 4, 4097] {
        let block = philox4x32_10(rng::element_counter(index, 5, 6), key);
        let expected = rng::unit_float(block[(index % 4) as usize]);
        assert_eq!(rng::uniform(key, index, 5, 6), expected);
    }
    let n = 1 << 16;
    let draws: Vec<f64> = (0..n)
        .map(|i| f64::from(rng::uniform(key, i, 1, 2)))
        .collect();
    assert!(draws.iter().all(|&u| u > 0.0 && u <= 1.0));
    let mean = draws.iter().sum::<f64>() / n as f64;
    let var = draws.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / n as f64;
    // Standard errors at n = 2^16: mean 1.1e-3, variance 3.7e-4.
    assert!((mean - 0.5).abs() < 6e-3, "mean {mean}");
    assert!((var - 1.0 / 12.0).abs() < 2e-3, "variance {var}");
    let tenths = draws.iter().filter(|&&u| u <= 0.1).count() as f64 / n as f64;
    assert!(
        (tenths - 0.1).abs() < 6e-3,
        "share at or below 0.1: {tenths}"
    );
}

/// 2^20 normals drawn on the GPU: equal to the CPU's within float rounding of log/cos/sin, and
/// distributed as N(0, 1).
#[test]
fn gpu_normals_match_cpu_and_are_standard_normal() {
    let Some(mut gpu) = common::gpu() else { return };
    let n = 1 << 20;
    let out = gpu.create_buffer("normals", n).unwrap();
    gpu.write_f32(out, 0, &vec![f32::NAN; n]);
    let op = Normal {
        out: view(out, 0, n),
        stream: 3,
        scale: 1.0,
    };
    let mut frame = Frame::with_seed(0x1234_5678_9ABC);
    frame.step = 17;
    let program = gpu.prepare(&[op.into()]).unwrap();
    gpu.run(&program, &frame).unwrap();
    let draws = gpu.read_f32(out, 0, n).unwrap();

    let cpu: Vec<f32> = (0..n as u32)
        .map(|i| rng::normal(frame.key(), i, frame.step, 3))
        .collect();
    let error = vae_gpu::tolerance::relative_error(&draws, &cpu);
    assert!(
        error <= vae_gpu::tolerance::KERNEL_ELEMENTWISE,
        "gpu vs cpu normals: {error:e}"
    );

    let mean = draws.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = draws
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    // Standard errors at n = 2^20: mean 1e-3, variance 1.4e-3; allow about 5 of them.
    assert!(mean.abs() < 5e-3, "mean {mean}");
    assert!((var - 1.0).abs() < 7e-3, "variance {var}");

    // Kolmogorov–Smirnov distance to the normal CDF; the 0.001 critical value is 1.95/sqrt(n).
    let mut sorted = draws.clone();
    sorted.sort_by(f32::total_cmp);
    let ks = sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let cdf = normal_cdf(f64::from(x));
            (cdf - i as f64 / n as f64)
                .abs()
                .max((cdf - (i + 1) as f64 / n as f64).abs())
        })
        .fold(0.0, f64::max);
    let critical = 1.95 / (n as f64).sqrt();
    assert!(ks < critical, "KS distance {ks} >= {critical}");

    // Tails: the share beyond 3 sigma is 0.27%.
    let beyond = draws.iter().filter(|v| v.abs() > 3.0).count() as f64 / n as f64;
    assert!(
        (beyond - 0.0027).abs() < 0.0005,
        "share beyond 3 sigma {beyond}"
    );
}

/// Φ(x) from erfc by the Numerical Recipes Chebyshev fit (relative error < 1.2e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = (x / std::f64::consts::SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}
