//! The judge of `vae-gpu score`: a classifier trained on the GPU on the training split's labels,
//! its test accuracy, its cache file (keyed by the data's fingerprint and the judge's settings),
//! and the features and class probabilities it gives a set of images.

use std::collections::btree_map::{BTreeMap, Entry};
use std::path::{Path, PathBuf};

use crate::backend::{Backend, BackendError};
use crate::checkpoint::{self, CheckpointError, NamedTensor};
use crate::data::Dataset;
use crate::model::{Classifier, ClassifierConfig, ClassifierLayout, DeviceData};
use crate::ops::{Frame, View};
use crate::optim::AdamConfig;
use crate::rng::PhiloxStream;
use crate::scores::predicted_classes;

/// Host Philox stream of the judge's epoch shuffles (epoch number added).
const JUDGE_SHUFFLE_STREAM: u32 = 0x6000;
/// Images per replay when the judge looks at a set of images.
pub const EMBED_CHUNK: usize = 1000;
/// Marks a cache file as a judge (and the version of its format).
const FORMAT: &str = "vae-gpu judge 1";

/// How the judge is trained. Part of its cache key: another setting is another judge.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JudgeSettings {
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
}

impl Default for JudgeSettings {
    /// 784-512-256-10 in small batches: 96.3% on the embedded digits' 1,000 test images after
    /// training on their 9,000 (a 256-128 judge or batches of 128 stay near 95%).
    fn default() -> Self {
        Self {
            hidden: vec![512, 256],
            epochs: 10,
            batch: 32,
            lr: 1e-3,
            seed: 0,
        }
    }
}

impl JudgeSettings {
    /// A short hash of the settings, for the cache file's name.
    fn key(&self) -> String {
        let text = serde_json::to_string(self).expect("settings serialize");
        let mut hash: u32 = 0x811c_9dc5;
        for byte in text.bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        format!("{hash:08x}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(
        "{data} has no labels: the judge is a classifier trained on the training split's labels, \
         so there is nothing to score with"
    )]
    NoLabels { data: String },
    #[error("{data}: the judge needs at least two classes among the labels (found {classes})")]
    TooFewClasses { data: String, classes: usize },
    #[error("{data}: the judge needs at least {needed} training and 1 test images")]
    TooFewImages { data: String, needed: usize },
    #[error("the judge's training diverged (a parameter became NaN or infinite)")]
    Diverged,
    #[error(
        "{path}: {detail}; it is not a judge this version can use (delete it, or choose another \
         --cache)"
    )]
    BadCache { path: String, detail: String },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A trained judge.
#[derive(Clone, Debug)]
pub struct Judge {
    pub config: ClassifierConfig,
    pub parameters: Vec<f32>,
    pub settings: JudgeSettings,
    /// Share of the test set it classifies right.
    pub accuracy: f64,
    pub test_images: usize,
    /// The fingerprint of the data set it was trained on.
    pub fingerprint: String,
}

/// Where a judge came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Cached(PathBuf),
    Trained(PathBuf),
}

/// The cache file of the judge of `dataset` trained with `settings`.
pub fn cache_file(dir: &Path, dataset: &Dataset, settings: &JudgeSettings) -> PathBuf {
    dir.join(format!(
        "judge-{}-{}.safetensors",
        dataset.fingerprint(),
        settings.key()
    ))
}

/// The cached judge of this data and these settings, or a new one trained and cached.
pub fn load_or_train<B: Backend>(
    backend: &mut B,
    dataset: &Dataset,
    settings: &JudgeSettings,
    cache_dir: &Path,
    on_epoch: impl FnMut(usize, f64),
) -> Result<(Judge, Origin), JudgeError> {
    check_data(dataset)?;
    let path = cache_file(cache_dir, dataset, settings);
    if path.is_file() {
        let judge = load(&path, dataset, settings)?;
        return Ok((judge, Origin::Cached(path)));
    }
    let judge = train(backend, dataset, settings, on_epoch)?;
    std::fs::create_dir_all(cache_dir).map_err(|error| CheckpointError::Io {
        path: cache_dir.to_path_buf(),
        error,
    })?;
    save(&judge, &path)?;
    Ok((judge, Origin::Trained(path)))
}

/// Labels present, two classes or more, and images on both sides of the split.
pub fn check_data(dataset: &Dataset) -> Result<usize, JudgeError> {
    if !dataset.has_labels() {
        return Err(JudgeError::NoLabels {
            data: dataset.name.clone(),
        });
    }
    let classes = dataset
        .labels
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    if classes < 2 {
        return Err(JudgeError::TooFewClasses {
            data: dataset.name.clone(),
            classes,
        });
    }
    if dataset.train_count < 2 || dataset.test_count() == 0 {
        return Err(JudgeError::TooFewImages {
            data: dataset.name.clone(),
            needed: 2,
        });
    }
    Ok(classes)
}

/// Trains a judge on the training split (Adam, the cross-entropy averaged over each batch, a
/// seeded shuffle per epoch) and measures its accuracy on the test split. `on_epoch` gets the
/// epoch (from 1) and its mean cross-entropy.
pub fn train<B: Backend>(
    backend: &mut B,
    dataset: &Dataset,
    settings: &JudgeSettings,
    mut on_epoch: impl FnMut(usize, f64),
) -> Result<Judge, JudgeError> {
    let classes = check_data(dataset)?;
    let config = ClassifierConfig {
        input_dim: dataset.dim(),
        hidden: settings.hidden.clone(),
        classes,
    };
    let layout = ClassifierLayout::new(&config);
    let train_count = dataset.train_count;
    let batch = settings.batch.clamp(1, train_count);
    let classifier = Classifier::new(backend, config.clone(), batch.max(EMBED_CHUNK))?;
    classifier.write_parameters(backend, &layout.init_parameters(settings.seed));
    let train_images = &dataset.images[..train_count * dataset.dim()];
    let data = DeviceData::upload(backend, train_images, dataset.dim())?;
    let perm = View::whole(
        backend.create_buffer("judge permutation", train_count)?,
        train_count,
    );
    let labels = View::whole(
        backend.create_buffer("judge labels", train_count)?,
        train_count,
    );
    let full = backend.prepare(&classifier.train_step(&data, perm, labels, batch))?;
    let tail_rows = train_count % batch;
    let tail = match tail_rows {
        0 => None,
        rows => Some(backend.prepare(&classifier.train_step(&data, perm, labels, rows))?),
    };
    let adam = AdamConfig {
        lr: settings.lr,
        ..AdamConfig::default()
    };
    let total_steps = (settings.epochs * train_count.div_ceil(batch)) as u64;
    let mut step = 0u64;
    for epoch in 0..settings.epochs {
        let mut order: Vec<u32> = (0..train_count as u32).collect();
        PhiloxStream::new(settings.seed, JUDGE_SHUFFLE_STREAM + epoch as u32).shuffle(&mut order);
        let ordered_labels: Vec<u32> = order
            .iter()
            .map(|&i| u32::from(dataset.labels[i as usize]))
            .collect();
        backend.write_u32(perm.buffer, 0, &order);
        backend.write_u32(labels.buffer, 0, &ordered_labels);
        for start in (0..train_count).step_by(batch) {
            let rows = batch.min(train_count - start);
            let mut frame = Frame::with_seed(settings.seed);
            frame.step = step as u32;
            frame.batch_start = start as u32;
            frame.grad_scale = 1.0 / rows as f32;
            // The rate falls linearly to 0 over the training: the last epochs settle.
            let lr = settings.lr * (1.0 - step as f32 / total_steps as f32);
            adam.fill_frame(&mut frame, step + 1, lr);
            let program = if rows == batch {
                &full
            } else {
                tail.as_ref().expect("tail")
            };
            backend.run(program, &frame)?;
            step += 1;
        }
        let loss = classifier.take_loss_sum(backend)?;
        if classifier.diverged(backend)? || !loss.is_finite() {
            return Err(JudgeError::Diverged);
        }
        on_epoch(epoch + 1, f64::from(loss) / train_count as f64);
    }
    let parameters = classifier.read_parameters(backend)?;
    let mut judge = Judge {
        config,
        parameters,
        settings: settings.clone(),
        accuracy: 0.0,
        test_images: dataset.test_count(),
        fingerprint: dataset.fingerprint(),
    };
    let test = &dataset.images[train_count * dataset.dim()..];
    let seen = judge.on_device(backend)?.look_at(backend, test)?;
    let predicted = predicted_classes(&seen.probabilities, classes);
    let right = predicted
        .iter()
        .zip(&dataset.labels[train_count..])
        .filter(|(&p, &y)| p == usize::from(y))
        .count();
    judge.accuracy = right as f64 / dataset.test_count() as f64;
    Ok(judge)
}

/// Writes the judge with its settings, accuracy and data fingerprint in the metadata.
pub fn save(judge: &Judge, path: &Path) -> Result<(), CheckpointError> {
    let layout = ClassifierLayout::new(&judge.config);
    let tensors: Vec<NamedTensor> = layout
        .tensors
        .iter()
        .map(|t| NamedTensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            data: judge.parameters[t.offset..t.offset + t.len()].to_vec(),
        })
        .collect();
    let metadata = BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("input_dim".to_string(), judge.config.input_dim.to_string()),
        ("classes".to_string(), judge.config.classes.to_string()),
        (
            "settings".to_string(),
            serde_json::to_string(&judge.settings).expect("settings serialize"),
        ),
        ("test_accuracy".to_string(), judge.accuracy.to_string()),
        ("test_images".to_string(), judge.test_images.to_string()),
        ("data_fingerprint".to_string(), judge.fingerprint.clone()),
    ]);
    checkpoint::save(path, &tensors, &metadata)
}

/// Reads a cached judge and checks that it is the judge of this data with these settings.
pub fn load(path: &Path, dataset: &Dataset, settings: &JudgeSettings) -> Result<Judge, JudgeError> {
    let (tensors, metadata) = checkpoint::load(path)?;
    let bad = |detail: String| JudgeError::BadCache {
        path: path.display().to_string(),
        detail,
    };
    let get = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| bad(format!("its metadata has no `{key}`")))
    };
    if get("format")? != FORMAT {
        return Err(bad(format!("its format is not `{FORMAT}`")));
    }
    let number = |key: &str| -> Result<f64, JudgeError> {
        get(key)?
            .parse::<f64>()
            .map_err(|_| bad(format!("`{key}` is not a number")))
    };
    let saved: JudgeSettings = serde_json::from_str(get("settings")?)
        .map_err(|error| bad(format!("its settings do not parse: {error}")))?;
    if &saved != settings {
        return Err(bad("it was trained with other settings".to_string()));
    }
    if get("data_fingerprint")? != &dataset.fingerprint() {
        return Err(bad(format!(
            "it was trained on other data than {}",
            dataset.name
        )));
    }
    let config = ClassifierConfig {
        input_dim: number("input_dim")? as usize,
        hidden: saved.hidden.clone(),
        classes: number("classes")? as usize,
    };
    if config.input_dim != dataset.dim() || !(2..=256).contains(&config.classes) {
        return Err(bad("its sizes do not fit the data".to_string()));
    }
    let layout = ClassifierLayout::new(&config);
    let mut parameters = vec![0.0f32; layout.len];
    for expected in &layout.tensors {
        let tensor = tensors
            .iter()
            .find(|t| t.name == expected.name)
            .ok_or_else(|| bad(format!("tensor `{}` is missing", expected.name)))?;
        if tensor.shape != expected.shape {
            return Err(bad(format!(
                "tensor `{}` has shape {:?}, not {:?}",
                expected.name, tensor.shape, expected.shape
            )));
        }
        parameters[expected.offset..expected.offset + expected.len()].copy_from_slice(&tensor.data);
    }
    if tensors.len() != layout.tensors.len() {
        return Err(bad("it holds tensors a judge does not have".to_string()));
    }
    let accuracy = number("test_accuracy")?;
    if !(0.0..=1.0).contains(&accuracy) {
        return Err(bad("its test accuracy is not between 0 and 1".to_string()));
    }
    Ok(Judge {
        config,
        parameters,
        settings: saved,
        accuracy,
        test_images: number("test_images")? as usize,
        fingerprint: dataset.fingerprint(),
    })
}

/// What the judge makes of a set of images.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Penultimate-layer outputs, n × feature_dim.
    pub features: Vec<f32>,
    /// p(y|x), n × classes.
    pub probabilities: Vec<f32>,
}

/// A judge on the device, ready to look at images.
pub struct JudgeOnDevice {
    classifier: Classifier,
}

impl Judge {
    pub fn on_device<B: Backend>(&self, backend: &mut B) -> Result<JudgeOnDevice, BackendError> {
        let classifier = Classifier::new(backend, self.config.clone(), EMBED_CHUNK)?;
        classifier.write_parameters(backend, &self.parameters);
        Ok(JudgeOnDevice { classifier })
    }
}

impl JudgeOnDevice {
    /// The features and class probabilities of `images` (n × input_dim bytes), as the training
    /// images are seen: bytes / 255.
    pub fn look_at<B: Backend>(
        &self,
        backend: &mut B,
        images: &[u8],
    ) -> Result<Seen, BackendError> {
        let config = &self.classifier.config;
        let n = images.len() / config.input_dim;
        let data = DeviceData::upload(backend, images, config.input_dim)?;
        let order: Vec<u32> = (0..n as u32).collect();
        let perm = View::whole(backend.create_buffer("judged images", n)?, n);
        backend.write_u32(perm.buffer, 0, &order);
        let mut seen = Seen::default();
        let mut programs: BTreeMap<usize, B::Program> = BTreeMap::new();
        for start in (0..n).step_by(EMBED_CHUNK) {
            let rows = EMBED_CHUNK.min(n - start);
            let program = match programs.entry(rows) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    entry.insert(backend.prepare(&self.classifier.classify(&data, perm, rows))?)
                }
            };
            let mut frame = Frame::with_seed(0);
            frame.batch_start = start as u32;
            backend.run(program, &frame)?;
            let features = self.classifier.features(rows);
            seen.features
                .extend(backend.read_f32(features.buffer, 0, features.len)?);
            let probabilities = self.classifier.probabilities(rows);
            seen.probabilities.extend(backend.read_f32(
                probabilities.buffer,
                0,
                probabilities.len,
            )?);
        }
        Ok(seen)
    }
}
