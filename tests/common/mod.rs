//! Shared by the GPU tests: opening the device (never skipping silently), random inputs, and a
//! harness that runs the same op list on the GPU and on the CPU reference.
#![allow(dead_code)]

use vae_gpu::backend::Backend;
use vae_gpu::gpu::{GpuBackend, GpuOptions};
use vae_gpu::ops::{BufferId, DType, Frame, Op};
use vae_gpu::reference::CpuBackend;
use vae_gpu::rng::PhiloxStream;
use vae_gpu::tolerance::relative_error;

/// Set to 1 on a machine without any Vulkan/Metal/DX12/GL driver to skip the GPU tests with a
/// message. CI never sets it: there, a missing adapter fails the tests.
pub const SKIP_ENV: &str = "VAE_GPU_SKIP_GPU_TESTS";

/// The GPU backend, or `None` (test skipped, loudly) only when `VAE_GPU_SKIP_GPU_TESTS=1`.
pub fn gpu() -> Option<GpuBackend> {
    let options = GpuOptions::from_env().expect("bad VAE_GPU_BACKEND");
    match GpuBackend::open(&options) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var(SKIP_ENV).as_deref() == Ok("1") => {
            eprintln!("SKIPPED (no GPU and {SKIP_ENV}=1): {e}");
            None
        }
        Err(e) => panic!("GPU tests need an adapter ({SKIP_ENV}=1 skips them): {e}"),
    }
}

/// Uniform values in [-scale, scale) from a seeded stream.
pub fn random(len: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut s = PhiloxStream::new(seed, 99);
    (0..len)
        .map(|_| (s.next_unit() * 2.0 - 1.0) * scale)
        .collect()
}

/// The same buffers on both backends (ids agree because both number buffers in creation order).
pub struct Pair {
    pub gpu: GpuBackend,
    pub cpu: CpuBackend,
}

impl Pair {
    pub fn new() -> Option<Self> {
        Some(Self {
            gpu: gpu()?,
            cpu: CpuBackend::new(),
        })
    }

    pub fn input(&mut self, data: &[f32]) -> BufferId {
        let id = self
            .gpu
            .create_buffer("input", data.len(), DType::F32)
            .unwrap();
        assert_eq!(
            id,
            self.cpu
                .create_buffer("input", data.len(), DType::F32)
                .unwrap()
        );
        self.gpu.write_f32(id, 0, data);
        self.cpu.write_f32(id, 0, data);
        id
    }

    pub fn input_u32(&mut self, data: &[u32]) -> BufferId {
        let id = self
            .gpu
            .create_buffer("input", data.len(), DType::U32)
            .unwrap();
        assert_eq!(
            id,
            self.cpu
                .create_buffer("input", data.len(), DType::U32)
                .unwrap()
        );
        self.gpu.write_u32(id, 0, data);
        self.cpu.write_u32(id, 0, data);
        id
    }

    /// An output buffer filled with NaN on both sides: an element a kernel forgets stays NaN.
    pub fn poisoned(&mut self, len: usize) -> BufferId {
        self.input(&vec![f32::NAN; len])
    }

    pub fn run(&mut self, ops: &[Op], frame: &Frame) {
        let program = self.gpu.prepare(ops).unwrap();
        self.gpu.run(&program, frame).unwrap();
        let program = self.cpu.prepare(ops).unwrap();
        self.cpu.run(&program, frame).unwrap();
    }

    /// (gpu, cpu) contents of a range.
    pub fn read(&mut self, id: BufferId, offset: usize, len: usize) -> (Vec<f32>, Vec<f32>) {
        (
            self.gpu.read_f32(id, offset, len).unwrap(),
            self.cpu.read_f32(id, offset, len).unwrap(),
        )
    }

    /// Asserts ‖gpu − cpu‖/‖cpu‖ ≤ tolerance over a range, and returns the error.
    pub fn check(&mut self, what: &str, id: BufferId, offset: usize, len: usize, tol: f64) -> f64 {
        let (gpu, cpu) = self.read(id, offset, len);
        let error = relative_error(&gpu, &cpu);
        eprintln!("{what}: relative error {error:.2e}");
        assert!(
            error <= tol,
            "{what}: relative error {error:e} > {tol:e} (first values gpu {:?} cpu {:?})",
            &gpu[..gpu.len().min(4)],
            &cpu[..cpu.len().min(4)]
        );
        error
    }
}
