//! The CPU reference backward of a whole small VAE (encoder, reparameterization with fixed eps,
//! decoder, BCE + KL) against central finite differences of its loss, for every activation; and
//! the same for the judge's classifier (ReLU layers, softmax cross-entropy).

use vae_gpu::backend::Backend;
use vae_gpu::cpu::{CpuBackend, CpuProgram};
use vae_gpu::kernels::activation::activate;
use vae_gpu::kernels::Activation;
use vae_gpu::model::{
    init_parameters, Classifier, ClassifierConfig, DeviceData, Metric, Vae, VaeConfig,
};
use vae_gpu::model::{DenseLayer, Likelihood, ParamLayout, Sigma, StepOptions};
use vae_gpu::ops::{Frame, View};
use vae_gpu::rng::PhiloxStream;

/// Loss of the batch (Σ BCE + Σ KL) at the given parameters, with the same eps every time (the
/// frame's seed and step fix the Philox draws).
fn loss(
    cpu: &mut CpuBackend,
    vae: &Vae,
    program: &CpuProgram,
    params: &[f32],
    frame: &Frame,
) -> f64 {
    vae.write_parameters(cpu, params);
    cpu.run(program, frame).unwrap();
    let m = vae.read_metrics(cpu).unwrap();
    f64::from(m.get(Metric::StepBce)) + f64::from(m.get(Metric::StepKl))
}

/// Parameters 3x PyTorch's init, so that tanh and sigmoid leave their linear range.
fn large(layout: &ParamLayout) -> Vec<f32> {
    let mut params: Vec<f32> = init_parameters(layout, 11)
        .iter()
        .map(|p| p * 3.0)
        .collect();
    // A learned log-variance spread around 0 (sigma near 1): far above its floor (sigma 1e-3),
    // whose kink a finite difference must not straddle, and a loss small enough that its f32
    // rounding does not drown the difference quotient (sigma 0.1 makes it ~100x larger).
    if let Some(at) = layout.likelihood_logvar {
        let dim = layout.decoder.last().unwrap().outputs;
        for (i, p) in params[at..at + dim].iter_mut().enumerate() {
            *p = 0.1 * (i % 5) as f32 - 0.2;
        }
    }
    params
}

/// `act(W·input + b)` of one layer on the host, per row, and the smallest |W·input + b|.
fn host_layer(params: &[f32], layer: &DenseLayer, input: &[Vec<f64>]) -> (Vec<Vec<f64>>, f64) {
    let mut margin = f64::INFINITY;
    let outputs = input
        .iter()
        .map(|x| {
            (0..layer.outputs)
                .map(|j| {
                    let w = &params[layer.weight + j * layer.inputs..][..layer.inputs];
                    let pre = f64::from(params[layer.bias + j])
                        + w.iter()
                            .zip(x)
                            .map(|(&w, &x)| f64::from(w) * x)
                            .sum::<f64>();
                    margin = margin.min(pre.abs());
                    activate(pre, layer.activation)
                })
                .collect()
        })
        .collect();
    (outputs, margin)
}

/// Sets the biases of a hidden layer so that every pre-activation lies at least 1 from the kink
/// of ReLU and leaky ReLU, alternately above and below it (both branches of the slope are
/// checked); returns the layer's outputs.
fn clear_of_kinks(params: &mut [f32], layer: &DenseLayer, input: &[Vec<f64>]) -> Vec<Vec<f64>> {
    for j in 0..layer.outputs {
        params[layer.bias + j] = 0.0;
    }
    let (pre, _) = host_layer(
        params,
        &DenseLayer {
            activation: Activation::Identity,
            ..layer.clone()
        },
        input,
    );
    for j in 0..layer.outputs {
        let reach = pre.iter().map(|row| row[j].abs()).fold(0.0, f64::max);
        let bias = 1.0 + reach;
        params[layer.bias + j] = if j % 2 == 0 {
            bias as f32
        } else {
            -bias as f32
        };
    }
    let (outputs, margin) = host_layer(params, layer, input);
    assert!(margin >= 0.99, "{margin}");
    outputs
}

/// PyTorch-sized parameters whose hidden pre-activations all lie at least 1 from the kink, far
/// beyond what a finite-difference step (2h = 0.1 on one parameter) moves them: the encoder's
/// from the batch, the decoder's from the z the reparameterization draws.
fn away_from_kinks(
    cpu: &mut CpuBackend,
    vae: &Vae,
    program: &CpuProgram,
    frame: &Frame,
    images: &[Vec<f64>],
) -> Vec<f32> {
    let mut params = init_parameters(&vae.layout, 11);
    let mut x = images.to_vec();
    let (head, hidden) = vae.layout.encoder.split_last().unwrap();
    for layer in hidden {
        x = clear_of_kinks(&mut params, layer, &x);
    }
    let _ = head;
    // z depends on the encoder only: run it once to read the draws.
    loss(cpu, vae, program, &params, frame);
    let rows = images.len();
    let codes = vae.latent_codes(rows);
    let z = cpu.read_f32(codes.buffer, 0, codes.len).unwrap();
    let latent = vae.config.latent;
    let mut x: Vec<Vec<f64>> = z
        .chunks(latent)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let (_, hidden) = vae.layout.decoder.split_last().unwrap();
    for layer in hidden {
        x = clear_of_kinks(&mut params, layer, &x);
    }
    params
}

/// How the parameters of a check are chosen.
enum Parameters {
    Large,
    AwayFromKinks,
}

fn check(activation: Activation, hidden: Vec<usize>, parameters: Parameters) {
    check_with(activation, hidden, parameters, Likelihood::Bernoulli);
}

fn check_with(
    activation: Activation,
    hidden: Vec<usize>,
    parameters: Parameters,
    likelihood: Likelihood,
) {
    let config = VaeConfig {
        input_dim: 7,
        hidden,
        latent: 3,
        activation,
        likelihood,
    };
    let rows = 5;
    let mut cpu = CpuBackend::new();
    let vae = Vae::new(&mut cpu, config, rows).unwrap();
    // Pixels spread over [0, 255] so that targets are not all 0 or 1.
    let mut stream = PhiloxStream::new(3, 0);
    let images: Vec<u8> = (0..rows * 7).map(|_| stream.below(256) as u8).collect();
    let data = DeviceData::upload(&mut cpu, &images, 7).unwrap();
    let perm = cpu.create_buffer("perm", rows).unwrap();
    cpu.write_u32(perm, 0, &(0..rows as u32).collect::<Vec<_>>());
    let program = cpu
        .prepare(&vae.forward_backward(
            &data,
            View::whole(perm, rows),
            rows,
            &StepOptions::default(),
        ))
        .unwrap();
    let mut frame = Frame::with_seed(5);
    frame.step = 2;
    let params = match &parameters {
        Parameters::Large => large(&vae.layout),
        Parameters::AwayFromKinks => {
            let pixels: Vec<Vec<f64>> = images
                .chunks(7)
                .map(|image| image.iter().map(|&b| f64::from(b as f32 / 255.0)).collect())
                .collect();
            away_from_kinks(&mut cpu, &vae, &program, &frame, &pixels)
        }
    };

    loss(&mut cpu, &vae, &program, &params, &frame);
    let analytic = vae.read_gradients(&mut cpu).unwrap();

    // The loss is piecewise smooth with kinks at least 1 away in the ReLU setups, so a wider step
    // fits there and shrinks the f32 rounding noise of the quotient (∝ 1/h).
    let h = match parameters {
        Parameters::Large => 1e-2f32,
        Parameters::AwayFromKinks => 5e-2f32,
    };
    let mut worst = 0.0f64;
    let mut checked = 0;
    for tensor in &vae.layout.tensors {
        for i in tensor.offset..tensor.offset + tensor.len() {
            // Five-point stencil: O(h⁴) truncation lets h be large enough that the f32
            // rounding of the activations stays small in the difference quotient.
            let mut at = |delta: f32| {
                let mut shifted = params.clone();
                shifted[i] += delta;
                loss(&mut cpu, &vae, &program, &shifted, &frame)
            };
            let numeric =
                (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * f64::from(h));
            let a = f64::from(analytic[i]);
            // f32 storage between ops limits the difference quotient to about 1e-3 absolute.
            let error = (a - numeric).abs() / (1e-2 + a.abs().max(numeric.abs()));
            assert!(
                error < 5e-3,
                "{activation:?}: d loss / d {}[{}]: backward {a}, finite difference {numeric}",
                tensor.name,
                i - tensor.offset
            );
            worst = worst.max(error);
            checked += 1;
        }
    }
    eprintln!("{activation:?}: {checked} parameters, worst relative error {worst:.2e}");
}

#[test]
fn cpu_vae_backward_matches_finite_differences_tanh() {
    check(Activation::Tanh, vec![6, 5], Parameters::Large);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_sigmoid() {
    check(Activation::Sigmoid, vec![4], Parameters::Large);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_relu() {
    check(Activation::Relu, vec![6, 5], Parameters::AwayFromKinks);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_leaky_relu() {
    check(Activation::LeakyRelu, vec![6, 5], Parameters::AwayFromKinks);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_no_hidden_layer() {
    check(Activation::Identity, vec![], Parameters::Large);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_gaussian_fixed_variance() {
    let gaussian = Likelihood::Gaussian {
        sigma: Sigma::Fixed(0.7),
    };
    check_with(Activation::Tanh, vec![5], Parameters::Large, gaussian);
}

/// The learned log-variance is a parameter like the others: its gradient is checked too.
#[test]
fn cpu_vae_backward_matches_finite_differences_gaussian_learned_variance() {
    let gaussian = Likelihood::Gaussian {
        sigma: Sigma::Learned,
    };
    check_with(Activation::Tanh, vec![5], Parameters::Large, gaussian);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_continuous_bernoulli() {
    let likelihood = Likelihood::ContinuousBernoulli;
    check_with(Activation::Sigmoid, vec![4], Parameters::Large, likelihood);
}

/// The classifier's summed cross-entropy against finite differences, with hidden pre-activations
/// kept 1 away from ReLU's kink, and labels read from `frame.batch_start` on.
#[test]
fn cpu_classifier_backward_matches_finite_differences() {
    let (rows, dim, classes) = (5, 7, 4);
    let config = ClassifierConfig {
        input_dim: dim,
        hidden: vec![6, 5],
        classes,
    };
    let mut cpu = CpuBackend::new();
    let classifier = Classifier::new(&mut cpu, config, rows).unwrap();
    let mut stream = PhiloxStream::new(3, 0);
    let images: Vec<u8> = (0..rows * dim).map(|_| stream.below(256) as u8).collect();
    let data = DeviceData::upload(&mut cpu, &images, dim).unwrap();
    let start = 2;
    let perm = cpu.create_buffer("perm", start + rows).unwrap();
    let order: Vec<u32> = (0..(start + rows) as u32)
        .map(|i| i.saturating_sub(start as u32))
        .collect();
    cpu.write_u32(perm, 0, &order);
    let labels = cpu.create_buffer("labels", start + rows).unwrap();
    cpu.write_u32(labels, 0, &[9, 9, 0, 3, 1, 2, 3]);
    let program = cpu
        .prepare(&classifier.forward_backward(
            &data,
            View::whole(perm, start + rows),
            View::whole(labels, start + rows),
            rows,
        ))
        .unwrap();
    let mut frame = Frame::with_seed(1);
    frame.batch_start = start as u32;

    let layout = &classifier.layout;
    let mut params = layout.init_parameters(4);
    let mut x: Vec<Vec<f64>> = images
        .chunks(dim)
        .map(|image| image.iter().map(|&b| f64::from(b as f32 / 255.0)).collect())
        .collect();
    let (_, hidden) = layout.layers.split_last().unwrap();
    for layer in hidden {
        x = clear_of_kinks(&mut params, layer, &x);
    }
    let loss = |cpu: &mut CpuBackend, params: &[f32]| -> f64 {
        classifier.write_parameters(cpu, params);
        cpu.run(&program, &frame).unwrap();
        f64::from(classifier.take_loss_sum(cpu).unwrap())
    };
    loss(&mut cpu, &params);
    let analytic = classifier.read_gradients(&mut cpu).unwrap();
    let h = 5e-2f32;
    let mut worst = 0.0f64;
    for tensor in &layout.tensors {
        for i in tensor.offset..tensor.offset + tensor.len() {
            let mut at = |delta: f32| {
                let mut shifted = params.clone();
                shifted[i] += delta;
                loss(&mut cpu, &shifted)
            };
            let numeric =
                (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * f64::from(h));
            let a = f64::from(analytic[i]);
            let error = (a - numeric).abs() / (1e-2 + a.abs().max(numeric.abs()));
            assert!(
                error < 5e-3,
                "classifier: d loss / d {}[{}]: backward {a}, finite difference {numeric}",
                tensor.name,
                i - tensor.offset
            );
            worst = worst.max(error);
        }
    }
    eprintln!(
        "classifier: {} parameters, worst relative error {worst:.2e}",
        layout.tensors.iter().map(|t| t.len()).sum::<usize>()
    );
}
