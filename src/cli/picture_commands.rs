//! The picture commands: `reconstruct`, `interpolate`, `manifold`, `latent`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use vae_gpu::backend::Backend;
use vae_gpu::image_grid::save_png;
use vae_gpu::workflows::pictures::OnDevice;
use vae_gpu::workflows::sample;

use super::checkpoint_args::{data_for, CheckpointArgs};
use super::train_args::DataArgs;

#[derive(Args, Debug)]
pub struct ReconstructArgs {
    /// PNG file to write
    #[arg(long, default_value = "recon.png")]
    pub out: PathBuf,
    /// Test images shown (top rows), above their reconstructions (bottom rows)
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Images per row
    #[arg(long, default_value_t = 8)]
    pub columns: usize,
    #[command(flatten)]
    pub model: CheckpointArgs,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Debug)]
pub struct InterpolateArgs {
    /// PNG file to write
    #[arg(long, default_value = "interp.png")]
    pub out: PathBuf,
    /// Rows: pairs of test images (2p and 2p + 1) to walk between
    #[arg(long, default_value_t = 8)]
    pub pairs: usize,
    /// Images per row, both ends included
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Walk along the great circle (spherical interpolation) instead of the straight line
    #[arg(long)]
    pub slerp: bool,
    #[command(flatten)]
    pub model: CheckpointArgs,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Debug)]
pub struct ManifoldArgs {
    /// PNG file to write
    #[arg(long, default_value = "manifold.png")]
    pub out: PathBuf,
    /// Images per side of the grid
    #[arg(long, default_value_t = 20)]
    pub n: usize,
    /// The two latent dimensions traversed, e.g. 0,1
    #[arg(long, default_value = "0,1", value_parser = vae_gpu::values::parse_dims)]
    pub dims: (usize, usize),
    /// Traverse around the posterior mean of this test image instead of around 0
    #[arg(long)]
    pub around: Option<usize>,
    #[command(flatten)]
    pub model: CheckpointArgs,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Debug)]
pub struct LatentArgs {
    /// PNG file to write
    #[arg(long, default_value = "latent.png")]
    pub out: PathBuf,
    /// Test images plotted
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    #[command(flatten)]
    pub model: CheckpointArgs,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Loads the checkpoint and its data, then opens the backend (a bad path fails first), puts them
/// on it, and hands them to `draw`.
fn with_model<B: Backend>(
    open: impl FnOnce() -> Result<B>,
    model: &CheckpointArgs,
    data: &DataArgs,
    draw: impl FnOnce(&mut OnDevice<B>) -> Result<String>,
) -> Result<()> {
    let path = model.path()?;
    let trained = sample::load_model(&path)?;
    let dataset = data_for(&path, data)?;
    let mut backend = open()?;
    let mut on_device = OnDevice::new(&mut backend, &trained, &dataset)?;
    let message = draw(&mut on_device).with_context(|| format!("drawing {}", path.display()))?;
    println!("{message} (from {})", path.display());
    Ok(())
}

pub fn reconstruct<B: Backend>(
    open: impl FnOnce() -> Result<B>,
    args: &ReconstructArgs,
) -> Result<()> {
    if args.n == 0 || args.columns == 0 {
        bail!("--n and --columns must be at least 1");
    }
    with_model(open, &args.model, &args.data, |model| {
        let grid = model.reconstructions(args.n, args.columns)?;
        save_png(&args.out, &grid)?;
        Ok(format!(
            "wrote {} ({} test images above their reconstructions, {}x{} pixels)",
            args.out.display(),
            args.n,
            grid.width(),
            grid.height()
        ))
    })
}

pub fn interpolate<B: Backend>(
    open: impl FnOnce() -> Result<B>,
    args: &InterpolateArgs,
) -> Result<()> {
    if args.pairs == 0 || args.steps < 2 {
        bail!("--pairs must be at least 1 and --steps at least 2");
    }
    with_model(open, &args.model, &args.data, |model| {
        let grid = model.interpolations(args.pairs, args.steps, args.slerp)?;
        save_png(&args.out, &grid)?;
        let how = if args.slerp { "spherical" } else { "linear" };
        Ok(format!(
            "wrote {} ({} {how} walks of {} steps, {}x{} pixels)",
            args.out.display(),
            args.pairs,
            args.steps,
            grid.width(),
            grid.height()
        ))
    })
}

pub fn manifold<B: Backend>(open: impl FnOnce() -> Result<B>, args: &ManifoldArgs) -> Result<()> {
    if args.n < 2 {
        bail!("--n must be at least 2");
    }
    with_model(open, &args.model, &args.data, |model| {
        let grid = model.manifold(args.n, args.dims, args.around)?;
        save_png(&args.out, &grid)?;
        let (i, j) = args.dims;
        Ok(format!(
            "wrote {} (dimensions {i} and {j} at the prior's quantiles, {}x{} images)",
            args.out.display(),
            args.n,
            args.n
        ))
    })
}

pub fn latent<B: Backend>(open: impl FnOnce() -> Result<B>, args: &LatentArgs) -> Result<()> {
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    with_model(open, &args.model, &args.data, |model| {
        let how = model.latent_plot(&args.out, args.n)?;
        Ok(format!(
            "wrote {} (posterior means of test images on {how}, coloured by label)",
            args.out.display()
        ))
    })
}
