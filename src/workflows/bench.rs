//! `vae-gpu bench`: training-step throughput at several batch sizes, and the time of each kernel
//! of a step, on the chosen adapter. Medians of repeats, with the device's work waited for.

use std::time::Instant;

use crate::backend::{Backend, BackendError};
use crate::data::Dataset;
use crate::gpu::autotune::timing_operand;
use crate::gpu::{GpuBackend, GpuProgram};
use crate::kernels::{MatMul, MatmulStrategy, Op};
use crate::model::{init_parameters, DeviceData, StepOptions, Vae, VaeConfig};
use crate::ops::{Frame, View};
use crate::optim::AdamConfig;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub model: VaeConfig,
    pub batch_sizes: Vec<usize>,
    /// Untimed steps first (pipeline compilation, caches).
    pub warmup_steps: usize,
    /// Steps per timed repeat.
    pub steps: usize,
    /// Steps per submit within a repeat.
    pub steps_per_submit: usize,
    pub repeats: usize,
    /// Batch size of the per-kernel breakdown.
    pub kernel_batch: usize,
    /// Dispatches of the same kernel per timed submit in the breakdown.
    pub kernel_reps: usize,
    /// Matmul kernels to time the step against, side by side.
    pub baseline: Option<MatmulStrategy>,
    /// WGSL files that replace the embedded ones of the same name in the baseline's step.
    pub baseline_shaders: Option<std::path::PathBuf>,
    /// Also time one size × size × size product per matmul family and form.
    pub matmul_size: Option<usize>,
    /// When the process started: the start-up time runs from here to the end of the first
    /// training step (`None`: from the start of `run`).
    pub process_start: Option<Instant>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            model: VaeConfig::mnist_default(),
            batch_sizes: vec![64, 128, 256, 512],
            warmup_steps: 3,
            steps: 10,
            steps_per_submit: 10,
            repeats: 5,
            kernel_batch: 128,
            kernel_reps: 10,
            baseline: None,
            baseline_shaders: None,
            process_start: None,
            matmul_size: None,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchTiming {
    pub batch_size: usize,
    pub images_per_second: f64,
    pub step_ms_median: f64,
    pub step_ms_min: f64,
    pub step_ms_max: f64,
    /// The same step with the baseline's matmul kernels, timed alongside (if asked for).
    pub baseline_images_per_second: Option<f64>,
    /// Baseline step time / this step time.
    pub speedup: Option<f64>,
    /// Device memory of the model at this batch size: parameters, gradients, Adam's moments and
    /// every activation buffer (the data set apart).
    pub model_bytes: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTiming {
    /// Entry point that ran (the matmul variant included).
    pub kernel: String,
    pub op: String,
    pub ms: f64,
    /// Of the sum of the step's kernel times.
    pub share: f64,
    /// The same op under the baseline's matmul kernels, timed in alternation (GPU timestamps only).
    pub baseline_ms: Option<f64>,
}

/// One square product under one matmul family.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulThroughput {
    pub family: String,
    /// NT (forward), NN (input gradient) or TN (weight gradient).
    pub form: String,
    pub size: usize,
    /// Median over the repeats, device time where the adapter has timestamps.
    pub ms: f64,
    pub gflops: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub adapter: String,
    /// The matmul kernels timed, in words (the adapter's family and the shapes that run another),
    /// and the baseline's if any.
    pub matmul: String,
    /// The family each product shape of the timed steps ran ("NT 128x400x784" → "subgroup");
    /// empty with `--matmul`, where every shape runs that family.
    pub matmul_shapes: std::collections::BTreeMap<String, String>,
    pub baseline_matmul: Option<String>,
    /// The folder whose WGSL files the baseline's step used, if any.
    pub baseline_shaders: Option<String>,
    pub model: String,
    pub parameters: usize,
    pub batches: Vec<BatchTiming>,
    /// Steps per timed repeat, and per submit within it.
    pub steps: usize,
    pub steps_per_submit: usize,
    pub kernel_batch: usize,
    pub kernels: Vec<KernelTiming>,
    /// How the kernels were timed: GPU timestamps in place within whole steps, or the wall clock
    /// around each kernel alone (where the adapter has no timestamps inside passes).
    pub kernel_timing: String,
    /// Process start (or the start of the benchmark) to the end of the first training step:
    /// adapter, data upload, buffers, pipelines, one step, waited for.
    pub startup_ms: f64,
    /// Device memory of the training images (u8 pixels packed in u32 words).
    pub data_bytes: u64,
    /// Σ of the kernel times against the median step at the same batch size: the rest is
    /// launch and submit overhead.
    pub kernel_sum_ms: f64,
    /// The same sum under the baseline's kernels, when they were timed alongside.
    pub baseline_kernel_sum_ms: Option<f64>,
    /// One size³ product per family and form (`--matmul-size`).
    pub square_products: Vec<MatmulThroughput>,
}

const MIB: f64 = 1024.0 * 1024.0;
/// Device work before a batch size is timed.
const WARMUP: std::time::Duration = std::time::Duration::from_millis(200);

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Seconds of `f`, after the device has finished what it queued.
fn timed<B: Backend>(
    backend: &mut B,
    f: impl FnOnce(&mut B) -> Result<(), BackendError>,
) -> Result<f64, BackendError> {
    backend.synchronize()?;
    let start = Instant::now();
    f(backend)?;
    backend.synchronize()?;
    Ok(start.elapsed().as_secs_f64())
}

/// The step under the baseline's matmul kernels and shaders, if a baseline was asked for; the
/// backend is left as it was.
fn prepare_baseline(
    backend: &mut GpuBackend,
    options: &BenchOptions,
    ops: &[Op],
) -> Result<Option<GpuProgram>, BackendError> {
    if options.baseline.is_none() && options.baseline_shaders.is_none() {
        return Ok(None);
    }
    let prepare = |backend: &mut GpuBackend| -> Result<GpuProgram, BackendError> {
        backend.set_shader_dir(options.baseline_shaders.as_deref())?;
        let program = backend.prepare(ops);
        backend.set_shader_dir(None)?;
        program
    };
    match options.baseline {
        Some(baseline) => backend.with_matmul(baseline, prepare)?.map(Some),
        // The chosen kernels, per shape too; only the shaders differ.
        None => prepare(backend).map(Some),
    }
}

pub fn run(
    backend: &mut GpuBackend,
    dataset: &Dataset,
    options: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<BenchReport, BackendError> {
    let started = options.process_start.unwrap_or_else(Instant::now);
    let mut config = options.model.clone();
    config.input_dim = dataset.dim();
    config.validate().map_err(|e| BackendError::InvalidOp {
        op: "bench",
        reason: e.to_string(),
    })?;
    let count = dataset.train_count;
    let largest = options
        .batch_sizes
        .iter()
        .copied()
        .chain([options.kernel_batch])
        .max()
        .unwrap_or(1)
        .min(count);
    let before_data = backend.allocated_bytes();
    let data = DeviceData::upload(
        backend,
        &dataset.images[..count * dataset.dim()],
        dataset.dim(),
    )?;
    let data_bytes = backend.allocated_bytes() - before_data;
    let perm = backend.create_buffer("perm", count)?;
    backend.write_u32(perm, 0, &(0..count as u32).collect::<Vec<_>>());
    let perm = View::whole(perm, count);
    let vae = Vae::new(backend, config.clone(), largest)?;
    vae.write_parameters(backend, &init_parameters(&vae.layout, 1));
    let adam = AdamConfig::default();
    let frame = |step: usize, batch: usize| {
        let mut frame = Frame::with_seed(1);
        frame.step = step as u32;
        frame.batch_start = ((step * batch) % (count - batch + 1)) as u32;
        adam.fill_frame(&mut frame, step as u64 + 1, adam.lr);
        frame
    };

    // The step under the chosen kernels and, if asked, under the baseline's, prepared side by side
    // and timed in alternation so that drift of a shared machine hits both alike.
    let mut batches = Vec::new();
    let mut startup_ms = None;
    for &batch in &options.batch_sizes {
        let batch = batch.clamp(1, largest);
        progress(&format!("batch {batch}"));
        let ops = vae.train_step(&data, perm, batch, &StepOptions::default());
        let mut programs = vec![backend.prepare(&ops)?];
        programs.extend(prepare_baseline(backend, options, &ops)?);
        let mut step = 0;
        for program in &programs {
            // At least `warmup_steps`, and at least WARMUP of device work: an idle GPU runs at a
            // fraction of its clock (an H200's first steps were 3.5-4.6x slower).
            let warming = Instant::now();
            let mut warm = 0;
            while warm < options.warmup_steps || warming.elapsed() < WARMUP {
                backend.run(program, &frame(step, batch))?;
                backend.synchronize()?;
                step += 1;
                warm += 1;
                if startup_ms.is_none() {
                    startup_ms = Some(started.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        // What a model of this batch size takes: built once more, to count its buffers.
        let before_model = backend.allocated_bytes();
        Vae::new(backend, config.clone(), batch)?;
        let model_bytes = backend.allocated_bytes() - before_model;
        let mut per_step = vec![Vec::new(); programs.len()];
        for _ in 0..options.repeats {
            for (program, times) in programs.iter().zip(&mut per_step) {
                let steps: Vec<_> = (step..step + options.steps)
                    .map(|s| (program, frame(s, batch)))
                    .collect();
                step += options.steps;
                let seconds = timed(backend, |b| {
                    for chunk in steps.chunks(options.steps_per_submit) {
                        b.run_many(chunk)?;
                    }
                    Ok(())
                })?;
                times.push(seconds * 1e3 / options.steps as f64);
            }
        }
        let ms = median(&mut per_step[0]);
        let baseline_ms = per_step.get_mut(1).map(|times| median(times));
        batches.push(BatchTiming {
            batch_size: batch,
            images_per_second: batch as f64 / (ms / 1e3),
            step_ms_median: ms,
            step_ms_min: per_step[0][0],
            step_ms_max: per_step[0][per_step[0].len() - 1],
            baseline_images_per_second: baseline_ms.map(|b| batch as f64 / (b / 1e3)),
            speedup: baseline_ms.map(|b| b / ms),
            model_bytes,
        });
    }

    let batch = options.kernel_batch.clamp(1, largest);
    let ops = vae.train_step(&data, perm, batch, &StepOptions::default());
    // Each kernel in place: GPU timestamps between the dispatches of whole steps, the median of
    // the repeats per dispatch. With a baseline, its step is timed the same way in alternation,
    // step by step, which holds a ratio steady on a machine whose speed drifts by 30% over
    // seconds (whole-step timings do not).
    let mut programs = vec![backend.prepare(&ops)?];
    programs.extend(prepare_baseline(backend, options, &ops)?);
    let mut in_place: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); ops.len()]; programs.len()];
    let mut timestamps = backend.has_dispatch_timestamps();
    'repeats: for repeat in 0..options.repeats + 1 {
        progress("kernels of a step, with GPU timestamps");
        for (program, per_op) in programs.iter().zip(&mut in_place) {
            let Some(times) = backend.run_timed(program, &frame(repeat, batch))? else {
                timestamps = false;
                break 'repeats;
            };
            // The first replay warms up.
            if repeat > 0 {
                for (all, ms) in per_op.iter_mut().zip(times) {
                    all.push(ms);
                }
            }
        }
    }
    let mut kernels = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if timestamps {
            let ms = median(&mut in_place[0][i]);
            let baseline_ms = in_place.get_mut(1).map(|per_op| median(&mut per_op[i]));
            kernels.push(KernelTiming {
                kernel: backend.entry_point(op).to_string(),
                op: op.describe(),
                ms,
                share: 0.0,
                baseline_ms,
            });
            continue;
        }
        // No timestamps: each kernel alone, `kernel_reps` dispatches of it in one submit.
        progress(&format!(
            "kernel {}/{}: {}",
            i + 1,
            ops.len(),
            op.describe()
        ));
        let repeated: Vec<Op> = std::iter::repeat_n(op.clone(), options.kernel_reps).collect();
        let program = backend.prepare(&repeated)?;
        backend.run(&program, &frame(0, batch))?;
        let mut times = Vec::new();
        for _ in 0..options.repeats {
            let seconds = timed(backend, |b| b.run(&program, &frame(0, batch)))?;
            times.push(seconds * 1e3 / options.kernel_reps as f64);
        }
        kernels.push(KernelTiming {
            kernel: backend.entry_point(op).to_string(),
            op: op.describe(),
            ms: median(&mut times),
            share: 0.0,
            baseline_ms: None,
        });
    }
    let kernel_sum_ms: f64 = kernels.iter().map(|k| k.ms).sum();
    let baseline_kernel_sum_ms = kernels.iter().map(|k| k.baseline_ms).sum::<Option<f64>>();
    for k in &mut kernels {
        k.share = k.ms / kernel_sum_ms;
    }
    let square_products = match options.matmul_size {
        Some(size) => matmul_throughput(backend, size, options.repeats, &mut progress)?,
        None => Vec::new(),
    };
    Ok(BenchReport {
        square_products,
        adapter: backend.describe(),
        // After the step's programs were prepared: with the choices per shape they made.
        matmul: backend.tuning().describe_matmul(),
        matmul_shapes: backend
            .tuning()
            .matmul_shapes
            .iter()
            .map(|(shape, family)| (shape.clone(), family.name().to_string()))
            .collect(),
        baseline_matmul: options.baseline.map(|b| format!("{b:?}")),
        baseline_shaders: options
            .baseline_shaders
            .as_ref()
            .map(|d| d.display().to_string()),
        model: config.describe(),
        parameters: vae.layout.parameter_count(),
        batches,
        steps: options.steps,
        steps_per_submit: options.steps_per_submit.min(options.steps),
        kernel_batch: batch,
        kernels,
        kernel_timing: if timestamps {
            "GPU timestamps, in place within whole steps".to_string()
        } else {
            "wall clock, each kernel alone".to_string()
        },
        startup_ms: startup_ms.unwrap_or(f64::NAN),
        data_bytes,
        kernel_sum_ms,
        baseline_kernel_sum_ms,
    })
}

/// Times one size × size × size product (C = A·B, A·Bᵀ and Aᵀ·B) under each matmul family the
/// adapter runs: the median of `repeats` after one untimed run, device time where the adapter
/// has timestamps inside passes.
pub fn matmul_throughput(
    backend: &mut GpuBackend,
    size: usize,
    repeats: usize,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<MatmulThroughput>, BackendError> {
    let len = size * size;
    let mut matrix = |label: &str| timing_operand(backend, label, len);
    let (a, b, c) = (
        matrix("matmul a")?,
        matrix("matmul b")?,
        matrix("matmul c")?,
    );
    let families: Vec<MatmulStrategy> = [
        MatmulStrategy::Subgroup,
        MatmulStrategy::Tiled128,
        MatmulStrategy::Tiled,
        MatmulStrategy::Vec4,
    ]
    .into_iter()
    .filter(|&family| backend.can_run(family))
    .collect();
    let mut results = Vec::new();
    for family in families {
        backend.with_matmul(family, |backend| {
            square_family(
                backend,
                family,
                (a, b, c),
                size,
                repeats,
                progress,
                &mut results,
            )
        })??;
    }
    Ok(results)
}

/// One family's three N×N×N products (NT, NN, TN), timed.
fn square_family(
    backend: &mut GpuBackend,
    family: MatmulStrategy,
    (a, b, c): (View, View, View),
    size: usize,
    repeats: usize,
    progress: &mut impl FnMut(&str),
    results: &mut Vec<MatmulThroughput>,
) -> Result<(), BackendError> {
    {
        for (form, trans_a, trans_b) in [
            ("NT", false, true),
            ("NN", false, false),
            ("TN", true, false),
        ] {
            progress(&format!("{size}³ matmul {form}, {family:?} kernels"));
            let op: Op = MatMul {
                a,
                b,
                c,
                m: size,
                n: size,
                k: size,
                trans_a,
                trans_b,
                accumulate: false,
                epilogue: None,
            }
            .into();
            let program = backend.prepare(&[op])?;
            let frame = Frame::default();
            backend.run(&program, &frame)?;
            let mut times = Vec::new();
            for _ in 0..repeats.max(1) {
                let device = backend.run_timed(&program, &frame)?;
                let ms = match device {
                    Some(ms) => ms[0],
                    None => 1e3 * timed(backend, |b| b.run(&program, &frame))?,
                };
                times.push(ms);
            }
            let ms = median(&mut times);
            results.push(MatmulThroughput {
                family: family.name().to_string(),
                form: form.to_string(),
                size,
                ms,
                gflops: 2.0 * (size as f64).powi(3) / (ms * 1e6),
            });
        }
    }
    Ok(())
}

impl BenchReport {
    /// The report as a table for people.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "adapter: {}", self.adapter);
        let _ = writeln!(
            out,
            "model:   {} ({} parameters)",
            self.model, self.parameters
        );
        let _ = writeln!(out, "matmul:  {}", self.matmul);
        let _ = writeln!(
            out,
            "start-up: {:.0} ms from process start to the first finished training step",
            self.startup_ms
        );
        let _ = writeln!(
            out,
            "device memory: data {:.1} MiB; model at each batch size below",
            self.data_bytes as f64 / MIB
        );
        if let Some(baseline) = &self.baseline_matmul {
            let _ = writeln!(out, "baseline matmul (timed alongside): {baseline}");
        }
        if let Some(dir) = &self.baseline_shaders {
            let _ = writeln!(
                out,
                "baseline shaders (timed alongside): the WGSL files in {dir}"
            );
        }
        let _ = writeln!(
            out,
            "steps: {} per timed repeat, {} per submit",
            self.steps, self.steps_per_submit
        );
        let _ = writeln!(
            out,
            "\n{:>6} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8} {:>10}",
            "batch", "images/s", "ms/step", "min", "max", "baseline/s", "speedup", "model MiB"
        );
        for b in &self.batches {
            let baseline = b
                .baseline_images_per_second
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into());
            let speedup = b
                .speedup
                .map(|v| format!("{v:.2}x"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "{:>6} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>12} {:>8} {:>10.1}",
                b.batch_size,
                b.images_per_second,
                b.step_ms_median,
                b.step_ms_min,
                b.step_ms_max,
                baseline,
                speedup,
                b.model_bytes as f64 / MIB
            );
        }
        let _ = writeln!(
            out,
            "\nkernels of one step at batch {} ({}):",
            self.kernel_batch, self.kernel_timing
        );
        let compared = self.baseline_kernel_sum_ms.is_some();
        if compared {
            let _ = writeln!(
                out,
                "{:>9} {:>6} {:>11} {:>8}  {:<18} op",
                "ms", "share", "baseline ms", "speedup", "kernel"
            );
        } else {
            let _ = writeln!(out, "{:>9} {:>6}  {:<18} op", "ms", "share", "kernel");
        }
        for k in &self.kernels {
            let baseline = match k.baseline_ms {
                Some(b) => format!(" {b:>11.3} {:>7.2}x", b / k.ms),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "{:>9.3} {:>5.1}%{baseline}  {:<18} {}",
                k.ms,
                100.0 * k.share,
                k.kernel,
                k.op
            );
        }
        let step = self
            .batches
            .iter()
            .find(|b| b.batch_size == self.kernel_batch)
            .map(|b| format!(" (median step at this batch: {:.2} ms)", b.step_ms_median))
            .unwrap_or_default();
        let baseline_sum = match self.baseline_kernel_sum_ms {
            Some(b) => format!(" {b:>11.3} {:>7.2}x", b / self.kernel_sum_ms),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{:>9.3}       {baseline_sum}  sum of kernels{step}",
            self.kernel_sum_ms
        );
        if !self.square_products.is_empty() {
            let _ = writeln!(out, "\none square product per matmul family and form:");
            let _ = writeln!(
                out,
                "{:>10} {:>5} {:>6} {:>10} {:>9}",
                "family", "form", "size", "ms", "GFLOP/s"
            );
            for m in &self.square_products {
                let _ = writeln!(
                    out,
                    "{:>10} {:>5} {:>6} {:>10.3} {:>9.1}",
                    m.family, m.form, m.size, m.ms, m.gflops
                );
            }
        }
        out
    }
}
