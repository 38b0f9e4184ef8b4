//! Data from a folder of ordinary images (PNG, JPEG): each converted to gray or RGB and to one
//! size, a fixed seeded tenth held out as the test set, and sub-folder names as labels when the
//! images sit in them (the usual `class/image.png` layout).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::DynamicImage;

use super::{shown, DataError, Dataset};
use crate::rng::PhiloxStream;

/// What to do with a file that has an image extension but does not decode.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OnBadImage {
    // Stop with an error naming the file.
    #[default]
    Fail,
    // Leave it out, say so once with the first file and its error, and go on.
    Skip,
}

/// How a folder of images becomes a data set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FolderOptions {
    /// 1: gray (luma), 3: RGB.
    pub channels: usize,
    /// Height and width every image is resized to; `None`: all must have the first one's size.
    pub image_size: Option<(usize, usize)>,
    pub on_bad_image: OnBadImage,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            channels: 1,
            image_size: None,
            on_bad_image: OnBadImage::Fail,
        }
    }
}

/// File name extensions read as images (any case).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The Philox seed and stream of the train/test split: fixed, so that every run on a folder tests
/// on the same images whatever its training seed.
const SPLIT_SEED: u64 = 0x5B_11_7F_01;
const SPLIT_STREAM: u32 = 0x5B;

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Sorted entries of a folder, as paths.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io_error = |error| DataError::Io {
        file: shown(dir),
        error,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        paths.push(entry.map_err(io_error)?.path());
    }
    paths.sort();
    Ok(paths)
}

/// Whether `dir` holds images, at its top or in its sub-folders, and no IDX images file (which
/// wins: a data set folder may hold a picture or two beside its files).
pub fn is_image_folder(dir: &Path) -> bool {
    let Ok(paths) = entries(dir) else {
        return false;
    };
    let idx = paths.iter().any(|path| {
        path.file_name()
            .is_some_and(|name| name.to_string_lossy().contains("images-idx3-ubyte"))
    });
    !idx && paths.iter().any(|path| {
        is_image(path)
            || (path.is_dir() && entries(path).is_ok_and(|p| p.iter().any(|p| is_image(p))))
    })
}

/// Image files, each with its label when the images sit in class folders.
type Labelled = Vec<(PathBuf, Option<u8>)>;

/// The image files of `dir`, each with its label (the index of its sub-folder among those that
/// hold images, sorted by name), and the label names.
fn list(dir: &Path) -> Result<(Labelled, Vec<String>), DataError> {
    let paths = entries(dir)?;
    let top: Vec<PathBuf> = paths.iter().filter(|p| is_image(p)).cloned().collect();
    let mut classes = Vec::new();
    for sub in paths.iter().filter(|p| p.is_dir()) {
        let images: Vec<PathBuf> = entries(sub)?.into_iter().filter(|p| is_image(p)).collect();
        if !images.is_empty() {
            classes.push((sub.clone(), images));
        }
    }
    if classes.is_empty() {
        return Ok((top.into_iter().map(|p| (p, None)).collect(), Vec::new()));
    }
    if let Some(first) = top.first() {
        return Err(DataError::NotFound {
            path: shown(dir),
            detail: format!(
                "images both at the top ({}) and in sub-folders ({}): put every image in a \
                 class folder, or none",
                shown(first),
                shown(&classes[0].0)
            ),
        });
    }
    if classes.len() > 256 {
        return Err(DataError::NotFound {
            path: shown(dir),
            detail: format!(
                "{} sub-folders of images: at most 256 classes are supported",
                classes.len()
            ),
        });
    }
    let names = classes
        .iter()
        .map(|(sub, _)| {
            sub.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    let files = classes
        .into_iter()
        .enumerate()
        .flat_map(|(label, (_, images))| images.into_iter().map(move |p| (p, Some(label as u8))))
        .collect();
    Ok((files, names))
}

fn decode(path: &Path) -> Result<DynamicImage, String> {
    image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())
}

/// The image's bytes as `channels` planes of `height × width` (C×H×W).
fn planes(image: &DynamicImage, channels: usize) -> Vec<u8> {
    if channels == 1 {
        return image.to_luma8().into_raw();
    }
    let rgb = image.to_rgb8();
    let (w, h) = rgb.dimensions();
    let mut out = vec![0; 3 * (w * h) as usize];
    let plane = (w * h) as usize;
    for (i, pixel) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel.0[c];
        }
    }
    out
}

/// Reads every image of `dir` (see the module comment).
pub fn load(dir: &Path, options: &FolderOptions) -> Result<Dataset, DataError> {
    let (files, label_names) = list(dir)?;
    if files.is_empty() {
        return Err(DataError::NotFound {
            path: shown(dir),
            detail: "no PNG or JPEG images here or in its sub-folders".to_string(),
        });
    }
    let mut size = options.image_size;
    let mut first: Option<PathBuf> = None;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut skipped = Vec::new();
    for (path, label) in &files {
        let image = match decode(path) {
            Ok(image) => image,
            Err(detail) => match options.on_bad_image {
                OnBadImage::Fail => {
                    return Err(DataError::BadImage {
                        file: shown(path),
                        detail: format!("{detail} (--on-bad-image skip leaves such files out)"),
                    })
                }
                OnBadImage::Skip => {
                    skipped.push(format!("{}: {detail}", shown(path)));
                    continue;
                }
            },
        };
        let found = (image.height() as usize, image.width() as usize);
        let (height, width) = *size.get_or_insert(found);
        let image = if found == (height, width) {
            image
        } else if options.image_size.is_some() {
            image.resize_exact(width as u32, height as u32, FilterType::Triangle)
        } else {
            return Err(DataError::BadImage {
                file: shown(path),
                detail: format!(
                    "{}x{} pixels (height x width), but {} is {height}x{width}: give \
                     --image-size HxW to resize every image",
                    found.0,
                    found.1,
                    first.as_deref().map_or(String::new(), shown)
                ),
            });
        };
        first.get_or_insert_with(|| path.clone());
        images.push(planes(&image, options.channels));
        labels.extend(*label);
    }
    let count = images.len();
    if count < 2 {
        if let Some(first) = skipped.first() {
            return Err(DataError::NotFound {
                path: shown(dir),
                detail: format!(
                    "only {count} image(s) decode, {} left out (the first: {first}); at least 2 \
                     are needed",
                    skipped.len()
                ),
            });
        }
        return Err(DataError::TooFew {
            path: shown(dir),
            count,
        });
    }
    let (rows, cols) = size.expect("an image was read");
    // A fixed seeded tenth (at least one) is the test set; train first, then test.
    let mut order: Vec<u32> = (0..count as u32).collect();
    PhiloxStream::new(SPLIT_SEED, SPLIT_STREAM).shuffle(&mut order);
    let test = (count / 10).max(1);
    let mut pixels = Vec::with_capacity(count * options.channels * rows * cols);
    let mut ordered_labels = Vec::new();
    for &i in &order {
        pixels.extend_from_slice(&images[i as usize]);
        if !labels.is_empty() {
            ordered_labels.push(labels[i as usize]);
        }
    }
    let classes = if label_names.is_empty() {
        String::new()
    } else {
        format!(", {} classes", label_names.len())
    };
    Ok(Dataset {
        name: format!(
            "{} ({} image folder{classes})",
            shown(dir),
            if options.channels == 3 { "RGB" } else { "gray" }
        ),
        rows,
        cols,
        channels: options.channels,
        images: pixels,
        labels: ordered_labels,
        train_count: count - test,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_dir;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    fn gray(dir: &Path, name: &str, width: u32, height: u32, value: u8) {
        GrayImage::from_pixel(width, height, Luma([value]))
            .save(dir.join(name))
            .unwrap();
    }

    fn colour(dir: &Path, name: &str, rgb: [u8; 3]) {
        RgbImage::from_pixel(3, 2, Rgb(rgb))
            .save(dir.join(name))
            .unwrap();
    }

    fn options(channels: usize) -> FolderOptions {
        FolderOptions {
            channels,
            ..FolderOptions::default()
        }
    }

    #[test]
    fn a_flat_folder_of_gray_images_loads_without_labels_and_a_fixed_split() {
        let dir = test_dir("folder-gray");
        for i in 0..12u8 {
            gray(&dir, &format!("img{i:02}.png"), 5, 4, 10 * i);
        }
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
        let data = load(&dir, &options(1)).unwrap();
        assert_eq!((data.rows, data.cols, data.channels), (4, 5, 1));
        assert_eq!(
            (data.count(), data.train_count, data.test_count()),
            (12, 11, 1)
        );
        assert!(!data.has_labels());
        let mut firsts: Vec<u8> = data.images.chunks(20).map(|image| image[0]).collect();
        assert!(data
            .images
            .chunks(20)
            .all(|image| image.iter().all(|&b| b == image[0])));
        let test_image = firsts[11];
        firsts.sort();
        assert_eq!(firsts, (0..12).map(|i| 10 * i).collect::<Vec<u8>>());
        // The split is seeded and fixed: the same test image every time.
        assert_eq!(load(&dir, &options(1)).unwrap().images[11 * 20], test_image);
        assert!(is_image_folder(&dir));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn class_folders_become_labels_and_rgb_is_stored_by_plane() {
        let dir = test_dir("folder-rgb");
        for (class, rgb) in [("blue", [0, 0, 200]), ("red", [250, 0, 0])] {
            std::fs::create_dir(dir.join(class)).unwrap();
            for i in 0..6 {
                colour(&dir.join(class), &format!("{i}.png"), rgb);
            }
        }
        let data = load(&dir, &options(3)).unwrap();
        assert_eq!(
            (data.rows, data.cols, data.channels, data.dim()),
            (2, 3, 3, 18)
        );
        assert_eq!(data.labels.len(), 12);
        for (image, &label) in data.images.chunks(18).zip(&data.labels) {
            // Classes in name order: blue 0, red 1; each plane holds one channel.
            let expected: [u8; 3] = if label == 0 { [0, 0, 200] } else { [250, 0, 0] };
            for (c, plane) in image.chunks(6).enumerate() {
                assert!(plane.iter().all(|&b| b == expected[c]), "label {label}");
            }
        }
        let gray = load(&dir, &options(1)).unwrap();
        assert_eq!(gray.dim(), 6);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sizes_must_agree_unless_resized() {
        let dir = test_dir("folder-sizes");
        gray(&dir, "a.png", 5, 4, 1);
        gray(&dir, "b.png", 6, 4, 2);
        gray(&dir, "c.png", 5, 4, 3);
        let message = load(&dir, &options(1)).unwrap_err().to_string();
        assert!(
            message.contains("b.png") && message.contains("4x6") && message.contains("a.png"),
            "{message}"
        );
        assert!(message.contains("--image-size"), "{message}");
        let resized = FolderOptions {
            image_size: Some((3, 2)),
            ..options(1)
        };
        let data = load(&dir, &resized).unwrap();
        assert_eq!((data.rows, data.cols, data.images.len()), (3, 2, 18));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_image_fails_naming_it_or_is_skipped_and_reported() {
        let dir = test_dir("folder-broken");
        for i in 0..3 {
            gray(&dir, &format!("{i}.png"), 2, 2, i);
        }
        std::fs::write(dir.join("broken.png"), b"\x89PNG but not really").unwrap();
        RgbImage::from_pixel(2, 2, Rgb([9, 9, 9]))
            .save(dir.join("photo.JPG"))
            .unwrap();
        let message = load(&dir, &options(1)).unwrap_err().to_string();
        assert!(message.contains("broken.png"), "{message}");
        assert!(message.contains("--on-bad-image skip"), "{message}");
        let skip = FolderOptions {
            on_bad_image: OnBadImage::Skip,
            ..options(1)
        };
        let data = load(&dir, &skip).unwrap();
        assert_eq!(data.count(), 4, "three PNGs and the JPEG");
        assert_eq!(data.skipped.len(), 1);
        assert!(data.skipped[0].contains("broken.png"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mixed_layouts_and_empty_folders_are_explained() {
        let dir = test_dir("folder-mixed");
        gray(&dir, "top.png", 2, 2, 1);
        std::fs::create_dir(dir.join("class")).unwrap();
        gray(&dir.join("class"), "x.png", 2, 2, 1);
        let message = load(&dir, &options(1)).unwrap_err().to_string();
        assert!(
            message.contains("top.png") && message.contains("class"),
            "{message}"
        );
        std::fs::remove_dir_all(dir).unwrap();

        let dir = test_dir("folder-empty");
        std::fs::write(dir.join("readme.txt"), "").unwrap();
        assert!(!is_image_folder(&dir));
        let message = load(&dir, &options(1)).unwrap_err().to_string();
        assert!(message.contains("no PNG or JPEG"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
