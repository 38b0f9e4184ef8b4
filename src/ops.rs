//! The kernel-level operations a model is built from: one `Op` variant per WGSL kernel.
//!
//! A model describes a training step as a list of ops over buffer views, once. Each backend turns
//! that list into something it can replay (the GPU: pipelines, bind groups and shape uniforms built
//! once) and replays it every step with a small per-step `Frame`.

use bytemuck::{Pod, Zeroable};

/// A buffer created by a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferId(pub usize);

/// Element type of a buffer: 32-bit floats, or 32-bit words (indices, packed bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
}

/// A contiguous range of a buffer, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub buffer: BufferId,
    pub offset: usize,
    pub len: usize,
}

impl View {
    pub fn whole(buffer: BufferId, len: usize) -> Self {
        Self {
            buffer,
            offset: 0,
            len,
        }
    }

    /// The sub-range [start, start + len) of this view.
    pub fn slice(&self, start: usize, len: usize) -> Self {
        assert!(
            start + len <= self.len,
            "slice {start}+{len} out of a view of {}",
            self.len
        );
        Self {
            buffer: self.buffer,
            offset: self.offset + start,
            len,
        }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// Activation of a dense layer. The codes are the WGSL constants of `shaders/activation.wgsl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu,
    Tanh,
    Sigmoid,
}

/// Slope of leaky ReLU for negative inputs (PyTorch's default).
pub const LEAKY_RELU_SLOPE: f32 = 0.01;

impl Activation {
    pub const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
    ];

    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::LeakyRelu => 2,
            Activation::Tanh => 3,
            Activation::Sigmoid => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky-relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// One kernel launch. Shapes are fixed when the op list is built; what changes from step to step
/// (RNG step, batch position, learning rate) comes from the `Frame`.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `out[r, :] = bytes(data)[perm[perm_offset + frame.batch_start + r] * dim ..][..dim] / 255`.
    /// `data` holds u8 pixels packed little-endian into u32 words.
    Gather {
        data: BufferId,
        perm: View,
        out: View,
        rows: usize,
        dim: usize,
    },
    /// `c = op(a) · op(b) (+ c if accumulate)`; op(a) is m×k, op(b) is k×n, all row-major.
    /// `trans_a`: `a` is stored k×m; `trans_b`: `b` is stored n×k.
    MatMul {
        a: View,
        b: View,
        c: View,
        m: usize,
        n: usize,
        k: usize,
        trans_a: bool,
        trans_b: bool,
        accumulate: bool,
    },
    /// In place: `x[r, j] = act(x[r, j] + bias[j])`.
    BiasAct {
        x: View,
        bias: View,
        rows: usize,
        cols: usize,
        act: Activation,
    },
    /// In place: `grad[i] *= act'(·)`, the derivative written in terms of the output `y = act(·)`.
    BiasActBackward {
        grad: View,
        y: View,
        rows: usize,
        cols: usize,
        act: Activation,
    },
    /// `out[j] = Σ_r x[r, j]` (the bias gradient).
    ColumnSum {
        x: View,
        out: View,
        rows: usize,
        cols: usize,
    },
    /// `stats` is rows×(2·latent): mu in the first half of each row, logvar in the second.
    /// `z = mu + exp(logvar/2)·eps` with `eps ~ N(0, 1)` from Philox at (element, frame.step,
    /// stream); with `sample == false`, `z = mu` and `eps = 0`.
    Reparameterize {
        stats: View,
        z: View,
        eps: View,
        rows: usize,
        latent: usize,
        stream: u32,
        sample: bool,
    },
    /// Adds the reparameterization's gradient: `grad_mu += grad_z`,
    /// `grad_logvar += grad_z · eps · exp(logvar/2) / 2`.
    ReparameterizeBackward {
        grad_z: View,
        stats: View,
        eps: View,
        grad_stats: View,
        rows: usize,
        latent: usize,
    },
    /// `out[r] = -1/2 Σ_j (1 + logvar − mu² − exp(logvar))`, the KL to N(0, I) of each row.
    KlRows {
        stats: View,
        out: View,
        rows: usize,
        latent: usize,
    },
    /// Writes (not adds) the KL gradient scaled by `frame.kl_weight · frame.grad_scale`:
    /// `grad_mu = s·mu`, `grad_logvar = s·(exp(logvar) − 1)/2`.
    KlBackward {
        stats: View,
        grad_stats: View,
        rows: usize,
        latent: usize,
    },
    /// Bernoulli negative log-likelihood from logits, summed per row:
    /// `out[r] = Σ_j max(l,0) − x·l + log1p(exp(−|l|))`; and, when `grad` is given,
    /// `grad = frame.grad_scale · (sigmoid(l) − x)`.
    BceRows {
        logits: View,
        target: View,
        grad: Option<View>,
        out: View,
        rows: usize,
        cols: usize,
    },
    /// `dst[0] = Σ src (+ dst[0] if accumulate)`: a parallel reduction to one number.
    SumInto {
        src: View,
        dst: View,
        accumulate: bool,
    },
    /// Adam / AdamW over flat buffers, hyper-parameters from the frame (PyTorch's formulation:
    /// `p ← p·(1 − lr·wd) − step_size · m / (sqrt(v)/sqrt(1−β2ᵗ) + ε)`).
    Adam {
        params: View,
        grads: View,
        m: View,
        v: View,
    },
    /// `out[i] ~ N(0, 1)` from Philox at (i, frame.step, stream).
    Normal { out: View, stream: u32 },
}

impl Op {
    /// The kernel and its shape in a few words, for reports.
    pub fn describe(&self) -> String {
        let t = |trans: bool| if trans { "T" } else { "N" };
        match *self {
            Op::Gather { rows, dim, .. } => format!("gather {rows}x{dim}"),
            Op::MatMul {
                m,
                n,
                k,
                trans_a,
                trans_b,
                ..
            } => format!("matmul {}{} m={m} n={n} k={k}", t(trans_a), t(trans_b)),
            Op::BiasAct {
                rows, cols, act, ..
            } => format!("bias_act {rows}x{cols} {}", act.name()),
            Op::BiasActBackward {
                rows, cols, act, ..
            } => format!("bias_act_backward {rows}x{cols} {}", act.name()),
            Op::ColumnSum { rows, cols, .. } => format!("column_sum {rows}x{cols}"),
            Op::Reparameterize { rows, latent, .. } => format!("reparameterize {rows}x{latent}"),
            Op::ReparameterizeBackward { rows, latent, .. } => {
                format!("reparameterize_backward {rows}x{latent}")
            }
            Op::KlRows { rows, latent, .. } => format!("kl_rows {rows}x{latent}"),
            Op::KlBackward { rows, latent, .. } => format!("kl_backward {rows}x{latent}"),
            Op::BceRows { rows, cols, .. } => format!("bce_rows {rows}x{cols}"),
            Op::SumInto { src, .. } => format!("sum_into {}", src.len),
            Op::Adam { params, .. } => format!("adam {}", params.len),
            Op::Normal { out, .. } => format!("normal {}", out.len),
        }
    }

    /// The kernel's name: the same as its WGSL entry point and CPU reference function.
    pub fn kernel_name(&self) -> &'static str {
        match self {
            Op::Gather { .. } => "gather",
            Op::MatMul { .. } => "matmul",
            Op::BiasAct { .. } => "bias_act",
            Op::BiasActBackward { .. } => "bias_act_backward",
            Op::ColumnSum { .. } => "column_sum",
            Op::Reparameterize { .. } => "reparameterize",
            Op::ReparameterizeBackward { .. } => "reparameterize_backward",
            Op::KlRows { .. } => "kl_rows",
            Op::KlBackward { .. } => "kl_backward",
            Op::BceRows { .. } => "bce_rows",
            Op::SumInto { .. } => "sum_into",
            Op::Adam { .. } => "adam",
            Op::Normal { .. } => "normal",
        }
    }
}

/// What changes from one replay of an op list to the next. Mirrors `struct Frame` in
/// `shaders/frame.wgsl` field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Frame {
    pub seed_lo: u32,
    pub seed_hi: u32,
    /// RNG step: the second Philox counter word of every draw of this replay.
    pub step: u32,
    /// Position in the permutation of the first row that `Gather` reads.
    pub batch_start: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// lr / (1 − β1ᵗ)
    pub step_size: f32,
    /// sqrt(1 − β2ᵗ)
    pub bias_correction2_sqrt: f32,
    pub kl_weight: f32,
    /// Multiplies every loss gradient (1 = gradient of the loss summed over the batch).
    pub grad_scale: f32,
    pub _pad: [u32; 3],
}

impl Frame {
    pub fn key(&self) -> [u32; 2] {
        [self.seed_lo, self.seed_hi]
    }

    pub fn with_seed(seed: u64) -> Self {
        let [seed_lo, seed_hi] = crate::rng::seed_key(seed);
        Self {
            seed_lo,
            seed_hi,
            kl_weight: 1.0,
            grad_scale: 1.0,
            ..Self::default()
        }
    }
}
