//! The many-draw estimates of `eval`: the importance-weighted bound on both backends, its k = 1
//! case against the Monte-Carlo-KL ELBO of the same draw, and its properties in expectation (it
//! falls as k grows, lies below the ELBO, and at k = 1 equals the analytic-KL ELBO on average),
//! tested with paired differences and margins of several standard errors so that they cannot
//! flake.

mod common;

use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::data::Dataset;
use vae_gpu::kernels::Activation;
use vae_gpu::model::{init_parameters, DeviceData, Vae, VaeConfig};
use vae_gpu::ops::View;
use vae_gpu::workflows::bounds::{draws, Draws, Estimate, Measured, Pass};
use vae_gpu::workflows::trainer::{Quiet, TrainOptions, Trainer};

fn config() -> VaeConfig {
    VaeConfig {
        input_dim: 784,
        hidden: vec![64],
        latent: 8,
        activation: Activation::Relu,
        likelihood: vae_gpu::model::Likelihood::Bernoulli,
    }
}

/// A model trained for two epochs on 2,000 embedded images (its posterior is far from the prior,
/// so the bounds differ), as a flat parameter vector.
fn trained_parameters() -> Option<Vec<f32>> {
    let gpu = common::gpu()?;
    let dataset = Dataset::embedded().truncated(2000, 100);
    let options = TrainOptions {
        model: config(),
        epochs: 2,
        batch_size: 100,
        ..TrainOptions::mnist_default()
    };
    let mut trainer = Trainer::new(gpu, &dataset, options).unwrap();
    for _ in 0..2 {
        trainer.run_epoch(&mut Quiet).unwrap();
    }
    Some(trainer.parameters().unwrap())
}

/// The model with `parameters` on `backend`, the embedded test images resident, and a view of the
/// first `count` of them.
fn setup<B: Backend>(backend: &mut B, parameters: &[f32], count: usize) -> (Vae, DeviceData, View) {
    let dataset = Dataset::embedded();
    let vae = Vae::new(backend, config(), 400).unwrap();
    vae.write_parameters(backend, parameters);
    let data = DeviceData::upload(backend, &dataset.images, dataset.dim()).unwrap();
    let perm = backend.create_buffer("test images", count).unwrap();
    let first = dataset.train_count as u32;
    backend.write_u32(perm, 0, &(first..first + count as u32).collect::<Vec<_>>());
    (vae, data, View::whole(perm, count))
}

fn run<B: Backend>(
    backend: &mut B,
    parameters: &[f32],
    (count, k): (usize, usize),
    pass: Pass,
    seed: u64,
) -> Draws {
    let (vae, data, perm) = setup(backend, parameters, count);
    let measured = Measured {
        vae: &vae,
        data: &data,
        perm,
        count,
    };
    draws(backend, &measured, k, pass, seed).unwrap()
}

fn close(a: &[f64], b: &[f64], tolerance: f64, what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tolerance * y.abs().max(1.0),
            "{what} image {i}: {x} vs {y}"
        );
    }
}

#[test]
fn gpu_bounds_equal_the_cpu_reference_for_small_k() {
    let Some(mut gpu) = common::gpu() else { return };
    let parameters = {
        let mut cpu = CpuBackend::new();
        let vae = Vae::new(&mut cpu, config(), 1).unwrap();
        init_parameters(&vae.layout, 3)
    };
    // 7 images × 3 draws in chunks of 400 rows: one chunk; 250 draws: chunks of draws.
    for (count, k) in [(7, 3), (2, 250)] {
        let g = run(&mut gpu, &parameters, (count, k), Pass::Iwae, 5);
        let c = run(
            &mut CpuBackend::new(),
            &parameters,
            (count, k),
            Pass::Iwae,
            5,
        );
        close(&g.iwae_bound(), &c.iwae_bound(), 1e-5, "iwae bound");
        close(
            &g.negative_elbo(),
            &c.negative_elbo(),
            1e-5,
            "negative elbo",
        );
        close(&g.kl, &c.kl, 1e-5, "kl");
    }
}

/// With one draw, the bound is the ELBO with the Monte-Carlo KL log q(z|x) − log p(z) at that
/// draw, computed here from z and [mu | logvar] alone (not from eps).
#[test]
fn the_k1_bound_is_the_monte_carlo_kl_elbo_of_its_draw() {
    let Some(parameters) = trained_parameters() else {
        return;
    };
    let mut gpu = common::gpu().unwrap();
    let count = 40;
    let (vae, data, perm) = setup(&mut gpu, &parameters, count);
    let measured = Measured {
        vae: &vae,
        data: &data,
        perm,
        count,
    };
    let result = draws(&mut gpu, &measured, 1, Pass::Iwae, 9).unwrap();
    let latent = vae.config.latent;
    let read =
        |b: &mut vae_gpu::gpu::GpuBackend, v: View| b.read_f32(v.buffer, v.offset, v.len).unwrap();
    let z = read(&mut gpu, vae.latent_codes(count));
    let stats = read(&mut gpu, vae.posterior_stats(count));
    let nll = read(&mut gpu, vae.per_row_losses(count).0);
    let monte_carlo: Vec<f64> = (0..count)
        .map(|i| {
            let kl: f64 = (0..latent)
                .map(|j| {
                    let z = f64::from(z[i * latent + j]);
                    let mu = f64::from(stats[i * 2 * latent + j]);
                    let logvar = f64::from(stats[i * 2 * latent + latent + j]);
                    let log_q = -0.5 * ((z - mu).powi(2) / logvar.exp() + logvar);
                    let log_p = -0.5 * z * z;
                    log_q - log_p
                })
                .sum();
            f64::from(nll[i]) + kl
        })
        .collect();
    close(
        &result.iwae_bound(),
        &monte_carlo,
        1e-4,
        "k = 1 bound against the MC-KL ELBO",
    );
}

#[test]
fn the_bound_falls_as_k_grows_lies_below_the_elbo_and_matches_it_at_k1_on_average() {
    let Some(parameters) = trained_parameters() else {
        return;
    };
    let mut gpu = common::gpu().unwrap();
    let count = 100;
    let elbo = run(&mut gpu, &parameters, (count, 200), Pass::Elbo, 1).negative_elbo();
    let bound = |gpu: &mut vae_gpu::gpu::GpuBackend, k: usize, seed: u64| {
        run(gpu, &parameters, (count, k), Pass::Iwae, seed).iwae_bound()
    };
    let k1 = bound(&mut gpu, 1, 2);
    let k50 = bound(&mut gpu, 50, 3);
    let k1000 = bound(&mut gpu, 1000, 4);
    // Paired per image: the differences' standard errors, not the spread between images.
    let gap = |a: &[f64], b: &[f64]| {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        Estimate::of(&d)
    };
    for (what, larger, smaller) in [
        ("k=1 - k=50", &k1, &k50),
        ("k=50 - k=1000", &k50, &k1000),
        ("ELBO - k=1000", &elbo, &k1000),
    ] {
        let g = gap(larger, smaller);
        eprintln!("{what}: {:.3} ± {:.3} nats", g.mean, g.stderr);
        assert!(
            g.mean > 3.0 * g.stderr,
            "{what}: {:.3} ± {:.3}",
            g.mean,
            g.stderr
        );
    }
    // At k = 1 the bound is an unbiased estimate of the negative ELBO: average 30 draws.
    let draws_k1: Vec<Vec<f64>> = (0..30).map(|seed| bound(&mut gpu, 1, 100 + seed)).collect();
    let mean_k1: Vec<f64> = (0..count)
        .map(|i| draws_k1.iter().map(|d| d[i]).sum::<f64>() / 30.0)
        .collect();
    let g = gap(&mean_k1, &elbo);
    eprintln!(
        "k=1 (30 draws) - ELBO: {:.3} ± {:.3} nats",
        g.mean, g.stderr
    );
    assert!(
        g.mean.abs() < 3.5 * g.stderr,
        "{:.3} ± {:.3}",
        g.mean,
        g.stderr
    );
}
