//! Lays images out in PNG grids (samples, test images above their reconstructions): gray, or RGB
//! from channel-planar (C×H×W) pixels.

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma, Pixel, Rgb, RgbImage};

/// The shape of one image: 1 (gray) or 3 (RGB) channels of `height × width`, stored channel by
/// channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub fn gray(height: usize, width: usize) -> Self {
        Self {
            channels: 1,
            height,
            width,
        }
    }

    /// Values per image.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// [`grid_image`] for images of any shape: a gray grid, or an RGB one whose planes are the
/// grids of each channel.
pub fn picture_grid(
    pixels: &[f32],
    count: usize,
    shape: ImageShape,
    columns: usize,
    padding: usize,
) -> DynamicImage {
    let (h, w) = (shape.height, shape.width);
    if shape.channels != 3 {
        return DynamicImage::ImageLuma8(grid_image(pixels, count, h, w, columns, padding));
    }
    let plane = h * w;
    let channel = |c: usize| -> GrayImage {
        let values: Vec<f32> = pixels[..count * shape.dim()]
            .chunks_exact(shape.dim().max(1))
            .flat_map(|image| image[c * plane..(c + 1) * plane].iter().copied())
            .collect();
        grid_image(&values, count, h, w, columns, padding)
    };
    let (red, green, blue) = (channel(0), channel(1), channel(2));
    let rgb = RgbImage::from_fn(red.width(), red.height(), |x, y| {
        Rgb([
            red.get_pixel(x, y).0[0],
            green.get_pixel(x, y).0[0],
            blue.get_pixel(x, y).0[0],
        ])
    });
    DynamicImage::ImageRgb8(rgb)
}

/// `top` above `bottom`, as [`stack_rows`]; RGB if either is.
pub fn stack_pictures(top: &DynamicImage, bottom: &DynamicImage) -> DynamicImage {
    match (top, bottom) {
        (DynamicImage::ImageLuma8(t), DynamicImage::ImageLuma8(b)) => {
            DynamicImage::ImageLuma8(stack_rows(t, b))
        }
        _ => DynamicImage::ImageRgb8(stack_rows(&top.to_rgb8(), &bottom.to_rgb8())),
    }
}

/// Why a PNG could not be written; names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: cannot encode PNG: {error}")]
    Encode {
        path: PathBuf,
        error: image::ImageError,
    },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Lays `count` images out `columns` to a row (a `columns` of 0 counts as 1), with `padding`
/// black pixels between images and around the border.
///
/// `pixels`: `count` images of `height*width` values in [0,1] (clamped; NaN -> 0), row-major,
/// one after another. The grid is `columns*width + (columns+1)*padding` wide and
/// `rows*height + (rows+1)*padding` high, where `rows = ceil(count/columns)`.
///
/// Panics if `pixels` holds fewer than `count*height*width` values.
pub fn grid_image(
    pixels: &[f32],
    count: usize,
    height: usize,
    width: usize,
    columns: usize,
    padding: usize,
) -> GrayImage {
    let columns = columns.max(1);
    let rows = count.div_ceil(columns);
    let dim = height * width;
    assert!(
        pixels.len() >= count * dim,
        "grid_image: {} values for {count} images of {height}x{width}",
        pixels.len()
    );
    let grid_width = columns * width + (columns + 1) * padding;
    let grid_height = rows * height + (rows + 1) * padding;
    let mut grid = GrayImage::new(to_u32(grid_width), to_u32(grid_height));
    for (index, image) in pixels[..count * dim].chunks_exact(dim.max(1)).enumerate() {
        let left = padding + (index % columns) * (width + padding);
        let top = padding + (index / columns) * (height + padding);
        for (y, row) in image.chunks_exact(width.max(1)).enumerate() {
            for (x, &value) in row.iter().enumerate() {
                grid.put_pixel(to_u32(left + x), to_u32(top + y), Luma([to_byte(value)]));
            }
        }
    }
    grid
}

/// `top` above `bottom`, left-aligned; a narrower one is padded with black on the right.
pub fn stack_rows<P: Pixel>(
    top: &ImageBuffer<P, Vec<P::Subpixel>>,
    bottom: &ImageBuffer<P, Vec<P::Subpixel>>,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    let width = top.width().max(bottom.width());
    let mut out = ImageBuffer::new(width, top.height() + bottom.height());
    for (x, y, pixel) in top.enumerate_pixels() {
        out.put_pixel(x, y, *pixel);
    }
    for (x, y, pixel) in bottom.enumerate_pixels() {
        out.put_pixel(x, top.height() + y, *pixel);
    }
    out
}

/// Writes `image` as a PNG at `path`, atomically: readers see the old file or the whole new one.
pub fn save_png(path: &Path, image: &DynamicImage) -> Result<(), ImageError> {
    match image {
        DynamicImage::ImageLuma8(gray) => write_png(path, gray),
        other => write_png(path, &other.to_rgb8()),
    }
}

/// The same for an RGB picture (the plots).
pub fn save_rgb_png(path: &Path, image: &image::RgbImage) -> Result<(), ImageError> {
    write_png(path, image)
}

fn write_png<P, C>(path: &Path, image: &image::ImageBuffer<P, C>) -> Result<(), ImageError>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .map_err(|error| ImageError::Encode {
            path: path.to_path_buf(),
            error,
        })?;
    crate::checkpoint::write_atomic(path, bytes.get_ref()).map_err(|error| ImageError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// [0,1] -> 0..=255, rounded; out-of-range values clamp and NaN is black.
pub fn to_byte(value: f32) -> u8 {
    if value.is_nan() {
        return 0;
    }
    (value.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("image grid larger than u32::MAX pixels a side")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_follows_the_layout_formula() {
        let pixels = vec![0.5; 7 * 3 * 2];
        let grid = grid_image(&pixels, 7, 3, 2, 4, 1);
        // 4 columns of width 2 and 5 gaps; ceil(7/4) = 2 rows of height 3 and 3 gaps.
        assert_eq!(grid.dimensions(), (4 * 2 + 5, 2 * 3 + 3));
        let unpadded = grid_image(&pixels, 7, 3, 2, 7, 0);
        assert_eq!(unpadded.dimensions(), (14, 3));
        assert_eq!(grid_image(&pixels, 7, 3, 2, 0, 0).dimensions(), (2, 21));
    }

    #[test]
    fn pixels_land_in_place_with_padding_black() {
        let (height, width) = (3, 2);
        let mut pixels = vec![0.0; 5 * height * width];
        // Image 4 sits at column 1, row 1 of a 3-column grid; mark its pixel (y=2, x=1).
        pixels[4 * height * width + 2 * width + 1] = 0.6;
        pixels[0] = 1.0;
        let padding = 2;
        let grid = grid_image(&pixels, 5, height, width, 3, padding);
        let x = padding + (width + padding) + 1;
        let y = padding + (height + padding) + 2;
        assert_eq!(grid.get_pixel(x as u32, y as u32).0, [153]);
        assert_eq!(grid.get_pixel(2, 2).0, [255]);
        let lit = grid.pixels().filter(|p| p.0[0] != 0).count();
        assert_eq!(lit, 2, "padding and empty cells stay black");
    }

    #[test]
    fn values_clamp_and_nan_is_black() {
        let pixels = [-0.5, 1.5, f32::NAN, 0.5, f32::INFINITY, f32::NEG_INFINITY];
        let grid = grid_image(&pixels, 1, 1, 6, 1, 0);
        let values: Vec<u8> = grid.pixels().map(|p| p.0[0]).collect();
        assert_eq!(values, [0, 255, 0, 128, 255, 0]);
    }

    /// Planar RGB pixels land in their channels, at the same places as gray ones.
    #[test]
    fn rgb_grids_take_each_channel_from_its_plane() {
        let shape = ImageShape {
            channels: 3,
            height: 2,
            width: 3,
        };
        let mut pixels = vec![0.0; 2 * shape.dim()];
        // Image 1, pixel (y=1, x=2): red 1, green 0, blue 0.2.
        let at = shape.dim() + 3 + 2;
        pixels[at] = 1.0;
        pixels[at + 2 * 6] = 0.2;
        let grid = picture_grid(&pixels, 2, shape, 2, 1).to_rgb8();
        assert_eq!(grid.dimensions(), (2 * 3 + 3, 2 + 2));
        assert_eq!(grid.get_pixel(1 + 3 + 1 + 2, 1 + 1).0, [255, 0, 51]);
        assert_eq!(grid.pixels().filter(|p| p.0 != [0, 0, 0]).count(), 1);
        let gray = picture_grid(&pixels, 2, ImageShape::gray(2, 3), 2, 1);
        assert!(matches!(gray, DynamicImage::ImageLuma8(_)));
        let both = stack_pictures(&gray, &DynamicImage::ImageRgb8(grid));
        assert_eq!((both.width(), both.height()), (9, 8));
    }

    #[test]
    fn stack_rows_puts_top_above_bottom() {
        let top = GrayImage::from_pixel(3, 2, Luma([10]));
        let bottom = GrayImage::from_pixel(5, 1, Luma([20]));
        let both = stack_rows(&top, &bottom);
        assert_eq!(both.dimensions(), (5, 3));
        assert_eq!(both.get_pixel(2, 1).0, [10]);
        assert_eq!(both.get_pixel(4, 1).0, [0]);
        assert_eq!(both.get_pixel(4, 2).0, [20]);
    }

    #[test]
    fn png_is_written_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("vae-gpu-png-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grid.png");
        let pixels: Vec<f32> = (0..6 * 4 * 5).map(|i| (i % 7) as f32 / 6.0).collect();
        let grid = grid_image(&pixels, 6, 4, 5, 4, 1);
        let picture = DynamicImage::ImageLuma8(grid.clone());
        save_png(&path, &picture).unwrap();
        save_png(&path, &picture).unwrap();
        let read = image::open(&path).unwrap().to_luma8();
        assert_eq!(read, grid);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left behind");

        let message = save_png(&dir.join("missing/grid.png"), &picture)
            .unwrap_err()
            .to_string();
        assert!(message.contains("missing/grid.png"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
