//! Data sets larger than one storage binding: with a small forced buffer limit the data set is
//! split into shards of whole images, and training (with dynamic binarization and the
//! importance-weighted bound, the two other readers of the data) gives the very same parameters
//! and metrics as with the data in one buffer. An image larger than a buffer is refused with the
//! sizes.

mod common;

use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::data::{Binarize, Dataset};
use vae_gpu::kernels::Activation;
use vae_gpu::model::{DeviceData, VaeConfig};
use vae_gpu::workflows::trainer::{EpochMetrics, Quiet, TrainOptions, Trainer};

fn options() -> TrainOptions {
    TrainOptions {
        model: VaeConfig {
            input_dim: 784,
            hidden: vec![8],
            latent: 2,
            activation: Activation::Relu,
            likelihood: vae_gpu::model::Likelihood::Bernoulli,
        },
        epochs: 1,
        batch_size: 16,
        binarize: Binarize::Dynamic,
        eval_k: 3,
        ..TrainOptions::mnist_default()
    }
}

/// One epoch on 700 + 60 images: the parameters and the epoch's metrics.
fn train<B: Backend>(backend: B) -> (Vec<f32>, EpochMetrics) {
    let dataset = Dataset::embedded().truncated(700, 60);
    let mut trainer = Trainer::new(backend, &dataset, options()).unwrap();
    let metrics = trainer.run_epoch(&mut Quiet).unwrap();
    (trainer.parameters().unwrap(), metrics)
}

/// 256 KiB: 334 images of 784 bytes per shard, so 760 images take three; every other buffer of
/// this small model (at most 60 rows of 784 floats, 184 KiB) fits.
const LIMIT_BYTES: u64 = 256 << 10;

fn same(what: &str, (a, ma): &(Vec<f32>, EpochMetrics), (b, mb): &(Vec<f32>, EpochMetrics)) {
    assert!(a == b, "{what}: parameters differ");
    assert_eq!(
        (ma.train_loss, ma.test_loss, ma.test_iwae_bound),
        (mb.train_loss, mb.test_loss, mb.test_iwae_bound),
        "{what}: metrics differ"
    );
}

#[test]
fn sharded_data_trains_exactly_as_one_buffer_on_the_gpu() {
    let (Some(whole), Some(mut limited)) = (common::gpu(), common::gpu()) else {
        return;
    };
    limited.set_buffer_limit(LIMIT_BYTES);
    // The limit really splits the data set.
    let images = Dataset::embedded().truncated(700, 60).images;
    let shards = DeviceData::upload(&mut limited, &images, 784)
        .unwrap()
        .shards;
    assert_eq!(shards.len(), 3);
    assert_eq!(
        shards
            .iter()
            .map(|s| (s.first_image, s.images))
            .collect::<Vec<_>>(),
        [(0, 334), (334, 334), (668, 92)]
    );
    same("GPU", &train(whole), &train(limited));
}

#[test]
fn sharded_data_trains_exactly_as_one_buffer_on_the_cpu() {
    let mut limited = CpuBackend::new();
    limited.set_buffer_limit((LIMIT_BYTES / 4) as usize);
    same("CPU", &train(CpuBackend::new()), &train(limited));
}

#[test]
fn an_image_larger_than_a_buffer_is_refused_with_the_sizes() {
    let mut cpu = CpuBackend::new();
    cpu.set_buffer_limit(100);
    let message = DeviceData::upload(&mut cpu, &[0; 2 * 784], 784)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("one image") && message.contains("784 bytes") && message.contains("400"),
        "{message}"
    );
}
