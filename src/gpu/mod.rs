//! The GPU backend: adapter and device, pipelines built from the kernels' declarations, and the
//! replay of op lists.

pub mod autotune;
mod backend;
mod context;
mod pipelines;

pub use backend::{GpuBackend, GpuProgram, FRAME_SLOTS};
pub use context::{
    list_adapters, silence_device_select_layer, AdapterSummary, BackendChoice, GpuContext,
    GpuError, GpuOptions, ADAPTER_ENV, BACKEND_ENV,
};
