//! `Backend` on the CPU: replays op lists by calling the reference kernels. Slow, exact, and the
//! truth the GPU is measured against.

use crate::backend::{check_view, required_views, Backend, BackendError};
use crate::ops::{BufferId, DType, Frame, Op, View};

use super::AdamHyper;

/// Buffers are u32 words; f32 buffers are read through a cast, as on the GPU.
#[derive(Default)]
pub struct CpuBackend {
    buffers: Vec<Vec<u32>>,
    labels: Vec<String>,
}

/// The ops of a CPU program are replayed as they are.
pub struct CpuProgram {
    ops: Vec<Op>,
}

impl CpuBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn words(&self, view: &View) -> &[u32] {
        &self.buffers[view.buffer.0][view.range()]
    }

    fn floats(&self, view: &View) -> &[f32] {
        bytemuck::cast_slice(self.words(view))
    }

    /// Takes a written buffer out so that the op can read the others while writing it.
    fn take(&mut self, buffer: BufferId) -> Vec<u32> {
        std::mem::take(&mut self.buffers[buffer.0])
    }

    fn put(&mut self, buffer: BufferId, words: Vec<u32>) {
        self.buffers[buffer.0] = words;
    }

    fn run_op(&mut self, op: &Op, frame: &Frame) {
        fn out<'a>(words: &'a mut [u32], view: &View) -> &'a mut [f32] {
            bytemuck::cast_slice_mut(&mut words[view.range()])
        }
        match *op {
            Op::Gather {
                data,
                perm,
                out: o,
                rows,
                dim,
            } => {
                let mut w = self.take(o.buffer);
                let data = &self.buffers[data.0];
                let perm = self.words(&perm);
                super::gather(
                    data,
                    perm,
                    frame.batch_start as usize,
                    out(&mut w, &o),
                    rows,
                    dim,
                );
                self.put(o.buffer, w);
            }
            Op::MatMul {
                a,
                b,
                c,
                m,
                n,
                k,
                trans_a,
                trans_b,
                accumulate,
            } => {
                let mut w = self.take(c.buffer);
                super::matmul(
                    self.floats(&a),
                    self.floats(&b),
                    out(&mut w, &c),
                    m,
                    n,
                    k,
                    trans_a,
                    trans_b,
                    accumulate,
                );
                self.put(c.buffer, w);
            }
            Op::BiasAct {
                x,
                bias,
                rows,
                cols,
                act,
            } => {
                let mut w = self.take(x.buffer);
                super::bias_act(out(&mut w, &x), self.floats(&bias), rows, cols, act);
                self.put(x.buffer, w);
            }
            Op::BiasActBackward {
                grad,
                y,
                rows,
                cols,
                act,
            } => {
                let mut w = self.take(grad.buffer);
                super::bias_act_backward(out(&mut w, &grad), self.floats(&y), rows, cols, act);
                self.put(grad.buffer, w);
            }
            Op::ColumnSum {
                x,
                out: o,
                rows,
                cols,
            } => {
                let mut w = self.take(o.buffer);
                super::column_sum(self.floats(&x), out(&mut w, &o), rows, cols);
                self.put(o.buffer, w);
            }
            Op::Reparameterize {
                stats,
                z,
                eps,
                rows,
                latent,
                stream,
                sample,
            } => {
                let mut wz = self.take(z.buffer);
                let mut we = self.take(eps.buffer);
                super::reparameterize(
                    self.floats(&stats),
                    out(&mut wz, &z),
                    out(&mut we, &eps),
                    rows,
                    latent,
                    frame.key(),
                    frame.step,
                    stream,
                    sample,
                );
                self.put(z.buffer, wz);
                self.put(eps.buffer, we);
            }
            Op::ReparameterizeBackward {
                grad_z,
                stats,
                eps,
                grad_stats,
                rows,
                latent,
            } => {
                let mut w = self.take(grad_stats.buffer);
                super::reparameterize_backward(
                    self.floats(&grad_z),
                    self.floats(&stats),
                    self.floats(&eps),
                    out(&mut w, &grad_stats),
                    rows,
                    latent,
                );
                self.put(grad_stats.buffer, w);
            }
            Op::KlRows {
                stats,
                out: o,
                rows,
                latent,
            } => {
                let mut w = self.take(o.buffer);
                super::kl_rows(self.floats(&stats), out(&mut w, &o), rows, latent);
                self.put(o.buffer, w);
            }
            Op::KlBackward {
                stats,
                grad_stats,
                rows,
                latent,
            } => {
                let mut w = self.take(grad_stats.buffer);
                super::kl_backward(
                    self.floats(&stats),
                    out(&mut w, &grad_stats),
                    rows,
                    latent,
                    frame.kl_weight * frame.grad_scale,
                );
                self.put(grad_stats.buffer, w);
            }
            Op::BceRows {
                logits,
                target,
                grad,
                out: o,
                rows,
                cols,
            } => {
                let mut wo = self.take(o.buffer);
                let mut wg = grad.map(|g| self.take(g.buffer));
                super::bce_rows(
                    self.floats(&logits),
                    self.floats(&target),
                    wg.as_mut().zip(grad).map(|(w, g)| out(w, &g)),
                    out(&mut wo, &o),
                    rows,
                    cols,
                    frame.grad_scale,
                );
                self.put(o.buffer, wo);
                if let (Some(g), Some(w)) = (grad, wg) {
                    self.put(g.buffer, w);
                }
            }
            Op::SumInto {
                src,
                dst,
                accumulate,
            } => {
                let mut w = self.take(dst.buffer);
                super::sum_into(self.floats(&src), &mut out(&mut w, &dst)[0], accumulate);
                self.put(dst.buffer, w);
            }
            Op::Adam {
                params,
                grads,
                m,
                v,
            } => {
                let mut wp = self.take(params.buffer);
                let mut wm = self.take(m.buffer);
                let mut wv = self.take(v.buffer);
                super::adam(
                    out(&mut wp, &params),
                    self.floats(&grads),
                    out(&mut wm, &m),
                    out(&mut wv, &v),
                    AdamHyper::from_frame(frame),
                );
                self.put(params.buffer, wp);
                self.put(m.buffer, wm);
                self.put(v.buffer, wv);
            }
            Op::Normal { out: o, stream } => {
                let mut w = self.take(o.buffer);
                super::normal(out(&mut w, &o), frame.key(), frame.step, stream);
                self.put(o.buffer, w);
            }
        }
    }
}

/// The views an op writes; they may share their buffer with no other view of the op (the GPU
/// forbids it too, and the CPU replay takes written buffers out while the op runs).
pub fn written_views(op: &Op) -> Vec<View> {
    match *op {
        Op::Gather { out, .. } => vec![out],
        Op::MatMul { c, .. } => vec![c],
        Op::BiasAct { x, .. } => vec![x],
        Op::BiasActBackward { grad, .. } => vec![grad],
        Op::ColumnSum { out, .. } => vec![out],
        Op::Reparameterize { z, eps, .. } => vec![z, eps],
        Op::ReparameterizeBackward { grad_stats, .. } => vec![grad_stats],
        Op::KlRows { out, .. } => vec![out],
        Op::KlBackward { grad_stats, .. } => vec![grad_stats],
        Op::BceRows { grad, out, .. } => grad.into_iter().chain([out]).collect(),
        Op::SumInto { dst, .. } => vec![dst],
        Op::Adam { params, m, v, .. } => vec![params, m, v],
        Op::Normal { out, .. } => vec![out],
    }
}

/// Fails when a written buffer is also read or written through another view of the same op.
pub fn check_aliasing(op: &Op) -> Result<(), BackendError> {
    let written = written_views(op);
    let mut all: Vec<View> = required_views(op).into_iter().map(|(_, v, _)| v).collect();
    if let Op::Gather { data, .. } = op {
        all.push(View::whole(*data, 0));
    }
    for w in &written {
        let uses = all.iter().filter(|v| v.buffer == w.buffer).count();
        if uses > 1 {
            return Err(BackendError::InvalidOp {
                op: op.kernel_name(),
                reason: format!(
                    "buffer {:?} is written and also used by another view of the same op",
                    w.buffer
                ),
            });
        }
    }
    Ok(())
}

/// The checks both backends make in `prepare`.
pub fn check_op(op: &Op, buffer_lens: &[usize]) -> Result<(), BackendError> {
    for (what, view, needed) in required_views(op) {
        let len = *buffer_lens
            .get(view.buffer.0)
            .ok_or_else(|| BackendError::InvalidOp {
                op: op.kernel_name(),
                reason: format!(
                    "{what} names buffer {:?}, which does not exist",
                    view.buffer
                ),
            })?;
        check_view(op.kernel_name(), what, &view, len, needed)?;
    }
    check_aliasing(op)
}

impl Backend for CpuBackend {
    type Program = CpuProgram;

    fn describe(&self) -> String {
        "CPU reference (f64 accumulation)".to_string()
    }

    fn create_buffer(
        &mut self,
        label: &str,
        len: usize,
        _dtype: DType,
    ) -> Result<BufferId, BackendError> {
        self.buffers.push(vec![0; len]);
        self.labels.push(label.to_string());
        Ok(BufferId(self.buffers.len() - 1))
    }

    fn write_f32(&mut self, buffer: BufferId, offset: usize, data: &[f32]) {
        self.write_u32(buffer, offset, bytemuck::cast_slice(data));
    }

    fn write_u32(&mut self, buffer: BufferId, offset: usize, data: &[u32]) {
        self.buffers[buffer.0][offset..offset + data.len()].copy_from_slice(data);
    }

    fn read_f32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<f32>, BackendError> {
        Ok(bytemuck::cast_slice(&self.buffers[buffer.0][offset..offset + len]).to_vec())
    }

    fn read_u32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u32>, BackendError> {
        Ok(self.buffers[buffer.0][offset..offset + len].to_vec())
    }

    fn prepare(&mut self, ops: &[Op]) -> Result<CpuProgram, BackendError> {
        let lens: Vec<usize> = self.buffers.iter().map(Vec::len).collect();
        for op in ops {
            check_op(op, &lens)?;
        }
        Ok(CpuProgram { ops: ops.to_vec() })
    }

    fn run(&mut self, program: &CpuProgram, frame: &Frame) -> Result<(), BackendError> {
        for op in &program.ops {
            self.run_op(op, frame);
        }
        Ok(())
    }

    fn synchronize(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}
