//! The `vae-gpu` command line: arguments, progress bars and printed lines. What each command does
//! lives in `vae_gpu::workflows`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use vae_gpu::backend::Backend;
use vae_gpu::cpu::CpuBackend;
use vae_gpu::data::Dataset;
use vae_gpu::gpu::{self, BackendChoice, GpuBackend, GpuOptions};
use vae_gpu::image_grid::save_png;
use vae_gpu::kernels::{Activation, MatmulStrategy};
use vae_gpu::model::VaeConfig;
use vae_gpu::optim::AdamConfig;
use vae_gpu::workflows::bench::{self, BenchOptions};
use vae_gpu::workflows::run_dir;
use vae_gpu::workflows::sample;
use vae_gpu::workflows::train::{self, RunPlace, RunStart, TrainObserver};
use vae_gpu::workflows::trainer::{EpochMetrics, Progress, TrainOptions};

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
    /// Matrix-multiply kernels: subgroup (needs subgroups of 8 or more), vec4 (register blocks)
    /// or scalar everywhere [default: subgroup where the adapter has subgroups, else vec4]
    #[arg(
        long,
        global = true,
        value_enum,
        env = "VAE_GPU_MATMUL",
        help_heading = "GPU options"
    )]
    matmul: Option<MatmulStrategy>,
}

impl GpuArgs {
    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend,
            adapter: self.adapter.clone(),
            low_power: self.low_power,
        }
    }

    /// Opens the device and prints the one-line advice when a faster path exists.
    fn open(&self) -> Result<GpuBackend> {
        let mut backend = GpuBackend::open(&self.options())?;
        if let Some(advice) = &backend.context().advice {
            eprintln!("note: {advice}");
        }
        if let Some(strategy) = self.matmul {
            backend.set_matmul_strategy(strategy).context("--matmul")?;
        }
        Ok(backend)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a VAE and write a run folder (model, metrics, sample and reconstruction grids)
    Train(TrainArgs),
    /// Decode draws z ~ N(0, I) of a trained model into a grid PNG
    Sample(SampleArgs),
    /// Time training steps and each kernel of a step on the chosen adapter
    Bench(BenchArgs),
    /// List the GPU adapters wgpu sees and their compute limits
    Info,
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Encoder hidden widths, comma-separated (the decoder mirrors them); "" for none
    #[arg(long, default_value = "400", value_parser = parse_sizes)]
    hidden: Sizes,
    /// Latent dimensions
    #[arg(long, default_value_t = 20)]
    latent: usize,
    /// Hidden-layer activation
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    activation: Activation,
}

/// A comma-separated list of sizes; whether they make sense is the model's or the command's call.
#[derive(Clone, Debug)]
struct Sizes(Vec<usize>);

fn parse_sizes(text: &str) -> Result<Sizes, String> {
    if text.trim().is_empty() {
        return Ok(Sizes(Vec::new()));
    }
    text.split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|_| format!("{w:?} is not a whole number"))
        })
        .collect::<Result<_, _>>()
        .map(Sizes)
}

impl ModelArgs {
    /// The model's shape; its input size comes from the data, and `VaeConfig::validate` judges it.
    fn config(&self) -> VaeConfig {
        VaeConfig {
            input_dim: 0,
            hidden: self.hidden.0.clone(),
            latent: self.latent,
            activation: self.activation,
        }
    }
}

#[derive(Args, Clone)]
struct DataArgs {
    /// IDX data: a folder with train-* and t10k-* files (MNIST, Fashion-MNIST), a folder with one
    /// images/labels pair, or an images file [default: the embedded MNIST-10k]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use only the first N training images
    #[arg(long)]
    train_limit: Option<usize>,
    /// Use only the first N test images
    #[arg(long)]
    test_limit: Option<usize>,
}

impl DataArgs {
    fn load(&self) -> Result<Dataset> {
        let data = match &self.data {
            Some(path) => Dataset::from_path(path)?,
            None => Dataset::embedded(),
        };
        if self.train_limit.is_some() || self.test_limit.is_some() {
            let train = self.train_limit.unwrap_or(data.train_count);
            let test = self.test_limit.unwrap_or(data.test_count());
            if train == 0 || test == 0 {
                bail!("--train-limit and --test-limit must be at least 1");
            }
            return Ok(data.truncated(train, test));
        }
        Ok(data)
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Passes over the training set
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Images per training step
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Adam learning rate
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Decoupled weight decay (AdamW); 0 is plain Adam
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// Seed of the initialization, the shuffles and every random draw
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder that holds the runs; `<runs>/latest` points at the newest
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Write this run here instead of `<runs>/<timestamp>` (must be empty or missing)
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Run the kernels on the CPU reference instead of the GPU (slow; for checking)
    #[arg(long)]
    cpu_reference: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// PNG file to write
    #[arg(long, default_value = "grid.png")]
    out: PathBuf,
    /// Number of images (a near-square grid)
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Seed of the draws z ~ N(0, I)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Checkpoint to sample from [default: <runs>/latest/model.safetensors]
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Folder that holds the runs
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Batch sizes to time, comma-separated
    #[arg(long, default_value = "64,128,256,512", value_parser = parse_sizes)]
    batch_sizes: Sizes,
    /// Steps per timed repeat
    #[arg(long, default_value_t = 10)]
    steps: usize,
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
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    // Before any thread starts: keep Mesa's device-select layer from probing for a display.
    gpu::silence_device_select_layer();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => train_command(&cli.gpu, args),
        Command::Sample(args) => sample_command(&cli.gpu, args),
        Command::Bench(args) => bench_command(&cli.gpu, args),
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
    match gpu.open() {
        Ok(backend) => println!("chosen: {}", backend.describe()),
        Err(e) => println!("chosen: none ({e:#})"),
    }
    Ok(())
}

/// The progress bar (drawn only on a terminal) and the lines printed around it.
struct Terminal {
    bar: ProgressBar,
    images_per_step: usize,
    epochs: usize,
    started: std::time::Instant,
    images: usize,
}

impl Progress for Terminal {
    fn step(&mut self, epoch: usize, batch: usize, batches: usize, loss: Option<f32>) {
        if batch == 1 {
            self.bar.reset();
            self.bar.set_length(batches as u64);
            self.bar
                .set_prefix(format!("epoch {epoch}/{}", self.epochs));
            self.started = std::time::Instant::now();
            self.images = 0;
        }
        self.images += self.images_per_step;
        self.bar.set_position(batch as u64);
        if let Some(loss) = loss {
            let rate = self.images as f64 / self.started.elapsed().as_secs_f64();
            self.bar
                .set_message(format!("loss {loss:8.2}  {rate:6.0} images/s"));
        }
    }
}

impl TrainObserver for Terminal {
    fn started(&mut self, run: &RunStart) {
        let data = run.dataset;
        let adam = &run.options.adam;
        println!("device:  {}", run.device);
        println!(
            "data:    {} ({} train, {} test, {}x{})",
            data.name,
            data.train_count,
            data.test_count(),
            data.rows,
            data.cols
        );
        let decay = if adam.weight_decay > 0.0 {
            format!(", weight decay {}", adam.weight_decay)
        } else {
            String::new()
        };
        println!(
            "model:   {} ({} parameters), batch {}, Adam lr {}{decay}",
            run.model.describe(),
            run.parameters,
            run.options.batch_size,
            adam.lr,
        );
        println!("run:     {}", run.run.display());
    }

    fn epoch_finished(&mut self, m: &EpochMetrics, epochs: usize) {
        self.bar.finish_and_clear();
        println!(
            "epoch {:>3}/{epochs}  train {:8.2}  test {:8.2} (reconstruction {:.2} + KL {:.2})  {:6.1} s  {:6.0} images/s",
            m.epoch,
            m.train_loss,
            m.test_loss,
            m.test_reconstruction,
            m.test_kl,
            m.seconds,
            m.images_per_second
        );
    }
}

fn train_command(gpu: &GpuArgs, args: &TrainArgs) -> Result<()> {
    let dataset = args.data.load()?;
    let options = TrainOptions {
        model: args.model.config(),
        adam: AdamConfig {
            lr: args.lr,
            weight_decay: args.weight_decay,
            ..AdamConfig::default()
        },
        batch_size: args.batch_size,
        epochs: args.epochs,
        seed: args.seed,
    };
    let place = RunPlace {
        runs: args.runs.clone(),
        run_dir: args.run_dir.clone(),
    };
    let mut terminal = Terminal {
        bar: ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        ),
        images_per_step: args.batch_size,
        epochs: args.epochs,
        started: std::time::Instant::now(),
        images: 0,
    };
    let result = if args.cpu_reference {
        let open = || Ok(CpuBackend::new());
        train::run(&dataset, options, &place, open, &mut terminal)
    } else {
        let open = || gpu.open().map_err(Into::into);
        train::run(&dataset, options, &place, open, &mut terminal)
    };
    terminal.bar.finish_and_clear();
    let summary = result?;
    let latest = summary
        .latest
        .map(|link| format!(" ({} points here)", link.display()))
        .unwrap_or_default();
    println!("\nwrote {}{latest}:", summary.run.display());
    for file in &summary.files {
        println!("  {}", file.display());
    }
    Ok(())
}

fn sample_command(gpu: &GpuArgs, args: &SampleArgs) -> Result<()> {
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    let path = match &args.checkpoint {
        Some(path) => path.clone(),
        None => {
            let path = args
                .runs
                .join(run_dir::LATEST)
                .join(run_dir::CHECKPOINT_FILE);
            if !path.exists() {
                bail!(
                    "{} does not exist: train a model first (`vae-gpu train`) or name one with --checkpoint",
                    path.display()
                );
            }
            path
        }
    };
    let model = sample::load_model(&path)?;
    let mut backend = gpu.open()?;
    let grid = sample::sample_grid(&mut backend, &model, args.n, args.seed)
        .with_context(|| format!("sampling from {}", path.display()))?;
    save_png(&args.out, &grid)?;
    println!(
        "wrote {} ({} samples of {}, {}x{} pixels)",
        args.out.display(),
        args.n,
        path.display(),
        grid.width(),
        grid.height()
    );
    Ok(())
}

fn bench_command(gpu: &GpuArgs, args: &BenchArgs) -> Result<()> {
    if args.batch_sizes.0.is_empty() || args.batch_sizes.0.contains(&0) {
        bail!("--batch-sizes needs one or more sizes of at least 1");
    }
    let options = BenchOptions {
        model: args.model.config(),
        batch_sizes: args.batch_sizes.0.clone(),
        steps: args.steps.max(1),
        repeats: args.repeats.max(1),
        kernel_batch: args.kernel_batch.max(1),
        baseline: args.baseline,
        ..BenchOptions::default()
    };
    let mut backend = gpu.open()?;
    if let Some(baseline) = args.baseline {
        // Fails here, with the adapter named, if the baseline cannot run on it.
        let chosen = backend.matmul_strategy();
        backend
            .set_matmul_strategy(baseline)
            .context("--baseline")?;
        backend.set_matmul_strategy(chosen)?;
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
