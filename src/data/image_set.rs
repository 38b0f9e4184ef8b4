//! A set of images to judge (`vae-gpu score --images`): an IDX images file, a folder of PNG/JPEG
//! images, or one PNG grid cut into its cells, each image as bytes of the data set's shape.

use std::path::Path;

use super::folder::{self, FolderOptions};
use super::{idx, shown, DataError};
use crate::image_grid::ImageShape;

/// A PNG grid's layout: rows × columns of images with `padding` pixels around and between them
/// (as `vae-gpu sample` draws them, with padding 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    pub rows: usize,
    pub columns: usize,
    pub padding: usize,
}

/// The images of `path`, each `shape.dim()` bytes, channel-planar for RGB.
pub fn read(
    path: &Path,
    grid: Option<GridLayout>,
    shape: ImageShape,
) -> Result<Vec<u8>, DataError> {
    let wrong = |detail: String| DataError::WrongOptions {
        path: shown(path),
        detail,
    };
    if let Some(layout) = grid {
        return read_grid(path, layout, shape);
    }
    let images = if path.is_dir() {
        let options = FolderOptions {
            channels: shape.channels,
            image_size: None,
            ..FolderOptions::default()
        };
        let data = folder::load(path, &options)?;
        (data.images, data.rows, data.cols)
    } else if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(wrong(
            "a PNG file is read as a grid of images: say how with --grid RxC (and --padding)"
                .to_string(),
        ));
    } else {
        let data = idx::read_images(path)?;
        if shape.channels != 1 {
            return Err(wrong(
                "IDX images are gray; the model's images are RGB".to_string(),
            ));
        }
        (data.pixels, data.rows, data.cols)
    };
    let (bytes, height, width) = images;
    if (height, width) != (shape.height, shape.width) {
        return Err(wrong(format!(
            "its images are {height}x{width}; the model's are {}x{}",
            shape.height, shape.width
        )));
    }
    Ok(bytes)
}

/// Cuts a PNG grid into its cells, checking that the layout accounts for every pixel.
fn read_grid(path: &Path, layout: GridLayout, shape: ImageShape) -> Result<Vec<u8>, DataError> {
    let picture = image::open(path).map_err(|error| DataError::BadImage {
        file: shown(path),
        detail: error.to_string(),
    })?;
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    let GridLayout {
        rows,
        columns,
        padding,
    } = layout;
    let expected_width = columns * shape.width + (columns + 1) * padding;
    let expected_height = rows * shape.height + (rows + 1) * padding;
    if (width, height) != (expected_width, expected_height) {
        return Err(DataError::WrongOptions {
            path: shown(path),
            detail: format!(
                "a {rows}x{columns} grid of {}x{} images with padding {padding} is \
                 {expected_width}x{expected_height} pixels; this PNG is {width}x{height}",
                shape.height, shape.width
            ),
        });
    }
    let planes: Vec<Vec<u8>> = if shape.channels == 3 {
        let rgb = picture.to_rgb8();
        (0..3)
            .map(|c| rgb.pixels().map(|p| p.0[c]).collect())
            .collect()
    } else {
        vec![picture.to_luma8().into_raw()]
    };
    let mut images = Vec::with_capacity(rows * columns * shape.dim());
    for index in 0..rows * columns {
        let left = padding + (index % columns) * (shape.width + padding);
        let top = padding + (index / columns) * (shape.height + padding);
        for plane in &planes {
            for y in top..top + shape.height {
                images.extend_from_slice(&plane[y * width + left..y * width + left + shape.width]);
            }
        }
    }
    Ok(images)
}
