//! The VAE, written once against the `Backend` interface: its shape, its parameter layout, its
//! initialization, and the op lists of a training step, an evaluation, sampling and reconstruction.

mod classifier;
mod config;
mod dense;
mod init;
mod layout;
mod vae;
mod weights;

pub use classifier::{Classifier, ClassifierConfig, ClassifierLayout};
pub use config::{ConfigError, Likelihood, LikelihoodKind, Sigma, VaeConfig};
pub use dense::{DenseParams, GradInput};
pub use init::{init_dense_layers, init_parameters};
pub use layout::{DenseLayer, FlatAllocator, ParamLayout, ParamTensor};
pub use vae::{
    DataShard, DeviceData, Divergence, EvalSet, Metric, MetricValues, StepOptions, Vae,
    BINARIZE_STREAM, DECODER_DROPOUT_STREAM, ELBO_STREAM, ENCODER_DROPOUT_STREAM, EVAL_STREAM,
    IWAE_STREAM, SAMPLE_STREAM, TRAIN_STREAM,
};
pub use weights::{from_named_tensors, to_named_tensors, WeightsError};
