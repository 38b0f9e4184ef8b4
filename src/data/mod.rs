//! The image data set the trainer uses: the embedded MNIST subset or IDX files found on disk.

pub mod folder;
pub mod idx;
pub mod image_set;

use std::path::{Path, PathBuf};

use idx::IdxImages;

/// Why a data set could not be read; every variant names the file or folder concerned.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: {error}")]
    Io { file: String, error: std::io::Error },
    #[error("{file}: corrupt gzip data: {error}")]
    Gzip { file: String, error: std::io::Error },
    #[error("{file}: bad magic number 0x{found:08x}, expected 0x{expected:08x} ({kind})")]
    BadMagic {
        file: String,
        kind: &'static str,
        expected: u32,
        found: u32,
    },
    #[error("{file}: IDX header truncated: expected {expected} bytes, found {found}")]
    HeaderTruncated {
        file: String,
        expected: usize,
        found: usize,
    },
    #[error("{file}: bad dimensions: {detail}")]
    BadDimensions { file: String, detail: String },
    #[error("{file}: truncated: expected {expected} bytes of {what}, found {found}")]
    Truncated {
        file: String,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{file}: {extra} trailing bytes after the {expected} bytes of {what}")]
    TrailingBytes {
        file: String,
        what: &'static str,
        expected: usize,
        extra: String,
    },
    #[error("{path}: {detail}")]
    NotFound { path: String, detail: String },
    #[error("{path}: several {what} files, cannot tell which to use: {candidates}")]
    Ambiguous {
        path: String,
        what: &'static str,
        candidates: String,
    },
    #[error("{file}: not an IDX images file (its name does not contain `images-idx3`)")]
    NotAnImagesFile { file: String },
    #[error("image/label count mismatch: {images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        images: String,
        image_count: usize,
        labels: String,
        label_count: usize,
    },
    #[error("image sizes differ: {train} holds {train_rows}x{train_cols} images but {test} holds {test_rows}x{test_cols}")]
    SizeMismatch {
        train: String,
        train_rows: usize,
        train_cols: usize,
        test: String,
        test_rows: usize,
        test_cols: usize,
    },
    #[error("{path}: only {count} image(s); at least 2 are needed (one to train, one to test)")]
    TooFew { path: String, count: usize },
    #[error("{file}: {detail}")]
    BadImage { file: String, detail: String },
    #[error("{path}: {detail}")]
    WrongOptions { path: String, detail: String },
}

/// Packs bytes little-endian into u32 words: how a data set lives on the device (the `gather`
/// kernel unpacks it).
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect()
}

/// How pixels become the model's targets.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Binarize {
    // (Plain comments: doc comments on a ValueEnum's variants turn `--help` into its long form.)
    // Gray values in [0, 1].
    None,
    // Each pixel 0 or 1 with probability byte/255, drawn once (with a fixed seed) at load.
    Static,
    // Each pixel drawn anew from Bernoulli(byte/255) at every training step, on the GPU;
    // evaluation uses the fixed binarization of `Static`.
    Dynamic,
}

/// The fixed Philox seed and stream of the static binarization: the same for every run, so that
/// losses on binarized data compare across runs.
const BINARIZATION_SEED: u64 = 0xB1_2A_71_2E;
const BINARIZATION_STREAM: u32 = 0xB1;

/// Every pixel replaced by 0 or 255, 255 with probability byte/255 (the same draw for the same
/// pixel of the same data set, in every run).
pub fn binarized(images: &[u8]) -> Vec<u8> {
    let key = crate::rng::seed_key(BINARIZATION_SEED);
    images
        .iter()
        .enumerate()
        .map(|(i, &byte)| {
            let one =
                crate::rng::bernoulli_byte(key, i as u32, 0, BINARIZATION_STREAM, u32::from(byte));
            if one {
                255
            } else {
                0
            }
        })
        .collect()
}

/// Where a run's data comes from: a path (or the embedded set) and the limits applied to it. Kept
/// in a run's state so that a resume reloads the same images.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataSource {
    pub path: Option<PathBuf>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    /// How a folder of PNG/JPEG images is read; `None` for IDX data (and runs older than it).
    #[serde(default)]
    pub folder: Option<folder::FolderOptions>,
}

impl DataSource {
    pub fn load(&self) -> Result<Dataset, DataError> {
        let data = match (&self.path, &self.folder) {
            (Some(path), _) if path.is_dir() && folder::is_image_folder(path) => {
                folder::load(path, &self.folder.clone().unwrap_or_default())?
            }
            (Some(path), Some(_)) => {
                return Err(DataError::WrongOptions {
                    path: shown(path),
                    detail: "--channels, --image-size and --on-bad-image apply to folders of \
                             PNG/JPEG images; this is IDX data"
                        .to_string(),
                })
            }
            (None, Some(_)) => {
                return Err(DataError::WrongOptions {
                    path: "embedded MNIST-10k".to_string(),
                    detail: "--channels, --image-size and --on-bad-image apply to folders of \
                             PNG/JPEG images given with --data"
                        .to_string(),
                })
            }
            (Some(path), None) => Dataset::from_path(path)?,
            (None, None) => Dataset::embedded(),
        };
        if self.train_limit.is_none() && self.test_limit.is_none() {
            return Ok(data);
        }
        let train = self.train_limit.unwrap_or(data.train_count);
        let test = self.test_limit.unwrap_or(data.test_count());
        if train == 0 || test == 0 {
            return Err(DataError::NotFound {
                path: data.name,
                detail: "--train-limit and --test-limit must be at least 1".to_string(),
            });
        }
        Ok(data.truncated(train, test))
    }
}

/// Gray images, with or without labels, the training set first and the test set after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Where the data came from, for logs: "embedded MNIST-10k" or the path given.
    pub name: String,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// 1 (gray) or 3 (RGB, stored channel by channel: all red bytes of an image, then green,
    /// then blue, as PyTorch's C×H×W).
    pub channels: usize,
    /// All images, train first then test, each `channels * rows * cols` bytes.
    pub images: Vec<u8>,
    /// One label per image, or empty when the data set came without labels (training needs
    /// none; only the latent picture colours by label).
    pub labels: Vec<u8>,
    /// `images[..train_count]` are the training set, the rest the test set.
    pub train_count: usize,
    /// Files left out, each with why (`--on-bad-image skip`).
    pub skipped: Vec<String>,
}

/// File names of the MNIST / Fashion-MNIST distribution, each raw or with `.gz`.
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
const IMAGES_SUFFIX: &str = "images-idx3-ubyte";
const LABELS_SUFFIX: &str = "labels-idx1-ubyte";

impl Dataset {
    /// The 10,000 MNIST digits shipped in `assets/mnist-10k`; the last 1,000 are the test set.
    pub fn embedded() -> Dataset {
        let images = idx::parse_images(
            include_bytes!("../../assets/mnist-10k/images-idx3-ubyte.gz"),
            "embedded images-idx3-ubyte.gz",
        )
        .expect("the embedded MNIST images are a valid IDX file");
        let labels = idx::parse_labels(
            include_bytes!("../../assets/mnist-10k/labels-idx1-ubyte.gz"),
            "embedded labels-idx1-ubyte.gz",
        )
        .expect("the embedded MNIST labels are a valid IDX file");
        assert_eq!(images.count, labels.len(), "embedded MNIST counts differ");
        Dataset {
            name: "embedded MNIST-10k".to_string(),
            rows: images.rows,
            cols: images.cols,
            channels: 1,
            train_count: images.count - 1000,
            skipped: Vec::new(),
            images: images.pixels,
            labels,
        }
    }

    /// Loads IDX files from `path`, either:
    /// - a folder with `train-*` and `t10k-*` images, and labels or none (MNIST / Fashion-MNIST
    ///   naming, raw or `.gz`): train from `train-*`, test from `t10k-*`;
    /// - a folder with exactly one `*images-idx3-ubyte[.gz]` and at most one
    ///   `*labels-idx1-ubyte[.gz]`;
    /// - an images file, whose labels file, if any, lies beside it with `images-idx3` replaced
    ///   by `labels-idx1` in the name.
    ///
    /// In the last two cases the last 10% of the images (at least one) are the test set.
    pub fn from_path(path: &Path) -> Result<Dataset, DataError> {
        if path.is_dir() {
            from_dir(path)
        } else if path.is_file() {
            let labels = labels_beside(path)?;
            single_split(path, path, labels.as_deref())
        } else {
            Err(DataError::NotFound {
                path: shown(path),
                detail: "no such file or folder".to_string(),
            })
        }
    }

    /// FNV-1a over the shape, the split, the pixels and the labels: tells a resume whether it
    /// sees the same images.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let sizes = [self.rows, self.cols, self.train_count].map(|v| v as u64);
        // Gray data sets hash as they did before colour existed, so older run states resume.
        let sizes = sizes
            .into_iter()
            .chain((self.channels != 1).then_some(self.channels as u64));
        let sizes = sizes.flat_map(|v| v.to_le_bytes());
        for byte in sizes
            .chain(self.images.iter().copied())
            .chain(self.labels.iter().copied())
        {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// Bytes per image: channels × height × width.
    pub fn dim(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// Images in all, train and test.
    pub fn count(&self) -> usize {
        self.images.len() / self.dim()
    }

    /// Whether every image has a label.
    pub fn has_labels(&self) -> bool {
        !self.labels.is_empty()
    }

    /// Images in the test set.
    pub fn test_count(&self) -> usize {
        self.count() - self.train_count
    }

    /// The first `train` training images and the first `test` test images, each clamped to what
    /// exists; for quick runs.
    pub fn truncated(&self, train: usize, test: usize) -> Dataset {
        let train = train.min(self.train_count);
        let test = test.min(self.test_count());
        let dim = self.dim();
        let test_start = self.train_count;
        let mut images = self.images[..train * dim].to_vec();
        images.extend_from_slice(&self.images[test_start * dim..(test_start + test) * dim]);
        let mut labels = Vec::new();
        if self.has_labels() {
            labels.extend_from_slice(&self.labels[..train]);
            labels.extend_from_slice(&self.labels[test_start..test_start + test]);
        }
        Dataset {
            name: format!("{} (first {train} train, {test} test)", self.name),
            rows: self.rows,
            cols: self.cols,
            channels: self.channels,
            images,
            labels,
            train_count: train,
            skipped: Vec::new(),
        }
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Picks the data set files in a folder; see [`Dataset::from_path`].
fn from_dir(dir: &Path) -> Result<Dataset, DataError> {
    let io_error = |error| DataError::Io {
        file: shown(dir),
        error,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        // Names that are not UTF-8 cannot match the patterns below anyway.
        if let Some(name) = entry.file_name().to_str() {
            if entry.path().is_file() {
                names.push(name.to_string());
            }
        }
    }
    // Sorted so that listings in errors do not depend on the file system's order.
    names.sort();

    let standard = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        .map(|stem| pick_standard(dir, &names, stem));
    let mut found = Vec::new();
    for pick in standard {
        found.push(pick?);
    }
    if let [Some(train_images), train_labels, Some(test_images), test_labels] = &found[..] {
        let labels = match (train_labels, test_labels) {
            (Some(train), Some(test)) => Some((train.as_path(), test.as_path())),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                let missing = if train_labels.is_none() {
                    TRAIN_LABELS
                } else {
                    TEST_LABELS
                };
                return Err(DataError::NotFound {
                    path: shown(dir),
                    detail: format!(
                        "labels for one split only: missing {missing}[.gz] (give both \
                         labels files or neither)"
                    ),
                });
            }
        };
        return train_test_split(dir, train_images, test_images, labels);
    }

    let matching = |suffix: &str| -> Vec<&String> {
        names
            .iter()
            .filter(|name| name.ends_with(suffix) || name.ends_with(&format!("{suffix}.gz")))
            .collect()
    };
    let images = matching(IMAGES_SUFFIX);
    let labels = matching(LABELS_SUFFIX);
    let some_standard = found.iter().any(Option::is_some);
    if some_standard && (images.len() > 1 || labels.len() > 1) {
        // A partial MNIST layout: say which of its images files is missing rather than
        // "ambiguous" (labels are optional).
        let missing: Vec<String> = [TRAIN_IMAGES, TEST_IMAGES]
            .iter()
            .zip([&found[0], &found[2]])
            .filter(|(_, pick)| pick.is_none())
            .map(|(stem, _)| format!("{stem}[.gz]"))
            .collect();
        return Err(DataError::NotFound {
            path: shown(dir),
            detail: format!(
                "incomplete train/t10k layout: missing {}",
                missing.join(", ")
            ),
        });
    }
    match (&images[..], &labels[..]) {
        ([images], [labels]) => single_split(dir, &dir.join(images), Some(&dir.join(labels))),
        ([images], []) => single_split(dir, &dir.join(images), None),
        ([], _) => Err(DataError::NotFound {
            path: shown(dir),
            detail: format!(
                "no data set here; looked for {TRAIN_IMAGES}[.gz] and {TEST_IMAGES}[.gz] \
                 (with {TRAIN_LABELS}[.gz] and {TEST_LABELS}[.gz], optional), or one \
                 *{IMAGES_SUFFIX}[.gz] (with one *{LABELS_SUFFIX}[.gz], optional), or PNG/JPEG \
                 images (at the top or in class sub-folders)"
            ),
        }),
        (images, labels) => {
            let (what, list) = if images.len() > 1 {
                ("images", images)
            } else {
                ("labels", labels)
            };
            Err(DataError::Ambiguous {
                path: shown(dir),
                what,
                candidates: list
                    .iter()
                    .map(|name| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// Finds `stem` or `stem.gz` in a folder listing; both present is ambiguous (they may differ).
fn pick_standard(dir: &Path, names: &[String], stem: &str) -> Result<Option<PathBuf>, DataError> {
    let gz = format!("{stem}.gz");
    let present: Vec<&String> = names
        .iter()
        .filter(|name| **name == stem || **name == gz)
        .collect();
    match &present[..] {
        [] => Ok(None),
        [one] => Ok(Some(dir.join(one))),
        _ => Err(DataError::Ambiguous {
            path: shown(dir),
            what: if stem.contains("images") {
                "images"
            } else {
                "labels"
            },
            candidates: format!("{stem}, {gz} (remove one)"),
        }),
    }
}

/// The labels file beside an images file, `images-idx3` replaced by `labels-idx1`, raw or
/// `.gz`; none when neither exists.
fn labels_beside(images: &Path) -> Result<Option<PathBuf>, DataError> {
    let name = images
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| name.contains("images-idx3"))
        .ok_or_else(|| DataError::NotAnImagesFile {
            file: shown(images),
        })?;
    let exact = name.replace("images-idx3", "labels-idx1");
    // Accept the other compression too, e.g. images kept gzipped but labels unpacked.
    let other = match exact.strip_suffix(".gz") {
        Some(raw) => raw.to_string(),
        None => format!("{exact}.gz"),
    };
    let candidates = [images.with_file_name(&exact), images.with_file_name(&other)];
    Ok(candidates.iter().find(|path| path.is_file()).cloned())
}

/// Reads an images file and its labels, if any, checking they hold as many entries; no labels
/// file gives no labels.
fn read_pair(images: &Path, labels: Option<&Path>) -> Result<(IdxImages, Vec<u8>), DataError> {
    let read = idx::read_images(images)?;
    let Some(labels) = labels else {
        return Ok((read, Vec::new()));
    };
    let label_bytes = idx::read_labels(labels)?;
    if read.count != label_bytes.len() {
        return Err(DataError::CountMismatch {
            images: shown(images),
            image_count: read.count,
            labels: shown(labels),
            label_count: label_bytes.len(),
        });
    }
    Ok((read, label_bytes))
}

/// One images file whose last 10% (rounded down, at least one) becomes the test set.
fn single_split(name: &Path, images: &Path, labels: Option<&Path>) -> Result<Dataset, DataError> {
    let (read, labels) = read_pair(images, labels)?;
    if read.count < 2 {
        return Err(DataError::TooFew {
            path: shown(images),
            count: read.count,
        });
    }
    let test = (read.count / 10).max(1);
    Ok(Dataset {
        name: shown(name),
        rows: read.rows,
        cols: read.cols,
        channels: 1,
        train_count: read.count - test,
        skipped: Vec::new(),
        images: read.pixels,
        labels,
    })
}

/// Separate train and test files, concatenated train first; `labels` are the train and test
/// labels files, when there are.
fn train_test_split(
    dir: &Path,
    train_images: &Path,
    test_images: &Path,
    labels: Option<(&Path, &Path)>,
) -> Result<Dataset, DataError> {
    let (train, mut labels_read) = read_pair(train_images, labels.map(|pair| pair.0))?;
    let (test, more_labels) = read_pair(test_images, labels.map(|pair| pair.1))?;
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(DataError::SizeMismatch {
            train: shown(train_images),
            train_rows: train.rows,
            train_cols: train.cols,
            test: shown(test_images),
            test_rows: test.rows,
            test_cols: test.cols,
        });
    }
    let mut images = train.pixels;
    images.extend_from_slice(&test.pixels);
    labels_read.extend_from_slice(&more_labels);
    Ok(Dataset {
        name: shown(dir),
        rows: train.rows,
        cols: train.cols,
        channels: 1,
        images,
        labels: labels_read,
        train_count: train.count,
        skipped: Vec::new(),
    })
}

/// A fresh, empty folder under the system temp dir, unique per process and call.
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vae-gpu-{tag}-{}-{n}", std::process::id()));
    // A leftover from a crashed run with the same pid would otherwise leak into this test.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::idx::{encode_images, encode_labels, gzip};
    use super::*;

    /// Writes `count` images of `rows x cols` whose pixels are `first + index`, and their labels.
    fn write_set(dir: &Path, prefix: &str, count: u8, rows: u32, cols: u32, first: u8, gz: bool) {
        let dim = (rows * cols) as usize;
        let pixels: Vec<u8> = (0..count)
            .flat_map(|i| std::iter::repeat_n(first.wrapping_add(i), dim))
            .collect();
        let labels: Vec<u8> = (0..count).map(|i| first.wrapping_add(i)).collect();
        let mut images = encode_images(count.into(), rows, cols, &pixels);
        let mut labels = encode_labels(&labels);
        let suffix = if gz { ".gz" } else { "" };
        if gz {
            images = gzip(&images);
            labels = gzip(&labels);
        }
        let images_name = format!("{prefix}images-idx3-ubyte{suffix}");
        let labels_name = format!("{prefix}labels-idx1-ubyte{suffix}");
        std::fs::write(dir.join(images_name), images).unwrap();
        std::fs::write(dir.join(labels_name), labels).unwrap();
    }

    #[test]
    fn embedded_set_matches_its_readme() {
        let data = Dataset::embedded();
        assert_eq!((data.count(), data.rows, data.cols), (10_000, 28, 28));
        assert_eq!((data.train_count, data.test_count()), (9000, 1000));
        assert_eq!(data.images.len(), 10_000 * data.dim());
        let mut classes = [0usize; 10];
        for &label in &data.labels {
            classes[usize::from(label)] += 1;
        }
        assert_eq!(
            classes,
            [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
        );
        let sum: u64 = data.images.iter().map(|&p| u64::from(p)).sum();
        let mean = sum as f64 / data.images.len() as f64 / 255.0;
        assert!((mean - 0.1311).abs() < 0.0005, "mean pixel {mean}");
    }

    #[test]
    fn train_and_t10k_files_are_split_by_name() {
        for gz in [false, true] {
            let dir = test_dir("data-split");
            write_set(&dir, "train-", 5, 3, 2, 0, gz);
            write_set(&dir, "t10k-", 2, 3, 2, 100, gz);
            let data = Dataset::from_path(&dir).unwrap();
            assert_eq!(
                (data.count(), data.train_count, data.test_count()),
                (7, 5, 2)
            );
            assert_eq!((data.rows, data.cols, data.dim()), (3, 2, 6));
            assert_eq!(data.labels, [0, 1, 2, 3, 4, 100, 101]);
            assert_eq!(&data.images[5 * 6..5 * 6 + 6], &[100; 6]);
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn one_pair_in_a_folder_holds_out_the_last_tenth() {
        let dir = test_dir("data-pair");
        write_set(&dir, "digits-", 25, 2, 2, 0, true);
        let data = Dataset::from_path(&dir).unwrap();
        assert_eq!((data.train_count, data.test_count()), (23, 2));
        assert_eq!(data.labels[23..], [23, 24]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn images_file_finds_its_labels_beside_it() {
        let dir = test_dir("data-file");
        write_set(&dir, "a-", 3, 2, 2, 0, false);
        write_set(&dir, "b-", 4, 2, 2, 10, false);
        let data = Dataset::from_path(&dir.join("b-images-idx3-ubyte")).unwrap();
        // 10% of 4 rounds down to 0, but one image is always held out.
        assert_eq!((data.train_count, data.test_count()), (3, 1));
        assert_eq!(data.labels, [10, 11, 12, 13]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn truncated_keeps_the_first_of_each_part() {
        let data = Dataset::embedded();
        let small = data.truncated(5, 3);
        assert_eq!((small.train_count, small.test_count()), (5, 3));
        assert_eq!(small.images[..5 * 784], data.images[..5 * 784]);
        assert_eq!(small.labels[5..], data.labels[9000..9003]);
        assert_eq!(small.images[5 * 784..], data.images[9000 * 784..9003 * 784]);
        let clamped = data.truncated(usize::MAX, usize::MAX);
        assert_eq!((clamped.train_count, clamped.test_count()), (9000, 1000));
    }

    #[test]
    fn images_without_labels_load_in_every_layout() {
        let dir = test_dir("data-nolabels");
        write_set(&dir, "x-", 3, 2, 2, 7, true);
        std::fs::remove_file(dir.join("x-labels-idx1-ubyte.gz")).unwrap();
        for path in [dir.join("x-images-idx3-ubyte.gz"), dir.clone()] {
            let data = Dataset::from_path(&path).unwrap();
            assert!(!data.has_labels());
            assert_eq!(
                (data.count(), data.train_count, data.test_count()),
                (3, 2, 1)
            );
            assert_eq!(data.images[..4], [7; 4]);
            let first = data.truncated(1, 1);
            assert_eq!((first.count(), first.has_labels()), (2, false));
        }
        std::fs::remove_dir_all(dir).unwrap();

        let dir = test_dir("data-nolabels-split");
        write_set(&dir, "train-", 3, 2, 2, 0, true);
        write_set(&dir, "t10k-", 2, 2, 2, 50, true);
        for split in ["train-", "t10k-"] {
            std::fs::remove_file(dir.join(format!("{split}labels-idx1-ubyte.gz"))).unwrap();
        }
        let data = Dataset::from_path(&dir).unwrap();
        assert!(!data.has_labels());
        assert_eq!((data.train_count, data.test_count()), (3, 2));
        assert_eq!(data.images[3 * 4], 50);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_without_images_names_what_it_looked_for() {
        let dir = test_dir("data-noimages");
        write_set(&dir, "x-", 3, 2, 2, 0, true);
        std::fs::remove_file(dir.join("x-images-idx3-ubyte.gz")).unwrap();
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("no data set here"), "{message}");
        assert!(message.contains("train-images-idx3-ubyte"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn count_mismatch_names_both_files_and_counts() {
        let dir = test_dir("data-mismatch");
        write_set(&dir, "x-", 3, 2, 2, 0, false);
        std::fs::write(dir.join("x-labels-idx1-ubyte"), encode_labels(&[1, 2])).unwrap();
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("x-images-idx3-ubyte"), "{message}");
        assert!(message.contains("x-labels-idx1-ubyte"), "{message}");
        assert!(
            message.contains("3 images") && message.contains("2 labels"),
            "{message}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_magic_and_truncation_name_the_file() {
        let dir = test_dir("data-corrupt");
        write_set(&dir, "x-", 3, 2, 2, 0, false);
        let path = dir.join("x-images-idx3-ubyte");
        std::fs::write(&path, encode_labels(&[1, 2, 3])).unwrap();
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("x-images-idx3-ubyte"), "{message}");
        assert!(message.contains("bad magic"), "{message}");
        std::fs::write(&path, &encode_images(3, 2, 2, &[0; 12])[..20]).unwrap();
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("x-images-idx3-ubyte"), "{message}");
        assert!(message.contains("truncated"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn folder_errors_list_what_was_looked_for() {
        let dir = test_dir("data-layouts");
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("train-images-idx3-ubyte"), "{message}");
        assert!(message.contains("images-idx3-ubyte[.gz]"), "{message}");

        write_set(&dir, "a-", 3, 2, 2, 0, false);
        write_set(&dir, "b-", 3, 2, 2, 0, false);
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("several images files"), "{message}");
        assert!(
            message.contains("a-images-idx3-ubyte, b-images-idx3-ubyte"),
            "{message}"
        );

        let missing = dir.join("nothing-here");
        let message = Dataset::from_path(&missing).unwrap_err().to_string();
        assert!(message.contains("nothing-here"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn partial_or_doubled_mnist_layouts_are_explained() {
        let dir = test_dir("data-partial");
        write_set(&dir, "train-", 3, 2, 2, 0, true);
        write_set(&dir, "t10k-", 2, 2, 2, 0, true);
        std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(
            message.contains("missing t10k-labels-idx1-ubyte[.gz]"),
            "{message}"
        );

        write_set(&dir, "t10k-", 2, 2, 2, 0, true);
        std::fs::rename(
            dir.join("t10k-images-idx3-ubyte.gz"),
            dir.join("other-images-idx3-ubyte.gz"),
        )
        .unwrap();
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(
            message.contains("missing t10k-images-idx3-ubyte[.gz]"),
            "{message}"
        );
        std::fs::remove_file(dir.join("other-images-idx3-ubyte.gz")).unwrap();

        write_set(&dir, "t10k-", 2, 2, 2, 0, true);
        write_set(&dir, "t10k-", 2, 2, 2, 0, false);
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("t10k-images-idx3-ubyte.gz"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn train_and_test_sizes_must_agree() {
        let dir = test_dir("data-sizes");
        write_set(&dir, "train-", 3, 2, 2, 0, false);
        write_set(&dir, "t10k-", 2, 3, 3, 0, false);
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(
            message.contains("2x2") && message.contains("3x3"),
            "{message}"
        );
        assert!(message.contains("t10k-images-idx3-ubyte"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_single_image_is_too_few() {
        let dir = test_dir("data-one");
        write_set(&dir, "x-", 1, 2, 2, 0, false);
        let message = Dataset::from_path(&dir).unwrap_err().to_string();
        assert!(message.contains("x-images-idx3-ubyte") && message.contains("at least 2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_assets_folder_loads_like_the_embedded_set() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mnist-10k");
        if !dir.is_dir() {
            return;
        }
        let data = Dataset::from_path(&dir).unwrap();
        let embedded = Dataset::embedded();
        assert_eq!(data.images, embedded.images);
        assert_eq!(data.train_count, embedded.train_count);
    }

    /// Debian's `dataset-fashion-mnist` layout; checked only where that package is installed.
    #[test]
    fn debian_fashion_mnist_loads_when_installed() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        if !dir.is_dir() {
            eprintln!("skipped: {} is not installed", dir.display());
            return;
        }
        let data = Dataset::from_path(dir).unwrap();
        assert_eq!((data.rows, data.cols), (28, 28));
        assert_eq!((data.train_count, data.test_count()), (60_000, 10_000));
    }
}
