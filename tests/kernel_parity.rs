//! One parity test per WGSL kernel: random inputs, odd shapes, outputs poisoned with NaN before
//! the run, ‖gpu − cpu‖/‖cpu‖ within DESIGN.md's tolerances (NaN never passes).

mod common;

use common::{random, Pair};
use vae_gpu::backend::Backend;
use vae_gpu::gpu::{matmul_kernel, Kernel, MatmulStrategy, SUBGROUP_LANES_CPU, SUBGROUP_LANES_GPU};
use vae_gpu::ops::{Activation, Frame, Op, View};
use vae_gpu::tolerance::{KERNEL_ELEMENTWISE, KERNEL_REDUCTION};

/// (m, n, k): none a multiple of a tile; the last is the size of a VAE layer and then some.
const ODD_SHAPES: [(usize, usize, usize); 4] =
    [(1, 1, 1), (7, 13, 5), (33, 3, 17), (129, 401, 785)];
/// Multiples of 4 (so the vec4 and subgroup kernels run) that are not multiples of their tiles
/// (64 x 32 and 32 x 128); the last has an odd k, which only the TN kernels take.
const ALIGNED_SHAPES: [(usize, usize, usize); 4] =
    [(4, 4, 4), (36, 44, 20), (132, 404, 788), (40, 136, 9)];

fn matmul_case(
    pair: &mut Pair,
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    seed: u64,
) -> Kernel {
    // Views start past a multiple-of-4 head, so that offsets are exercised too.
    let a = pair.input(&random(8 + m * k, 1.0, seed));
    let b = pair.input(&random(4 + k * n, 1.0, seed + 1));
    let c = if accumulate {
        pair.input(&random(12 + m * n, 1.0, seed + 2))
    } else {
        pair.poisoned(12 + m * n)
    };
    let op = Op::MatMul {
        a: View {
            buffer: a,
            offset: 8,
            len: m * k,
        },
        b: View {
            buffer: b,
            offset: 4,
            len: k * n,
        },
        c: View {
            buffer: c,
            offset: 12,
            len: m * n,
        },
        m,
        n,
        k,
        trans_a,
        trans_b,
        accumulate,
    };
    let kernel = matmul_kernel(pair.gpu.matmul_strategy(), &op);
    pair.run(&[op], &Frame::default());
    let what =
        format!("matmul {m}x{n}x{k} ta={trans_a} tb={trans_b} acc={accumulate} via {kernel:?}");
    pair.check(&what, c, 12, m * n, KERNEL_REDUCTION);
    kernel
}

const FORMS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

#[test]
fn gpu_matmul_matches_cpu_on_odd_shapes() {
    let Some(mut pair) = Pair::new() else { return };
    for (i, shape) in ODD_SHAPES.into_iter().enumerate() {
        for (ta, tb) in FORMS {
            let kernel = matmul_case(&mut pair, shape, ta, tb, false, 10 * i as u64);
            if shape.0 % 4 != 0 && shape.1 % 4 != 0 {
                assert_eq!(kernel, Kernel::Matmul);
            }
        }
    }
}

fn aligned_kernels_match(pair: &mut Pair, expected: [Kernel; 3]) {
    for (i, shape) in ALIGNED_SHAPES.into_iter().enumerate() {
        for ((ta, tb), expected) in [(false, false), (false, true), (true, false)]
            .into_iter()
            .zip(expected)
        {
            // NN and NT vectorize along k; TN does not need k % 4 == 0.
            let expected = if !ta && shape.2 % 4 != 0 {
                Kernel::Matmul
            } else {
                expected
            };
            for accumulate in [false, true] {
                let kernel = matmul_case(pair, shape, ta, tb, accumulate, 7 * i as u64);
                assert_eq!(kernel, expected);
            }
        }
    }
}

#[test]
fn gpu_vec4_matmul_kernels_match_cpu_on_aligned_shapes() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu
        .set_matmul_strategy(MatmulStrategy::Vec4WhereAligned);
    aligned_kernels_match(
        &mut pair,
        [Kernel::MatmulNn, Kernel::MatmulNt, Kernel::MatmulTn],
    );
}

#[test]
fn gpu_subgroup_matmul_kernels_match_cpu_on_aligned_shapes() {
    let Some(mut pair) = Pair::new() else { return };
    if !pair.gpu.has_subgroups() {
        // A capability of the adapter, not a missing one: lavapipe (CI) has subgroups of 8.
        eprintln!(
            "NOT RUN: {} has no subgroups of 8 or more",
            pair.gpu.describe()
        );
        return;
    }
    pair.gpu
        .set_matmul_strategy(MatmulStrategy::SubgroupWhereAligned);
    // Both workgroup widths: one SIMD vector (CPU adapters) and a warp (GPUs).
    for lanes in [SUBGROUP_LANES_CPU, SUBGROUP_LANES_GPU] {
        pair.gpu.set_subgroup_lanes(lanes);
        aligned_kernels_match(
            &mut pair,
            [
                Kernel::MatmulSubgroupNn,
                Kernel::MatmulSubgroupNt,
                Kernel::MatmulSubgroupTn,
            ],
        );
    }
}

#[test]
fn gpu_scalar_matmul_matches_cpu_when_forced_and_accumulating() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu.set_matmul_strategy(MatmulStrategy::Scalar);
    for shape in [(36, 44, 20), (7, 13, 5)] {
        for (ta, tb) in FORMS {
            assert_eq!(
                matmul_case(&mut pair, shape, ta, tb, true, 3),
                Kernel::Matmul
            );
        }
    }
}

const ROW_SHAPES: [(usize, usize); 4] = [(1, 1), (7, 13), (129, 785), (3, 1000)];

#[test]
fn gpu_bias_act_matches_cpu_for_every_activation() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, cols) in ROW_SHAPES {
        for act in Activation::ALL {
            // Scale 30 reaches tanh/sigmoid saturation and the leaky/ReLU kink.
            let x = pair.input(&random(rows * cols, 30.0, 1));
            let bias = pair.input(&random(cols, 1.0, 2));
            let op = Op::BiasAct {
                x: View::whole(x, rows * cols),
                bias: View::whole(bias, cols),
                rows,
                cols,
                act,
            };
            pair.run(&[op], &Frame::default());
            let what = format!("bias_act {rows}x{cols} {act:?}");
            pair.check(&what, x, 0, rows * cols, KERNEL_ELEMENTWISE);
        }
    }
}

/// Dispatches past the per-dimension workgroup limit fold into two dimensions; a low fold limit
/// runs that index path here on every element-wise kernel shape.
#[test]
fn gpu_elementwise_kernels_match_cpu_when_dispatches_fold() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu.set_fold_limit(3);
    let (rows, cols) = (37, 101); // 3737 elements: 15 workgroups of 256, folded into 3 x 5
    let x = pair.input(&random(rows * cols, 3.0, 21));
    let bias = pair.input(&random(cols, 1.0, 22));
    let out = pair.poisoned(rows * cols);
    let ops = [
        Op::BiasAct {
            x: View::whole(x, rows * cols),
            bias: View::whole(bias, cols),
            rows,
            cols,
            act: Activation::Tanh,
        },
        Op::Normal {
            out: View::whole(out, rows * cols),
            stream: 4,
        },
    ];
    pair.run(&ops, &Frame::with_seed(8));
    pair.check("folded bias_act", x, 0, rows * cols, KERNEL_ELEMENTWISE);
    pair.check("folded normal", out, 0, rows * cols, KERNEL_ELEMENTWISE);
}

#[test]
fn gpu_bias_act_backward_matches_cpu_for_every_activation() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, cols) in ROW_SHAPES {
        for act in Activation::ALL {
            // Outputs of the activation itself, so that each slope formula sees valid inputs.
            let mut y = random(rows * cols, 3.0, 4);
            let zeros = vec![0.0; cols];
            vae_gpu::reference::bias_act(&mut y, &zeros, rows, cols, act);
            let y = pair.input(&y);
            let grad = pair.input(&random(rows * cols, 1.0, 5));
            let op = Op::BiasActBackward {
                grad: View::whole(grad, rows * cols),
                y: View::whole(y, rows * cols),
                rows,
                cols,
                act,
            };
            pair.run(&[op], &Frame::default());
            let what = format!("bias_act_backward {rows}x{cols} {act:?}");
            pair.check(&what, grad, 0, rows * cols, KERNEL_ELEMENTWISE);
        }
    }
}

#[test]
fn gpu_column_sum_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, cols) in ROW_SHAPES {
        let x = pair.input(&random(rows * cols, 1.0, 6));
        let out = pair.poisoned(cols + 3);
        let op = Op::ColumnSum {
            x: View::whole(x, rows * cols),
            out: View {
                buffer: out,
                offset: 3,
                len: cols,
            },
            rows,
            cols,
        };
        pair.run(&[op], &Frame::default());
        pair.check(
            &format!("column_sum {rows}x{cols}"),
            out,
            3,
            cols,
            KERNEL_REDUCTION,
        );
    }
}

#[test]
fn gpu_sum_into_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for n in [1, 7, 255, 257, 100_003] {
        for accumulate in [false, true] {
            // Long sums are of positive terms, like the per-row losses this kernel adds up: a
            // long sum of mixed signs that cancels to near zero has no f32 answer to compare.
            let src: Vec<f32> = if n > 1000 {
                random(n, 1.0, 7).iter().map(|v| v.abs()).collect()
            } else {
                random(n, 1.0, 7)
            };
            let src = pair.input(&src);
            let dst = if accumulate {
                pair.input(&[0.0, 0.0, 2.5])
            } else {
                pair.poisoned(3)
            };
            let op = Op::SumInto {
                src: View::whole(src, n),
                dst: View {
                    buffer: dst,
                    offset: 2,
                    len: 1,
                },
                accumulate,
            };
            pair.run(&[op], &Frame::default());
            pair.check(
                &format!("sum_into n={n} acc={accumulate}"),
                dst,
                2,
                1,
                KERNEL_REDUCTION,
            );
        }
    }
}

const LATENT_SHAPES: [(usize, usize); 4] = [(1, 1), (7, 3), (129, 20), (1000, 13)];

#[test]
fn gpu_reparameterize_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        for sample in [true, false] {
            let stats = pair.input(&random(rows * 2 * latent, 2.0, 8));
            let z = pair.poisoned(rows * latent);
            let eps = pair.poisoned(rows * latent);
            let op = Op::Reparameterize {
                stats: View::whole(stats, rows * 2 * latent),
                z: View::whole(z, rows * latent),
                eps: View::whole(eps, rows * latent),
                rows,
                latent,
                stream: 1,
                sample,
            };
            let mut frame = Frame::with_seed(42);
            frame.step = 9;
            pair.run(&[op], &frame);
            let what = format!("reparameterize {rows}x{latent} sample={sample}");
            pair.check(
                &format!("{what} z"),
                z,
                0,
                rows * latent,
                KERNEL_ELEMENTWISE,
            );
            pair.check(
                &format!("{what} eps"),
                eps,
                0,
                rows * latent,
                KERNEL_ELEMENTWISE,
            );
        }
    }
}

#[test]
fn gpu_reparameterize_backward_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        let grad_z = pair.input(&random(rows * latent, 1.0, 9));
        let stats = pair.input(&random(rows * 2 * latent, 2.0, 10));
        let eps = pair.input(&random(rows * latent, 2.0, 11));
        // It adds into the gradient, so that starts from values, not poison.
        let grad_stats = pair.input(&random(rows * 2 * latent, 1.0, 12));
        let op = Op::ReparameterizeBackward {
            grad_z: View::whole(grad_z, rows * latent),
            stats: View::whole(stats, rows * 2 * latent),
            eps: View::whole(eps, rows * latent),
            grad_stats: View::whole(grad_stats, rows * 2 * latent),
            rows,
            latent,
        };
        pair.run(&[op], &Frame::default());
        let what = format!("reparameterize_backward {rows}x{latent}");
        pair.check(&what, grad_stats, 0, rows * 2 * latent, KERNEL_ELEMENTWISE);
    }
}

#[test]
fn gpu_kl_rows_and_its_sum_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        let stats = pair.input(&random(rows * 2 * latent, 2.0, 13));
        let out = pair.poisoned(rows);
        let total = pair.poisoned(1);
        let ops = [
            Op::KlRows {
                stats: View::whole(stats, rows * 2 * latent),
                out: View::whole(out, rows),
                rows,
                latent,
            },
            Op::SumInto {
                src: View::whole(out, rows),
                dst: View::whole(total, 1),
                accumulate: false,
            },
        ];
        pair.run(&ops, &Frame::default());
        pair.check(
            &format!("kl_rows {rows}x{latent}"),
            out,
            0,
            rows,
            KERNEL_REDUCTION,
        );
        pair.check(
            &format!("kl sum {rows}x{latent}"),
            total,
            0,
            1,
            KERNEL_REDUCTION,
        );
    }
}

#[test]
fn gpu_kl_backward_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        let stats = pair.input(&random(rows * 2 * latent, 2.0, 14));
        let grad = pair.poisoned(rows * 2 * latent);
        let op = Op::KlBackward {
            stats: View::whole(stats, rows * 2 * latent),
            grad_stats: View::whole(grad, rows * 2 * latent),
            rows,
            latent,
        };
        let mut frame = Frame::with_seed(0);
        frame.kl_weight = 0.7;
        frame.grad_scale = 1.0 / 3.0;
        pair.run(&[op], &frame);
        let what = format!("kl_backward {rows}x{latent}");
        pair.check(&what, grad, 0, rows * 2 * latent, KERNEL_ELEMENTWISE);
    }
}

#[test]
fn gpu_bce_rows_and_gradient_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, cols) in ROW_SHAPES {
        for with_grad in [true, false] {
            // Logits up to ±40 reach the regions where a naive formula overflows or cancels.
            let logits = pair.input(&random(rows * cols, 40.0, 15));
            let target: Vec<f32> = random(rows * cols, 0.5, 16)
                .iter()
                .map(|v| v + 0.5)
                .collect();
            let target = pair.input(&target);
            let grad = pair.poisoned(rows * cols);
            let out = pair.poisoned(rows);
            let op = Op::BceRows {
                logits: View::whole(logits, rows * cols),
                target: View::whole(target, rows * cols),
                grad: with_grad.then(|| View::whole(grad, rows * cols)),
                out: View::whole(out, rows),
                rows,
                cols,
            };
            let mut frame = Frame::with_seed(0);
            frame.grad_scale = 0.25;
            pair.run(&[op], &frame);
            let what = format!("bce_rows {rows}x{cols}");
            pair.check(&what, out, 0, rows, KERNEL_REDUCTION);
            if with_grad {
                pair.check(
                    &format!("{what} grad"),
                    grad,
                    0,
                    rows * cols,
                    KERNEL_ELEMENTWISE,
                );
            } else {
                let (gpu, _) = pair.read(grad, 0, rows * cols);
                assert!(
                    gpu.iter().all(|v| v.is_nan()),
                    "{what}: grad written without a grad view"
                );
            }
        }
    }
}

#[test]
fn gpu_adam_and_adamw_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for n in [1, 7, 1001, 269_322] {
        for weight_decay in [0.0, 0.01] {
            let params = pair.input(&random(n + 5, 1.0, 17));
            let grads = pair.input(&random(n, 1.0, 18));
            let m = pair.input(&random(n, 0.1, 19));
            let v: Vec<f32> = random(n, 0.01, 20).iter().map(|x| x.abs()).collect();
            let v = pair.input(&v);
            let op = Op::Adam {
                params: View {
                    buffer: params,
                    offset: 5,
                    len: n,
                },
                grads: View::whole(grads, n),
                m: View::whole(m, n),
                v: View::whole(v, n),
            };
            let step = 3u32;
            let mut frame = Frame::with_seed(0);
            frame.lr = 1e-3;
            frame.beta1 = 0.9;
            frame.beta2 = 0.999;
            frame.eps = 1e-8;
            frame.weight_decay = weight_decay;
            frame.step_size = (1e-3 / (1.0 - 0.9f64.powi(step as i32))) as f32;
            frame.bias_correction2_sqrt = (1.0 - 0.999f64.powi(step as i32)).sqrt() as f32;
            pair.run(&[op], &frame);
            let what = format!("adam n={n} wd={weight_decay}");
            pair.check(
                &format!("{what} params"),
                params,
                0,
                n + 5,
                KERNEL_ELEMENTWISE,
            );
            pair.check(&format!("{what} m"), m, 0, n, KERNEL_ELEMENTWISE);
            pair.check(&format!("{what} v"), v, 0, n, KERNEL_ELEMENTWISE);
        }
    }
}

#[test]
fn gpu_gather_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    // 37 images of 13 bytes: images straddle u32 words at every byte position.
    let (count, dim) = (37usize, 13usize);
    let bytes: Vec<u8> = (0..count * dim).map(|i| (i * 97 % 256) as u8).collect();
    let data = pair.input_u32(&vae_gpu::reference::pack_bytes(&bytes));
    let mut perm: Vec<u32> = (0..count as u32).collect();
    vae_gpu::rng::PhiloxStream::new(5, 0).shuffle(&mut perm);
    let perm = pair.input_u32(&perm);
    let rows = 11;
    let out = pair.poisoned(rows * dim);
    let op = Op::Gather {
        data,
        perm: View {
            buffer: perm,
            offset: 2,
            len: count - 2,
        },
        out: View::whole(out, rows * dim),
        rows,
        dim,
    };
    let mut frame = Frame::with_seed(0);
    frame.batch_start = 20;
    pair.run(&[op], &frame);
    pair.check("gather", out, 0, rows * dim, KERNEL_ELEMENTWISE);
    // And the values are the bytes themselves, not only what the reference says.
    let (gpu, _) = pair.read(out, 0, dim);
    let perm_host = pair.cpu.read_u32(perm, 0, count).unwrap();
    let first = perm_host[2 + 20] as usize;
    let expected: Vec<f32> = bytes[first * dim..(first + 1) * dim]
        .iter()
        .map(|&b| b as f32 / 255.0)
        .collect();
    assert_eq!(gpu, expected);
}

#[test]
fn gpu_normal_matches_cpu_on_odd_lengths() {
    let Some(mut pair) = Pair::new() else { return };
    for n in [1, 3, 7, 1001] {
        let out = pair.poisoned(n + 2);
        let op = Op::Normal {
            out: View {
                buffer: out,
                offset: 2,
                len: n,
            },
            stream: 2,
        };
        pair.run(&[op], &Frame::with_seed(77));
        pair.check(&format!("normal n={n}"), out, 2, n, KERNEL_ELEMENTWISE);
    }
}

#[test]
fn prepare_rejects_views_outside_their_buffer_and_aliased_outputs() {
    let Some(mut pair) = Pair::new() else { return };
    let a = pair.input(&random(10, 1.0, 1));
    let op = Op::ColumnSum {
        x: View::whole(a, 10),
        out: View {
            buffer: a,
            offset: 8,
            len: 5,
        },
        rows: 2,
        cols: 5,
    };
    let error = pair
        .gpu
        .prepare(std::slice::from_ref(&op))
        .err()
        .expect("out of range accepted");
    assert!(error.to_string().contains("outside its buffer"), "{error}");
    let op = Op::ColumnSum {
        x: View::whole(a, 10),
        out: View {
            buffer: a,
            offset: 0,
            len: 5,
        },
        rows: 2,
        cols: 5,
    };
    let error = pair.gpu.prepare(&[op]).err().expect("aliasing accepted");
    assert!(error.to_string().contains("also used"), "{error}");
}
