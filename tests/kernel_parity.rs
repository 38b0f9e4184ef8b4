//! One parity test per WGSL kernel: random inputs, odd shapes, outputs poisoned with NaN before
//! the run, ‖gpu − cpu‖/‖cpu‖ within the tolerances of src/tolerance.rs (NaN never passes), and
//! nothing written outside the op's views (their heads and tails stay as they were).

mod common;

use common::{random, view, Pair};
use vae_gpu::backend::Backend;
use vae_gpu::kernels::activation::{activate, Activation};
use vae_gpu::kernels::adam::HEALTHY;
use vae_gpu::kernels::gaussian_rows::Variance;
use vae_gpu::kernels::matmul::Epilogue;
use vae_gpu::kernels::softmax_xent::CrossEntropy;
use vae_gpu::kernels::{
    Adam, BceRows, BiasAct, BiasActBackward, ColumnMoments, ColumnSum, Dropout, Gather,
    GaussianRows, GroupSums, KlBackward, KlColumns, KlReparameterizeBackward, KlRows, LogWeights,
    LogsumexpGroups, LossSums, MatMul, MatmulStrategy, Normal, Op, Reparameterize,
    ReparameterizeBackward, ReparameterizeKl, SoftmaxXent, SquareSums, SumInto,
    REDUCTION_LANES_GPU, ROW_LANES_CPU, ROW_LANES_GPU, SUBGROUP_LANES_CPU, SUBGROUP_LANES_GPU,
};
use vae_gpu::ops::{Frame, View};
use vae_gpu::tolerance::{
    relative_error, ADAM_UPDATE, KERNEL_ELEMENTWISE, KERNEL_REDUCTION, KERNEL_TRANSCENDENTAL,
};

/// Elements before and after every output view: a kernel that writes past its view is caught.
const HEAD: usize = 3;
const TAIL: usize = 5;

/// A poisoned output of `len` elements between a head and a tail, and its view.
fn output(pair: &mut Pair, len: usize) -> View {
    view(pair.poisoned(HEAD + len + TAIL), HEAD, len)
}

/// Random input of `len` elements between a head and a tail, and its view.
fn input(pair: &mut Pair, len: usize, scale: f32, seed: u64) -> View {
    let values = random(HEAD + len + TAIL, scale, seed);
    view(pair.input(&values), HEAD, len)
}

/// (m, n, k): none a multiple of a tile; the last is the size of a VAE layer and then some.
const ODD_SHAPES: [(usize, usize, usize); 4] =
    [(1, 1, 1), (7, 13, 5), (33, 3, 17), (129, 401, 785)];
/// Multiples of 4 (so the vec4 and subgroup kernels run) that are not multiples of their tiles
/// (64 x 32 and 32 x 128); the last has an odd k, which only the TN kernels take.
const ALIGNED_SHAPES: [(usize, usize, usize); 4] =
    [(4, 4, 4), (36, 44, 20), (132, 404, 788), (40, 136, 9)];

/// Runs one product and checks it; returns the entry point that ran.
fn matmul_case(
    pair: &mut Pair,
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    seed: u64,
) -> &'static str {
    // Views start past a multiple-of-4 head, so that offsets are exercised too.
    let a = view(pair.input(&random(8 + m * k + 3, 1.0, seed)), 8, m * k);
    let b = view(pair.input(&random(4 + k * n + 1, 1.0, seed + 1)), 4, k * n);
    let c_len = 12 + m * n + 7;
    let c = if accumulate {
        pair.input(&random(c_len, 1.0, seed + 2))
    } else {
        pair.poisoned(c_len)
    };
    let c = view(c, 12, m * n);
    let op = MatMul {
        a,
        b,
        c,
        m,
        n,
        k,
        trans_a,
        trans_b,
        accumulate,
        epilogue: None,
    };
    let entry = op.entry_point(pair.gpu.matmul_strategy()).name;
    pair.run(&[op.into()], &Frame::default());
    let what = format!("matmul {m}x{n}x{k} ta={trans_a} tb={trans_b} acc={accumulate} via {entry}");
    pair.check(&what, c, KERNEL_REDUCTION);
    entry
}

const FORMS: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

#[test]
fn gpu_matmul_matches_cpu_on_odd_shapes() {
    let Some(mut pair) = Pair::new() else { return };
    for (i, shape) in ODD_SHAPES.into_iter().enumerate() {
        for (ta, tb) in FORMS {
            let entry = matmul_case(&mut pair, shape, ta, tb, false, 10 * i as u64);
            if shape.0 % 4 != 0 && shape.1 % 4 != 0 {
                assert_eq!(entry, "matmul_scalar");
            }
        }
    }
}

/// NN, NT and TN on the aligned shapes; `family` is "vec4" or "subgroup".
fn aligned_kernels_match(pair: &mut Pair, family: &str) {
    for (i, shape) in ALIGNED_SHAPES.into_iter().enumerate() {
        for (ta, tb, form) in [
            (false, false, "nn"),
            (false, true, "nt"),
            (true, false, "tn"),
        ] {
            // NN and NT vectorize along k; TN does not need k % 4 == 0.
            let expected = if !ta && shape.2 % 4 != 0 {
                "matmul_scalar".to_string()
            } else {
                format!("matmul_{family}_{form}")
            };
            for accumulate in [false, true] {
                let entry = matmul_case(pair, shape, ta, tb, accumulate, 7 * i as u64);
                assert_eq!(entry, expected);
            }
        }
    }
}

#[test]
fn gpu_vec4_matmul_kernels_match_cpu_on_aligned_shapes() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu.set_matmul_strategy(MatmulStrategy::Vec4).unwrap();
    aligned_kernels_match(&mut pair, "vec4");
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
        .set_matmul_strategy(MatmulStrategy::Subgroup)
        .unwrap();
    // Both workgroup widths: one SIMD vector (CPU adapters) and a warp (GPUs).
    for lanes in [SUBGROUP_LANES_CPU, SUBGROUP_LANES_GPU] {
        pair.gpu.set_subgroup_lanes(lanes);
        aligned_kernels_match(&mut pair, "subgroup");
    }
}

#[test]
fn gpu_scalar_matmul_matches_cpu_when_forced_and_accumulating() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu
        .set_matmul_strategy(MatmulStrategy::Scalar)
        .unwrap();
    for shape in [(36, 44, 20), (7, 13, 5)] {
        for (ta, tb) in FORMS {
            let entry = matmul_case(&mut pair, shape, ta, tb, true, 3);
            assert_eq!(entry, "matmul_scalar");
        }
    }
}

/// Every matmul family the adapter runs.
fn matmul_families(pair: &Pair) -> Vec<MatmulStrategy> {
    let mut families = vec![
        MatmulStrategy::Scalar,
        MatmulStrategy::Vec4,
        MatmulStrategy::Tiled,
    ];
    if pair.gpu.can_run(MatmulStrategy::Tiled128) {
        families.push(MatmulStrategy::Tiled128);
    }
    if pair.gpu.has_subgroups() {
        families.push(MatmulStrategy::Subgroup);
    }
    families
}

/// Every matmul family the adapter runs × three shapes (odd, aligned, wide) × every form, an
/// activation per (shape, form) taken in turn from `activations`, and a seed from `seed_base`.
fn epilogue_cases(
    pair: &mut Pair,
    activations: &[Activation],
    seed_base: u64,
    mut case: impl FnMut(
        &mut Pair,
        MatmulStrategy,
        (usize, usize, usize),
        (bool, bool),
        Activation,
        u64,
    ),
) {
    let families = matmul_families(pair);
    for strategy in families {
        pair.gpu.set_matmul_strategy(strategy).unwrap();
        for (i, shape) in [(7, 13, 5), (36, 44, 20), (33, 400, 17)]
            .into_iter()
            .enumerate()
        {
            for (f, form) in FORMS.into_iter().enumerate() {
                let act = activations[(i + f) % activations.len()];
                case(
                    pair,
                    strategy,
                    shape,
                    form,
                    act,
                    seed_base + 10 * i as u64 + f as u64,
                );
            }
        }
    }
}

/// The dense layer's epilogue fused into every matmul family: act(op(A)·op(B) + bias) for each
/// activation, odd and aligned shapes, the bias at an offset (a multiple of 4 where vec4 kernels
/// read it), every transpose.
#[test]
fn gpu_matmul_epilogues_match_cpu_for_every_family_and_activation() {
    let Some(mut pair) = Pair::new() else { return };
    epilogue_cases(
        &mut pair,
        &Activation::ALL,
        100,
        |pair, strategy, (m, n, k), (trans_a, trans_b), act, seed| {
            let a = view(pair.input(&random(8 + m * k, 1.0, seed)), 8, m * k);
            let b = view(pair.input(&random(4 + k * n, 1.0, seed + 1)), 4, k * n);
            let bias = view(pair.input(&random(12 + n + 3, 2.0, seed + 2)), 12, n);
            let c = view(pair.poisoned(4 + m * n + 5), 4, m * n);
            let op = MatMul {
                a,
                b,
                c,
                m,
                n,
                k,
                trans_a,
                trans_b,
                accumulate: false,
                epilogue: Some(Epilogue::BiasAct { bias, act }),
            };
            let entry = op.entry_point(strategy).name;
            pair.run(&[op.into()], &Frame::default());
            let what =
                format!("matmul {m}x{n}x{k} ta={trans_a} tb={trans_b} + bias, {act:?} via {entry}");
            pair.check(&what, c, KERNEL_REDUCTION);
        },
    );
}

/// The backward's slope epilogue in every matmul family: op(A)·op(B) · act'(y) for each trained
/// activation, odd and aligned shapes, y at an offset, every transpose; against the CPU reference
/// (the unfused pair's), and bit for bit against the unfused pair on the GPU (the product, then
/// `bias_act_backward`).
#[test]
fn gpu_matmul_slope_epilogue_matches_cpu_and_the_unfused_pair() {
    let Some(mut pair) = Pair::new() else { return };
    let activations = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Identity,
    ];
    epilogue_cases(
        &mut pair,
        &activations,
        200,
        |pair, strategy, (m, n, k), (trans_a, trans_b), act, seed| {
            let a = view(pair.input(&random(8 + m * k, 1.0, seed)), 8, m * k);
            let b = view(pair.input(&random(4 + k * n, 1.0, seed + 1)), 4, k * n);
            // Outputs of the activation: values it can produce, some at relu's 0.
            let y: Vec<f32> = random(12 + m * n, 1.0, seed + 2)
                .iter()
                .map(|&v| match act {
                    Activation::Relu => v.max(0.0),
                    Activation::Sigmoid => 0.5 + 0.45 * v,
                    Activation::Tanh => 0.9 * v,
                    _ => v,
                })
                .collect();
            let y = view(pair.input(&y), 12, m * n);
            let c = view(pair.poisoned(4 + m * n + 5), 4, m * n);
            let apart = view(pair.poisoned(4 + m * n + 5), 4, m * n);
            let product = MatMul {
                a,
                b,
                c: apart,
                m,
                n,
                k,
                trans_a,
                trans_b,
                accumulate: false,
                epilogue: None,
            };
            let fused = MatMul {
                c,
                epilogue: Some(Epilogue::Slope { y, act }),
                ..product
            };
            let entry = fused.entry_point(strategy).name;
            pair.run(&[fused.into()], &Frame::default());
            let slope = BiasActBackward {
                grad: apart,
                y,
                rows: m,
                cols: n,
                act,
            };
            pair.run(&[product.into(), slope.into()], &Frame::default());
            let what =
                format!("matmul {m}x{n}x{k} ta={trans_a} tb={trans_b} * {act:?}' via {entry}");
            pair.check(&what, c, KERNEL_REDUCTION);
            let (fused, cpu_fused) = pair.read(c);
            let (unfused, cpu_unfused) = pair.read(apart);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fused),
                bits(&unfused),
                "{what}: differs from the unfused pair"
            );
            assert_eq!(
                bits(&cpu_fused),
                bits(&cpu_unfused),
                "{what}: CPU references differ"
            );
        },
    );
}

/// The weight gradient's row sums (the bias gradient) in every matmul family: Σ_p op(A)[i, p]
/// written through c's binding next to c, on odd and aligned shapes (k not a multiple of 4 for
/// the subgroup kernel's last steps, m past one block of rows), every transpose; against the CPU
/// reference, nothing else in c's buffer touched, and for the weight-gradient form (TN) bit for
/// bit against `column_sum` of A on the GPU, one invocation per column (the same order).
#[test]
fn gpu_matmul_row_sums_match_cpu_and_column_sum() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu.set_reduction_lanes(1);
    let families = matmul_families(&pair);
    let shapes = [
        (7, 13, 5),
        (36, 44, 20),
        (36, 44, 17),
        (68, 400, 130),
        (40, 12, 9),
    ];
    for strategy in families {
        pair.gpu.set_matmul_strategy(strategy).unwrap();
        for (i, (m, n, k)) in shapes.into_iter().enumerate() {
            for (f, (trans_a, trans_b)) in FORMS.into_iter().enumerate() {
                let seed = 300 + 10 * i as u64 + f as u64;
                let a = view(pair.input(&random(8 + m * k, 1.0, seed)), 8, m * k);
                let b = view(pair.input(&random(4 + k * n, 1.0, seed + 1)), 4, k * n);
                // c and its row sums in one poisoned buffer, as in the flat gradient buffer.
                let sums_at = (4 + m * n + 3).div_ceil(4) * 4;
                let buffer = pair.poisoned(sums_at + m + 5);
                let c = view(buffer, 4, m * n);
                let sums = view(buffer, sums_at, m);
                let op = MatMul {
                    a,
                    b,
                    c,
                    m,
                    n,
                    k,
                    trans_a,
                    trans_b,
                    accumulate: false,
                    epilogue: Some(Epilogue::RowSums { sums }),
                };
                let entry = op.entry_point(strategy).name;
                pair.run(&[op.into()], &Frame::default());
                let what =
                    format!("matmul {m}x{n}x{k} ta={trans_a} tb={trans_b} + row sums via {entry}");
                for (part, v, tol) in [("c", c, KERNEL_REDUCTION), ("sums", sums, KERNEL_REDUCTION)]
                {
                    let (gpu, cpu) = pair.read(v);
                    let error = relative_error(&gpu, &cpu);
                    assert!(error <= tol, "{what} {part}: relative error {error:e}");
                }
                let all = view(buffer, 0, sums_at + m + 5);
                let (gpu, _) = pair.read(all);
                for (j, value) in gpu.iter().enumerate() {
                    if !c.range().contains(&j) && !sums.range().contains(&j) {
                        assert!(value.is_nan(), "{what}: wrote element {j} of c's buffer");
                    }
                }
                if trans_a {
                    let apart = output(&mut pair, m);
                    let column_sum = ColumnSum {
                        x: a,
                        out: apart,
                        rows: k,
                        cols: m,
                    };
                    pair.run(&[column_sum.into()], &Frame::default());
                    let (fused, _) = pair.read(sums);
                    let (unfused, _) = pair.read(apart);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&fused),
                        bits(&unfused),
                        "{what}: differs from column_sum"
                    );
                }
            }
        }
    }
}

/// Row sums are written through c's binding: they must lie in c's buffer, apart from c, and
/// not with accumulation.
#[test]
fn matmul_row_sums_outside_c_buffer_or_overlapping_c_are_refused() {
    let mut cpu = vae_gpu::cpu::CpuBackend::new();
    let a = cpu.create_buffer("a", 12).unwrap();
    let b = cpu.create_buffer("b", 12).unwrap();
    let grads = cpu.create_buffer("grads", 20).unwrap();
    let other = cpu.create_buffer("other", 20).unwrap();
    let product = |sums: View, accumulate: bool| -> Op {
        MatMul {
            a: view(a, 0, 12),
            b: view(b, 0, 12),
            c: view(grads, 0, 16),
            m: 4,
            n: 4,
            k: 3,
            trans_a: true,
            trans_b: false,
            accumulate,
            epilogue: Some(Epilogue::RowSums { sums }),
        }
        .into()
    };
    assert!(cpu.prepare(&[product(view(grads, 16, 4), false)]).is_ok());
    for (sums, accumulate, reason) in [
        (view(other, 0, 4), false, "c's buffer"),
        (view(grads, 14, 4), false, "overlap"),
        (view(grads, 17, 4), false, "outside"),
        (view(grads, 16, 3), false, "needs 4"),
        (view(grads, 16, 4), true, "accumulate"),
    ] {
        let error = cpu
            .prepare(&[product(sums, accumulate)])
            .err()
            .expect(reason)
            .to_string();
        assert!(error.contains(reason), "{error}");
    }
}

/// The workgroup-tiled kernel (for real GPUs) on every shape, transpose and offset: tiles of
/// 64 x 64 x 16 straddled on every side, one product smaller than a tile, accumulation.
#[test]
fn gpu_tiled_matmul_matches_cpu_on_every_shape() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu.set_matmul_strategy(MatmulStrategy::Tiled).unwrap();
    let shapes = ODD_SHAPES
        .into_iter()
        .chain(ALIGNED_SHAPES)
        .chain([(65, 64, 17)]);
    for (i, shape) in shapes.enumerate() {
        for (ta, tb) in FORMS {
            for accumulate in [false, true] {
                let entry = matmul_case(&mut pair, shape, ta, tb, accumulate, 5 * i as u64);
                assert_eq!(entry, "matmul_tiled");
            }
        }
    }
}

/// The 128 x 128 tiled kernel (for large products on real GPUs) on every shape, transpose and
/// offset: tiles of 128 x 128 straddled on every side, slices of 8 along k whole and cut
/// (k = 8, 9, 17, an odd count of slices for the double buffer), accumulation.
#[test]
fn gpu_tiled128_matmul_matches_cpu_on_every_shape() {
    let Some(mut pair) = Pair::new() else { return };
    if !pair.gpu.can_run(MatmulStrategy::Tiled128) {
        eprintln!("skipped: the adapter has too little workgroup memory for matmul_tiled128");
        return;
    }
    pair.gpu
        .set_matmul_strategy(MatmulStrategy::Tiled128)
        .unwrap();
    let shapes = ODD_SHAPES.into_iter().chain(ALIGNED_SHAPES).chain([
        (129, 257, 8),
        (128, 128, 9),
        (255, 130, 24),
    ]);
    for (i, shape) in shapes.enumerate() {
        for (ta, tb) in FORMS {
            for accumulate in [false, true] {
                let entry = matmul_case(&mut pair, shape, ta, tb, accumulate, 11 * i as u64);
                assert_eq!(entry, "matmul_tiled128");
            }
        }
    }
}

const ROW_SHAPES: [(usize, usize); 4] = [(1, 1), (7, 13), (129, 785), (3, 1000)];

fn bias_act(x: View, bias: View, rows: usize, cols: usize, act: Activation) -> Op {
    BiasAct {
        x,
        bias,
        rows,
        cols,
        act,
    }
    .into()
}

#[test]
fn gpu_bias_act_matches_cpu_for_every_activation() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, cols) in ROW_SHAPES {
        for act in Activation::ALL {
            // Scale 30 reaches tanh/sigmoid saturation and the leaky/ReLU kink.
            let x = input(&mut pair, rows * cols, 30.0, 1);
            let bias = input(&mut pair, cols, 1.0, 2);
            pair.run(&[bias_act(x, bias, rows, cols, act)], &Frame::default());
            pair.check(
                &format!("bias_act {rows}x{cols} {act:?}"),
                x,
                KERNEL_ELEMENTWISE,
            );
        }
    }
}

/// A diverging run must show as NaN: no activation may turn NaN into a number (WGSL's `max` and
/// Rust's `f64::max` both may).
#[test]
fn gpu_and_cpu_activations_pass_nan_on() {
    let Some(mut pair) = Pair::new() else { return };
    let (rows, cols) = (3, 7);
    let mut values = random(rows * cols, 5.0, 30);
    let poisoned_at = [0, 8, 20];
    for &i in &poisoned_at {
        values[i] = f32::NAN;
    }
    for act in Activation::ALL {
        let x = view(pair.input(&values), 0, rows * cols);
        let bias = view(pair.input(&[0.0; 7]), 0, cols);
        pair.run(&[bias_act(x, bias, rows, cols, act)], &Frame::default());
        let (gpu, cpu) = pair.read(x);
        for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
            let nan = poisoned_at.contains(&i);
            assert_eq!(g.is_nan(), nan, "{act:?}: gpu element {i} is {g}");
            assert_eq!(c.is_nan(), nan, "{act:?}: cpu element {i} is {c}");
        }
        // And the reference's formula itself.
        assert!(activate(f64::NAN, act).is_nan(), "{act:?}");
    }
}

/// Dispatches past the per-dimension workgroup limit fold into two dimensions; a low fold limit
/// runs that index path here on every element-wise kernel shape.
#[test]
fn gpu_elementwise_kernels_match_cpu_when_dispatches_fold() {
    let Some(mut pair) = Pair::new() else { return };
    pair.gpu.set_fold_limit(3);
    let (rows, cols) = (37, 101); // 3737 elements: 15 workgroups of 256, folded into 3 x 5
    let x = input(&mut pair, rows * cols, 3.0, 21);
    let bias = input(&mut pair, cols, 1.0, 22);
    let out = output(&mut pair, rows * cols);
    let ops = [
        bias_act(x, bias, rows, cols, Activation::Tanh),
        Normal {
            out,
            stream: 4,
            scale: 1.0,
        }
        .into(),
    ];
    pair.run(&ops, &Frame::with_seed(8));
    pair.check("folded bias_act", x, KERNEL_ELEMENTWISE);
    pair.check("folded normal", out, KERNEL_ELEMENTWISE);
}

#[test]
fn gpu_bias_act_backward_matches_cpu_for_every_activation() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, cols) in ROW_SHAPES {
        for act in Activation::ALL {
            // Outputs of the activation itself, so that each slope formula sees valid inputs.
            let y: Vec<f32> = random(rows * cols, 3.0, 4)
                .iter()
                .map(|&v| activate(f64::from(v), act) as f32)
                .collect();
            let y = view(pair.input(&y), 0, rows * cols);
            let grad = input(&mut pair, rows * cols, 1.0, 5);
            let op = BiasActBackward {
                grad,
                y,
                rows,
                cols,
                act,
            };
            pair.run(&[op.into()], &Frame::default());
            let what = format!("bias_act_backward {rows}x{cols} {act:?}");
            pair.check(&what, grad, KERNEL_ELEMENTWISE);
        }
    }
}

#[test]
fn gpu_column_sum_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    // One invocation per column (CPU adapters) and the GPUs' tree of 8 lanes per column.
    for lanes in [1, REDUCTION_LANES_GPU] {
        pair.gpu.set_reduction_lanes(lanes);
        for (rows, cols) in ROW_SHAPES.into_iter().chain([(9, 33), (130, 400)]) {
            let x = input(&mut pair, rows * cols, 1.0, 6);
            let out = output(&mut pair, cols);
            let op = ColumnSum { x, out, rows, cols };
            let entry = pair.gpu.entry_point(&op.into());
            pair.run(&[op.into()], &Frame::default());
            let what = format!("column_sum {rows}x{cols} via {entry}");
            pair.check(&what, out, KERNEL_REDUCTION);
        }
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
            let src = view(pair.input(&src), 0, n);
            let dst = if accumulate {
                view(pair.input(&[0.0, 0.0, 2.5, 0.0]), 2, 1)
            } else {
                output(&mut pair, 1)
            };
            let op = SumInto {
                src,
                dst,
                accumulate,
            };
            pair.run(&[op.into()], &Frame::default());
            let what = format!("sum_into n={n} acc={accumulate}");
            pair.check(&what, dst, KERNEL_REDUCTION);
        }
    }
}

const LATENT_SHAPES: [(usize, usize); 4] = [(1, 1), (7, 3), (129, 20), (1000, 13)];

#[test]
fn gpu_reparameterize_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        for (sample, repeat) in [(true, 1), (false, 1), (true, 3)] {
            // `repeat` draws per row of statistics: rows of z = rows × repeat.
            let stats = input(&mut pair, rows * 2 * latent, 2.0, 8);
            let z = output(&mut pair, rows * repeat * latent);
            let eps = output(&mut pair, rows * repeat * latent);
            let op = Reparameterize {
                stats,
                z,
                eps,
                rows: rows * repeat,
                latent,
                stream: 1,
                sample,
                repeat,
            };
            let mut frame = Frame::with_seed(42);
            frame.step = 9;
            pair.run(&[op.into()], &frame);
            let what = format!("reparameterize {rows}x{latent} sample={sample} repeat={repeat}");
            pair.check(&format!("{what} z"), z, KERNEL_ELEMENTWISE);
            pair.check(&format!("{what} eps"), eps, KERNEL_ELEMENTWISE);
            if repeat > 1 {
                // Every draw of an image is mu + sigma·eps with that image's statistics.
                let (z, _) = pair.read(z);
                let (eps, _) = pair.read(eps);
                let (stats, _) = pair.read(stats);
                for (i, (&z, &e)) in z.iter().zip(&eps).enumerate() {
                    let (image, j) = (i / latent / repeat, i % latent);
                    let mu = stats[image * 2 * latent + j];
                    let sigma = (0.5 * stats[image * 2 * latent + latent + j]).exp();
                    assert!((z - (mu + sigma * e)).abs() <= 1e-4 * (1.0 + z.abs()));
                }
            }
        }
    }
}

#[test]
fn gpu_reparameterize_backward_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        let grad_z = input(&mut pair, rows * latent, 1.0, 9);
        let stats = input(&mut pair, rows * 2 * latent, 2.0, 10);
        let eps = input(&mut pair, rows * latent, 2.0, 11);
        // It adds into the gradient, so that starts from values, not poison.
        let grad_stats = input(&mut pair, rows * 2 * latent, 1.0, 12);
        let op = ReparameterizeBackward {
            grad_z,
            stats,
            eps,
            grad_stats,
            rows,
            latent,
        };
        pair.run(&[op.into()], &Frame::default());
        let what = format!("reparameterize_backward {rows}x{latent}");
        pair.check(&what, grad_stats, KERNEL_ELEMENTWISE);
    }
}

#[test]
fn gpu_kl_rows_and_its_sum_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        let stats = input(&mut pair, rows * 2 * latent, 2.0, 13);
        let out = output(&mut pair, rows);
        let total = output(&mut pair, 1);
        let ops = [
            KlRows {
                stats,
                out,
                rows,
                latent,
            }
            .into(),
            SumInto {
                src: out,
                dst: total,
                accumulate: false,
            }
            .into(),
        ];
        pair.run(&ops, &Frame::default());
        pair.check(&format!("kl_rows {rows}x{latent}"), out, KERNEL_REDUCTION);
        pair.check(&format!("kl sum {rows}x{latent}"), total, KERNEL_REDUCTION);
    }
}

#[test]
fn gpu_kl_backward_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        let stats = input(&mut pair, rows * 2 * latent, 2.0, 14);
        let grad_stats = output(&mut pair, rows * 2 * latent);
        let op = KlBackward {
            stats,
            column_kl: None,
            grad_stats,
            rows,
            latent,
        };
        let mut frame = Frame::with_seed(0);
        frame.kl_weight = 0.7;
        frame.grad_scale = 1.0 / 3.0;
        pair.run(&[op.into()], &frame);
        let what = format!("kl_backward {rows}x{latent}");
        pair.check(&what, grad_stats, KERNEL_ELEMENTWISE);
    }
}

/// The fused forward against the unfused CPU references, and bit for bit against the two
/// unfused kernels on the GPU (same draws, KL summed in the same order).
#[test]
fn gpu_reparameterize_kl_matches_cpu_and_the_unfused_kernels() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        for sample in [true, false] {
            let stats = input(&mut pair, rows * 2 * latent, 2.0, 17);
            let [z, eps, z_apart, eps_apart] = [(); 4].map(|_| output(&mut pair, rows * latent));
            let [kl, kl_apart] = [(); 2].map(|_| output(&mut pair, rows));
            let fused = ReparameterizeKl {
                stats,
                z,
                eps,
                kl,
                rows,
                latent,
                stream: 1,
                sample,
            };
            let apart = ReparameterizeKl {
                z: z_apart,
                eps: eps_apart,
                kl: kl_apart,
                ..fused
            };
            let (reparameterize, kl_rows) = apart.unfused();
            let mut frame = Frame::with_seed(42);
            frame.step = 9;
            pair.run(&[fused.into()], &frame);
            pair.run(&[reparameterize.into(), kl_rows.into()], &frame);
            let what = format!("reparameterize_kl {rows}x{latent} sample={sample}");
            pair.check(&format!("{what} z"), z, KERNEL_ELEMENTWISE);
            pair.check(&format!("{what} eps"), eps, KERNEL_ELEMENTWISE);
            pair.check(&format!("{what} kl"), kl, KERNEL_REDUCTION);
            for (name, fused, apart) in [
                ("z", z, z_apart),
                ("eps", eps, eps_apart),
                ("kl", kl, kl_apart),
            ] {
                let (fused, _) = pair.read(fused);
                let (apart, _) = pair.read(apart);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&fused),
                    bits(&apart),
                    "{what}: {name} differs from the unfused kernels'"
                );
            }
        }
    }
}

/// The fused backward against the unfused CPU references, with and without free bits, and bit
/// for bit against the unfused pair on the GPU (`kl_backward`, then `reparameterize_backward`).
#[test]
fn gpu_kl_reparameterize_backward_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        for free_bits in [false, true] {
            let stats = input(&mut pair, rows * 2 * latent, 2.0, 18);
            let grad_z = input(&mut pair, rows * latent, 1.0, 19);
            let eps = input(&mut pair, rows * latent, 2.0, 20);
            // Per-dimension KL around the floor (0.02 per row): some dimensions freed, some not.
            let column_kl: Vec<f32> = (0..latent)
                .map(|j| if j % 2 == 0 { 0.01 } else { 0.03 } * rows as f32)
                .collect();
            let column_kl = view(pair.input(&column_kl), 0, latent);
            let grad_stats = output(&mut pair, rows * 2 * latent);
            let op = KlReparameterizeBackward {
                stats,
                grad_z,
                eps,
                column_kl: free_bits.then_some(column_kl),
                grad_stats,
                rows,
                latent,
            };
            let mut frame = Frame::with_seed(0);
            frame.kl_weight = 0.7;
            frame.grad_scale = 1.0 / 3.0;
            frame.free_bits = 0.02;
            pair.run(&[op.into()], &frame);
            let what = format!("kl_reparameterize_backward {rows}x{latent} free_bits={free_bits}");
            pair.check(&what, grad_stats, KERNEL_ELEMENTWISE);
            // The unfused pair on the GPU: kl_backward, then reparameterize_backward added.
            let apart = output(&mut pair, rows * 2 * latent);
            let kl = KlBackward {
                stats,
                column_kl: op.column_kl,
                grad_stats: apart,
                rows,
                latent,
            };
            let reparameterize = ReparameterizeBackward {
                grad_z,
                stats,
                eps,
                grad_stats: apart,
                rows,
                latent,
            };
            pair.run(&[kl.into(), reparameterize.into()], &frame);
            let (fused, _) = pair.read(grad_stats);
            let (unfused, _) = pair.read(apart);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fused),
                bits(&unfused),
                "{what}: differs from the unfused pair"
            );
        }
    }
}

/// The four loss sums of a training step (and the two of an evaluation batch) in one dispatch:
/// against the CPU (the unfused `sum_into` references), bit for bit against the unfused
/// `sum_into` kernels on the GPU, and every other slot of the metrics untouched.
#[test]
fn gpu_loss_sums_match_cpu_and_the_unfused_sums() {
    let Some(mut pair) = Pair::new() else { return };
    for rows in [1usize, 7, 129, 1000] {
        for step in [Some((2, 0)), None] {
            let bce = input(&mut pair, rows, 50.0, 21);
            let kl = input(&mut pair, rows, 5.0, 22);
            // Running sums start from values (they are added to); 9 slots, 4 of them used.
            let start = random(3 + 9, 100.0, 23);
            let metrics = view(pair.input(&start), 3, 9);
            let apart = view(pair.input(&start), 3, 9);
            let fused = LossSums {
                bce,
                kl,
                rows,
                metrics,
                step,
                running: (7, 5),
            };
            let unfused: Vec<Op> = LossSums {
                metrics: apart,
                ..fused
            }
            .unfused()
            .into_iter()
            .map(Op::from)
            .collect();
            pair.run(&[fused.into()], &Frame::default());
            pair.run(&unfused, &Frame::default());
            let what = format!("loss_sums {rows} rows, step slots {step:?}");
            pair.check(&what, metrics, KERNEL_REDUCTION);
            let (fused, _) = pair.read(metrics);
            let (apart, _) = pair.read(apart);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fused),
                bits(&apart),
                "{what}: differs from sum_into's"
            );
            let used = [7, 5]
                .into_iter()
                .chain(step.into_iter().flat_map(|(b, k)| [b, k]));
            let used: Vec<usize> = used.collect();
            for (slot, (&now, &before)) in fused.iter().zip(&start[3..]).enumerate() {
                if !used.contains(&slot) {
                    assert_eq!(
                        now.to_bits(),
                        before.to_bits(),
                        "{what}: slot {slot} written"
                    );
                }
            }
        }
    }
}

/// Every row shape under both widths of the per-row sums: one SIMD vector (CPU adapters) and
/// `ROW_LANES_GPU`.
fn row_cases() -> impl Iterator<Item = (u32, (usize, usize))> {
    [ROW_LANES_CPU, ROW_LANES_GPU]
        .into_iter()
        .flat_map(|lanes| ROW_SHAPES.into_iter().map(move |shape| (lanes, shape)))
}

/// `len` NaNs at offset `head` of a buffer with a NaN head and tail.
fn poisoned_at(pair: &mut Pair, len: usize, head: usize) -> View {
    view(pair.poisoned(head + len + TAIL), head, len)
}

#[test]
fn gpu_bce_rows_and_gradient_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (lanes, (rows, cols)) in row_cases() {
        pair.gpu.set_row_lanes(lanes);
        // Offsets that are multiples of 4, with a multiple of 4 columns, run bce_rows_vec4.
        for (with_grad, head) in [(true, HEAD), (false, HEAD), (true, 4), (false, 4)] {
            // Logits up to ±40 reach the regions where a naive formula overflows or cancels.
            let logits = placed(&mut pair, &random(rows * cols, 40.0, 15), head);
            let targets: Vec<f32> = random(rows * cols, 0.5, 16)
                .iter()
                .map(|v| v + 0.5)
                .collect();
            let targets = placed(&mut pair, &targets, head);
            let grad = poisoned_at(&mut pair, rows * cols, head);
            let out = output(&mut pair, rows);
            let op = BceRows {
                logits,
                targets,
                grad: with_grad.then_some(grad),
                out,
                rows,
                cols,
                normalized: false,
            };
            let entry = pair.gpu.entry_point(&op.into());
            let four_wide = head % 4 == 0 && cols % 4 == 0;
            assert_eq!(
                entry,
                if four_wide {
                    "bce_rows_vec4"
                } else {
                    "bce_rows"
                }
            );
            let mut frame = Frame::with_seed(0);
            frame.grad_scale = 0.25;
            pair.run(&[op.into()], &frame);
            let what = format!("{entry} {rows}x{cols} lanes={lanes}");
            pair.check(&what, out, KERNEL_REDUCTION);
            if with_grad {
                pair.check(&format!("{what} grad"), grad, KERNEL_ELEMENTWISE);
            } else {
                let (gpu, cpu) = pair.read(grad);
                assert!(
                    gpu.iter().chain(&cpu).all(|v| v.is_nan()),
                    "{what}: grad written without a grad view"
                );
            }
        }
    }
}

/// Softmax, cross-entropy and its gradient, with labels read from `frame.batch_start` on: rows
/// whose logits span ±30 (a naive exp overflows in f32 past ~88 after the max is not subtracted),
/// one label out of range (NaN loss on both sides), and the probabilities-only form.
#[test]
fn gpu_softmax_xent_matches_cpu_with_and_without_labels() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, classes) in [(1, 1), (7, 10), (130, 3), (257, 17)] {
        for form in ["probs", "loss", "grad"] {
            let logits = input(&mut pair, rows * classes, 30.0, 41);
            let start = 5;
            let mut labels: Vec<u32> = (0..start + rows + 2)
                .map(|i| (i * 7 % classes) as u32)
                .collect();
            if rows > 1 {
                labels[start + rows / 2] = classes as u32;
            }
            let labels = view(pair.input_u32(&labels), 1, start + rows + 1);
            let probs = output(&mut pair, rows * classes);
            let loss = output(&mut pair, rows);
            let grad = output(&mut pair, rows * classes);
            let cross_entropy = (form != "probs").then_some(CrossEntropy {
                labels,
                loss,
                grad: (form == "grad").then_some(grad),
            });
            let op = SoftmaxXent {
                logits,
                probs,
                cross_entropy,
                rows,
                classes,
            };
            let mut frame = Frame::with_seed(0);
            frame.batch_start = (start - 1) as u32;
            frame.grad_scale = 0.3;
            pair.run(&[op.into()], &frame);
            let what = format!("softmax_xent {rows}x{classes} {form}");
            pair.check(&format!("{what} probs"), probs, KERNEL_ELEMENTWISE);
            let (gpu_probs, _) = pair.read(probs);
            for row in gpu_probs.chunks(classes) {
                let total: f32 = row.iter().sum();
                assert!((total - 1.0).abs() < 1e-5, "{what}: a row sums to {total}");
            }
            let (gpu_loss, cpu_loss) = pair.read(loss);
            if form == "probs" {
                assert!(
                    gpu_loss.iter().chain(&cpu_loss).all(|v| v.is_nan()),
                    "{what}: loss written"
                );
                continue;
            }
            // The out-of-range label's row is NaN on both sides; the rest match.
            let bad = rows / 2;
            if rows > 1 {
                assert!(
                    gpu_loss[bad].is_nan() && cpu_loss[bad].is_nan(),
                    "{what}: bad label"
                );
            }
            let good = |v: &[f32]| -> Vec<f32> {
                v.iter()
                    .enumerate()
                    .filter(|&(i, _)| rows == 1 || i != bad)
                    .map(|(_, &x)| x)
                    .collect()
            };
            let error = relative_error(&good(&gpu_loss), &good(&cpu_loss));
            assert!(
                error <= KERNEL_ELEMENTWISE,
                "{what} loss: relative error {error:e}"
            );
            pair.check_untouched_outside(&format!("{what} loss"), loss);
            if form == "grad" {
                pair.check(&format!("{what} grad"), grad, KERNEL_ELEMENTWISE);
            } else {
                let (gpu, cpu) = pair.read(grad);
                assert!(
                    gpu.iter().chain(&cpu).all(|v| v.is_nan()),
                    "{what}: grad written"
                );
            }
        }
    }
}

/// Second moments spread over ten decades, so that ε (1e-8) matters for the small ones: an ε
/// moved inside the square root, or a wrong bias correction, changes the update.
fn second_moments(n: usize, seed: u64) -> Vec<f32> {
    random(n, 1.0, seed)
        .iter()
        .map(|u| 10f32.powf(-13.0 + 10.0 * u.abs()))
        .collect()
}

/// `values` at offset `head` of a buffer whose head and tail hold other numbers.
fn placed(pair: &mut Pair, values: &[f32], head: usize) -> View {
    let mut all = random(head, 1.0, 999);
    all.extend_from_slice(values);
    all.extend(random(TAIL, 1.0, 998));
    view(pair.input(&all), head, values.len())
}

/// One Adam step's operands at offset `head`: parameters, gradients of every size down to where
/// they are below ε, moments (the second spread over ten decades).
fn adam_operands(pair: &mut Pair, n: usize, head: usize) -> Adam {
    let grads: Vec<f32> = random(n, 1.0, 18)
        .iter()
        .zip(second_moments(n, 23))
        .map(|(g, v)| g * v.sqrt())
        .collect();
    Adam {
        params: placed(pair, &random(n, 0.05, 17), head),
        grads: placed(pair, &grads, head),
        m: placed(pair, &random(n, 1e-3, 19), head),
        v: placed(pair, &second_moments(n, 20), head),
        norm_sq: None,
        health: healthy(pair),
    }
}

#[test]
fn gpu_adam_and_adamw_match_cpu_in_the_update_and_the_moments() {
    let Some(mut pair) = Pair::new() else { return };
    // Offsets and counts multiples of 4 run four parameters per load (adam_vec4); any other
    // offset or count, one (adam).
    for (n, head) in [
        (1, 3),
        (7, 3),
        (1001, 3),
        (269_322, 3),
        (1001, 4),
        (4, 4),
        (1004, 4),
        (269_324, 4),
    ] {
        for weight_decay in [0.0, 0.01] {
            let op = adam_operands(&mut pair, n, head);
            let Adam {
                params,
                m,
                v,
                health,
                ..
            } = op;
            let before = pair.read(params);
            let step = 3;
            let mut frame = Frame::with_seed(0);
            frame.lr = 1e-2;
            frame.beta1 = 0.9;
            frame.beta2 = 0.999;
            frame.eps = 1e-8;
            frame.weight_decay = weight_decay;
            frame.step_size = (1e-2 / (1.0 - 0.9f64.powi(step))) as f32;
            frame.bias_correction2_sqrt = (1.0 - 0.999f64.powi(step)).sqrt() as f32;
            let expected = if head % 4 == 0 && n % 4 == 0 {
                "adam_vec4"
            } else {
                "adam"
            };
            assert_eq!(pair.gpu.entry_point(&op.into()), expected);
            pair.run(&[op.into()], &frame);
            let what = format!("{expected} n={n} wd={weight_decay}");
            pair.check(&format!("{what} params"), params, KERNEL_ELEMENTWISE);
            pair.check(&format!("{what} m"), m, KERNEL_ELEMENTWISE);
            pair.check(&format!("{what} v"), v, KERNEL_ELEMENTWISE);
            assert_eq!(read_words(&mut pair, health), [[HEALTHY; 2]; 2], "{what}");
            // The update itself: ~1e-2 of the parameters, so an error in it hides in theirs.
            let after = pair.read(params);
            let update = |after: &[f32], before: &[f32]| -> Vec<f32> {
                after.iter().zip(before).map(|(a, b)| a - b).collect()
            };
            let gpu_update = update(&after.0, &before.0);
            let cpu_update = update(&after.1, &before.1);
            let error = relative_error(&gpu_update, &cpu_update);
            eprintln!("{what} update: relative error {error:.2e}");
            assert!(
                error <= ADAM_UPDATE,
                "{what} update: relative error {error:e}"
            );
        }
    }
}

/// The four-wide kernel computes the same bits as the one-wide one.
#[test]
fn gpu_adam_four_wide_gives_the_bits_of_one_wide() {
    let Some(mut pair) = Pair::new() else { return };
    let n = 10_004;
    let mut frame = Frame::with_seed(0);
    vae_gpu::optim::AdamConfig::default().fill_frame(&mut frame, 7, 3e-3);
    frame.weight_decay = 0.01;
    frame.l2 = 1e-3;
    let mut results = Vec::new();
    for head in [3, 4] {
        let op = adam_operands(&mut pair, n, head);
        pair.run(&[op.into()], &frame);
        let bits = |pair: &mut Pair, view: View| -> Vec<u32> {
            pair.gpu
                .read_u32(view.buffer, view.offset, view.len)
                .unwrap()
        };
        results.push([
            bits(&mut pair, op.params),
            bits(&mut pair, op.m),
            bits(&mut pair, op.v),
        ]);
    }
    for (what, (one, four)) in ["params", "m", "v"]
        .iter()
        .zip(results[0].iter().zip(&results[1]))
    {
        let differ = one.iter().zip(four).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ, 0,
            "{what}: {differ} of {n} differ between adam and adam_vec4"
        );
    }
}

#[test]
fn gpu_gather_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    // 37 images of 13 bytes: images straddle u32 words at every byte position; of 36 bytes: four
    // pixels per invocation, from one word.
    for dim in [13usize, 36] {
        gather_matches_cpu(&mut pair, dim);
    }
}

fn gather_matches_cpu(pair: &mut Pair, dim: usize) {
    let count = 37usize;
    let bytes: Vec<u8> = (0..count * dim).map(|i| (i * 97 % 256) as u8).collect();
    let words = vae_gpu::data::pack_bytes(&bytes);
    let data = view(pair.input_u32(&words), 0, words.len());
    let mut perm: Vec<u32> = (0..count as u32).collect();
    vae_gpu::rng::PhiloxStream::new(5, 0).shuffle(&mut perm);
    let perm_host = perm.clone();
    let perm = view(pair.input_u32(&perm), 2, count - 2);
    let rows = 11;
    let out = output(pair, rows * dim);
    let op = Gather {
        data,
        first_image: 0,
        images: count,
        perm,
        out,
        rows,
        dim,
        binarize: None,
        repeat: 1,
    };
    let mut frame = Frame::with_seed(0);
    frame.batch_start = 20;
    pair.run(&[op.into()], &frame);
    pair.check(
        &format!("gather of {dim}-byte images"),
        out,
        KERNEL_ELEMENTWISE,
    );
    // And the values are the bytes themselves, not only what the reference says.
    let (gpu, _) = pair.read(view(out.buffer, HEAD, dim));
    let first = perm_host[2 + 20] as usize;
    let expected: Vec<f32> = bytes[first * dim..(first + 1) * dim]
        .iter()
        .map(|&b| b as f32 / 255.0)
        .collect();
    assert_bytes_scaled(&gpu, &expected, &format!("gather of {dim}-byte images"));
}

/// `gpu` holds bytes / 255: WGSL's division is exact to 2.5 ULP, not correctly rounded (an
/// NVIDIA H200 is 1 ULP off for some bytes), so each value is held to that.
fn assert_bytes_scaled(gpu: &[f32], expected: &[f32], what: &str) {
    assert_eq!(gpu.len(), expected.len(), "{what}");
    for (i, (&g, &e)) in gpu.iter().zip(expected).enumerate() {
        let bound = 2.5 * f32::EPSILON * e.abs();
        assert!(
            (g - e).abs() <= bound,
            "{what}[{i}]: gpu {g}, bytes / 255 = {e}"
        );
    }
}

/// A data set in three shards of whole images (5, 5 and 3 images of 13 bytes: shards start
/// mid-word in the unsharded packing): one gather per shard writes only its own rows, and
/// together they give the unsharded batch, on both backends.
#[test]
fn gpu_gather_over_shards_matches_cpu_and_the_unsharded_batch() {
    let Some(mut pair) = Pair::new() else { return };
    let (count, dim, rows) = (13usize, 13usize, 11usize);
    let bytes: Vec<u8> = (0..count * dim).map(|i| (i * 89 % 256) as u8).collect();
    let mut perm: Vec<u32> = (0..count as u32).collect();
    vae_gpu::rng::PhiloxStream::new(8, 0).shuffle(&mut perm);
    let perm = view(pair.input_u32(&perm), 1, count - 1);
    let mut ops = Vec::new();
    let sharded = output(&mut pair, rows * dim);
    for (first_image, images) in [(0, 5), (5, 5), (10, 3)] {
        let words =
            vae_gpu::data::pack_bytes(&bytes[first_image * dim..(first_image + images) * dim]);
        let data = view(pair.input_u32(&words), 0, words.len());
        ops.push(
            Gather {
                data,
                first_image,
                images,
                perm,
                out: sharded,
                rows,
                dim,
                binarize: Some(2),
                repeat: 1,
            }
            .into(),
        );
        // Alone, a shard leaves the rows of other shards as they were (poisoned).
        let alone = output(&mut pair, rows * dim);
        let Op::Gather(mut gather) = ops.last().cloned().unwrap() else {
            unreachable!()
        };
        gather.out = alone;
        let mut frame = Frame::with_seed(1);
        frame.batch_start = 1;
        pair.run(&[gather.into()], &frame);
        let (gpu, cpu) = pair.read(alone);
        assert_eq!(gpu.len(), cpu.len());
        for (g, c) in gpu.iter().zip(&cpu) {
            assert!(
                g.to_bits() == c.to_bits(),
                "shard at {first_image}: {g} vs {c}"
            );
        }
        assert!(
            gpu.iter().any(|v| v.is_nan()),
            "shard at {first_image} wrote every row"
        );
    }
    let whole_words = vae_gpu::data::pack_bytes(&bytes);
    let whole = output(&mut pair, rows * dim);
    ops.push(
        Gather {
            data: view(pair.input_u32(&whole_words), 0, whole_words.len()),
            first_image: 0,
            images: count,
            perm,
            out: whole,
            rows,
            dim,
            binarize: Some(2),
            repeat: 1,
        }
        .into(),
    );
    let mut frame = Frame::with_seed(1);
    frame.batch_start = 1;
    pair.run(&ops, &frame);
    pair.check_untouched_outside("sharded gather", sharded);
    let (gpu, cpu) = pair.read(sharded);
    assert_eq!(gpu, cpu);
    assert_eq!(gpu, pair.read(whole).0);
}

#[test]
fn gpu_normal_matches_cpu_on_odd_lengths() {
    let Some(mut pair) = Pair::new() else { return };
    for n in [1, 3, 7, 1001] {
        let out = output(&mut pair, n);
        // Odd lengths, and a temperature: the scale multiplies each draw.
        let op = Normal {
            out,
            stream: 2,
            scale: 0.7,
        };
        pair.run(&[op.into()], &Frame::with_seed(77));
        pair.check(&format!("normal n={n}"), out, KERNEL_TRANSCENDENTAL);
    }
}

#[test]
fn prepare_rejects_views_outside_their_buffer_and_aliased_outputs() {
    let Some(mut pair) = Pair::new() else { return };
    let a = pair.input(&random(10, 1.0, 1));
    let outside: Op = ColumnSum {
        x: view(a, 0, 10),
        out: view(a, 8, 5),
        rows: 2,
        cols: 5,
    }
    .into();
    let aliased: Op = ColumnSum {
        x: view(a, 0, 10),
        out: view(a, 0, 5),
        rows: 2,
        cols: 5,
    }
    .into();
    for (op, expected) in [(outside, "outside its buffer"), (aliased, "also used")] {
        let ops = std::slice::from_ref(&op);
        let gpu = pair.gpu.prepare(ops).err().expect("bad op accepted");
        let cpu = pair.cpu.prepare(ops).err().expect("bad op accepted");
        for error in [gpu.to_string(), cpu.to_string()] {
            assert!(error.contains(expected), "{error}");
        }
    }
}

#[test]
fn gpu_dropout_masks_equal_cpu_bit_for_bit_and_backward_redraws_them() {
    let Some(mut pair) = Pair::new() else { return };
    for (n, p) in [(1, 0.5), (1001, 0.3), (40_000, 0.5), (777, 0.0), (333, 0.9)] {
        let x = input(&mut pair, n, 2.0, 40);
        let out = output(&mut pair, n);
        let grad = input(&mut pair, n, 1.0, 41);
        let grad_x = output(&mut pair, n);
        let mut frame = Frame::with_seed(12);
        frame.step = 8;
        let ops = [
            Dropout {
                x,
                out,
                p,
                stream: 0x101,
            }
            .into(),
            Dropout {
                x: grad,
                out: grad_x,
                p,
                stream: 0x101,
            }
            .into(),
        ];
        pair.run(&ops, &frame);
        pair.check_untouched_outside("dropout", out);
        pair.check_untouched_outside("dropout backward", grad_x);
        // Bit for bit: the mask is decided in integers and the scale is one f32 multiply.
        let (gpu, cpu) = pair.read(out);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&gpu), bits(&cpu), "dropout n={n} p={p}");
        let (gpu_grad, cpu_grad) = pair.read(grad_x);
        assert_eq!(
            bits(&gpu_grad),
            bits(&cpu_grad),
            "dropout backward n={n} p={p}"
        );
        // The backward drops what the forward dropped, and scales the rest alike.
        let (inputs, _) = pair.read(x);
        let (grads, _) = pair.read(grad);
        let scale = (1.0 / (1.0 - f64::from(p))) as f32;
        for i in 0..n {
            let kept = gpu[i] != 0.0 || inputs[i] == 0.0;
            assert_eq!(gpu[i], if kept { inputs[i] * scale } else { 0.0 });
            assert_eq!(gpu_grad[i], if kept { grads[i] * scale } else { 0.0 });
        }
        let kept = gpu.iter().filter(|v| **v != 0.0).count() as f64 / n as f64;
        if n >= 1000 {
            let sd = (p as f64 * (1.0 - p as f64) / n as f64).sqrt();
            assert!(
                (kept - (1.0 - p as f64)).abs() <= 5.0 * sd + 1e-9,
                "kept {kept} at p={p}"
            );
        }
    }
}

#[test]
fn gpu_binarizing_gather_equals_cpu_bit_for_bit() {
    let Some(mut pair) = Pair::new() else { return };
    // Odd images, and images of 40 bytes (four pixels per invocation).
    for dim in [37usize, 40] {
        binarizing_gather_equals_cpu(&mut pair, dim);
    }
}

fn binarizing_gather_equals_cpu(pair: &mut Pair, dim: usize) {
    let count = 29usize;
    let bytes: Vec<u8> = (0..count * dim).map(|i| (i * 53 % 256) as u8).collect();
    let words = vae_gpu::data::pack_bytes(&bytes);
    let data = view(pair.input_u32(&words), 0, words.len());
    let perm: Vec<u32> = (0..count as u32).rev().collect();
    let perm = view(pair.input_u32(&perm), 0, count);
    let rows = 23;
    let out = output(pair, rows * dim);
    let op = Gather {
        data,
        first_image: 0,
        images: count,
        perm,
        out,
        rows,
        dim,
        binarize: Some(3),
        repeat: 1,
    };
    let mut frame = Frame::with_seed(4);
    frame.step = 6;
    frame.batch_start = 5;
    pair.run(&[op.into()], &frame);
    pair.check_untouched_outside("binarizing gather", out);
    let (gpu, cpu) = pair.read(out);
    assert_eq!(gpu, cpu);
    assert!(gpu.iter().all(|&v| v == 0.0 || v == 1.0));
    // Pixels of 0 stay 0 and of 255 become 1; the mean follows the gray level.
    let mut ones = 0.0;
    let mut gray = 0.0;
    for (r, row) in gpu.chunks(dim).enumerate() {
        let image = count - 1 - (5 + r);
        for (j, &v) in row.iter().enumerate() {
            let byte = bytes[image * dim + j];
            match byte {
                0 => assert_eq!(v, 0.0),
                255 => assert_eq!(v, 1.0),
                _ => {}
            }
            ones += f64::from(v);
            gray += f64::from(byte) / 255.0;
        }
    }
    let n = (rows * dim) as f64;
    assert!(
        (ones - gray).abs() / n < 0.05,
        "mean {} against gray {}",
        ones / n,
        gray / n
    );
}

#[test]
fn gpu_kl_columns_and_free_bits_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (rows, latent) in LATENT_SHAPES {
        // Some dimensions near the prior (small KL), some far (large KL).
        let values: Vec<f32> = random(rows * 2 * latent, 1.0, 50)
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if (i % latent) % 2 == 0 {
                    0.05 * v
                } else {
                    2.0 * v
                }
            })
            .collect();
        let stats = view(pair.input(&values), 0, rows * 2 * latent);
        let columns = output(&mut pair, latent);
        let grad_stats = output(&mut pair, rows * 2 * latent);
        let ops = [
            KlColumns {
                stats,
                out: columns,
                rows,
                latent,
            }
            .into(),
            KlBackward {
                stats,
                column_kl: Some(columns),
                grad_stats,
                rows,
                latent,
            }
            .into(),
        ];
        let mut frame = Frame::with_seed(0);
        frame.kl_weight = 1.0;
        frame.grad_scale = 1.0;
        frame.free_bits = 0.02;
        pair.run(&ops, &frame);
        let what = format!("kl_columns {rows}x{latent}");
        pair.check(&what, columns, KERNEL_REDUCTION);
        pair.check(
            &format!("free bits {rows}x{latent}"),
            grad_stats,
            KERNEL_ELEMENTWISE,
        );
        // The dimensions under the floor have no gradient at all; the others do.
        let (kl, _) = pair.read(columns);
        let (grad, _) = pair.read(grad_stats);
        for j in 0..latent {
            let freed = kl[j] < 0.02 * rows as f32;
            let column: Vec<f32> = (0..rows)
                .flat_map(|r| [grad[r * 2 * latent + j], grad[r * 2 * latent + latent + j]])
                .collect();
            assert_eq!(
                column.iter().all(|g| *g == 0.0),
                freed,
                "{what} dimension {j}"
            );
        }
    }
}

#[test]
fn gpu_square_sums_and_column_moments_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for n in [1, 4095, 4097, 652_825] {
        let src = input(&mut pair, n, 1.0, 60);
        let partials = output(&mut pair, vae_gpu::kernels::square_sums::partials_for(n));
        let total = output(&mut pair, 1);
        let ops = [
            SquareSums { src, partials }.into(),
            SumInto {
                src: partials,
                dst: total,
                accumulate: false,
            }
            .into(),
        ];
        pair.run(&ops, &Frame::default());
        pair.check(&format!("square_sums n={n}"), partials, KERNEL_REDUCTION);
        pair.check(&format!("squared norm n={n}"), total, KERNEL_REDUCTION);
    }
    for (rows, cols, stride) in [(1, 1, 2), (7, 3, 6), (500, 20, 40), (129, 13, 13)] {
        for accumulate in [false, true] {
            let x = input(&mut pair, (rows - 1) * stride + cols, 2.0, 61);
            let out = if accumulate {
                input(&mut pair, 2 * cols, 3.0, 62)
            } else {
                output(&mut pair, 2 * cols)
            };
            let op = ColumnMoments {
                x,
                out,
                rows,
                cols,
                stride,
                accumulate,
            };
            pair.run(&[op.into()], &Frame::default());
            let what = format!("column_moments {rows}x{cols}/{stride} acc={accumulate}");
            pair.check(&what, out, KERNEL_REDUCTION);
        }
    }
}

/// Adam's record of non-finite parameters, `HEALTHY` at first, poisoned around.
fn healthy(pair: &mut Pair) -> View {
    view(pair.input_u32(&[7, HEALTHY, HEALTHY, 9]), 1, 2)
}

fn read_words(pair: &mut Pair, view: View) -> [[u32; 2]; 2] {
    let gpu = pair.gpu.read_u32(view.buffer, view.offset, 2).unwrap();
    let cpu = pair.cpu.read_u32(view.buffer, view.offset, 2).unwrap();
    [[gpu[0], gpu[1]], [cpu[0], cpu[1]]]
}

/// A NaN or infinite gradient makes its parameter non-finite: both backends record the first
/// step and the smallest such index, and a later step keeps that record; one parameter at a time
/// and four (where 1336 and 1337 share a vec4, and 1337 and 4001 sit at its other lanes).
/// Each invocation records the smallest of its parameters once, after its last one: 2801 is the
/// last in range of an invocation whose later parameters lie past the end.
#[test]
fn gpu_adam_records_the_first_non_finite_parameter_like_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (n, head, bad, first) in [
        (5003, 3, &[4001, 1337][..], 1337),
        (5004, 4, &[4001, 1337, 1336][..], 1336),
        (5003, 3, &[2801][..], 2801),
        (5004, 4, &[2801][..], 2801),
    ] {
        let mut grads = random(n, 1.0, 90);
        for (k, &i) in bad.iter().enumerate() {
            grads[i] = if k % 2 == 0 { f32::NAN } else { f32::INFINITY };
        }
        let op = Adam {
            params: placed(&mut pair, &random(n, 0.5, 91), head),
            grads: placed(&mut pair, &grads, head),
            m: placed(&mut pair, &random(n, 1e-2, 92), head),
            v: placed(&mut pair, &second_moments(n, 93), head),
            norm_sq: None,
            health: healthy(&mut pair),
        };
        let (params, health) = (op.params, op.health);
        let mut frame = Frame::with_seed(0);
        vae_gpu::optim::AdamConfig::default().fill_frame(&mut frame, 6, 1e-3);
        frame.step = 5;
        pair.run(&[op.into()], &frame);
        let what = pair.gpu.entry_point(&op.into());
        assert_eq!(read_words(&mut pair, health), [[5, first]; 2], "{what}");
        pair.check_untouched_outside("adam health", health);
        // A later step that makes an earlier index non-finite leaves the record as it was.
        let mut later = random(n, 1.0, 94);
        later[3] = f32::NAN;
        let later = Adam {
            grads: placed(&mut pair, &later, head),
            ..op
        };
        frame.step = 6;
        pair.run(&[later.into()], &frame);
        let (gpu, cpu) = pair.read(params);
        assert!(gpu[3].is_nan() && cpu[3].is_nan(), "{what}");
        assert_eq!(read_words(&mut pair, health), [[5, first]; 2], "{what}");
    }
}

#[test]
fn gpu_adam_with_clipping_and_l2_matches_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (n, head, norm_sq, clip_norm) in [
        (5003, 3, 400.0f32, 3.0f32),
        (5003, 3, 4.0, 30.0),
        (5004, 4, 400.0, 3.0),
    ] {
        let params = placed(&mut pair, &random(n, 0.5, 70), head);
        let grads = placed(&mut pair, &random(n, 1.0, 71), head);
        let m = placed(&mut pair, &random(n, 1e-2, 72), head);
        let v = placed(&mut pair, &second_moments(n, 73), head);
        let norm = view(pair.input(&[0.0, norm_sq]), 1, 1);
        let before = pair.read(params);
        let op = Adam {
            params,
            grads,
            m,
            v,
            norm_sq: Some(norm),
            health: healthy(&mut pair),
        };
        let mut frame = Frame::with_seed(0);
        vae_gpu::optim::AdamConfig::default().fill_frame(&mut frame, 4, 1e-2);
        frame.clip_norm = clip_norm;
        frame.l2 = 0.05;
        pair.run(&[op.into()], &frame);
        let what = format!(
            "{} clip {clip_norm} of norm {}",
            pair.gpu.entry_point(&op.into()),
            norm_sq.sqrt()
        );
        pair.check(&format!("{what} params"), params, KERNEL_ELEMENTWISE);
        pair.check(&format!("{what} m"), m, KERNEL_ELEMENTWISE);
        let after = pair.read(params);
        let update = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>();
        let error = relative_error(&update(&after.0, &before.0), &update(&after.1, &before.1));
        assert!(error <= ADAM_UPDATE, "{what} update: {error:e}");
    }
}

#[test]
fn gpu_log_weights_and_their_log_sum_exp_match_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    for (images, repeat, latent) in [(1, 1, 1), (3, 7, 5), (11, 50, 20)] {
        let rows = images * repeat;
        // Log weights of a trained model are about -100: losses of that size.
        let nll: Vec<f32> = random(rows, 30.0, 80).iter().map(|v| 100.0 + v).collect();
        let nll = view(pair.input(&nll), 0, rows);
        let z = input(&mut pair, rows * latent, 2.0, 81);
        let eps = input(&mut pair, rows * latent, 2.0, 82);
        let stats = input(&mut pair, images * 2 * latent, 1.5, 83);
        let out = output(&mut pair, rows);
        // Two chunks of draws merged into the same accumulators, starting empty.
        let empty = vae_gpu::kernels::logsumexp_groups::EMPTY_MAX;
        let start: Vec<f32> = (0..images).flat_map(|_| [empty, 0.0]).collect();
        let acc = view(pair.input(&start), 0, 2 * images);
        let sums = view(pair.input(&vec![0.5; images]), 0, images);
        let ops: Vec<Op> = vec![
            LogWeights {
                nll,
                z,
                eps,
                stats,
                out,
                rows,
                latent,
                repeat,
            }
            .into(),
            LogsumexpGroups {
                values: out,
                acc,
                groups: images,
                size: repeat,
            }
            .into(),
            LogsumexpGroups {
                values: out,
                acc,
                groups: images,
                size: repeat,
            }
            .into(),
            GroupSums {
                values: nll,
                out: sums,
                groups: images,
                size: repeat,
                accumulate: true,
            }
            .into(),
        ];
        pair.run(&ops, &Frame::default());
        let what = format!("{images} images x {repeat} draws, latent {latent}");
        pair.check(&format!("log_weights {what}"), out, KERNEL_REDUCTION);
        pair.check(&format!("group_sums {what}"), sums, KERNEL_REDUCTION);
        // The log-sum-exp, as m + log s: the pair itself may differ in how m and s split it.
        let (gpu, cpu) = pair.read(acc);
        let (weights, _) = pair.read(out);
        for g in 0..images {
            let lse = |a: &[f32]| f64::from(a[2 * g]) + f64::from(a[2 * g + 1]).ln();
            let values = &weights[g * repeat..(g + 1) * repeat];
            let max = values.iter().fold(f32::MIN, |m, &v| m.max(v)) as f64;
            let direct = max
                + (2.0
                    * values
                        .iter()
                        .map(|&v| (f64::from(v) - max).exp())
                        .sum::<f64>())
                .ln();
            for (side, got) in [("gpu", lse(&gpu)), ("cpu", lse(&cpu))] {
                assert!(
                    (got - direct).abs() <= 1e-5 * direct.abs(),
                    "{what} group {g}: {side} log-sum-exp {got}, direct {direct}"
                );
            }
        }
    }
}

#[test]
fn gpu_gather_repeats_images_like_cpu() {
    let Some(mut pair) = Pair::new() else { return };
    let (count, dim, repeat, images) = (9usize, 13usize, 4usize, 5usize);
    let bytes: Vec<u8> = (0..count * dim).map(|i| (i * 31 % 256) as u8).collect();
    let words = vae_gpu::data::pack_bytes(&bytes);
    let data = view(pair.input_u32(&words), 0, words.len());
    let perm = view(pair.input_u32(&[8, 1, 3, 0, 7, 2, 6, 5, 4]), 0, count);
    let out = output(&mut pair, images * repeat * dim);
    let op = Gather {
        data,
        first_image: 0,
        images: count,
        perm,
        out,
        rows: images * repeat,
        dim,
        binarize: None,
        repeat,
    };
    let frame = Frame {
        batch_start: 2,
        ..Frame::default()
    };
    pair.run(&[op.into()], &frame);
    pair.check("gather repeat", out, KERNEL_ELEMENTWISE);
    let (gpu, _) = pair.read(out);
    let perm = [8, 1, 3, 0, 7, 2, 6, 5, 4];
    for (r, row) in gpu.chunks(dim).enumerate() {
        let image = perm[2 + r / repeat];
        let expected: Vec<f32> = bytes[image * dim..(image + 1) * dim]
            .iter()
            .map(|&b| b as f32 / 255.0)
            .collect();
        assert_bytes_scaled(row, &expected, &format!("row {r}"));
    }
}

#[test]
fn gpu_gaussian_rows_match_cpu_with_fixed_and_learned_variances() {
    let Some(mut pair) = Pair::new() else { return };
    for (lanes, (rows, cols)) in row_cases() {
        pair.gpu.set_row_lanes(lanes);
        // Log-variances from below the floor (-13.8) to 3: the floor and its zero slope act too.
        let logvar: Vec<f32> = random(cols, 1.0, 90)
            .iter()
            .map(|u| -5.0 + 9.0 * u)
            .collect();
        let logvar = view(pair.input(&logvar), 0, cols);
        for learned in [false, true] {
            let mean = input(&mut pair, rows * cols, 1.0, 91);
            let targets: Vec<f32> = random(rows * cols, 0.5, 92)
                .iter()
                .map(|v| v + 0.5)
                .collect();
            let targets = view(pair.input(&targets), 0, rows * cols);
            let grad = output(&mut pair, rows * cols);
            let grad_logvar = output(&mut pair, rows * cols);
            let out = output(&mut pair, rows);
            let variance = if learned {
                Variance::Learned(logvar)
            } else {
                Variance::Fixed(2.0 * 0.1f32.ln())
            };
            let op = GaussianRows {
                mean,
                targets,
                variance,
                grad: Some(grad),
                grad_logvar: learned.then_some(grad_logvar),
                out,
                rows,
                cols,
            };
            let mut frame = Frame::with_seed(0);
            frame.grad_scale = 0.5;
            pair.run(&[op.into()], &frame);
            let what = format!("gaussian_rows {rows}x{cols} learned={learned} lanes={lanes}");
            pair.check(&what, out, KERNEL_REDUCTION);
            pair.check(&format!("{what} grad"), grad, KERNEL_ELEMENTWISE);
            if learned {
                pair.check(
                    &format!("{what} grad logvar"),
                    grad_logvar,
                    KERNEL_ELEMENTWISE,
                );
            }
        }
    }
}

/// Logits across the continuous Bernoulli's hard places: near 0 (the 0/0 of its closed forms, on
/// both sides of the series' cut-off), and large (where tanh and sinh saturate).
#[test]
fn gpu_continuous_bernoulli_rows_match_the_f64_reference_across_logits() {
    let Some(mut pair) = Pair::new() else { return };
    let special = [
        0.0, 1e-7, -1e-7, 1e-4, -5e-4, 0.01, -0.3, 0.69, 0.7, 0.71, -0.7, 1.0, 5.0, -12.0, 30.0,
        -31.0, 60.0, -89.0, 95.0,
    ];
    let rows = 7;
    let cols = special.len();
    let logits: Vec<f32> = (0..rows)
        .flat_map(|r| {
            special
                .iter()
                .map(move |&l| if r % 2 == 0 { l } else { -l })
        })
        .collect();
    let logits = view(pair.input(&logits), 0, rows * cols);
    let targets: Vec<f32> = random(rows * cols, 0.5, 93)
        .iter()
        .map(|v| v + 0.5)
        .collect();
    let targets = view(pair.input(&targets), 0, rows * cols);
    let grad = output(&mut pair, rows * cols);
    let out = output(&mut pair, rows);
    let op = BceRows {
        logits,
        targets,
        grad: Some(grad),
        out,
        rows,
        cols,
        normalized: true,
    };
    pair.run(&[op.into()], &Frame::with_seed(0));
    pair.check("continuous_bernoulli_rows", out, KERNEL_REDUCTION);
    // Element by element too: the error of each logit, not only of the whole.
    let (gpu, cpu) = pair.read(grad);
    let (etas, _) = pair.read(logits);
    for ((g, c), eta) in gpu.iter().zip(&cpu).zip(&etas) {
        assert!(g.is_finite(), "gradient at {eta}: {g}");
        assert!(
            (g - c).abs() <= 2e-6 * c.abs().max(1.0),
            "gradient at {eta}: gpu {g}, cpu {c}"
        );
    }
    pair.check("continuous_bernoulli_rows grad", grad, KERNEL_ELEMENTWISE);
    // 785 columns run bce_rows; 784 at aligned offsets, bce_rows_vec4 (with the gradient).
    for (random_logits, cols, head) in [(0.5f32, 785, HEAD), (40.0, 785, HEAD), (40.0, 784, 4)] {
        let logits = placed(&mut pair, &random(129 * cols, random_logits, 94), head);
        let targets: Vec<f32> = random(129 * cols, 0.5, 95)
            .iter()
            .map(|v| v + 0.5)
            .collect();
        let targets = placed(&mut pair, &targets, head);
        let out = output(&mut pair, 129);
        let grad = poisoned_at(&mut pair, 129 * cols, head);
        let op = BceRows {
            logits,
            targets,
            grad: (cols == 784).then_some(grad),
            out,
            rows: 129,
            cols,
            normalized: true,
        };
        let entry = pair.gpu.entry_point(&op.into());
        pair.run(&[op.into()], &Frame::with_seed(0));
        let what = format!("continuous_bernoulli_rows ({entry}) {cols} logits ±{random_logits}");
        pair.check(&what, out, KERNEL_REDUCTION);
        if cols == 784 {
            assert_eq!(entry, "bce_rows_vec4");
            pair.check(&format!("{what} grad"), grad, KERNEL_ELEMENTWISE);
        }
    }
}
