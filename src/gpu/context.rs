//! The headless GPU: choosing an adapter, opening a device with the limits the kernels need, and
//! catching device errors so that they fail loudly instead of being printed and ignored.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// A graphics API wgpu can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendChoice {
    pub const NAMES: &'static str = "vulkan, metal, dx12, gl";

    pub fn parse(text: &str) -> Result<Self, GpuError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(Self::Vulkan),
            "metal" | "mtl" => Ok(Self::Metal),
            "dx12" | "d3d12" => Ok(Self::Dx12),
            "gl" | "gles" | "opengl" => Ok(Self::Gl),
            other => Err(GpuError::UnknownBackend(other.to_string())),
        }
    }

    fn backends(self) -> wgpu::Backends {
        match self {
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Metal => wgpu::Backends::METAL,
            Self::Dx12 => wgpu::Backends::DX12,
            Self::Gl => wgpu::Backends::GL,
        }
    }
}

/// How to pick the adapter. The command line fills it; `from_env` reads the same settings from
/// `VAE_GPU_BACKEND` and `VAE_GPU_ADAPTER` (used by the tests).
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub backend: Option<BackendChoice>,
    /// Case-insensitive substring of the adapter name.
    pub adapter: Option<String>,
    /// Prefer an integrated / low-power adapter over a discrete one.
    pub low_power: bool,
}

pub const BACKEND_ENV: &str = "VAE_GPU_BACKEND";
pub const ADAPTER_ENV: &str = "VAE_GPU_ADAPTER";

impl GpuOptions {
    pub fn from_env() -> Result<Self, GpuError> {
        let backend = match std::env::var(BACKEND_ENV) {
            Ok(text) if !text.trim().is_empty() => Some(BackendChoice::parse(&text)?),
            _ => None,
        };
        let adapter = std::env::var(ADAPTER_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty());
        Ok(Self {
            backend,
            adapter,
            low_power: false,
        })
    }

    fn backends(&self) -> wgpu::Backends {
        self.backend
            .map(BackendChoice::backends)
            .unwrap_or(wgpu::Backends::all())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("unknown GPU backend {0:?}: expected one of {names}", names = BackendChoice::NAMES)]
    UnknownBackend(String),
    #[error(
        "no GPU adapter found{filter}. On Linux without a GPU, install the software Vulkan driver: \
         `apt-get install mesa-vulkan-drivers libvulkan1` (Debian/Ubuntu). `vae-gpu info` lists \
         what wgpu sees."
    )]
    NoAdapter { filter: String },
    #[error("no GPU adapter matches {wanted:?}; adapters found: {found}")]
    NoMatchingAdapter { wanted: String, found: String },
    #[error("could not open a device on {adapter}: {source}")]
    RequestDevice {
        adapter: String,
        source: wgpu::RequestDeviceError,
    },
    #[error("the GPU reported an error: {0}")]
    Device(String),
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),
}

/// One adapter as `vae-gpu info` prints it.
pub struct AdapterSummary {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

impl AdapterSummary {
    pub fn describe(&self) -> String {
        let i = &self.info;
        let l = &self.limits;
        let mut text = String::new();
        let _ = writeln!(text, "{} ({:?}, {:?})", i.name, i.backend, i.device_type);
        let _ = writeln!(text, "  driver: {} {}", i.driver, i.driver_info);
        let _ = writeln!(
            text,
            "  vendor: {:#06x}  device: {:#06x}",
            i.vendor, i.device
        );
        let _ = writeln!(
            text,
            "  max storage buffer binding: {} MiB, max buffer: {} MiB, storage buffers per stage: {}",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_storage_buffers_per_shader_stage
        );
        let _ = writeln!(
            text,
            "  workgroup: {} invocations ({} x {} x {}), {} KiB shared, {} groups per dimension",
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_size_x,
            l.max_compute_workgroup_size_y,
            l.max_compute_workgroup_size_z,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_workgroups_per_dimension
        );
        let _ = writeln!(
            text,
            "  timestamps: {}, subgroups: {} (size {}..{})",
            self.features.contains(wgpu::Features::TIMESTAMP_QUERY),
            self.features.contains(wgpu::Features::SUBGROUP),
            i.subgroup_min_size,
            i.subgroup_max_size
        );
        text
    }
}

fn instance(options: &GpuOptions) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = options.backends();
    wgpu::Instance::new(descriptor)
}

/// Every adapter wgpu sees for these options (the name filter is not applied).
pub fn list_adapters(options: &GpuOptions) -> Vec<AdapterSummary> {
    let instance = instance(options);
    pollster::block_on(instance.enumerate_adapters(options.backends()))
        .into_iter()
        .map(|a| AdapterSummary {
            info: a.get_info(),
            limits: a.limits(),
            features: a.features(),
        })
        .collect()
}

/// Rank for the default choice: real GPUs first (discrete unless low power is asked for), the
/// software rasterizer last.
fn preference(device_type: wgpu::DeviceType, low_power: bool) -> u32 {
    use wgpu::DeviceType::*;
    match (device_type, low_power) {
        (DiscreteGpu, false) | (IntegratedGpu, true) => 0,
        (IntegratedGpu, false) | (DiscreteGpu, true) => 1,
        (VirtualGpu, _) => 2,
        (Other, _) => 3,
        (Cpu, _) => 4,
    }
}

/// An open device, its queue and what it is.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    pub fn open(options: &GpuOptions) -> Result<Self, GpuError> {
        let instance = instance(options);
        let mut adapters = pollster::block_on(instance.enumerate_adapters(options.backends()));
        if adapters.is_empty() {
            let filter = options
                .backend
                .map(|b| format!(" for backend {b:?}"))
                .unwrap_or_default();
            return Err(GpuError::NoAdapter { filter });
        }
        if let Some(wanted) = &options.adapter {
            let found: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            let needle = wanted.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
            if adapters.is_empty() {
                return Err(GpuError::NoMatchingAdapter {
                    wanted: wanted.clone(),
                    found: found.join(", "),
                });
            }
        }
        adapters.sort_by_key(|a| preference(a.get_info().device_type, options.low_power));
        let adapter = adapters.remove(0);
        let info = adapter.get_info();
        // Ask for what the adapter has: the data set binding and buffer sizes are the limits that
        // matter, and the defaults (128 MiB, 256 MiB) are below what big data sets need.
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("vae-gpu"),
            // Subgroup operations let kernels share loads between lanes where the adapter has them.
            required_features: adapter.features() & wgpu::Features::SUBGROUP,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|source| {
                GpuError::RequestDevice {
                    adapter: info.name.clone(),
                    source,
                }
            })?;
        let features = device.features();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            sink.lock()
                .expect("GPU error list poisoned")
                .push(error.to_string());
        }));
        Ok(Self {
            device,
            queue,
            info,
            limits,
            features,
            errors,
        })
    }

    /// The errors the device reported since the last call, as one error.
    pub fn check_errors(&self) -> Result<(), GpuError> {
        let mut errors = self.errors.lock().expect("GPU error list poisoned");
        if errors.is_empty() {
            return Ok(());
        }
        let text = errors.join("\n");
        errors.clear();
        Err(GpuError::Device(text))
    }

    /// One line: adapter name, backend and type.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(e.to_string()))?;
        self.check_errors()
    }
}
