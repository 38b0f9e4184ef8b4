//! The `vae-gpu` command line: arguments, progress bars and printed lines. What each command does
//! lives in `vae_gpu::workflows`.

use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use cli::checkpoint_args::{data_for, CheckpointArgs};
use cli::picture_commands::{
    self as pictures, InterpolateArgs, LatentArgs, ManifoldArgs, ReconstructArgs,
};
use cli::score_command::ScoreArgs;
use cli::signals::Interruption;
use cli::terminal::{print_summary, Terminal};
use cli::train_args::{
    parse_sizes, setting_of, DataArgs, Sizes, SweepArgs, TrainArgs, SWEEP_DEFAULTS, TRAIN_DEFAULTS,
};
use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::data::Dataset;
use vae_gpu::gpu::autotune::{self, MatmulChoice, ShapeTiming, Source};
use vae_gpu::gpu::{self, BackendChoice, GpuBackend, GpuOptions};
use vae_gpu::image_grid::save_png;
use vae_gpu::kernels::{Activation, MatmulStrategy};
use vae_gpu::model::VaeConfig;
use vae_gpu::workflows::bench::{self, BenchOptions};
use vae_gpu::workflows::eval::{self, EvalSettings, Split};
use vae_gpu::workflows::sample;
use vae_gpu::workflows::state::{SavedState, STATE_FILE};
use vae_gpu::workflows::sweep;
use vae_gpu::workflows::train::{self, RunPlace};

#[derive(Parser)]
#[command(
    name = "vae-gpu",
    version,
    about = "Train variational autoencoders on the GPU (wgpu + hand-written WGSL kernels)",
    long_about = "Train variational autoencoders on the GPU through wgpu, with every kernel \
                  hand-written in WGSL.\n\nQuick start:\n  vae-gpu train                  \
                  # embedded MNIST-10k, writes runs/latest/\n  vae-gpu sample --out grid.png  \
                  # 8x8 grid of new digits from runs/latest/"
)]
struct Cli {
    #[command(flatten)]
    gpu: GpuArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct GpuArgs {
    /// Graphics API to use [default: Vulkan, Metal or DX12, else GL]
    #[arg(
        long,
        global = true,
        value_enum,
        env = "VAE_GPU_BACKEND",
        help_heading = "GPU options"
    )]
    backend: Option<BackendChoice>,
    /// Use the adapter whose name contains this text, case-insensitive (see `vae-gpu info`)
    #[arg(
        long,
        global = true,
        env = "VAE_GPU_ADAPTER",
        help_heading = "GPU options"
    )]
    adapter: Option<String>,
    /// Prefer an integrated (low-power) GPU over a discrete one
    #[arg(long, global = true, help_heading = "GPU options")]
    low_power: bool,
    /// Matrix-multiply kernels: subgroup (needs subgroups of 8 or more), vec4 (register blocks),
    /// tiled or tiled128 (64 or 128 tiles in workgroup memory, for GPUs) or scalar everywhere
    /// [default: the fastest on this adapter, timed once and cached; see `vae-gpu info`]
    #[arg(
        long,
        global = true,
        value_enum,
        env = "VAE_GPU_MATMUL",
        help_heading = "GPU options"
    )]
    matmul: Option<MatmulStrategy>,
    /// Folder of what vae-gpu measures or trains once and reuses: the matmul kernels chosen per
    /// adapter, the judges of `score` [default: $XDG_CACHE_HOME/vae-gpu, else ~/.cache/vae-gpu]
    #[arg(long, global = true, env = "VAE_GPU_CACHE", value_name = "DIR")]
    cache: Option<PathBuf>,
}

impl GpuArgs {
    /// The cache folder (`--cache`, else the user's).
    fn cache_dir(&self) -> Option<PathBuf> {
        self.cache.clone().or_else(vae_gpu::user_cache::default_dir)
    }

    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend,
            adapter: self.adapter.clone(),
            low_power: self.low_power,
        }
    }

    /// Opens the device and prints the one-line advice when a faster path exists.
    fn open(&self) -> Result<GpuBackend> {
        Ok(self.open_with_choice()?.0)
    }

    /// Opens the device with the matmul kernels of `--matmul`, else this adapter's timed choice
    /// (cached in the cache folder after the first time), which it also returns.
    fn open_with_choice(&self) -> Result<(GpuBackend, Option<(MatmulChoice, Source)>)> {
        let mut backend = GpuBackend::open(&self.options())?;
        if let Some(advice) = &backend.context().advice {
            eprintln!("note: {advice}");
        }
        if let Some(strategy) = self.matmul {
            backend.set_matmul_strategy(strategy).context("--matmul")?;
            return Ok((backend, None));
        }
        let cache_dir = self.cache_dir();
        let choice = autotune::choose(&mut backend, cache_dir.as_deref(), |line| {
            eprintln!("warning: {line}")
        })
        .context("timing the matmul kernels on this adapter")?;
        // Each product shape a program meets is timed once too (then read from the cache).
        backend.set_shape_timing(Some(ShapeTiming::new(
            &choice.0,
            cache_dir.as_deref(),
            |line| eprintln!("warning: {line}"),
        )));
        Ok((backend, Some(choice)))
    }
}

// Negative numbers are values (`--lr -1` is refused by the option's check, with the flag named,
// not read as an unknown flag).
#[derive(Subcommand)]
enum Command {
    /// Train a VAE and write a run folder (model, metrics, state, sample and reconstruction grids)
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Train one model per setting (latent size, hidden widths, beta, dropout) with early
    /// stopping, and name the best by validation loss
    #[command(allow_negative_numbers = true)]
    Sweep(SweepArgs),
    /// Decode draws z ~ N(0, I) of a trained model into a grid PNG
    #[command(allow_negative_numbers = true)]
    Sample(SampleArgs),
    /// Measure a trained model: the ELBO over many draws, the importance-weighted bound on
    /// -log p(x), active latent units
    #[command(allow_negative_numbers = true)]
    Eval(EvalArgs),
    /// Judge generated images with a classifier trained on the data: the Fréchet distance
    /// between its features of generated and of test images, its confidence, the share of each
    /// class
    #[command(allow_negative_numbers = true)]
    Score(ScoreArgs),
    /// Draw test images above their reconstructions into a PNG
    #[command(allow_negative_numbers = true)]
    Reconstruct(ReconstructArgs),
    /// Draw walks in latent space between pairs of test images into a PNG
    #[command(allow_negative_numbers = true)]
    Interpolate(InterpolateArgs),
    /// Draw what a grid of latent points decodes to (two dimensions at the prior's quantiles)
    #[command(allow_negative_numbers = true)]
    Manifold(ManifoldArgs),
    /// Plot the test set's posterior means coloured by label (a PCA past 2 dimensions)
    #[command(allow_negative_numbers = true)]
    Latent(LatentArgs),
    /// Time training steps and each kernel of a step on the chosen adapter
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// List the GPU adapters wgpu sees and their compute limits
    Info,
}

#[derive(Args)]
struct SampleArgs {
    /// PNG file to write
    #[arg(long, default_value = "grid.png")]
    out: PathBuf,
    /// Number of images (a near-square grid)
    #[arg(long, default_value_t = 64, conflicts_with = "grid")]
    n: usize,
    /// Rows and columns of the grid, e.g. 4x16 (instead of --n)
    #[arg(long, value_parser = vae_gpu::values::parse_grid, value_name = "RxC")]
    grid: Option<(usize, usize)>,
    /// Scale of z: draws z ~ N(0, T² I); below 1 trades variety for typical images
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Seed of the draws z ~ N(0, I)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    model: CheckpointArgs,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    model: CheckpointArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Which images: the test set, or the run's validation or training split
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Draws of z per image for the importance-weighted bound
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// Draws of z per image for the ELBO
    #[arg(long, default_value_t = 100)]
    elbo_samples: usize,
    /// Use only the first N images of the split
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the draws
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Write the JSON report here [default: eval-<split>.json beside the checkpoint]
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    /// Encoder hidden widths, comma-separated (the decoder mirrors them); "" for none
    #[arg(long, default_value = "400", value_parser = parse_sizes)]
    hidden: Sizes,
    /// Latent dimensions
    #[arg(long, default_value_t = 20)]
    latent: usize,
    /// Hidden-layer activation
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    activation: Activation,
    /// Batch sizes to time, comma-separated
    #[arg(long, default_value = "64,128,256,512", value_parser = parse_sizes)]
    batch_sizes: Sizes,
    /// Steps per timed repeat
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Steps recorded into one submit, as training does (1: a submit per step)
    /// [default: all the steps of a repeat]
    #[arg(long, value_name = "N")]
    steps_per_submit: Option<usize>,
    /// Timed repeats (the median is reported)
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Batch size of the per-kernel breakdown
    #[arg(long, default_value_t = 128)]
    kernel_batch: usize,
    /// Also time each step with these matmul kernels, alternating with the chosen ones, and
    /// report the speed-up
    #[arg(long, value_enum)]
    baseline: Option<MatmulStrategy>,
    /// Also time each step with the WGSL files in DIR in place of the built-in ones of the same
    /// name (say, shaders/ of an older checkout, or a kernel edit), alternating with the built-in
    /// ones, per step and per kernel. The files are trusted as the built-in ones are: every loop
    /// must end
    #[arg(long, value_name = "DIR")]
    baseline_shaders: Option<std::path::PathBuf>,
    /// Also time one N×N×N product (forward, input- and weight-gradient forms) under each matmul
    /// family the adapter runs, in GFLOP/s
    #[arg(long, value_name = "N")]
    matmul_size: Option<usize>,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

/// The ids of the flags given on the command line (not defaults) of a subcommand.
fn explicit_flags(matches: &clap::ArgMatches, subcommand: &str) -> Vec<String> {
    let Some(sub) = matches.subcommand_matches(subcommand) else {
        return Vec::new();
    };
    sub.ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| sub.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

fn main() -> ExitCode {
    let process_start = std::time::Instant::now();
    // Before any thread starts: keep Mesa's device-select layer from probing for a display, and
    // give lavapipe two workers per core (read when its device opens).
    gpu::silence_device_select_layer();
    gpu::spread_lavapipe_threads();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match &cli.command {
        Command::Train(args) => train_command(&cli.gpu, args, &explicit_flags(&matches, "train")),
        Command::Sweep(args) => sweep_command(&cli.gpu, args),
        Command::Sample(args) => sample_command(&cli.gpu, args),
        Command::Eval(args) => eval_command(&cli.gpu, args),
        Command::Score(args) => {
            cli::score_command::run(|| cli.gpu.open(), cli.gpu.cache_dir(), args)
        }
        Command::Reconstruct(args) => pictures::reconstruct(|| cli.gpu.open(), args),
        Command::Interpolate(args) => pictures::interpolate(|| cli.gpu.open(), args),
        Command::Manifold(args) => pictures::manifold(|| cli.gpu.open(), args),
        Command::Latent(args) => pictures::latent(|| cli.gpu.open(), args),
        Command::Bench(args) => bench_command(&cli.gpu, args, process_start),
        Command::Info => info(&cli.gpu),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn info(gpu: &GpuArgs) -> Result<()> {
    let options = gpu.options();
    let adapters = gpu::list_adapters(&options);
    if adapters.is_empty() {
        // The same error (and advice) as opening a device.
        GpuBackend::open(&options)?;
    }
    println!("{} adapter(s):\n", adapters.len());
    for a in &adapters {
        println!("{}", a.describe());
    }
    match gpu.open_with_choice() {
        Ok((backend, choice)) => {
            println!("chosen: {}", backend.describe());
            if backend.context().info.device_type == wgpu::DeviceType::Cpu {
                match gpu::lavapipe_threads() {
                    Some(gpu::LavapipeThreads::Set(n)) => println!(
                        "CPU workers: LP_NUM_THREADS={n} (set by vae-gpu: {} per core; set it \
                         yourself to choose)",
                        gpu::LAVAPIPE_THREADS_PER_CORE
                    ),
                    Some(gpu::LavapipeThreads::User(value)) => {
                        println!("CPU workers: LP_NUM_THREADS={value} (yours)")
                    }
                    None => {}
                }
            }
            let tuning = backend.tuning();
            println!(
                "reductions: {} invocation(s) per column of the column sums, {} per row of the \
                 losses; subgroup matmul workgroups of {}",
                tuning.reduction_lanes, tuning.row_lanes, tuning.subgroup_lanes
            );
            match choice {
                None => println!("matmul kernels: {:?} (--matmul)", backend.matmul_strategy()),
                Some((choice, source)) => {
                    let times: Vec<String> = choice
                        .times_ms
                        .iter()
                        .map(|(name, ms)| format!("{name} {ms:.1} ms"))
                        .collect();
                    let whence = match source {
                        Source::Cached(path) => format!("cached in {}", path.display()),
                        Source::Timed(Some(path)) => {
                            format!("timed now, cached in {}", path.display())
                        }
                        Source::Timed(None) => "timed now, not cached".to_string(),
                    };
                    println!(
                        "matmul kernels: {:?} ({whence}; a 784-400 layer's three products at \
                         batch 128: {})",
                        choice.chosen,
                        times.join(", ")
                    );
                    if choice.shapes.is_empty() {
                        println!(
                            "per product shape: none timed yet (each shape is timed the first \
                             time a program needs it)"
                        );
                    } else {
                        println!("per product shape (timed when first needed, cached):");
                    }
                    for (shape, timed) in &choice.shapes {
                        let times: Vec<String> = timed
                            .times_ms
                            .iter()
                            .map(|(name, ms)| format!("{name} {ms:.3}"))
                            .collect();
                        let times = if times.is_empty() {
                            "untimed: every other family was over 4x slower on the layer"
                                .to_string()
                        } else {
                            format!("ms: {}", times.join(", "))
                        };
                        println!(
                            "  {shape:<20} {:<9} ({times})",
                            format!("{:?}", timed.chosen)
                        );
                    }
                }
            }
        }
        Err(e) => println!("chosen: none ({e:#})"),
    }
    Ok(())
}

fn train_command(gpu: &GpuArgs, args: &TrainArgs, explicit: &[String]) -> Result<()> {
    let interruption = Interruption::install()?;
    let mut terminal = Terminal::new(interruption.clone());
    let common = &args.common;
    let patience;
    let result = if let Some(run_dir) = &args.resume {
        let saved = SavedState::load(&run_dir.join(STATE_FILE))
            .with_context(|| format!("resuming {}", run_dir.display()))?;
        let given = common.options(&args.knobs(), &TRAIN_DEFAULTS)?;
        let given_data = common.data.source();
        for flag in explicit {
            let (Some(now), Some(then)) = (
                setting_of(flag, &given, &given_data),
                setting_of(flag, &saved.options, &saved.data),
            ) else {
                continue;
            };
            if now != then {
                bail!(
                    "--{}: {} was trained with {then}, not {now}; a resume keeps the run's settings \
                     (only --epochs, the total, may change)",
                    flag.replace('_', "-"),
                    run_dir.display()
                );
            }
        }
        let dataset = saved.data.load()?;
        patience = saved.options.early_stopping.map_or(0, |e| e.patience);
        let epochs = common.epochs;
        if common.cpu_reference {
            let open = || Ok(CpuBackend::new());
            train::resume(
                run_dir,
                saved,
                &dataset,
                epochs,
                &common.runs,
                open,
                &mut terminal,
            )
        } else {
            let open = || gpu.open().map_err(Into::into);
            train::resume(
                run_dir,
                saved,
                &dataset,
                epochs,
                &common.runs,
                open,
                &mut terminal,
            )
        }
    } else {
        let source = common.data.source();
        let dataset = source.load()?;
        let options = common.options(&args.knobs(), &TRAIN_DEFAULTS)?;
        patience = options.early_stopping.map_or(0, |e| e.patience);
        let place = RunPlace {
            runs: common.runs.clone(),
            run_dir: args.run_dir.clone(),
        };
        if common.cpu_reference {
            let open = || Ok(CpuBackend::new());
            train::run(&dataset, &source, options, &place, open, &mut terminal)
        } else {
            let open = || gpu.open().map_err(Into::into);
            train::run(&dataset, &source, options, &place, open, &mut terminal)
        }
    };
    terminal.clear();
    print_summary(&result?, patience);
    if let Some(code) = interruption.exit_code() {
        // Everything is written; the code tells the shell which signal ended the run.
        std::process::exit(i32::from(code));
    }
    Ok(())
}

fn sweep_command(gpu: &GpuArgs, args: &SweepArgs) -> Result<()> {
    let common = &args.common;
    let source = common.data.source();
    let dataset = source.load()?;
    let grid = args.grid();
    let varied = |values: Vec<String>| values.iter().any(|v| *v != values[0]);
    let show_hidden = varied(grid.iter().map(|k| format!("{:?}", k.hidden)).collect());
    let show_beta = varied(grid.iter().map(|k| k.beta.to_string()).collect());
    let show_dropout = varied(grid.iter().map(|k| k.dropout.to_string()).collect());
    let mut runs = Vec::new();
    for knobs in &grid {
        let mut label = format!("latent={}", knobs.latent);
        if show_hidden {
            let widths: Vec<String> = knobs.hidden.iter().map(|w| w.to_string()).collect();
            label = format!("hidden={} {label}", widths.join(","));
        }
        if show_beta {
            label.push_str(&format!(" beta={}", knobs.beta));
        }
        if show_dropout {
            label.push_str(&format!(" dropout={}", knobs.dropout));
        }
        runs.push((label, common.options(knobs, &SWEEP_DEFAULTS)?));
    }
    let interruption = Interruption::install()?;
    let mut terminal = Terminal::new(interruption.clone());
    let result = if common.cpu_reference {
        let open = || Ok(CpuBackend::new());
        sweep::run(&dataset, &source, runs, &common.runs, open, &mut terminal)
    } else {
        let open = || gpu.open().map_err(Into::into);
        sweep::run(&dataset, &source, runs, &common.runs, open, &mut terminal)
    };
    terminal.clear();
    let report = result?;
    println!(
        "
{}",
        report.to_text()
    );
    let winner = &report.rows[report.winner];
    println!(
        "best by validation loss: {} ({}); table in {}",
        winner.label,
        winner.run.display(),
        report.folder.join("sweep.csv").display()
    );
    if let Some(code) = interruption.exit_code() {
        println!(
            "interrupted: the sweep stopped after {} runs",
            report.rows.len()
        );
        std::process::exit(i32::from(code));
    }
    Ok(())
}

fn sample_command(gpu: &GpuArgs, args: &SampleArgs) -> Result<()> {
    let (n, columns) = match args.grid {
        Some((rows, columns)) => (rows * columns, columns),
        None => (args.n, sample::grid_columns(args.n)),
    };
    if n == 0 {
        bail!("--n must be at least 1");
    }
    if n > sample::MAX_SAMPLES {
        bail!(
            "{n} samples: one picture holds at most {} (sample in several runs with --seed)",
            sample::MAX_SAMPLES
        );
    }
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        bail!(
            "--temperature {}: must be a positive number",
            args.temperature
        );
    }
    let path = args.model.path()?;
    let model = sample::load_model(&path)?;
    let mut backend = gpu.open()?;
    let grid = sample::sample_grid(
        &mut backend,
        &model,
        n,
        args.seed,
        args.temperature,
        columns,
    )
    .with_context(|| format!("sampling from {}", path.display()))?;
    save_png(&args.out, &grid)?;
    println!(
        "wrote {} ({} samples of {}, {}x{} pixels)",
        args.out.display(),
        n,
        path.display(),
        grid.width(),
        grid.height()
    );
    Ok(())
}

fn eval_command(gpu: &GpuArgs, args: &EvalArgs) -> Result<()> {
    let path = args.model.path()?;
    let model = sample::load_model(&path)?;
    let dataset = data_for(&path, &args.data)?;
    let settings = EvalSettings {
        split: args.split,
        k: args.k,
        elbo_samples: args.elbo_samples,
        limit: args.limit,
        seed: args.seed,
    };
    if settings.k == 0 || settings.elbo_samples == 0 {
        bail!("--k and --elbo-samples must be at least 1");
    }
    let mut backend = gpu.open()?;
    let report = eval::evaluate(&mut backend, &model, &dataset, &settings)
        .with_context(|| format!("evaluating {}", path.display()))?;
    let json = serde_json::to_string_pretty(&report)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => path.with_file_name(format!("eval-{}.json", args.split.name())),
    };
    std::fs::write(&out, format!("{json}\n"))
        .with_context(|| format!("writing {}", out.display()))?;
    if args.json {
        println!("{json}");
    } else {
        println!("{} on {}", path.display(), dataset.name);
        print!("{}", report.to_text());
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn bench_command(gpu: &GpuArgs, args: &BenchArgs, process_start: std::time::Instant) -> Result<()> {
    if args.batch_sizes.0.is_empty() || args.batch_sizes.0.contains(&0) {
        bail!("--batch-sizes needs one or more sizes of at least 1");
    }
    let options = BenchOptions {
        model: VaeConfig {
            input_dim: 0, // set from the data
            hidden: args.hidden.0.clone(),
            latent: args.latent,
            activation: args.activation,
            likelihood: vae_gpu::model::Likelihood::Bernoulli,
        },
        batch_sizes: args.batch_sizes.0.clone(),
        steps: args.steps.max(1),
        steps_per_submit: args.steps_per_submit.unwrap_or(args.steps).max(1),
        repeats: args.repeats.max(1),
        kernel_batch: args.kernel_batch.max(1),
        baseline: args.baseline,
        baseline_shaders: args.baseline_shaders.clone(),
        process_start: Some(process_start),
        matmul_size: args.matmul_size,
        ..BenchOptions::default()
    };
    let mut backend = gpu.open()?;
    if let Some(baseline) = args.baseline {
        // Fails here, with the adapter named, if the baseline cannot run on it.
        backend
            .with_matmul(baseline, |_| ())
            .context("--baseline")?;
    }
    if let Some(dir) = &args.baseline_shaders {
        // A folder that is missing, or holds a file no kernel uses, fails here in one line.
        backend
            .set_shader_dir(Some(dir))
            .context("--baseline-shaders")?;
        backend.set_shader_dir(None)?;
    }
    let dataset = Dataset::embedded();
    let report = bench::run(&mut backend, &dataset, &options, |what| {
        eprintln!("timing {what}");
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
