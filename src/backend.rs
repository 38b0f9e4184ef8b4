//! The one interface the model is written against, and the checks every op list passes before a
//! backend prepares it. Two implementations: the GPU (`gpu::GpuBackend`) and the CPU reference
//! (`cpu::CpuBackend`); nothing here knows either.

use crate::kernels::{Access, Op, Tuning};
use crate::ops::{BufferId, Frame};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// What the device reported (on the GPU: validation errors, lost devices, failed reads).
    #[error(transparent)]
    Device(Box<dyn std::error::Error + Send + Sync>),
    #[error("buffer {label:?} of {bytes} bytes is larger than this device allows ({limit} bytes)")]
    BufferTooLarge {
        label: String,
        bytes: u64,
        limit: u64,
    },
    #[error("op {op} cannot run: {reason}")]
    InvalidOp { op: &'static str, reason: String },
    #[error("buffer {label:?} of {bytes} bytes does not fit in the device's memory")]
    OutOfMemory { label: String, bytes: u64 },
}

/// Buffers, op lists built once into replayable programs, and replays. Buffers hold 32-bit words:
/// f32 values, or u32 indices and packed bytes.
pub trait Backend {
    /// An op list made ready to replay (on the GPU: pipelines, bind groups, shape uniforms).
    type Program;

    /// What runs the kernels, in words (adapter name, or "CPU reference").
    fn describe(&self) -> String;

    /// A zero-filled buffer of `len` words.
    fn create_buffer(&mut self, label: &str, len: usize) -> Result<BufferId, BackendError>;

    /// The most words one buffer (one storage binding) may hold here.
    fn max_buffer_words(&self) -> usize;

    fn write_f32(&mut self, buffer: BufferId, offset: usize, data: &[f32]);
    fn write_u32(&mut self, buffer: BufferId, offset: usize, data: &[u32]);
    fn read_f32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<f32>, BackendError>;
    fn read_u32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u32>, BackendError>;

    /// Checks the ops against the buffers (`check_op`) and builds what replays them.
    fn prepare(&mut self, ops: &[Op]) -> Result<Self::Program, BackendError>;

    /// Replays a program with this frame. The GPU only queues the work (one submit); reads wait.
    fn run(&mut self, program: &Self::Program, frame: &Frame) -> Result<(), BackendError>;

    /// Replays several programs in order, each with its frame: the same work, and the same
    /// results to the bit, as `run` on each in turn, in fewer submits where the backend can (the
    /// GPU puts up to `gpu::FRAME_SLOTS` steps in one).
    fn run_many(&mut self, steps: &[(&Self::Program, Frame)]) -> Result<(), BackendError> {
        for (program, frame) in steps {
            self.run(program, frame)?;
        }
        Ok(())
    }

    /// Waits until every queued replay has finished (for timing).
    fn synchronize(&mut self) -> Result<(), BackendError>;

    /// The kernel variants programs are prepared with (the CPU reference has one of each).
    fn tuning(&self) -> Tuning;

    /// Prepares later programs with these kernel variants (a resumed run keeps its own); fails if
    /// the device cannot run them.
    fn set_tuning(&mut self, tuning: Tuning) -> Result<(), BackendError>;
}

/// The checks both backends make in `prepare`, from the kernel's own declarations: every view lies
/// inside an existing buffer and holds what the op needs, and a buffer the op writes is bound
/// through no other view of the same op (the GPU forbids a writable binding that aliases another,
/// and the CPU reference would read half-written values).
pub fn check_op(op: &Op, buffer_lens: &[usize]) -> Result<(), BackendError> {
    let invalid = |reason: String| BackendError::InvalidOp {
        op: op.name(),
        reason,
    };
    op.kernel().check(buffer_lens).map_err(invalid)?;
    let operands = op.kernel().operands();
    let declared = op.spec().entry_points[0].bindings;
    if operands.len() != declared.len() {
        return Err(invalid(format!(
            "{} operands for {} declared bindings",
            operands.len(),
            declared.len()
        )));
    }
    for (operand, binding) in operands.iter().zip(declared) {
        let Some(view) = operand.view else { continue };
        let what = operand.binding;
        let len = *buffer_lens.get(view.buffer.0).ok_or_else(|| {
            invalid(format!(
                "{what} names buffer {:?}, which does not exist",
                view.buffer
            ))
        })?;
        if view.len < operand.needed {
            return Err(invalid(format!(
                "{what} view holds {} elements, needs {}",
                view.len, operand.needed
            )));
        }
        if view.offset + view.len > len {
            return Err(invalid(format!(
                "{what} view {}..{} lies outside its buffer of {len}",
                view.offset,
                view.offset + view.len
            )));
        }
        if binding.access == Access::ReadWrite {
            let sharing = operands
                .iter()
                .filter(|o| o.view.map(|v| v.buffer) == Some(view.buffer))
                .count();
            if sharing > 1 {
                return Err(invalid(format!(
                    "buffer {:?} is written through {what} and also used by another view of the same op",
                    view.buffer
                )));
            }
        }
    }
    Ok(())
}
