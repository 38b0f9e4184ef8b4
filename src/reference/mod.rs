//! CPU reference of every WGSL kernel: plain Rust, f32 storage, f64 arithmetic and accumulation.
//!
//! Each function has the name of its shader entry point and the meaning of its `Op` variant
//! (`src/ops.rs`); the parity tests hold the GPU to these.

mod activation;
mod adam;
mod backend;
mod bce;
mod column_sum;
mod gather;
mod kl;
mod matmul;
mod normal;
mod reparameterize;
mod sum;

pub use activation::{activate, bias_act, bias_act_backward, slope_from_output};
pub use adam::{adam, AdamHyper};
pub use backend::{check_op, CpuBackend, CpuProgram};
pub use bce::bce_rows;
pub use column_sum::column_sum;
pub use gather::{gather, pack_bytes};
pub use kl::{kl_backward, kl_rows};
pub use matmul::matmul;
pub use normal::normal;
pub use reparameterize::{reparameterize, reparameterize_backward};
pub use sum::sum_into;
