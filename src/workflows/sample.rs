//! Loading a trained model from its checkpoint, and the pictures made from it: grids of samples
//! and of test images above their reconstructions.

use std::collections::hash_map::{Entry, HashMap};
use std::collections::BTreeMap;
use std::path::Path;

use image::DynamicImage;

use crate::backend::{Backend, BackendError};
use crate::checkpoint::{self, CheckpointError};
use crate::image_grid::{picture_grid, stack_pictures, ImageShape};
use crate::model::{from_named_tensors, ConfigError, Vae, VaeConfig, WeightsError};
use crate::ops::Frame;

/// Metadata keys for the image size, so that grids can be drawn from the checkpoint alone.
pub const IMAGE_HEIGHT_KEY: &str = "image_height";
pub const IMAGE_WIDTH_KEY: &str = "image_width";
pub const IMAGE_CHANNELS_KEY: &str = "image_channels";
/// Gray pixels between the images of a grid.
pub const GRID_PADDING: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {error}")]
    Config { path: String, error: ConfigError },
    #[error("{path}: {error}")]
    Weights { path: String, error: WeightsError },
}

pub struct TrainedModel {
    pub config: VaeConfig,
    pub parameters: Vec<f32>,
    pub metadata: BTreeMap<String, String>,
    /// The images' channels, height and width (from the metadata, else guessed from the size).
    pub image: ImageShape,
}

/// The config from the checkpoint's metadata and the parameters from its tensors.
pub fn load_model(path: &Path) -> Result<TrainedModel, LoadError> {
    let (tensors, metadata) = checkpoint::load(path)?;
    model_from_parts(path, &tensors, metadata)
}

/// The model described by a checkpoint's metadata, with its parameters from the tensors; `path`
/// is only named in errors.
pub fn model_from_parts(
    path: &Path,
    tensors: &[checkpoint::NamedTensor],
    metadata: BTreeMap<String, String>,
) -> Result<TrainedModel, LoadError> {
    let shown = path.display().to_string();
    let config = VaeConfig::from_metadata(&metadata).map_err(|error| LoadError::Config {
        path: shown.clone(),
        error,
    })?;
    let layout = crate::model::ParamLayout::new(&config);
    let parameters =
        from_named_tensors(&config, &layout, tensors).map_err(|error| LoadError::Weights {
            path: shown.clone(),
            error,
        })?;
    let image = image_shape(&metadata, config.input_dim);
    Ok(TrainedModel {
        config,
        parameters,
        metadata,
        image,
    })
}

/// Channels, height and width from the metadata, else a gray square if the input size is one,
/// else a gray row.
fn image_shape(metadata: &BTreeMap<String, String>, dim: usize) -> ImageShape {
    let get = |key| {
        metadata
            .get(key)
            .and_then(|v: &String| v.parse::<usize>().ok())
    };
    let channels = get(IMAGE_CHANNELS_KEY).unwrap_or(1);
    if let (Some(height), Some(width)) = (get(IMAGE_HEIGHT_KEY), get(IMAGE_WIDTH_KEY)) {
        let shape = ImageShape {
            channels,
            height,
            width,
        };
        if matches!(channels, 1 | 3)
            && height
                .checked_mul(width)
                .and_then(|a| a.checked_mul(channels))
                == Some(dim)
        {
            return shape;
        }
    }
    let side = (dim as f64).sqrt().round() as usize;
    if side * side == dim {
        ImageShape::gray(side, side)
    } else {
        ImageShape::gray(1, dim)
    }
}

/// Columns of a near-square grid of `n` images.
pub fn grid_columns(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).max(1)
}

/// Images decoded per replay when sampling: any number of samples fits the device in chunks
/// (chunk c draws at RNG step c, so a seed gives the same images on every device).
pub const SAMPLE_CHUNK: usize = 1024;

/// The most samples one grid holds (a million 28×28 digits make a 30,000-pixel square PNG).
pub const MAX_SAMPLES: usize = 1_000_000;

/// Decodes `n` draws z ~ N(0, temperature² I) (Philox, `seed`) into a grid `columns` wide.
pub fn sample_grid<B: Backend>(
    backend: &mut B,
    model: &TrainedModel,
    n: usize,
    seed: u64,
    temperature: f32,
    columns: usize,
) -> Result<DynamicImage, BackendError> {
    let pixels = sample_pixels(backend, model, n, seed, temperature)?;
    Ok(picture_grid(&pixels, n, model.image, columns, GRID_PADDING))
}

/// The likelihood's means of `n` draws z ~ N(0, temperature² I) (Philox, `seed`), image after
/// image (n × input_dim values).
pub fn sample_pixels<B: Backend>(
    backend: &mut B,
    model: &TrainedModel,
    n: usize,
    seed: u64,
    temperature: f32,
) -> Result<Vec<f32>, BackendError> {
    let chunk = n.clamp(1, SAMPLE_CHUNK);
    let vae = Vae::new(backend, model.config.clone(), chunk)?;
    vae.write_parameters(backend, &model.parameters);
    let dim = model.config.input_dim;
    let mut pixels = Vec::with_capacity(n * dim);
    let mut programs = HashMap::new();
    for (step, start) in (0..n).step_by(chunk).enumerate() {
        let rows = chunk.min(n - start);
        let program = match programs.entry(rows) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(backend.prepare(&vae.sample(rows, temperature))?),
        };
        let mut frame = Frame::with_seed(seed);
        frame.step = step as u32;
        backend.run(program, &frame)?;
        let output = vae.output(rows);
        pixels.extend(backend.read_f32(output.buffer, 0, output.len)?);
    }
    Ok(pixels)
}

/// Test images (top rows) above their reconstructions (bottom rows), `columns` to a row.
pub fn reconstruction_grid(
    inputs: &[f32],
    outputs: &[f32],
    n: usize,
    shape: ImageShape,
    columns: usize,
) -> DynamicImage {
    let top = picture_grid(inputs, n, shape, columns, GRID_PADDING);
    let bottom = picture_grid(outputs, n, shape, columns, GRID_PADDING);
    stack_pictures(&top, &bottom)
}
