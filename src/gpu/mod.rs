//! The GPU backend: adapter and device, pipelines built from the kernels' declarations, and the
//! replay of op lists.

pub mod autotune;
mod backend;
mod context;
mod pipelines;

pub use backend::{GpuBackend, GpuProgram, FRAME_SLOTS};
pub use context::{
    lavapipe_threads, list_adapters, silence_device_select_layer, spread_lavapipe_threads,
    AdapterSummary, BackendChoice, GpuContext, GpuError, GpuOptions, LavapipeThreads, ADAPTER_ENV,
    BACKEND_ENV, LAVAPIPE_THREADS_PER_CORE,
};
