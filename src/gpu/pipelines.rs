//! Compute pipelines and their bind-group layouts, built from a kernel's entry-point declaration
//! (`kernels::EntryPoint`) on first use and kept for the life of the device.
//!
//! Every kernel binds the same way: binding 0 its shape uniform, binding 1 the shared `Frame`
//! uniform (at a dynamic offset: the step's slot), bindings 2.. its storage buffers in declaration
//! order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::kernels::{wgsl, Access, EntryPoint};

pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// An entry point (a static: its address names it), its override values, and the folder its WGSL
/// was read from (`None`: the embedded shaders).
type PipelineKey = (usize, Vec<(&'static str, u32)>, Option<PathBuf>);

/// A pipeline to build: its key, its entry point and its override values.
type Wanted<'a> = (PipelineKey, &'static EntryPoint, &'a [(&'static str, u32)]);

/// Pipelines by entry point and override values, compiled once per device.
#[derive(Default)]
pub struct Pipelines {
    built: HashMap<PipelineKey, Rc<Pipeline>>,
    modules: HashMap<(&'static str, Option<PathBuf>), wgpu::ShaderModule>,
}

impl Pipelines {
    /// A pipeline `build_all` built.
    pub fn built(
        &self,
        entry: &'static EntryPoint,
        overrides: &[(&'static str, u32)],
        shader_dir: Option<&Path>,
    ) -> Rc<Pipeline> {
        self.built
            .get(&key(entry, overrides, shader_dir))
            .unwrap_or_else(|| panic!("{}: pipeline used before build_all", entry.name))
            .clone()
    }

    /// Builds the pipelines of these launches that are not built yet, several at once: on
    /// lavapipe a pipeline is LLVM's work (about 100 ms for a matmul kernel), which made most of
    /// the start-up, and the device's compiler can run on every core.
    pub fn build_all(
        &mut self,
        device: &wgpu::Device,
        wanted: &[(&'static EntryPoint, Vec<(&'static str, u32)>)],
        shader_dir: Option<&Path>,
    ) -> Result<(), String> {
        let mut missing: Vec<Wanted> = Vec::new();
        for (entry, overrides) in wanted {
            let key = key(entry, overrides, shader_dir);
            if !self.built.contains_key(&key) && !missing.iter().any(|(k, ..)| *k == key) {
                self.module(device, entry, shader_dir)?;
                missing.push((key, entry, overrides));
            }
        }
        let modules = &self.modules;
        let module_of =
            |entry: &EntryPoint| &modules[&(entry.module.file, shader_dir.map(Path::to_path_buf))];
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(missing.len());
        let pipelines: Vec<Pipeline> = if threads <= 1 {
            missing
                .iter()
                .map(|(_, entry, overrides)| build(device, module_of(entry), entry, overrides))
                .collect()
        } else {
            // Each thread takes the next pipeline left; results go back in order.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let done = std::sync::Mutex::new(Vec::with_capacity(missing.len()));
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((_, entry, overrides)) = missing.get(i) else {
                            break;
                        };
                        let pipeline = build(device, module_of(entry), entry, overrides);
                        done.lock()
                            .expect("pipeline list poisoned")
                            .push((i, pipeline));
                    });
                }
            });
            let mut done = done.into_inner().expect("pipeline list poisoned");
            done.sort_by_key(|(i, _)| *i);
            done.into_iter().map(|(_, pipeline)| pipeline).collect()
        };
        for ((key, ..), pipeline) in missing.into_iter().zip(pipelines) {
            self.built.insert(key, Rc::new(pipeline));
        }
        Ok(())
    }

    /// The shader module of an entry point, created on first use.
    fn module(
        &mut self,
        device: &wgpu::Device,
        entry: &'static EntryPoint,
        shader_dir: Option<&Path>,
    ) -> Result<(), String> {
        let module_key = (entry.module.file, shader_dir.map(Path::to_path_buf));
        if self.modules.contains_key(&module_key) {
            return Ok(());
        }
        let composed = match shader_dir {
            Some(dir) => wgsl::compose_from(entry.module, dir)?,
            None => wgsl::compose(entry.module),
        };
        let descriptor = wgpu::ShaderModuleDescriptor {
            label: Some(entry.module.file),
            source: wgpu::ShaderSource::Wgsl(composed.source.into()),
        };
        // SAFETY: the only check left out is the loop counter naga adds to bound every loop; each
        // loop in shaders/ runs to a count from the shape uniform or a constant, so none is
        // infinite. Bounds and division checks stay. Without the counter Adam and the column sums
        // ran 8-20% faster on lavapipe, a step ~4% faster.
        let module = unsafe { device.create_shader_module_trusted(descriptor, runtime_checks()) };
        self.modules.insert(module_key, module);
        Ok(())
    }
}

fn key(
    entry: &'static EntryPoint,
    overrides: &[(&'static str, u32)],
    shader_dir: Option<&Path>,
) -> PipelineKey {
    (
        entry as *const EntryPoint as usize,
        overrides.to_vec(),
        shader_dir.map(Path::to_path_buf),
    )
}

/// Every check wgpu would add, but the loop bound (see the SAFETY note in `Pipelines::get`).
fn runtime_checks() -> wgpu::ShaderRuntimeChecks {
    wgpu::ShaderRuntimeChecks {
        force_loop_bounding: false,
        ..wgpu::ShaderRuntimeChecks::checked()
    }
}

fn layout_entry(
    binding: u32,
    ty: wgpu::BufferBindingType,
    has_dynamic_offset: bool,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset,
            min_binding_size: None,
        },
        count: None,
    }
}

fn build(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    entry: &EntryPoint,
    overrides: &[(&'static str, u32)],
) -> Pipeline {
    let uniform = wgpu::BufferBindingType::Uniform;
    // The frame is bound at a dynamic offset: one slot per step of a multi-step submit.
    let mut entries = vec![
        layout_entry(0, uniform, false),
        layout_entry(1, uniform, true),
    ];
    for (i, binding) in entry.bindings.iter().enumerate() {
        let read_only = binding.access == Access::Read;
        let storage = wgpu::BufferBindingType::Storage { read_only };
        entries.push(layout_entry(2 + i as u32, storage, false));
    }
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(entry.name),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(entry.name),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let constants: Vec<(&str, f64)> = overrides
        .iter()
        .map(|&(name, value)| (name, f64::from(value)))
        .collect();
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry.name),
        layout: Some(&pipeline_layout),
        module,
        entry_point: Some(entry.name),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &constants,
            ..Default::default()
        },
        cache: None,
    });
    Pipeline { pipeline, layout }
}
