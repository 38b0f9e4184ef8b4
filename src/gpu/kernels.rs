//! The compute pipelines, one per kernel entry point, with their bind-group layouts; built on
//! first use and kept for the life of the device.
//!
//! Every kernel binds the same way: binding 0 its shape uniform, binding 1 the shared `Frame`
//! uniform, bindings 2.. its storage buffers in the order `Kernel::storage` lists.

use std::collections::HashMap;

use super::shaders::{self, ShaderModule};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Matmul,
    MatmulNn,
    MatmulNt,
    MatmulTn,
    MatmulSubgroupNn,
    MatmulSubgroupNt,
    MatmulSubgroupTn,
    BiasAct,
    BiasActBackward,
    ColumnSum,
    SumInto,
    KlRows,
    KlBackward,
    BceRows,
    Reparameterize,
    ReparameterizeBackward,
    Adam,
    Gather,
    Normal,
    PhiloxBlocks,
}

/// Storage binding access: read-only or read-write.
const R: bool = false;
const W: bool = true;

impl Kernel {
    pub fn module(self) -> &'static ShaderModule {
        match self {
            Kernel::Matmul => &shaders::MATMUL,
            Kernel::MatmulNn | Kernel::MatmulNt | Kernel::MatmulTn => &shaders::MATMUL_VEC4,
            Kernel::MatmulSubgroupNn | Kernel::MatmulSubgroupNt | Kernel::MatmulSubgroupTn => {
                &shaders::MATMUL_SUBGROUP
            }
            Kernel::BiasAct => &shaders::BIAS_ACT,
            Kernel::BiasActBackward => &shaders::BIAS_ACT_BACKWARD,
            Kernel::ColumnSum => &shaders::COLUMN_SUM,
            Kernel::SumInto => &shaders::SUM_INTO,
            Kernel::KlRows => &shaders::KL_ROWS,
            Kernel::KlBackward => &shaders::KL_BACKWARD,
            Kernel::BceRows => &shaders::BCE_ROWS,
            Kernel::Reparameterize => &shaders::REPARAMETERIZE,
            Kernel::ReparameterizeBackward => &shaders::REPARAMETERIZE_BACKWARD,
            Kernel::Adam => &shaders::ADAM,
            Kernel::Gather => &shaders::GATHER,
            Kernel::Normal => &shaders::NORMAL,
            Kernel::PhiloxBlocks => &shaders::PHILOX_BLOCKS,
        }
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Matmul => "matmul",
            Kernel::MatmulNn | Kernel::MatmulSubgroupNn => "matmul_nn",
            Kernel::MatmulNt | Kernel::MatmulSubgroupNt => "matmul_nt",
            Kernel::MatmulTn | Kernel::MatmulSubgroupTn => "matmul_tn",
            Kernel::BiasAct => "bias_act",
            Kernel::BiasActBackward => "bias_act_backward",
            Kernel::ColumnSum => "column_sum",
            Kernel::SumInto => "sum_into",
            Kernel::KlRows => "kl_rows",
            Kernel::KlBackward => "kl_backward",
            Kernel::BceRows => "bce_rows",
            Kernel::Reparameterize => "reparameterize",
            Kernel::ReparameterizeBackward => "reparameterize_backward",
            Kernel::Adam => "adam",
            Kernel::Gather => "gather",
            Kernel::Normal => "normal",
            Kernel::PhiloxBlocks => "philox_blocks",
        }
    }

    /// Access of storage bindings 2, 3, …, as the WGSL declares them.
    pub fn storage(self) -> &'static [bool] {
        match self {
            Kernel::Matmul
            | Kernel::MatmulNn
            | Kernel::MatmulNt
            | Kernel::MatmulTn
            | Kernel::MatmulSubgroupNn
            | Kernel::MatmulSubgroupNt
            | Kernel::MatmulSubgroupTn => &[R, R, W],
            Kernel::BiasAct
            | Kernel::BiasActBackward
            | Kernel::ColumnSum
            | Kernel::SumInto
            | Kernel::KlRows
            | Kernel::KlBackward
            | Kernel::PhiloxBlocks => &[R, W],
            Kernel::BceRows => &[R, R, W, W],
            Kernel::Reparameterize => &[R, W, W],
            Kernel::ReparameterizeBackward => &[R, R, R, W],
            Kernel::Adam => &[R, W, W, W],
            Kernel::Gather => &[R, R, W],
            Kernel::Normal => &[W],
        }
    }
}

pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Pipelines by kernel (and subgroup width), compiled once per device.
#[derive(Default)]
pub struct Pipelines {
    built: HashMap<(Kernel, u32), std::rc::Rc<Pipeline>>,
}

impl Pipelines {
    /// `subgroup_lanes` sets the `LANES` override of the subgroup matmul kernels.
    pub fn get(
        &mut self,
        device: &wgpu::Device,
        kernel: Kernel,
        subgroup_lanes: u32,
    ) -> std::rc::Rc<Pipeline> {
        let lanes = if kernel.module().file == shaders::MATMUL_SUBGROUP.file {
            subgroup_lanes
        } else {
            0
        };
        self.built
            .entry((kernel, lanes))
            .or_insert_with(|| std::rc::Rc::new(build(device, kernel, lanes)))
            .clone()
    }
}

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// `lanes`: the `LANES` override, for the modules that declare it (0 for the others).
fn build(device: &wgpu::Device, kernel: Kernel, lanes: u32) -> Pipeline {
    let module = kernel.module();
    let composed = shaders::compose(module);
    let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(module.file),
        source: wgpu::ShaderSource::Wgsl(composed.source.into()),
    });
    let mut entries = vec![uniform_entry(0), uniform_entry(1)];
    for (i, &writable) in kernel.storage().iter().enumerate() {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: 2 + i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: !writable,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
    }
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(kernel.entry_point()),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(kernel.entry_point()),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let overrides = [("LANES", f64::from(lanes))];
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.entry_point()),
        layout: Some(&pipeline_layout),
        module: &shader,
        entry_point: Some(kernel.entry_point()),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: if lanes > 0 { &overrides } else { &[] },
            ..Default::default()
        },
        cache: None,
    });
    Pipeline { pipeline, layout }
}
