//! Shared by the GPU tests: opening the device (never skipping silently), random inputs, and a
//! harness that runs the same op list on the GPU and on the CPU reference.
#![allow(dead_code)]

use std::collections::HashMap;

use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::gpu::{GpuBackend, GpuOptions};
use vae_gpu::kernels::Op;
use vae_gpu::ops::{BufferId, Frame, View};
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

/// The same buffers on both backends (ids agree because both number buffers in creation order),
/// with what each held when created, so that a check can tell what an op wrote.
pub struct Pair {
    pub gpu: GpuBackend,
    pub cpu: CpuBackend,
    initial: HashMap<BufferId, Vec<u32>>,
}

impl Pair {
    pub fn new() -> Option<Self> {
        Some(Self {
            gpu: gpu()?,
            cpu: CpuBackend::new(),
            initial: HashMap::new(),
        })
    }

    pub fn input_u32(&mut self, data: &[u32]) -> BufferId {
        let id = self.gpu.create_buffer("input", data.len()).unwrap();
        assert_eq!(id, self.cpu.create_buffer("input", data.len()).unwrap());
        self.gpu.write_u32(id, 0, data);
        self.cpu.write_u32(id, 0, data);
        self.initial.insert(id, data.to_vec());
        id
    }

    pub fn input(&mut self, data: &[f32]) -> BufferId {
        self.input_u32(bytemuck::cast_slice(data))
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

    /// (gpu, cpu) contents of a view.
    pub fn read(&mut self, view: View) -> (Vec<f32>, Vec<f32>) {
        (
            self.gpu
                .read_f32(view.buffer, view.offset, view.len)
                .unwrap(),
            self.cpu
                .read_f32(view.buffer, view.offset, view.len)
                .unwrap(),
        )
    }

    /// Asserts that on both backends every word of the buffer outside `view` (a poisoned head
    /// before an offset, the tail after it) still holds what it held when created, bit for bit.
    pub fn check_untouched_outside(&mut self, what: &str, view: View) {
        let initial = self.initial[&view.buffer].clone();
        let all = View::whole(view.buffer, initial.len());
        let sides = [
            ("gpu", self.gpu.read_u32(all.buffer, 0, all.len).unwrap()),
            ("cpu", self.cpu.read_u32(all.buffer, 0, all.len).unwrap()),
        ];
        for (side, words) in sides {
            for (i, (now, before)) in words.iter().zip(&initial).enumerate() {
                if !view.range().contains(&i) {
                    assert_eq!(
                        now,
                        before,
                        "{what}: {side} wrote element {i}, outside the view {:?}",
                        view.range()
                    );
                }
            }
        }
    }

    /// Asserts ‖gpu − cpu‖/‖cpu‖ ≤ tolerance over a view and that nothing outside it changed;
    /// returns the error.
    pub fn check(&mut self, what: &str, view: View, tol: f64) -> f64 {
        let (gpu, cpu) = self.read(view);
        let error = relative_error(&gpu, &cpu);
        eprintln!("{what}: relative error {error:.2e}");
        assert!(
            error <= tol,
            "{what}: relative error {error:e} > {tol:e} (first values gpu {:?} cpu {:?})",
            &gpu[..gpu.len().min(4)],
            &cpu[..cpu.len().min(4)]
        );
        self.check_untouched_outside(what, view);
        error
    }
}

/// `len` elements at `offset` of `buffer`.
pub fn view(buffer: BufferId, offset: usize, len: usize) -> View {
    View {
        buffer,
        offset,
        len,
    }
}
