//! The headless GPU: choosing an adapter, opening a device with the limits the kernels need, and
//! catching device errors so that they fail loudly instead of being printed and ignored.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// A graphics API wgpu can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    #[value(alias = "vk")]
    Vulkan,
    #[value(alias = "mtl")]
    Metal,
    #[value(alias = "d3d12")]
    Dx12,
    #[value(alias = "gles", alias = "opengl")]
    Gl,
}

impl BackendChoice {
    pub const NAMES: &'static str = "vulkan, metal, dx12, gl";

    pub fn parse(text: &str) -> Result<Self, GpuError> {
        <Self as clap::ValueEnum>::from_str(text.trim(), true)
            .map_err(|_| GpuError::UnknownBackend(text.trim().to_string()))
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
    #[error("{0}")]
    Unsupported(String),
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

/// Mesa's Vulkan device-select layer (an implicit layer of mesa-vulkan-drivers) connects to Wayland
/// and X11 to order the GPUs of a display; headless, it prints "XDG_RUNTIME_DIR is invalid or not
/// set" for every Vulkan instance. vae-gpu chooses its adapter itself, so the command line switches
/// the layer off, unless the user set `NODEVICE_SELECT`. Call it before any thread starts.
pub fn silence_device_select_layer() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

/// How `LP_NUM_THREADS` came to be what it is for this process (`spread_lavapipe_threads`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LavapipeThreads {
    /// vae-gpu set it: this many worker threads.
    Set(usize),
    /// The user's own value, as given.
    User(String),
}

static LAVAPIPE_THREADS: std::sync::OnceLock<LavapipeThreads> = std::sync::OnceLock::new();

/// Worker threads asked of llvmpipe (the CPU rasterizer behind lavapipe) per core, where the user
/// has not set `LP_NUM_THREADS`. llvmpipe splits each dispatch among its workers, one worker by
/// default per core, and a dispatch waits for its slowest worker: on a 2-core VM a worker that
/// started late (the other threads of the process, the hypervisor) left the other core idle, and
/// a step's 17 dispatches each paid for it. With two workers per core the cores share four parts
/// of each dispatch: the default `vae-gpu train` took 1.10-1.15x less time (11.1-12.7 s against
/// 12.2-14.5 s, 6 alternated pairs), and the slowest of 8 rounds at batch 128 in
/// tools/compare_pytorch.sh went from 0.23x to 0.30x of PyTorch's speed (the median stayed
/// 0.35x). Three workers on two cores were slower than two (the third part runs alone).
pub const LAVAPIPE_THREADS_PER_CORE: usize = 2;

/// Sets `LP_NUM_THREADS` to `LAVAPIPE_THREADS_PER_CORE` workers per core unless the user set it
/// (other drivers ignore it; llvmpipe caps it at its own maximum). Call it before any thread
/// starts.
pub fn spread_lavapipe_threads() {
    let threads = match std::env::var("LP_NUM_THREADS") {
        Ok(value) => LavapipeThreads::User(value),
        Err(_) => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = cores * LAVAPIPE_THREADS_PER_CORE;
            std::env::set_var("LP_NUM_THREADS", threads.to_string());
            LavapipeThreads::Set(threads)
        }
    };
    let _ = LAVAPIPE_THREADS.set(threads);
}

/// What `spread_lavapipe_threads` found or set; `None` where it was not called (tests, library
/// use: llvmpipe then takes the environment as it is).
pub fn lavapipe_threads() -> Option<&'static LavapipeThreads> {
    LAVAPIPE_THREADS.get()
}

fn adapters(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = backends;
    let instance = wgpu::Instance::new(descriptor);
    pollster::block_on(instance.enumerate_adapters(backends))
}

/// Every adapter wgpu sees for these options (the name filter is not applied).
pub fn list_adapters(options: &GpuOptions) -> Vec<AdapterSummary> {
    adapters(options.backends())
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
    /// One line for the user when a faster path than the chosen adapter exists or can be
    /// installed (llvmpipe through GL where Mesa's Vulkan driver would be 3x faster).
    pub advice: Option<String>,
    errors: Arc<Mutex<Vec<String>>>,
}

/// The adapters to choose from, by name filter: those of the backend asked for; otherwise
/// Vulkan's, Metal's and DX12's, and GL's only when none of those matches (GL is slower for
/// compute and has no subgroups).
fn candidates(options: &GpuOptions) -> Result<Vec<wgpu::Adapter>, GpuError> {
    let tiers = match options.backend {
        Some(choice) => vec![choice.backends()],
        None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::GL],
    };
    let mut found = Vec::new();
    for backends in tiers {
        let mut adapters = adapters(backends);
        found.extend(adapters.iter().map(|a| a.get_info().name));
        if let Some(wanted) = &options.adapter {
            let needle = wanted.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&needle));
        }
        if !adapters.is_empty() {
            return Ok(adapters);
        }
    }
    match &options.adapter {
        Some(wanted) if !found.is_empty() => Err(GpuError::NoMatchingAdapter {
            wanted: wanted.clone(),
            found: found.join(", "),
        }),
        _ => Err(GpuError::NoAdapter {
            filter: options
                .backend
                .map(|b| format!(" for backend {b:?}"))
                .unwrap_or_default(),
        }),
    }
}

/// Advice when the chosen adapter is llvmpipe through GL: Vulkan is 3x faster on the same CPU.
pub fn software_gl_advice(info: &wgpu::AdapterInfo) -> Option<String> {
    if info.backend != wgpu::Backend::Gl || info.device_type != wgpu::DeviceType::Cpu {
        return None;
    }
    let vulkan_software = adapters(wgpu::Backends::VULKAN)
        .iter()
        .any(|a| a.get_info().device_type == wgpu::DeviceType::Cpu);
    Some(if vulkan_software {
        format!(
            "running on {} through OpenGL; `--backend vulkan` is about 3x faster here",
            info.name
        )
    } else {
        format!(
            "running on {} through OpenGL, about 3x slower than Mesa's software Vulkan driver; \
             install it for speed (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers libvulkan1`)",
            info.name
        )
    })
}

impl GpuContext {
    pub fn open(options: &GpuOptions) -> Result<Self, GpuError> {
        let mut adapters = candidates(options)?;
        adapters.sort_by_key(|a| preference(a.get_info().device_type, options.low_power));
        let adapter = adapters.remove(0);
        let info = adapter.get_info();
        // Ask for what the adapter has: the data set binding and buffer sizes are the limits that
        // matter, and the defaults (128 MiB, 256 MiB) are below what big data sets need.
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("vae-gpu"),
            // Subgroup operations let kernels share loads between lanes where the adapter has them.
            // Timestamps inside a pass time each kernel of a step in place (`bench`).
            required_features: adapter.features()
                & (wgpu::Features::SUBGROUP
                    | wgpu::Features::TIMESTAMP_QUERY
                    | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
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
        let advice = software_gl_advice(&info);
        Ok(Self {
            device,
            queue,
            info,
            limits,
            features,
            advice,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Only llvmpipe through GL gets advice; the same adapter through Vulkan, or a GPU, does not.
    #[test]
    fn software_gl_adapters_get_one_line_of_advice() {
        let Some(adapter) = list_adapters(&GpuOptions::default()).into_iter().next() else {
            eprintln!("NOT RUN: no adapter here");
            return;
        };
        let mut info = adapter.info;
        info.backend = wgpu::Backend::Gl;
        info.device_type = wgpu::DeviceType::Cpu;
        let advice = software_gl_advice(&info).expect("llvmpipe through GL gets advice");
        assert!(
            advice.contains("through OpenGL") && !advice.contains('\n'),
            "{advice}"
        );
        info.backend = wgpu::Backend::Vulkan;
        assert_eq!(software_gl_advice(&info), None);
        info.backend = wgpu::Backend::Gl;
        info.device_type = wgpu::DeviceType::DiscreteGpu;
        assert_eq!(software_gl_advice(&info), None);
    }
}
