//! vae-gpu: variational autoencoders trained on the GPU through wgpu, with every kernel written in
//! WGSL and a CPU reference of each that the tests hold the GPU to.

pub mod backend;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod fuzzing;
pub mod gpu;
pub mod image_grid;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod optim;
pub mod plots;
pub mod rng;
pub mod schedule;
pub mod scores;
pub mod tolerance;
pub mod user_cache;
pub mod values;
pub mod workflows;
