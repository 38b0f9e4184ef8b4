//! Whole training steps on the GPU and on the CPU reference from the same parameters, batches and
//! seed: one step agrees per parameter tensor, and 200 steps agree in their per-step losses.

mod common;

use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::data::Dataset;
use vae_gpu::kernels::Activation;
use vae_gpu::model::{init_parameters, DeviceData, Metric, StepOptions, Vae, VaeConfig};
use vae_gpu::ops::{Frame, View};
use vae_gpu::optim::AdamConfig;
use vae_gpu::rng::PhiloxStream;
use vae_gpu::tolerance::{relative_error, SHORT_RUN_LOSS, TRAINING_STEP};

struct Setup<B: Backend> {
    vae: Vae,
    program: B::Program,
    /// Training images the permutation covers.
    images: usize,
    data: DeviceData,
    perm: View,
}

/// The model, the embedded data's first `images` training images and a shuffled permutation of
/// them on one backend.
fn setup<B: Backend>(
    backend: &mut B,
    config: &VaeConfig,
    rows: usize,
    images: usize,
    seed: u64,
    options: &StepOptions,
) -> Setup<B> {
    let data = Dataset::embedded();
    let dim = data.dim();
    let device_data = DeviceData::upload(backend, &data.images[..images * dim], dim).unwrap();
    let mut perm: Vec<u32> = (0..images as u32).collect();
    PhiloxStream::new(seed, 7).shuffle(&mut perm);
    let perm_buffer = backend.create_buffer("perm", images).unwrap();
    backend.write_u32(perm_buffer, 0, &perm);
    let vae = Vae::new(backend, config.clone(), rows).unwrap();
    vae.write_parameters(backend, &init_parameters(&vae.layout, seed));
    let perm = View::whole(perm_buffer, images);
    let program = backend
        .prepare(&vae.train_step(&device_data, perm, rows, options))
        .unwrap();
    Setup {
        vae,
        program,
        images,
        data: device_data,
        perm,
    }
}

fn frame(seed: u64, step: u32, batch_start: usize, adam: &AdamConfig) -> Frame {
    let mut frame = Frame::with_seed(seed);
    frame.step = step;
    frame.batch_start = batch_start as u32;
    adam.fill_frame(&mut frame, u64::from(step) + 1, adam.lr);
    frame
}

#[test]
fn one_training_step_matches_cpu_in_every_parameter_tensor() {
    let Some(mut gpu) = common::gpu() else { return };
    let mut cpu = CpuBackend::new();
    let config = VaeConfig::mnist_default();
    let rows = 33;
    let adam = AdamConfig {
        weight_decay: 0.01,
        ..AdamConfig::default()
    };
    let g = setup(&mut gpu, &config, rows, 100, 1, &StepOptions::default());
    let c = setup(&mut cpu, &config, rows, 100, 1, &StepOptions::default());
    let f = frame(1, 0, 17, &adam);
    gpu.run(&g.program, &f).unwrap();
    cpu.run(&c.program, &f).unwrap();
    check_step(&mut gpu, &mut cpu, &g, &c, 1);
}

/// Every option of a step at once: dropout on both sides, dynamic binarization, free bits,
/// clipping, L2 and a KL weight, on a two-layer model.
#[test]
fn one_training_step_with_every_option_matches_cpu() {
    let Some(mut gpu) = common::gpu() else { return };
    let mut cpu = CpuBackend::new();
    let config = VaeConfig {
        input_dim: 784,
        hidden: vec![96, 40],
        latent: 7,
        activation: Activation::LeakyRelu,
        likelihood: vae_gpu::model::Likelihood::Bernoulli,
    };
    let options = StepOptions {
        dropout_encoder: 0.3,
        dropout_decoder: 0.15,
        binarize: true,
        free_bits: true,
        clip: true,
    };
    let adam = AdamConfig::default();
    let g = setup(&mut gpu, &config, 29, 100, 5, &options);
    let c = setup(&mut cpu, &config, 29, 100, 5, &options);
    let mut f = frame(5, 3, 11, &adam);
    f.kl_weight = 0.6;
    f.free_bits = 0.5;
    // Below the gradient's norm, so that clipping acts.
    f.clip_norm = 5.0;
    f.l2 = 1e-3;
    gpu.run(&g.program, &f).unwrap();
    cpu.run(&c.program, &f).unwrap();
    check_step(&mut gpu, &mut cpu, &g, &c, 5);
    let norm = f64::from(
        g.vae
            .read_metrics(&mut gpu)
            .unwrap()
            .get(Metric::GradNormSq),
    )
    .sqrt();
    let cpu_norm = f64::from(
        c.vae
            .read_metrics(&mut cpu)
            .unwrap()
            .get(Metric::GradNormSq),
    )
    .sqrt();
    eprintln!("gradient norm before clipping: gpu {norm}, cpu {cpu_norm}");
    assert!(
        norm > 5.0,
        "the test wants clipping to act; the norm is {norm}"
    );
    assert!((norm - cpu_norm).abs() <= 1e-4 * cpu_norm);
}

/// Gradients and updated parameters agree per tensor, and the step moved the parameters.
/// Training steps queued several to a submit (`run_many`, past `FRAME_SLOTS` so that it splits)
/// leave the model exactly as the same steps submitted one at a time: each step reads its own
/// frame slot, full and tail programs interleaved.
#[test]
fn steps_in_one_submit_match_steps_one_by_one_to_the_bit() {
    let Some(mut gpu) = common::gpu() else { return };
    let config = VaeConfig {
        hidden: vec![40],
        latent: 6,
        ..VaeConfig::mnist_default()
    };
    let adam = AdamConfig::default();
    let steps = vae_gpu::gpu::FRAME_SLOTS + 7;
    let mut run = |together: bool| {
        let s = setup(&mut gpu, &config, 16, 100, 5, &StepOptions::default());
        let tail = gpu
            .prepare(
                &s.vae
                    .train_step(&s.data, s.perm, 5, &StepOptions::default()),
            )
            .unwrap();
        let frames: Vec<(&_, Frame)> = (0..steps)
            .map(|i| {
                let program = if i % 3 == 2 { &tail } else { &s.program };
                (program, frame(5, i as u32, (i * 13) % 80, &adam))
            })
            .collect();
        if together {
            gpu.run_many(&frames).unwrap();
        } else {
            for (program, f) in &frames {
                gpu.run(program, f).unwrap();
                gpu.synchronize().unwrap();
            }
        }
        let parameters = s.vae.read_parameters(&mut gpu).unwrap();
        let (m, v) = s.vae.read_moments(&mut gpu).unwrap();
        let metrics: Vec<f32> = [Metric::StepBce, Metric::TrainBce, Metric::TrainKl]
            .iter()
            .map(|&metric| s.vae.read_metrics(&mut gpu).unwrap().get(metric))
            .collect();
        [parameters, m, v, metrics]
    };
    let one_by_one = run(false);
    let together = run(true);
    let names = ["parameters", "first moments", "second moments", "loss sums"];
    for ((name, a), b) in names.iter().zip(&one_by_one).zip(&together) {
        let differing = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(differing, 0, "{name}: {differing} of {} differ", a.len());
    }
    // The steps did something.
    assert!(one_by_one[3][1] > 0.0);
}

fn check_step(
    gpu: &mut vae_gpu::gpu::GpuBackend,
    cpu: &mut CpuBackend,
    g: &Setup<vae_gpu::gpu::GpuBackend>,
    c: &Setup<CpuBackend>,
    seed: u64,
) {
    let gpu_grads = g.vae.read_gradients(gpu).unwrap();
    let cpu_grads = c.vae.read_gradients(cpu).unwrap();
    let gpu_params = g.vae.read_parameters(gpu).unwrap();
    let cpu_params = c.vae.read_parameters(cpu).unwrap();
    for tensor in &g.vae.layout.tensors {
        let range = tensor.offset..tensor.offset + tensor.len();
        let grad_error = relative_error(&gpu_grads[range.clone()], &cpu_grads[range.clone()]);
        let error = relative_error(&gpu_params[range.clone()], &cpu_params[range]);
        eprintln!(
            "{:16} gradient {grad_error:.2e}  parameters {error:.2e}",
            tensor.name
        );
        assert!(
            error <= TRAINING_STEP,
            "{}: parameters differ by {error:e}",
            tensor.name
        );
        assert!(
            grad_error <= TRAINING_STEP,
            "{}: gradients differ by {grad_error:e}",
            tensor.name
        );
    }
    // The step did something: parameters moved away from their initial values.
    let initial = init_parameters(&g.vae.layout, seed);
    assert!(relative_error(&gpu_params, &initial) > 1e-4);
}

#[test]
fn two_hundred_steps_match_cpu_in_per_step_loss() {
    let Some(mut gpu) = common::gpu() else { return };
    let mut cpu = CpuBackend::new();
    let config = VaeConfig {
        input_dim: 784,
        hidden: vec![48],
        latent: 6,
        activation: Activation::Relu,
        likelihood: vae_gpu::model::Likelihood::Bernoulli,
    };
    let (rows, images, steps) = (24, 480, 200);
    let adam = AdamConfig::default();
    let g = setup(&mut gpu, &config, rows, images, 2, &StepOptions::default());
    let c = setup(&mut cpu, &config, rows, images, 2, &StepOptions::default());
    let mut worst = 0.0f64;
    let mut first_and_last = Vec::new();
    for step in 0..steps {
        let start = (step * rows) % (g.images - rows + 1);
        let f = frame(2, step as u32, start, &adam);
        gpu.run(&g.program, &f).unwrap();
        cpu.run(&c.program, &f).unwrap();
        let gm = g.vae.read_metrics(&mut gpu).unwrap();
        let cm = c.vae.read_metrics(&mut cpu).unwrap();
        let gl = gm.get(Metric::StepBce) + gm.get(Metric::StepKl);
        let cl = cm.get(Metric::StepBce) + cm.get(Metric::StepKl);
        let error = relative_error(&[gl], &[cl]);
        assert!(
            error <= SHORT_RUN_LOSS,
            "step {step}: gpu loss {gl}, cpu loss {cl}"
        );
        worst = worst.max(error);
        if step == 0 || step == steps - 1 {
            first_and_last.push(cl / rows as f32);
        }
    }
    eprintln!(
        "{steps} steps: worst per-step loss difference {worst:.2e}; loss/image {first_and_last:?}"
    );
    // And it trained: the loss fell.
    assert!(
        first_and_last[1] < 0.6 * first_and_last[0],
        "{first_and_last:?}"
    );
}

#[test]
fn one_training_step_matches_cpu_for_every_likelihood() {
    use vae_gpu::model::{Likelihood, Sigma};
    let Some(mut gpu) = common::gpu() else { return };
    for likelihood in [
        Likelihood::Gaussian {
            sigma: Sigma::Fixed(0.2),
        },
        Likelihood::Gaussian {
            sigma: Sigma::Learned,
        },
        Likelihood::ContinuousBernoulli,
    ] {
        let mut cpu = CpuBackend::new();
        let config = VaeConfig {
            input_dim: 784,
            hidden: vec![64],
            latent: 6,
            activation: Activation::Tanh,
            likelihood,
        };
        let adam = AdamConfig::default();
        let options = StepOptions::default();
        let g = setup(&mut gpu, &config, 23, 100, 7, &options);
        let c = setup(&mut cpu, &config, 23, 100, 7, &options);
        let f = frame(7, 0, 9, &adam);
        gpu.run(&g.program, &f).unwrap();
        cpu.run(&c.program, &f).unwrap();
        eprintln!("{likelihood:?}");
        check_step(&mut gpu, &mut cpu, &g, &c, 7);
    }
}
