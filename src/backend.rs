//! The one interface the model is written against, with two implementations: the GPU
//! (`gpu::GpuBackend`) and the CPU reference (`reference::CpuBackend`).

use crate::ops::{BufferId, DType, Frame, Op};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    #[error("buffer {label:?} of {bytes} bytes is larger than this device allows ({limit} bytes)")]
    BufferTooLarge {
        label: String,
        bytes: u64,
        limit: u64,
    },
    #[error("op {op} cannot run: {reason}")]
    InvalidOp { op: &'static str, reason: String },
}

/// Buffers, op lists built once into replayable programs, and replays.
pub trait Backend {
    /// An op list made ready to replay (on the GPU: pipelines, bind groups, shape uniforms).
    type Program;

    /// What runs the kernels, in words (adapter name, or "CPU reference").
    fn describe(&self) -> String;

    /// A zero-filled buffer of `len` elements.
    fn create_buffer(
        &mut self,
        label: &str,
        len: usize,
        dtype: DType,
    ) -> Result<BufferId, BackendError>;

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

    /// Checks the ops against the buffers and builds what replays them.
    fn prepare(&mut self, ops: &[Op]) -> Result<Self::Program, BackendError>;

    /// Replays a program with this frame. The GPU only queues the work (one submit); reads wait.
    fn run(&mut self, program: &Self::Program, frame: &Frame) -> Result<(), BackendError>;

    /// Waits until every queued replay has finished (for timing).
    fn synchronize(&mut self) -> Result<(), BackendError>;
}

/// Checks that a view lies inside its buffer: a bad op list fails at `prepare`, with names.
pub fn check_view(
    op: &'static str,
    what: &str,
    view: &crate::ops::View,
    buffer_len: usize,
    needed: usize,
) -> Result<(), BackendError> {
    if view.len < needed {
        return Err(BackendError::InvalidOp {
            op,
            reason: format!("{what} view holds {} elements, needs {needed}", view.len),
        });
    }
    if view.offset + view.len > buffer_len {
        return Err(BackendError::InvalidOp {
            op,
            reason: format!(
                "{what} view {}..{} lies outside its buffer of {buffer_len}",
                view.offset,
                view.offset + view.len
            ),
        });
    }
    Ok(())
}

/// The element count each view of an op must hold at least, for `prepare`'s checks.
pub fn required_views(op: &Op) -> Vec<(&'static str, crate::ops::View, usize)> {
    match *op {
        Op::Gather {
            perm,
            out,
            rows,
            dim,
            ..
        } => vec![("perm", perm, rows), ("out", out, rows * dim)],
        Op::MatMul {
            a, b, c, m, n, k, ..
        } => vec![("a", a, m * k), ("b", b, k * n), ("c", c, m * n)],
        Op::BiasAct {
            x,
            bias,
            rows,
            cols,
            ..
        } => vec![("x", x, rows * cols), ("bias", bias, cols)],
        Op::BiasActBackward {
            grad,
            y,
            rows,
            cols,
            ..
        } => vec![("grad", grad, rows * cols), ("y", y, rows * cols)],
        Op::ColumnSum { x, out, rows, cols } => vec![("x", x, rows * cols), ("out", out, cols)],
        Op::Reparameterize {
            stats,
            z,
            eps,
            rows,
            latent,
            ..
        } => vec![
            ("stats", stats, rows * 2 * latent),
            ("z", z, rows * latent),
            ("eps", eps, rows * latent),
        ],
        Op::ReparameterizeBackward {
            grad_z,
            stats,
            eps,
            grad_stats,
            rows,
            latent,
        } => vec![
            ("grad_z", grad_z, rows * latent),
            ("stats", stats, rows * 2 * latent),
            ("eps", eps, rows * latent),
            ("grad_stats", grad_stats, rows * 2 * latent),
        ],
        Op::KlRows {
            stats,
            out,
            rows,
            latent,
        } => vec![("stats", stats, rows * 2 * latent), ("out", out, rows)],
        Op::KlBackward {
            stats,
            grad_stats,
            rows,
            latent,
        } => vec![
            ("stats", stats, rows * 2 * latent),
            ("grad_stats", grad_stats, rows * 2 * latent),
        ],
        Op::BceRows {
            logits,
            target,
            grad,
            out,
            rows,
            cols,
        } => {
            let mut views = vec![
                ("logits", logits, rows * cols),
                ("target", target, rows * cols),
                ("out", out, rows),
            ];
            if let Some(grad) = grad {
                views.push(("grad", grad, rows * cols));
            }
            views
        }
        Op::SumInto { src, dst, .. } => vec![("src", src, src.len), ("dst", dst, 1)],
        Op::Adam {
            params,
            grads,
            m,
            v,
        } => {
            let n = params.len;
            vec![
                ("params", params, n),
                ("grads", grads, n),
                ("m", m, n),
                ("v", v, n),
            ]
        }
        Op::Normal { out, .. } => vec![("out", out, out.len)],
    }
}
