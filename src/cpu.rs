//! `Backend` on the CPU: replays op lists through each kernel's CPU reference (`Kernel::reference`
//! in src/kernels/). Slow, exact, and the truth the GPU is measured against.

use crate::backend::{check_op, Backend, BackendError};
use crate::kernels::{HostMemory, Op, Tuning};
use crate::ops::{BufferId, Frame};

#[derive(Default)]
pub struct CpuBackend {
    memory: HostMemory,
    /// The largest buffer in words; unlimited unless a test sets one (`set_buffer_limit`).
    buffer_limit: Option<usize>,
}

/// The ops of a CPU program are replayed as they are.
pub struct CpuProgram {
    ops: Vec<Op>,
}

impl CpuBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses buffers past `words` words, as a device with that binding limit would: tests
    /// run the paths that split large data sets on small ones.
    pub fn set_buffer_limit(&mut self, words: usize) {
        self.buffer_limit = Some(words.max(1));
    }

    fn view(&self, buffer: BufferId, offset: usize, len: usize) -> crate::ops::View {
        let buffer_len = self.memory.buffer_len(buffer);
        assert!(
            offset + len <= buffer_len,
            "access {offset}..{} past a buffer of {buffer_len}",
            offset + len,
        );
        crate::ops::View {
            buffer,
            offset,
            len,
        }
    }
}

impl Backend for CpuBackend {
    type Program = CpuProgram;

    fn describe(&self) -> String {
        "CPU reference (f64 accumulation)".to_string()
    }

    fn create_buffer(&mut self, label: &str, len: usize) -> Result<BufferId, BackendError> {
        if len > self.max_buffer_words() {
            return Err(BackendError::BufferTooLarge {
                label: label.to_string(),
                bytes: 4 * len as u64,
                limit: 4 * self.max_buffer_words() as u64,
            });
        }
        Ok(self.memory.create(len))
    }

    fn max_buffer_words(&self) -> usize {
        self.buffer_limit.unwrap_or(usize::MAX / 4)
    }

    fn write_f32(&mut self, buffer: BufferId, offset: usize, data: &[f32]) {
        self.write_u32(buffer, offset, bytemuck::cast_slice(data));
    }

    fn write_u32(&mut self, buffer: BufferId, offset: usize, data: &[u32]) {
        let view = self.view(buffer, offset, data.len());
        self.memory.write_words(view, data);
    }

    fn read_f32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<f32>, BackendError> {
        Ok(self.memory.floats(self.view(buffer, offset, len)).to_vec())
    }

    fn read_u32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u32>, BackendError> {
        Ok(self.memory.words(self.view(buffer, offset, len)).to_vec())
    }

    fn prepare(&mut self, ops: &[Op]) -> Result<CpuProgram, BackendError> {
        let lens = self.memory.lens();
        for op in ops {
            check_op(op, &lens)?;
        }
        Ok(CpuProgram { ops: ops.to_vec() })
    }

    fn run(&mut self, program: &CpuProgram, frame: &Frame) -> Result<(), BackendError> {
        for op in &program.ops {
            op.kernel().reference(&mut self.memory, frame);
        }
        Ok(())
    }

    fn synchronize(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn tuning(&self) -> Tuning {
        Tuning::default()
    }

    /// The reference is the same whatever the GPU variant; nothing to change.
    fn set_tuning(&mut self, _tuning: Tuning) -> Result<(), BackendError> {
        Ok(())
    }
}
