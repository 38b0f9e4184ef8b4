//! The GPU backend: device, WGSL sources, pipelines, and the replay of op lists.

mod backend;
mod context;
mod encode;
mod kernels;
pub mod shaders;

pub use backend::{GpuBackend, GpuProgram};
pub use context::{
    list_adapters, AdapterSummary, BackendChoice, GpuContext, GpuError, GpuOptions, ADAPTER_ENV,
    BACKEND_ENV,
};
pub use encode::{
    matmul_kernel, KernelTuning, MatmulStrategy, SUBGROUP_LANES_CPU, SUBGROUP_LANES_GPU,
};
pub use kernels::Kernel;
