//! How each `Op` becomes a kernel launch: which entry point, its shape uniform (in the field order
//! of the WGSL struct), its storage buffers, and its workgroup counts.

use crate::ops::{BufferId, Op, View};

use super::kernels::Kernel;

/// Which matrix-multiply kernels to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulStrategy {
    /// The subgroup-broadcast kernels (shaders/matmul_subgroup.wgsl) wherever shapes and offsets
    /// are multiples of 4, the scalar kernel elsewhere. Needs subgroups of at least 8.
    SubgroupWhereAligned,
    /// The vec4 register-block kernels wherever shapes and offsets are multiples of 4, the scalar
    /// kernel elsewhere.
    Vec4WhereAligned,
    /// The scalar kernel everywhere.
    Scalar,
}

/// The kernel choices of one device: which matmul kernels, and the workgroup width of the subgroup
/// ones (the `LANES` override of shaders/matmul_subgroup.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelTuning {
    pub matmul: MatmulStrategy,
    pub subgroup_lanes: u32,
}

/// Subgroup kernel workgroup width on CPU adapters (one SIMD vector of lavapipe) and on GPUs.
pub const SUBGROUP_LANES_CPU: u32 = 8;
pub const SUBGROUP_LANES_GPU: u32 = 32;

/// One kernel launch, ready to be bound.
pub struct KernelCall {
    pub kernel: Kernel,
    /// The shape uniform, padded to 16 bytes.
    pub params: Vec<u32>,
    /// Storage bindings 2, 3, … (`None`: an unused optional output, bound to a dummy buffer).
    pub storage: Vec<Option<BufferId>>,
    pub workgroups: [u32; 3],
}

// Workgroup shapes; each must agree with the constant of the shader it sizes dispatches for (the
// test below reads them from the WGSL).
const ELEMENTWISE_WORKGROUP: usize = 256;
const MATMUL_WORKGROUP: usize = 8;
const MATMUL_SCALAR_BLOCK: usize = 4;
const MATMUL_VEC4_ROWS: usize = 8;
const MATMUL_VEC4_LANES: usize = 32;
const MATMUL_SUBGROUP_ROWS: usize = 32;
const COLUMN_WORKGROUP: usize = 64;
const ROW_WORKGROUP: usize = 64;

fn groups(count: usize, per_group: usize) -> u32 {
    count.div_ceil(per_group).max(1) as u32
}

/// Element-wise dispatch folded into (x, y) past the per-dimension limit; the shaders rebuild the
/// index with `element_index` (shaders/elementwise.wgsl).
pub fn elementwise(count: usize, max_per_dimension: u32) -> [u32; 3] {
    let total = groups(count, ELEMENTWISE_WORKGROUP);
    if total <= max_per_dimension {
        [total, 1, 1]
    } else {
        [max_per_dimension, total.div_ceil(max_per_dimension), 1]
    }
}

fn padded(mut words: Vec<u32>) -> Vec<u32> {
    while words.len() % 4 != 0 {
        words.push(0);
    }
    words
}

fn off(view: &View) -> u32 {
    view.offset as u32
}

/// The matmul kernel that runs a product under a strategy.
pub fn matmul_kernel(strategy: MatmulStrategy, op: &Op) -> Kernel {
    let Op::MatMul {
        a,
        b,
        c,
        m,
        n,
        k,
        trans_a,
        trans_b,
        ..
    } = *op
    else {
        unreachable!("matmul_kernel of a {}", op.kernel_name());
    };
    let subgroup = match strategy {
        MatmulStrategy::Scalar => return Kernel::Matmul,
        MatmulStrategy::SubgroupWhereAligned => true,
        MatmulStrategy::Vec4WhereAligned => false,
    };
    let aligned = [a.offset, b.offset, c.offset].iter().all(|o| o % 4 == 0);
    let pick = |plain, shared| if subgroup { shared } else { plain };
    match (trans_a, trans_b) {
        (false, false) if aligned && k % 4 == 0 && n % 4 == 0 => {
            pick(Kernel::MatmulNn, Kernel::MatmulSubgroupNn)
        }
        (false, true) if aligned && k % 4 == 0 && n % 4 == 0 => {
            pick(Kernel::MatmulNt, Kernel::MatmulSubgroupNt)
        }
        (true, false) if aligned && m % 4 == 0 && n % 4 == 0 => {
            pick(Kernel::MatmulTn, Kernel::MatmulSubgroupTn)
        }
        _ => Kernel::Matmul,
    }
}

pub fn encode(op: &Op, tuning: KernelTuning, max_per_dimension: u32) -> KernelCall {
    let u = |v: usize| v as u32;
    let b = |v: bool| v as u32;
    let (kernel, params, storage, workgroups) = match *op {
        Op::Gather {
            data,
            perm,
            out,
            rows,
            dim,
        } => (
            Kernel::Gather,
            vec![u(rows), u(dim), off(&perm), off(&out)],
            vec![Some(data), Some(perm.buffer), Some(out.buffer)],
            elementwise(rows * dim, max_per_dimension),
        ),
        Op::MatMul {
            a,
            b: bm,
            c,
            m,
            n,
            k,
            trans_a,
            trans_b,
            accumulate,
        } => {
            let kernel = matmul_kernel(tuning.matmul, op);
            let (unit, workgroups) = match kernel {
                Kernel::Matmul => {
                    let block = MATMUL_WORKGROUP * MATMUL_SCALAR_BLOCK;
                    (1, [groups(n, block), groups(m, block), 1])
                }
                Kernel::MatmulNn | Kernel::MatmulNt | Kernel::MatmulTn => {
                    let cols = groups(n / 4, MATMUL_VEC4_LANES);
                    (4, [cols, groups(m, MATMUL_VEC4_ROWS), 1])
                }
                _ => {
                    let cols = groups(n / 4, tuning.subgroup_lanes as usize);
                    (4, [cols, groups(m, MATMUL_SUBGROUP_ROWS), 1])
                }
            };
            (
                kernel,
                vec![
                    u(m),
                    u(n),
                    u(k),
                    b(trans_a),
                    b(trans_b),
                    b(accumulate),
                    off(&a) / unit,
                    off(&bm) / unit,
                    off(&c) / unit,
                ],
                vec![Some(a.buffer), Some(bm.buffer), Some(c.buffer)],
                workgroups,
            )
        }
        Op::BiasAct {
            x,
            bias,
            rows,
            cols,
            act,
        } => (
            Kernel::BiasAct,
            vec![u(rows), u(cols), act.code(), off(&x), off(&bias)],
            vec![Some(bias.buffer), Some(x.buffer)],
            elementwise(rows * cols, max_per_dimension),
        ),
        Op::BiasActBackward {
            grad,
            y,
            rows,
            cols,
            act,
        } => (
            Kernel::BiasActBackward,
            vec![u(rows * cols), act.code(), off(&grad), off(&y)],
            vec![Some(y.buffer), Some(grad.buffer)],
            elementwise(rows * cols, max_per_dimension),
        ),
        Op::ColumnSum { x, out, rows, cols } => (
            Kernel::ColumnSum,
            vec![u(rows), u(cols), off(&x), off(&out)],
            vec![Some(x.buffer), Some(out.buffer)],
            [groups(cols, COLUMN_WORKGROUP), 1, 1],
        ),
        Op::SumInto {
            src,
            dst,
            accumulate,
        } => (
            Kernel::SumInto,
            vec![u(src.len), off(&src), off(&dst), b(accumulate)],
            vec![Some(src.buffer), Some(dst.buffer)],
            [1, 1, 1],
        ),
        Op::KlRows {
            stats,
            out,
            rows,
            latent,
        } => (
            Kernel::KlRows,
            vec![u(rows), u(latent), off(&stats), off(&out)],
            vec![Some(stats.buffer), Some(out.buffer)],
            [groups(rows, ROW_WORKGROUP), 1, 1],
        ),
        Op::KlBackward {
            stats,
            grad_stats,
            rows,
            latent,
        } => (
            Kernel::KlBackward,
            vec![u(rows), u(latent), off(&stats), off(&grad_stats)],
            vec![Some(stats.buffer), Some(grad_stats.buffer)],
            elementwise(rows * latent, max_per_dimension),
        ),
        Op::BceRows {
            logits,
            target,
            grad,
            out,
            rows,
            cols,
        } => (
            Kernel::BceRows,
            vec![
                u(rows),
                u(cols),
                b(grad.is_some()),
                off(&logits),
                off(&target),
                grad.as_ref().map(off).unwrap_or(0),
                off(&out),
            ],
            vec![
                Some(logits.buffer),
                Some(target.buffer),
                grad.map(|g| g.buffer),
                Some(out.buffer),
            ],
            [u(rows), 1, 1],
        ),
        Op::Reparameterize {
            stats,
            z,
            eps,
            rows,
            latent,
            stream,
            sample,
        } => (
            Kernel::Reparameterize,
            vec![
                u(rows),
                u(latent),
                stream,
                b(sample),
                off(&stats),
                off(&z),
                off(&eps),
            ],
            vec![Some(stats.buffer), Some(z.buffer), Some(eps.buffer)],
            elementwise(rows * latent, max_per_dimension),
        ),
        Op::ReparameterizeBackward {
            grad_z,
            stats,
            eps,
            grad_stats,
            rows,
            latent,
        } => (
            Kernel::ReparameterizeBackward,
            vec![
                u(rows),
                u(latent),
                off(&grad_z),
                off(&stats),
                off(&eps),
                off(&grad_stats),
            ],
            vec![
                Some(grad_z.buffer),
                Some(stats.buffer),
                Some(eps.buffer),
                Some(grad_stats.buffer),
            ],
            elementwise(rows * latent, max_per_dimension),
        ),
        Op::Adam {
            params,
            grads,
            m,
            v,
        } => (
            Kernel::Adam,
            vec![u(params.len), off(&params), off(&grads), off(&m), off(&v)],
            vec![
                Some(grads.buffer),
                Some(params.buffer),
                Some(m.buffer),
                Some(v.buffer),
            ],
            elementwise(params.len, max_per_dimension),
        ),
        Op::Normal { out, stream } => (
            Kernel::Normal,
            vec![u(out.len), stream, off(&out)],
            vec![Some(out.buffer)],
            elementwise(out.len, max_per_dimension),
        ),
    };
    KernelCall {
        kernel,
        params: padded(params),
        storage,
        workgroups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::shaders;

    /// The value of `const NAME: u32 = Vu;` in a WGSL source.
    fn wgsl_const(source: &str, name: &str) -> usize {
        let prefix = format!("const {name}: u32 = ");
        let line = source
            .lines()
            .find(|l| l.trim_start().starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name} in the shader"));
        line.trim_start()[prefix.len()..]
            .trim_end_matches(';')
            .trim_end_matches('u')
            .parse()
            .unwrap()
    }

    #[test]
    fn dispatch_shapes_agree_with_the_shaders() {
        let pairs = [
            (
                shaders::ELEMENTWISE.source,
                "ELEMENTWISE_WORKGROUP",
                ELEMENTWISE_WORKGROUP,
            ),
            (shaders::MATMUL.source, "BLOCK", MATMUL_SCALAR_BLOCK),
            (shaders::MATMUL_VEC4.source, "ROWS", MATMUL_VEC4_ROWS),
            (shaders::MATMUL_VEC4.source, "LANES", MATMUL_VEC4_LANES),
            (
                shaders::MATMUL_SUBGROUP.source,
                "ROWS",
                MATMUL_SUBGROUP_ROWS,
            ),
        ];
        for (source, name, host) in pairs {
            assert_eq!(wgsl_const(source, name), host, "{name}");
        }
        // The subgroup kernels' width is an override the host sets (Pipelines::get).
        assert!(shaders::MATMUL_SUBGROUP
            .source
            .contains("override LANES: u32"));
        assert!(shaders::MATMUL.source.contains("@workgroup_size(8, 8)"));
        assert_eq!(MATMUL_WORKGROUP, 8);
        assert!(shaders::COLUMN_SUM.source.contains("@workgroup_size(64)"));
        assert!(shaders::KL_ROWS.source.contains("@workgroup_size(64)"));
        assert_eq!((COLUMN_WORKGROUP, ROW_WORKGROUP), (64, 64));
    }

    #[test]
    fn large_elementwise_dispatches_fold_into_two_dimensions() {
        assert_eq!(elementwise(256 * 65_535, 65_535), [65_535, 1, 1]);
        let [x, y, _] = elementwise(256 * 65_535 + 1, 65_535);
        assert_eq!((x, y), (65_535, 2));
    }
}
