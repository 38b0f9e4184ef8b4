//! Saves and loads named f32 tensors as safetensors files, replacing old files atomically.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// Why a checkpoint could not be saved or loaded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: checkpoint file not found")]
    NotFound { path: PathBuf },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not a safetensors file: {detail}")]
    NotSafetensors { path: PathBuf, detail: String },
    #[error("{path}: tensor `{tensor}` has dtype {dtype}, expected F32")]
    WrongDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },
    #[error("{path}: tensor `{tensor}` has shape {shape:?} ({expected} values) but {found} values of data")]
    ShapeMismatch {
        path: PathBuf,
        tensor: String,
        shape: Vec<usize>,
        expected: usize,
        found: usize,
    },
    #[error("{path}: tensor name `{tensor}` appears twice")]
    DuplicateName { path: PathBuf, tensor: String },
    #[error("{path}: cannot serialize: {detail}")]
    Serialize { path: PathBuf, detail: String },
}

/// One tensor of a checkpoint: row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// Writes `tensors` (F32, little-endian) and string `metadata` to `path`.
///
/// The file is written whole to `<path>.tmp-<pid>` beside it, synced, then renamed over `path`,
/// so a crash leaves either the old checkpoint or the new one, never half of one.
pub fn save(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let mut seen = HashSet::new();
    for tensor in tensors {
        let expected = element_count(&tensor.shape);
        if expected != Some(tensor.data.len()) {
            return Err(CheckpointError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: tensor.name.clone(),
                shape: tensor.shape.clone(),
                expected: expected.unwrap_or(usize::MAX),
                found: tensor.data.len(),
            });
        }
        // The header is a JSON map: a second tensor of the same name would silently shadow one.
        if !seen.insert(tensor.name.as_str()) {
            return Err(CheckpointError::DuplicateName {
                path: path.to_path_buf(),
                tensor: tensor.name.clone(),
            });
        }
    }
    // Explicit little-endian bytes, so files are the same whatever the host's byte order.
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|tensor| tensor.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let serialize_error = |detail: String| CheckpointError::Serialize {
        path: path.to_path_buf(),
        detail,
    };
    let mut views = Vec::with_capacity(tensors.len());
    for (tensor, data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, tensor.shape.clone(), data)
            .map_err(|error| serialize_error(format!("tensor `{}`: {error}", tensor.name)))?;
        views.push((tensor.name.as_str(), view));
    }
    let info: HashMap<String, String> = metadata
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    // Safetensors omits the metadata entry when it is None; an empty map would be written as {}.
    let info = (!info.is_empty()).then_some(info);
    let file =
        safetensors::serialize(views, info).map_err(|error| serialize_error(error.to_string()))?;
    write_atomic(path, &file).map_err(|error| CheckpointError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads a checkpoint written by [`save`] (or any safetensors file holding only F32 tensors).
///
/// Tensors come back sorted by name, whatever order they were saved in; metadata is empty when
/// the file has none.
pub fn load(path: &Path) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), CheckpointError> {
    let bytes = std::fs::read(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            CheckpointError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            CheckpointError::Io {
                path: path.to_path_buf(),
                error,
            }
        }
    })?;
    parse(&bytes, path)
}

/// Decodes the bytes of a checkpoint; `path` is only named in errors. Any bytes give tensors or a
/// typed error, never a panic (the fuzz target `checkpoint` holds it to that).
pub fn parse(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), CheckpointError> {
    let parsed = SafeTensors::deserialize(bytes).map_err(|error| {
        // The crate reports a length that disagrees with the shape without naming the tensor.
        match mismatched_tensor(bytes) {
            Some((tensor, shape, expected, found)) => CheckpointError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor,
                shape,
                expected,
                found,
            },
            None => CheckpointError::NotSafetensors {
                path: path.to_path_buf(),
                detail: error.to_string(),
            },
        }
    })?;
    let mut tensors = Vec::with_capacity(parsed.len());
    for (name, view) in parsed.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::WrongDtype {
                path: path.to_path_buf(),
                tensor: name,
                dtype: view.dtype().to_string(),
            });
        }
        let shape = view.shape().to_vec();
        // Bytes need not be 4-aligned within the file, so decode each value rather than cast.
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let expected = element_count(&shape);
        if expected != Some(data.len()) || view.data().len() % 4 != 0 {
            return Err(CheckpointError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: name,
                expected: expected.unwrap_or(usize::MAX),
                shape,
                found: view.data().len() / 4,
            });
        }
        tensors.push(NamedTensor { name, shape, data });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|error| CheckpointError::NotSafetensors {
            path: path.to_path_buf(),
            detail: error.to_string(),
        })?;
    let metadata = header
        .metadata()
        .iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Ok((tensors, metadata))
}

/// Set to a number of milliseconds, every atomic write pauses that long between its temporary
/// file and the rename: the tests kill the process inside a write with it.
pub const PAUSE_ENV: &str = "VAE_GPU_TEST_PAUSE_BEFORE_RENAME_MS";

fn pause_for_tests() {
    if let Some(ms) = std::env::var(PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Writes `bytes` to `path` through a synced temp file beside it and a rename, so readers see
/// the old file or the whole new one. The temp file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!(".tmp-{}", std::process::id()));
    // Same folder as the target: rename is only atomic within one file system.
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.flush()?;
        file.sync_all()?;
        drop(file);
        pause_for_tests();
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
        return result;
    }
    // Best effort: persisting the rename itself needs the folder synced (Unix only).
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// The number of values a shape holds; None when that overflows.
fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Reads the header by hand to find the first tensor whose byte range disagrees with its
/// dtype and shape: (name, shape, values expected, values found).
fn mismatched_tensor(bytes: &[u8]) -> Option<(String, Vec<usize>, usize, usize)> {
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(len).ok()?)?)?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header).ok()?;
    header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .find_map(|(name, info)| {
            let shape: Vec<usize> = serde_json::from_value(info.get("shape")?.clone()).ok()?;
            let offsets: (usize, usize) =
                serde_json::from_value(info.get("data_offsets")?.clone()).ok()?;
            let dtype: Dtype = serde_json::from_value(info.get("dtype")?.clone()).ok()?;
            // Sub-byte dtypes cannot be counted this way; leave them to the crate's message.
            let bits = dtype.bitsize();
            if bits % 8 != 0 {
                return None;
            }
            let found = offsets.1.checked_sub(offsets.0)? / (bits / 8);
            let expected = element_count(&shape)?;
            (expected != found).then_some((name, shape, expected, found))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_dir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vae-gpu-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn tensor(name: &str, shape: &[usize], first: f32) -> NamedTensor {
        let n: usize = shape.iter().product();
        NamedTensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            data: (0..n).map(|i| first + i as f32 * 0.5).collect(),
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn round_trip_with_metadata() {
        let dir = test_dir("ckpt-round-trip");
        let path = dir.join("model.safetensors");
        let tensors = vec![
            tensor("encoder.w", &[3, 4], -1.0),
            tensor("decoder.b", &[5], f32::MIN_POSITIVE),
            tensor("scalar", &[], 7.25),
        ];
        let metadata = BTreeMap::from([
            ("step".to_string(), "1200".to_string()),
            ("config".to_string(), "{\"latent\":2}".to_string()),
        ]);
        save(&path, &tensors, &metadata).unwrap();
        let (loaded, loaded_metadata) = load(&path).unwrap();
        let mut sorted = tensors.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(loaded, sorted);
        assert_eq!(loaded_metadata, metadata);

        save(&path, &tensors[..1], &BTreeMap::new()).unwrap();
        let (loaded, loaded_metadata) = load(&path).unwrap();
        assert_eq!(loaded, tensors[..1]);
        assert!(loaded_metadata.is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn overwrite_keeps_new_content_and_no_temp_file() {
        let dir = test_dir("ckpt-overwrite");
        let path = dir.join("ckpt.safetensors");
        save(&path, &[tensor("a", &[2], 1.0)], &BTreeMap::new()).unwrap();
        save(&path, &[tensor("b", &[3], 9.0)], &BTreeMap::new()).unwrap();
        let (loaded, _) = load(&path).unwrap();
        assert_eq!(loaded, [tensor("b", &[3], 9.0)]);
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn failed_save_keeps_old_file_and_no_temp_file() {
        let dir = test_dir("ckpt-failed");
        let path = dir.join("ckpt.safetensors");
        save(&path, &[tensor("a", &[2], 1.0)], &BTreeMap::new()).unwrap();
        let bad = NamedTensor {
            name: "bad".to_string(),
            shape: vec![2, 2],
            data: vec![0.0; 3],
        };
        let message = save(&path, &[bad], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("ckpt.safetensors") && message.contains("`bad`"),
            "{message}"
        );
        let twice = [tensor("a", &[1], 0.0), tensor("a", &[1], 0.0)];
        let message = save(&path, &twice, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(message.contains("appears twice"), "{message}");
        // The temp file cannot even be created when the target's folder does not exist.
        let nowhere = dir.join("missing").join("ckpt.safetensors");
        let message = save(&nowhere, &[tensor("a", &[1], 0.0)], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(message.contains("missing"), "{message}");
        assert_eq!(load(&path).unwrap().0, [tensor("a", &[2], 1.0)]);
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn garbage_and_missing_files_name_the_path() {
        let dir = test_dir("ckpt-garbage");
        let path = dir.join("garbage.safetensors");
        std::fs::write(&path, b"this is not a checkpoint at all").unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("garbage.safetensors"), "{message}");
        assert!(message.contains("not a safetensors file"), "{message}");
        let missing = dir.join("absent.safetensors");
        let message = load(&missing).unwrap_err().to_string();
        assert!(message.contains("absent.safetensors") && message.contains("not found"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn f64_tensor_is_rejected_by_name() {
        let dir = test_dir("ckpt-f64");
        let path = dir.join("double.safetensors");
        let values: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F64, vec![2], &values).unwrap();
        let bytes = safetensors::serialize([("weights.double", view)], None).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("double.safetensors"), "{message}");
        assert!(
            message.contains("`weights.double`") && message.contains("F64"),
            "{message}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn header_shape_disagreeing_with_data_names_the_tensor() {
        let dir = test_dir("ckpt-shape");
        let path = dir.join("shape.safetensors");
        let header = br#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 8]);
        std::fs::write(&path, bytes).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(
            message.contains("shape.safetensors") && message.contains("`w`"),
            "{message}"
        );
        assert!(
            message.contains("3 values") && message.contains("2 values"),
            "{message}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
