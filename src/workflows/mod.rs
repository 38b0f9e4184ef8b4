//! What the commands do, above the model: training epochs, run folders, sampling, benchmarks.

pub mod bench;
pub mod run_dir;
pub mod sample;
pub mod train;
pub mod trainer;
