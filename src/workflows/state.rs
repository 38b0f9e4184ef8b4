//! `state.safetensors`: what a resume needs, written atomically after every epoch beside the
//! checkpoint. Tensors: the flat parameters and Adam's two moments. Metadata (JSON strings): the
//! options, the counters (steps, epochs, schedule and early-stopping state), the kernel variants
//! in force, the data's source and fingerprint.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::checkpoint::{self, CheckpointError, NamedTensor};
use crate::data::DataSource;
use crate::kernels::Tuning;

use super::trainer::{TrainOptions, TrainingState};

pub const STATE_FILE: &str = "state.safetensors";
const TENSORS: [&str; 3] = ["parameters", "adam.m", "adam.v"];

/// Everything in a state file.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedState {
    pub options: TrainOptions,
    pub state: TrainingState,
    pub tuning: Tuning,
    pub data: DataSource,
    pub data_fingerprint: String,
    /// Parameters, Adam's first and second moments (flat, the layout's length).
    pub tensors: [Vec<f32>; 3],
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: not a training state ({detail}); resume needs the state.safetensors that `vae-gpu train` writes in a run folder")]
    Malformed { path: String, detail: String },
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("state values serialize")
}

impl SavedState {
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let tensors: Vec<NamedTensor> = TENSORS
            .iter()
            .zip(&self.tensors)
            .map(|(name, data)| NamedTensor {
                name: name.to_string(),
                shape: vec![data.len()],
                data: data.clone(),
            })
            .collect();
        let metadata = BTreeMap::from([
            ("options".to_string(), json(&self.options)),
            ("state".to_string(), json(&self.state)),
            ("tuning".to_string(), json(&self.tuning)),
            ("data".to_string(), json(&self.data)),
            (
                "data_fingerprint".to_string(),
                self.data_fingerprint.clone(),
            ),
            (
                "writer".to_string(),
                format!("vae-gpu {}", env!("CARGO_PKG_VERSION")),
            ),
        ]);
        Ok(checkpoint::save(path, &tensors, &metadata)?)
    }

    pub fn load(path: &Path) -> Result<Self, StateError> {
        let (tensors, metadata) = checkpoint::load(path)?;
        let malformed = |detail: String| StateError::Malformed {
            path: path.display().to_string(),
            detail,
        };
        fn field<T: DeserializeOwned>(
            metadata: &BTreeMap<String, String>,
            key: &str,
        ) -> Result<T, String> {
            let text = metadata
                .get(key)
                .ok_or(format!("no {key:?} in its metadata"))?;
            serde_json::from_str(text).map_err(|e| format!("its {key:?} does not parse: {e}"))
        }
        let tensor = |name: &str| {
            tensors
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.data.clone())
                .ok_or_else(|| malformed(format!("no tensor {name:?}")))
        };
        let tensors = [
            tensor(TENSORS[0])?,
            tensor(TENSORS[1])?,
            tensor(TENSORS[2])?,
        ];
        if tensors.iter().any(|t| t.len() != tensors[0].len()) {
            return Err(malformed("its tensors differ in length".into()));
        }
        Ok(Self {
            options: field(&metadata, "options").map_err(&malformed)?,
            state: field(&metadata, "state").map_err(&malformed)?,
            tuning: field(&metadata, "tuning").map_err(&malformed)?,
            data: field(&metadata, "data").map_err(&malformed)?,
            data_fingerprint: metadata
                .get("data_fingerprint")
                .cloned()
                .ok_or_else(|| malformed("no data fingerprint".into()))?,
            tensors,
        })
    }
}
