//! The CPU reference backward of a whole small VAE (encoder, reparameterization with fixed eps,
//! decoder, BCE + KL) against central finite differences of its loss.

use vae_gpu::backend::Backend;
use vae_gpu::model::{init_parameters, DeviceData, Metric, Vae, VaeConfig};
use vae_gpu::ops::{Activation, Frame, View};
use vae_gpu::reference::CpuBackend;
use vae_gpu::rng::PhiloxStream;

/// Loss of the batch (Σ BCE + Σ KL) at the given parameters, with the same eps every time (the
/// frame's seed and step fix the Philox draws).
fn loss(
    cpu: &mut CpuBackend,
    vae: &Vae,
    program: &vae_gpu::reference::CpuProgram,
    params: &[f32],
    frame: &Frame,
) -> f64 {
    vae.write_parameters(cpu, params);
    cpu.run(program, frame).unwrap();
    let m = vae.read_metrics(cpu).unwrap();
    f64::from(m.get(Metric::StepBce)) + f64::from(m.get(Metric::StepKl))
}

fn check(activation: Activation, hidden: Vec<usize>) {
    let config = VaeConfig {
        input_dim: 7,
        hidden,
        latent: 3,
        activation,
    };
    let rows = 5;
    let mut cpu = CpuBackend::new();
    let vae = Vae::new(&mut cpu, config, rows).unwrap();
    // Pixels spread over [0, 255] so that targets are not all 0 or 1.
    let mut stream = PhiloxStream::new(3, 0);
    let images: Vec<u8> = (0..rows * 7).map(|_| stream.below(256) as u8).collect();
    let data = DeviceData::upload(&mut cpu, &images, 7).unwrap();
    let perm = cpu
        .create_buffer("perm", rows, vae_gpu::ops::DType::U32)
        .unwrap();
    cpu.write_u32(perm, 0, &(0..rows as u32).collect::<Vec<_>>());
    let program = cpu
        .prepare(&vae.forward_backward(&data, View::whole(perm, rows), rows))
        .unwrap();
    // Larger than PyTorch's init so that the activations leave their linear range.
    let params: Vec<f32> = init_parameters(&vae.layout, 11)
        .iter()
        .map(|p| p * 3.0)
        .collect();
    let mut frame = Frame::with_seed(5);
    frame.step = 2;

    loss(&mut cpu, &vae, &program, &params, &frame);
    let analytic = vae.read_gradients(&mut cpu).unwrap();

    let h = 1e-2f32;
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
    check(Activation::Tanh, vec![6, 5]);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_sigmoid() {
    check(Activation::Sigmoid, vec![4]);
}

#[test]
fn cpu_vae_backward_matches_finite_differences_no_hidden_layer() {
    check(Activation::Identity, vec![]);
}
