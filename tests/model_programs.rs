//! The model's programs beyond training, which the pictures and `eval` build on: reconstruction
//! through the posterior mean (`latent_codes` is `mu` of `posterior_stats`), and decoding codes
//! the caller writes (`write_latent_codes` + `decode_given` is `sample` given the same z), on both
//! backends.

mod common;

use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::data::Dataset;
use vae_gpu::kernels::Activation;
use vae_gpu::model::{init_parameters, DeviceData, Vae, VaeConfig};
use vae_gpu::ops::{Frame, View};
use vae_gpu::tolerance::{relative_error, TRAINING_STEP};

const ROWS: usize = 9;

fn read<B: Backend>(backend: &mut B, view: View) -> Vec<f32> {
    backend
        .read_f32(view.buffer, view.offset, view.len)
        .unwrap()
}

/// (latent codes, [mu | logvar], reconstructions, samples, decoded samples) of one backend.
fn programs<B: Backend>(backend: &mut B) -> [Vec<f32>; 5] {
    let dataset = Dataset::embedded();
    let config = VaeConfig {
        input_dim: dataset.dim(),
        hidden: vec![24],
        latent: 5,
        activation: Activation::Tanh,
        likelihood: vae_gpu::model::Likelihood::Bernoulli,
    };
    let vae = Vae::new(backend, config, ROWS).unwrap();
    vae.write_parameters(backend, &init_parameters(&vae.layout, 4));
    let images = &dataset.images[..40 * dataset.dim()];
    let data = DeviceData::upload(backend, images, dataset.dim()).unwrap();
    let perm = backend.create_buffer("perm", 40).unwrap();
    backend.write_u32(perm, 0, &(0..40).rev().collect::<Vec<u32>>());
    let mut frame = Frame::with_seed(3);
    frame.batch_start = 7;

    let reconstruct = vae.reconstruct(&data, View::whole(perm, 40), ROWS);
    let program = backend.prepare(&reconstruct).unwrap();
    backend.run(&program, &frame).unwrap();
    let codes = read(backend, vae.latent_codes(ROWS));
    let stats = read(backend, vae.posterior_stats(ROWS));
    let reconstructions = read(backend, vae.output(ROWS));

    let program = backend.prepare(&vae.sample(ROWS, 1.0)).unwrap();
    backend.run(&program, &frame).unwrap();
    let drawn = read(backend, vae.latent_codes(ROWS));
    let samples = read(backend, vae.output(ROWS));
    // The same z, written by the caller this time.
    vae.write_latent_codes(backend, &[0.0; ROWS * 5]);
    vae.write_latent_codes(backend, &drawn);
    let program = backend.prepare(&vae.decode_given(ROWS)).unwrap();
    backend.run(&program, &Frame::with_seed(999)).unwrap();
    let decoded = read(backend, vae.output(ROWS));
    [codes, stats, reconstructions, samples, decoded]
}

fn check_semantics(name: &str, [codes, stats, reconstructions, samples, decoded]: &[Vec<f32>; 5]) {
    let latent = 5;
    // Reconstruction uses the posterior mean: z is mu, the first half of each stats row.
    let mu: Vec<f32> = stats
        .chunks(2 * latent)
        .flat_map(|row| row[..latent].to_vec())
        .collect();
    assert_eq!(codes, &mu, "{name}: latent codes are not mu");
    for pixels in [reconstructions, samples, decoded] {
        assert!(
            pixels.iter().all(|p| (0.0..=1.0).contains(p)),
            "{name}: not probabilities"
        );
    }
    // decode_given of the drawn codes is the sample, bit for bit (the same kernels, same input).
    assert_eq!(samples, decoded, "{name}: decode_given differs from sample");
}

#[test]
fn cpu_reconstruction_is_through_mu_and_decode_given_is_sampling() {
    let results = programs(&mut CpuBackend::new());
    check_semantics("cpu", &results);
}

#[test]
fn gpu_reconstruction_and_decoding_match_the_cpu() {
    let Some(mut gpu) = common::gpu() else { return };
    let gpu_results = programs(&mut gpu);
    check_semantics("gpu", &gpu_results);
    let cpu_results = programs(&mut CpuBackend::new());
    let names = ["codes", "stats", "reconstructions", "samples", "decoded"];
    for ((name, g), c) in names.iter().zip(&gpu_results).zip(&cpu_results) {
        let error = relative_error(g, c);
        assert!(
            error <= TRAINING_STEP,
            "{name}: gpu and cpu differ by {error:e}"
        );
    }
}
