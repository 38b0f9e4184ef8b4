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

/// Pipelines by entry point and override values, compiled once per device.
#[derive(Default)]
pub struct Pipelines {
    built: HashMap<PipelineKey, Rc<Pipeline>>,
    modules: HashMap<(&'static str, Option<PathBuf>), wgpu::ShaderModule>,
}

impl Pipelines {
    pub fn get(
        &mut self,
        device: &wgpu::Device,
        entry: &'static EntryPoint,
        overrides: &[(&'static str, u32)],
        shader_dir: Option<&Path>,
    ) -> Result<Rc<Pipeline>, String> {
        let dir = shader_dir.map(Path::to_path_buf);
        let key = (entry as *const EntryPoint as usize, overrides.to_vec(), dir);
        if let Some(pipeline) = self.built.get(&key) {
            return Ok(pipeline.clone());
        }
        let module_key = (entry.module.file, key.2.clone());
        if !self.modules.contains_key(&module_key) {
            let composed = match shader_dir {
                Some(dir) => wgsl::compose_from(entry.module, dir)?,
                None => wgsl::compose(entry.module),
            };
            let descriptor = wgpu::ShaderModuleDescriptor {
                label: Some(entry.module.file),
                source: wgpu::ShaderSource::Wgsl(composed.source.into()),
            };
            // SAFETY: the only check left out is the loop counter naga adds to bound every loop;
            // each loop in shaders/ runs to a count from the shape uniform or a constant, so none
            // is infinite. Bounds and division checks stay. Without the counter Adam and the
            // column sums ran 8-20% faster on lavapipe, a step ~4% faster.
            let module =
                unsafe { device.create_shader_module_trusted(descriptor, runtime_checks()) };
            self.modules.insert(module_key.clone(), module);
        }
        let pipeline = Rc::new(build(device, &self.modules[&module_key], entry, overrides));
        self.built.insert(key, pipeline.clone());
        Ok(pipeline)
    }
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
