//! What the commands do, above the model: training epochs, run folders, sampling, benchmarks.

pub mod bench;
pub mod bounds;
pub mod eval;
pub mod judge;
pub mod options;
pub mod pictures;
pub mod run_dir;
pub mod sample;
pub mod score;
pub mod state;
pub mod sweep;
pub mod train;
pub mod trainer;
