//! The `vae-gpu` command line: train, sample, bench, info.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use vae_gpu::backend::Backend;
use vae_gpu::checkpoint;
use vae_gpu::data::Dataset;
use vae_gpu::gpu::{self, GpuBackend, GpuOptions, MatmulStrategy};
use vae_gpu::image_grid::save_png;
use vae_gpu::model::{to_named_tensors, VaeConfig};
use vae_gpu::ops::Activation;
use vae_gpu::optim::AdamConfig;
use vae_gpu::reference::CpuBackend;
use vae_gpu::workflows::bench::{self, BenchOptions};
use vae_gpu::workflows::run_dir::{self, RunDir};
use vae_gpu::workflows::sample::{self, grid_columns, IMAGE_HEIGHT_KEY, IMAGE_WIDTH_KEY};
use vae_gpu::workflows::trainer::{EpochMetrics, Progress, TrainError, TrainOptions, Trainer};

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
    /// Graphics API to use [default: any]
    #[arg(
        long,
        global = true,
        value_enum,
        env = "VAE_GPU_BACKEND",
        help_heading = "GPU options"
    )]
    backend: Option<BackendArg>,
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
    /// Matrix-multiply kernels: auto (subgroup where the adapter has subgroups, else vec4),
    /// subgroup, vec4 (register blocks), or scalar everywhere
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = MatmulArg::Auto,
        env = "VAE_GPU_MATMUL",
        help_heading = "GPU options"
    )]
    matmul: MatmulArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

#[derive(Clone, Copy, ValueEnum)]
enum MatmulArg {
    Auto,
    Subgroup,
    Vec4,
    Scalar,
}

impl GpuArgs {
    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend.map(|b| match b {
                BackendArg::Vulkan => gpu::BackendChoice::Vulkan,
                BackendArg::Metal => gpu::BackendChoice::Metal,
                BackendArg::Dx12 => gpu::BackendChoice::Dx12,
                BackendArg::Gl => gpu::BackendChoice::Gl,
            }),
            adapter: self.adapter.clone(),
            low_power: self.low_power,
        }
    }

    fn open(&self) -> Result<GpuBackend> {
        let mut backend = GpuBackend::open(&self.options())?;
        match self.matmul {
            MatmulArg::Auto => {}
            MatmulArg::Subgroup if !backend.has_subgroups() => {
                bail!(
                    "--matmul subgroup: {} has no subgroups of 8 or more",
                    backend.describe()
                )
            }
            MatmulArg::Subgroup => {
                backend.set_matmul_strategy(MatmulStrategy::SubgroupWhereAligned)
            }
            MatmulArg::Vec4 => backend.set_matmul_strategy(MatmulStrategy::Vec4WhereAligned),
            MatmulArg::Scalar => backend.set_matmul_strategy(MatmulStrategy::Scalar),
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
    #[arg(long, default_value = "400", value_parser = parse_widths)]
    hidden: Widths,
    /// Latent dimensions
    #[arg(long, default_value_t = 20)]
    latent: usize,
    /// Hidden-layer activation
    #[arg(long, value_enum, default_value_t = ActivationArg::Relu)]
    activation: ActivationArg,
}

#[derive(Clone, Debug)]
struct Widths(Vec<usize>);

fn parse_widths(text: &str) -> Result<Widths, String> {
    if text.trim().is_empty() {
        return Ok(Widths(Vec::new()));
    }
    text.split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(0) | Err(_) => Err(format!("{w:?} is not a positive layer width")),
            Ok(v) => Ok(v),
        })
        .collect::<Result<_, _>>()
        .map(Widths)
}

#[derive(Clone, Copy, ValueEnum)]
enum ActivationArg {
    Relu,
    LeakyRelu,
    Tanh,
    Sigmoid,
}

impl ModelArgs {
    fn config(&self) -> Result<VaeConfig> {
        if self.latent == 0 {
            bail!("--latent must be at least 1");
        }
        Ok(VaeConfig {
            input_dim: 0, // set from the data
            hidden: self.hidden.0.clone(),
            latent: self.latent,
            activation: match self.activation {
                ActivationArg::Relu => Activation::Relu,
                ActivationArg::LeakyRelu => Activation::LeakyRelu,
                ActivationArg::Tanh => Activation::Tanh,
                ActivationArg::Sigmoid => Activation::Sigmoid,
            },
        })
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
    #[arg(long, default_value = "64,128,256,512", value_parser = parse_widths)]
    batch_sizes: Widths,
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
    baseline: Option<MatmulArg>,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => train(&cli.gpu, args),
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
    match GpuBackend::open(&options) {
        Ok(backend) => println!("chosen: {}", backend.describe()),
        Err(e) => println!("chosen: none ({e})"),
    }
    Ok(())
}

/// Progress bar on a terminal; nothing otherwise (the per-epoch lines are printed anyway).
struct Bar {
    bar: ProgressBar,
    epochs: usize,
    images_per_step: usize,
    started: std::time::Instant,
    images: usize,
}

impl Progress for Bar {
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

fn train(gpu: &GpuArgs, args: &TrainArgs) -> Result<()> {
    let dataset = args.data.load()?;
    let options = TrainOptions {
        model: args.model.config()?,
        adam: AdamConfig {
            lr: args.lr,
            weight_decay: args.weight_decay,
            ..AdamConfig::default()
        },
        batch_size: args.batch_size,
        epochs: args.epochs,
        seed: args.seed,
    };
    if args.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if args.cpu_reference {
        run_training(CpuBackend::new(), &dataset, options, args)
    } else {
        run_training(gpu.open()?, &dataset, options, args)
    }
}

fn run_training<B: Backend>(
    backend: B,
    dataset: &Dataset,
    options: TrainOptions,
    args: &TrainArgs,
) -> Result<()> {
    let device = backend.describe();
    let mut trainer = Trainer::new(backend, dataset, options)?;
    let run = match &args.run_dir {
        Some(path) => RunDir::create_at(path)?,
        None => RunDir::create_timestamped(&args.runs)?,
    };
    let config = trainer.vae.config.clone();
    println!("device:  {device}");
    println!(
        "data:    {} ({} train, {} test, {}x{})",
        dataset.name,
        dataset.train_count,
        dataset.test_count(),
        dataset.rows,
        dataset.cols
    );
    println!(
        "model:   {} ({} parameters), batch {}, Adam lr {}{}",
        config.describe(),
        trainer.vae.layout.parameter_count(),
        trainer.options.batch_size,
        trainer.options.adam.lr,
        if trainer.options.adam.weight_decay > 0.0 {
            format!(", weight decay {}", trainer.options.adam.weight_decay)
        } else {
            String::new()
        }
    );
    println!("run:     {}", run.path.display());

    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut progress = Bar {
        bar,
        epochs: args.epochs,
        images_per_step: trainer.options.batch_size,
        started: std::time::Instant::now(),
        images: 0,
    };
    let checkpoint_path = run.file(run_dir::CHECKPOINT_FILE);
    let mut last: Option<EpochMetrics> = None;
    for _ in 0..args.epochs {
        let metrics = match trainer.run_epoch(&mut progress) {
            Ok(m) => m,
            Err(error @ TrainError::Diverged { .. }) => {
                progress.bar.finish_and_clear();
                let kept = match &last {
                    Some(m) => format!(
                        "the checkpoint of epoch {} is kept at {}",
                        m.epoch,
                        checkpoint_path.display()
                    ),
                    None => "no epoch finished, so no checkpoint was written".to_string(),
                };
                bail!("{error}; {kept}. Try a lower --lr.");
            }
            Err(error) => return Err(error.into()),
        };
        progress.bar.finish_and_clear();
        println!(
            "epoch {:>3}/{}  train {:8.2}  test {:8.2} (reconstruction {:.2} + KL {:.2})  {:6.1} s  {:6.0} images/s",
            metrics.epoch,
            args.epochs,
            metrics.train_loss,
            metrics.test_loss,
            metrics.test_reconstruction,
            metrics.test_kl,
            metrics.seconds,
            metrics.images_per_second
        );
        let parameters = trainer.parameters()?;
        let mut metadata = config.to_metadata();
        metadata.insert(IMAGE_HEIGHT_KEY.into(), dataset.rows.to_string());
        metadata.insert(IMAGE_WIDTH_KEY.into(), dataset.cols.to_string());
        metadata.insert("epochs".into(), metrics.epoch.to_string());
        metadata.insert("seed".into(), trainer.options.seed.to_string());
        metadata.insert("test_loss".into(), format!("{:.4}", metrics.test_loss));
        metadata.insert("data".into(), dataset.name.clone());
        metadata.insert(
            "writer".into(),
            format!("vae-gpu {}", env!("CARGO_PKG_VERSION")),
        );
        checkpoint::save(
            &checkpoint_path,
            &to_named_tensors(&trainer.vae.layout, &parameters),
            &metadata,
        )?;
        run.append_metrics(&metrics)?;
        last = Some(metrics);
    }

    let n = 64.min(trainer.vae.capacity);
    let pixels = trainer.samples(n, trainer.options.seed)?;
    let samples = vae_gpu::image_grid::grid_image(
        &pixels,
        n,
        dataset.rows,
        dataset.cols,
        grid_columns(n),
        sample::GRID_PADDING,
    );
    save_png(&run.file(run_dir::SAMPLES_PNG), &samples)?;
    let (inputs, outputs) = trainer.reconstructions(16)?;
    let shown = inputs.len() / dataset.dim();
    let grid = sample::reconstruction_grid(&inputs, &outputs, shown, dataset.rows, dataset.cols, 8);
    save_png(&run.file(run_dir::RECONSTRUCTIONS_PNG), &grid)?;
    let latest = if args.run_dir.is_none() || run.path.starts_with(&args.runs) {
        run.mark_latest(&args.runs)?;
        format!(
            " ({} points here)",
            args.runs.join(run_dir::LATEST).display()
        )
    } else {
        String::new()
    };
    println!("\nwrote {}{latest}:", run.path.display());
    for file in [
        run_dir::CHECKPOINT_FILE,
        run_dir::METRICS_JSONL,
        run_dir::METRICS_CSV,
        run_dir::SAMPLES_PNG,
        run_dir::RECONSTRUCTIONS_PNG,
    ] {
        println!("  {}", run.file(file).display());
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
    let options = BenchOptions {
        model: args.model.config()?,
        batch_sizes: args.batch_sizes.0.clone(),
        steps: args.steps.max(1),
        repeats: args.repeats.max(1),
        kernel_batch: args.kernel_batch.max(1),
        ..BenchOptions::default()
    };
    if options.batch_sizes.is_empty() {
        bail!("--batch-sizes needs at least one size");
    }
    let mut backend = gpu.open()?;
    let baseline = match args.baseline {
        None => None,
        Some(MatmulArg::Auto) => Some(GpuBackend::best_matmul_strategy(backend.context())),
        Some(MatmulArg::Subgroup) if !backend.has_subgroups() => {
            bail!(
                "--baseline subgroup: {} has no subgroups of 8 or more",
                backend.describe()
            )
        }
        Some(MatmulArg::Subgroup) => Some(MatmulStrategy::SubgroupWhereAligned),
        Some(MatmulArg::Vec4) => Some(MatmulStrategy::Vec4WhereAligned),
        Some(MatmulArg::Scalar) => Some(MatmulStrategy::Scalar),
    };
    let options = BenchOptions {
        baseline,
        ..options
    };
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
