//! `Backend` on the GPU: buffers on the device, op lists turned once into bound dispatches (from
//! each kernel's own declaration), and replays that record every dispatch of one or several steps
//! into one compute pass and submit once, each step reading its own slot of the frame buffer.

use std::rc::Rc;

use wgpu::util::DeviceExt;

use crate::backend::{check_op, Backend, BackendError};
use crate::kernels::{
    Launch, MatmulStrategy, Op, Tuning, Workgroup, REDUCTION_LANES_GPU, ROW_LANES_CPU,
    ROW_LANES_GPU, SUBGROUP_LANES_CPU, SUBGROUP_LANES_GPU,
};
use crate::ops::{BufferId, Frame};

use super::autotune::ShapeTiming;
use super::context::{GpuContext, GpuError, GpuOptions};
use super::pipelines::{Pipeline, Pipelines};

impl From<GpuError> for BackendError {
    fn from(error: GpuError) -> Self {
        BackendError::Device(Box::new(error))
    }
}

struct DeviceBuffer {
    buffer: wgpu::Buffer,
    len: usize,
}

struct Dispatch {
    pipeline: Rc<Pipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

/// An op list bound to buffers: replaying it is one pass of `dispatches`.
pub struct GpuProgram {
    dispatches: Vec<Dispatch>,
    // The shape uniforms live as long as the bind groups that read them.
    _uniforms: Vec<wgpu::Buffer>,
}

pub struct GpuBackend {
    context: GpuContext,
    pipelines: Pipelines,
    buffers: Vec<DeviceBuffer>,
    /// `FRAME_SLOTS` frames, `frame_stride` bytes apart: step i of a submit reads slot i.
    frames: wgpu::Buffer,
    frame_stride: u64,
    /// The last submit of `run_many`: the next one waits for it before returning, so that at
    /// most two are queued and the host's progress follows the device's.
    in_flight: Option<wgpu::SubmissionIndex>,
    /// Bound where an op leaves an optional operand out, one per binding number (a buffer bound
    /// twice in a dispatch, once read-only and once writable, is a validation error).
    dummies: Vec<wgpu::Buffer>,
    tuning: Tuning,
    /// A smaller buffer limit than the device's, in bytes, set by tests (`set_buffer_limit`).
    buffer_limit: Option<u64>,
    /// WGSL files read from here instead of the embedded ones (`set_shader_dir`).
    shader_dir: Option<std::path::PathBuf>,
    /// When set, `prepare` times the matmul kernels for each product shape it has no choice for
    /// yet (`autotune::choose_shapes`).
    shape_timing: Option<ShapeTiming>,
}

/// Steps one submit can hold (`run_many` splits longer lists).
pub const FRAME_SLOTS: usize = 64;
const FRAME_BYTES: u64 = std::mem::size_of::<Frame>() as u64;

/// Buffers are padded to 16 bytes so that vec4 views of them are whole.
fn padded_bytes(len: usize) -> u64 {
    ((len * 4).div_ceil(16) * 16).max(16) as u64
}

impl GpuBackend {
    /// Bytes of every storage buffer created so far (what the model and data hold on the device;
    /// the pipelines' small uniforms aside).
    pub fn allocated_bytes(&self) -> u64 {
        self.buffers.iter().map(|b| padded_bytes(b.len)).sum()
    }

    pub fn open(options: &GpuOptions) -> Result<Self, GpuError> {
        Ok(Self::new(GpuContext::open(options)?))
    }

    pub fn new(context: GpuContext) -> Self {
        let alignment = u64::from(context.limits.min_uniform_buffer_offset_alignment);
        let frame_stride = FRAME_BYTES.div_ceil(alignment) * alignment;
        let frames = context.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frames"),
            size: frame_stride * FRAME_SLOTS as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let cpu = context.info.device_type == wgpu::DeviceType::Cpu;
        // One SIMD vector of a CPU adapter: its subgroup (8 lanes of 256 bits on lavapipe, 16 with
        // LP_NATIVE_VECTOR_WIDTH=512), at least 8 where subgroups are missing.
        let simd = if Self::subgroups_of_8(&context) {
            context.info.subgroup_min_size.max(SUBGROUP_LANES_CPU)
        } else {
            SUBGROUP_LANES_CPU
        };
        let tuning = Tuning {
            matmul: Self::best_matmul_strategy(&context),
            matmul_shapes: Default::default(),
            subgroup_lanes: if cpu { simd } else { SUBGROUP_LANES_GPU },
            fold_limit: context.limits.max_compute_workgroups_per_dimension,
            reduction_lanes: if cpu { 1 } else { REDUCTION_LANES_GPU },
            row_lanes: if cpu {
                simd.max(ROW_LANES_CPU)
            } else {
                ROW_LANES_GPU
            },
        };
        Self {
            context,
            pipelines: Pipelines::default(),
            buffers: Vec::new(),
            frames,
            frame_stride,
            in_flight: None,
            dummies: Vec::new(),
            tuning,
            buffer_limit: None,
            shader_dir: None,
            shape_timing: None,
        }
    }

    /// Refuses buffers past `bytes` (rounded down to 16), below the device's own limit, so that
    /// tests run the paths that split large data sets on small ones.
    pub fn set_buffer_limit(&mut self, bytes: u64) {
        self.buffer_limit = Some((bytes / 16 * 16).max(16));
    }

    /// The largest buffer in bytes: the device's binding and buffer limits, or the test's.
    fn buffer_limit_bytes(&self) -> u64 {
        let limits = &self.context.limits;
        let device = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        self.buffer_limit.map_or(device, |limit| limit.min(device))
    }

    /// Subgroup kernels where the device has subgroups of 8 or more, vec4 kernels elsewhere.
    pub fn best_matmul_strategy(context: &GpuContext) -> MatmulStrategy {
        if Self::subgroups_of_8(context) {
            MatmulStrategy::Subgroup
        } else {
            MatmulStrategy::Vec4
        }
    }

    fn subgroups_of_8(context: &GpuContext) -> bool {
        context.features.contains(wgpu::Features::SUBGROUP) && context.info.subgroup_min_size >= 8
    }

    /// Folds element-wise dispatches into two dimensions past `limit` workgroups instead of the
    /// device's limit, so that tests can run the folded index path on small buffers.
    pub fn set_fold_limit(&mut self, limit: u32) {
        let max = self.context.limits.max_compute_workgroups_per_dimension;
        self.tuning.fold_limit = limit.clamp(1, max);
    }

    /// Whether the subgroup kernels can run here.
    pub fn has_subgroups(&self) -> bool {
        Self::subgroups_of_8(&self.context)
    }

    pub fn context(&self) -> &GpuContext {
        &self.context
    }

    /// Chooses the matrix-multiply kernels of programs prepared from now on; the subgroup ones
    /// only where the device has subgroups of 8 or more.
    pub fn set_matmul_strategy(&mut self, strategy: MatmulStrategy) -> Result<(), GpuError> {
        self.check_runs(strategy)?;
        self.tuning.matmul = strategy;
        self.tuning.matmul_shapes.clear();
        self.shape_timing = None;
        Ok(())
    }

    /// Runs `f` with every product on `strategy`'s kernels (no shape timed meanwhile), then puts
    /// back the kernels, per shape too, and the shape timing as they were.
    pub fn with_matmul<T>(
        &mut self,
        strategy: MatmulStrategy,
        f: impl FnOnce(&mut Self) -> T,
    ) -> Result<T, GpuError> {
        let tuning = self.tuning.clone();
        let timing = self.shape_timing.take();
        let result = self.set_matmul_strategy(strategy).map(|()| f(self));
        self.tuning = tuning;
        self.shape_timing = timing;
        result
    }

    /// Whether this device runs these matmul kernels.
    pub fn can_run(&self, strategy: MatmulStrategy) -> bool {
        match strategy {
            MatmulStrategy::Subgroup => self.has_subgroups(),
            MatmulStrategy::Tiled128 => {
                self.context.limits.max_compute_workgroup_storage_size
                    >= crate::kernels::matmul::TILED128_WORKGROUP_BYTES
            }
            _ => true,
        }
    }

    /// `can_run` as an error that names the adapter.
    fn check_runs(&self, strategy: MatmulStrategy) -> Result<(), GpuError> {
        if self.can_run(strategy) {
            return Ok(());
        }
        let need = match strategy {
            MatmulStrategy::Tiled128 => format!(
                "{} bytes of workgroup memory",
                crate::kernels::matmul::TILED128_WORKGROUP_BYTES
            ),
            _ => "subgroups of 8 or more".to_string(),
        };
        Err(GpuError::Unsupported(format!(
            "the {} matmul kernels need {need}, which {} lacks",
            strategy.name(),
            self.describe()
        )))
    }

    /// From now on `prepare` times the matmul kernels for every product shape it meets without a
    /// choice (or reads the choice from the cache) and keeps the fastest per shape; `None` stops
    /// it (shapes without a choice then run the adapter's `matmul`). Returns what was set before.
    /// `set_matmul_strategy` and `set_tuning` stop it too: their kernels are meant as given.
    pub fn set_shape_timing(&mut self, timing: Option<ShapeTiming>) -> Option<ShapeTiming> {
        std::mem::replace(&mut self.shape_timing, timing)
    }

    /// Forgets the buffers created from `count` on (scratch buffers of a timing that no program
    /// uses any more); their memory goes back to the device.
    pub(crate) fn truncate_buffers(&mut self, count: usize) {
        self.buffers.truncate(count);
    }

    pub(crate) fn buffer_count(&self) -> usize {
        self.buffers.len()
    }

    pub fn matmul_strategy(&self) -> MatmulStrategy {
        self.tuning.matmul
    }

    /// Reads the WGSL files that `dir` holds in place of the embedded ones of the same name, for
    /// programs prepared from now on (`None`: the embedded shaders again). Fails on a file there
    /// that names no shader, so that a misspelt edit is not silently left out.
    pub fn set_shader_dir(&mut self, dir: Option<&std::path::Path>) -> Result<(), GpuError> {
        if let Some(dir) = dir {
            let known = crate::kernels::wgsl::shader_files(
                crate::kernels::ALL_KERNELS
                    .iter()
                    .flat_map(|k| k.entry_points.iter().map(|e| e.module)),
            );
            let entries = std::fs::read_dir(dir)
                .map_err(|e| GpuError::Unsupported(format!("{}: {e}", dir.display())))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| GpuError::Unsupported(format!("{}: {e}", dir.display())))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".wgsl") && !known.contains(&name.as_str()) {
                    return Err(GpuError::Unsupported(format!(
                        "{}: no kernel uses a shader named {name} (known: {})",
                        dir.display(),
                        known.join(", ")
                    )));
                }
            }
        }
        self.shader_dir = dir.map(std::path::Path::to_path_buf);
        Ok(())
    }

    /// Sets the workgroup width of the subgroup matmul kernels for programs prepared from now on.
    pub fn set_subgroup_lanes(&mut self, lanes: u32) {
        self.tuning.subgroup_lanes = lanes;
    }

    /// Sets the invocations per row of `bce_rows` and `gaussian_rows` (a power of 2 up to
    /// `ROW_LANES_GPU`) for programs prepared from now on.
    pub fn set_row_lanes(&mut self, lanes: u32) {
        assert!(
            lanes.is_power_of_two() && lanes <= ROW_LANES_GPU,
            "row lanes {lanes}"
        );
        self.tuning.row_lanes = lanes;
    }

    /// Sets the invocations per column of `column_sum` (1 or `REDUCTION_LANES_GPU`) for programs
    /// prepared from now on.
    pub fn set_reduction_lanes(&mut self, lanes: u32) {
        self.tuning.reduction_lanes = lanes;
    }

    /// The WGSL entry point an op runs as on this device (for reports and tests).
    pub fn entry_point(&self, op: &Op) -> &'static str {
        op.kernel().launch(&self.tuning).entry.name
    }

    /// Makes sure there are dummy buffers for bindings up to `count`.
    fn ensure_dummies(&mut self, count: usize) {
        while self.dummies.len() < count {
            let dummy = self.context.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("left-out operand"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            self.dummies.push(dummy);
        }
    }

    /// Refuses a launch this device cannot run: subgroups it lacks, too many workgroups.
    fn check_launch(&self, op: &Op, launch: &Launch) -> Result<(), BackendError> {
        let entry = launch.entry;
        let invalid = |reason: String| BackendError::InvalidOp {
            op: op.name(),
            reason,
        };
        if entry.needs_subgroups && !self.has_subgroups() {
            return Err(invalid(format!(
                "{} needs subgroups of 8 or more",
                entry.name
            )));
        }
        let max = self.context.limits.max_compute_workgroups_per_dimension;
        if let Some(&over) = launch.workgroups.iter().find(|&&g| g > max) {
            return Err(invalid(format!(
                "needs {over} workgroups in one dimension; the device allows {max}"
            )));
        }
        for (name, _) in &launch.overrides {
            let width = matches!(entry.workgroup, Workgroup::Override(w) if w == *name);
            assert!(
                width || entry.specializations.contains(name),
                "{}: override {name} is not declared",
                entry.name
            );
        }
        Ok(())
    }

    /// The pipeline (built by `prepare` beforehand), shape uniform and bind group of one launch.
    fn bind(&mut self, op: &Op, launch: &Launch) -> Result<(Dispatch, wgpu::Buffer), BackendError> {
        let entry = launch.entry;
        self.ensure_dummies(entry.bindings.len());
        let device = &self.context.device;
        let pipeline = self
            .pipelines
            .built(entry, &launch.overrides, self.shader_dir.as_deref());
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(entry.name),
            contents: bytemuck::cast_slice(&launch.uniform),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &self.frames,
                    offset: 0,
                    size: wgpu::BufferSize::new(FRAME_BYTES),
                }),
            },
        ];
        let operands = op.kernel().operands();
        for (i, (operand, binding)) in operands.iter().zip(entry.bindings).enumerate() {
            assert_eq!(
                operand.binding, binding.name,
                "{}: operands out of step with the declared bindings",
                entry.name
            );
            let buffer = match operand.view {
                Some(view) => &self.buffers[view.buffer.0].buffer,
                None => &self.dummies[i],
            };
            entries.push(wgpu::BindGroupEntry {
                binding: 2 + i as u32,
                resource: buffer.as_entire_binding(),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry.name),
            layout: &pipeline.layout,
            entries: &entries,
        });
        let dispatch = Dispatch {
            pipeline,
            bind_group,
            workgroups: launch.workgroups,
        };
        Ok((dispatch, uniform))
    }

    /// Whether `run_timed` can time each dispatch on the device (timestamps inside passes).
    pub fn has_dispatch_timestamps(&self) -> bool {
        self.context.features.contains(
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
        )
    }

    /// Replays a program as `run` does, with a GPU timestamp before the first dispatch and after
    /// each one, and waits for it: the device time of each dispatch in milliseconds, in order.
    /// `None` where the device has no timestamps inside passes.
    pub fn run_timed(
        &mut self,
        program: &GpuProgram,
        frame: &Frame,
    ) -> Result<Option<Vec<f64>>, GpuError> {
        if !self.has_dispatch_timestamps() || program.dispatches.is_empty() {
            return Ok(None);
        }
        let context = &self.context;
        let count = program.dispatches.len() as u32 + 1;
        let queries = context.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("dispatch timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let bytes = u64::from(count) * 8;
        let resolved = context.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolved timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = self.record(&[(program, *frame)], Some(&queries));
        encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
        let ticks: Vec<u64> = self.read_back(encoder, &resolved, 0, bytes)?;
        self.context.check_errors()?;
        let period_ns = f64::from(self.context.queue.get_timestamp_period());
        Ok(Some(
            ticks
                .windows(2)
                .map(|pair| pair[1].saturating_sub(pair[0]) as f64 * period_ns / 1e6)
                .collect(),
        ))
    }

    /// Writes the steps' frames (step i into slot i) and records every dispatch of the steps, in
    /// order, into one compute pass (many passes per submit are slow on lavapipe), with a
    /// timestamp before the first dispatch and after each one when `queries` is given (one step).
    fn record(
        &self,
        steps: &[(&GpuProgram, Frame)],
        queries: Option<&wgpu::QuerySet>,
    ) -> wgpu::CommandEncoder {
        assert!(
            steps.len() <= FRAME_SLOTS,
            "{} steps in one submit",
            steps.len()
        );
        // Query i + 1 follows dispatch i of one step: timestamps time one step at a time.
        assert!(
            queries.is_none() || steps.len() == 1,
            "timestamps over several steps"
        );
        let context = &self.context;
        let stride = self.frame_stride as usize;
        let mut slots = vec![0u8; stride * steps.len()];
        for (slot, (_, frame)) in slots.chunks_mut(stride).zip(steps) {
            slot[..FRAME_BYTES as usize].copy_from_slice(bytemuck::bytes_of(frame));
        }
        context.queue.write_buffer(&self.frames, 0, &slots);
        let mut encoder = context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("steps"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("steps"),
                timestamp_writes: None,
            });
            if let Some(queries) = queries {
                pass.write_timestamp(queries, 0);
            }
            for (slot, (program, _)) in steps.iter().enumerate() {
                let offset = (slot * stride) as u32;
                for (i, dispatch) in program.dispatches.iter().enumerate() {
                    pass.set_pipeline(&dispatch.pipeline.pipeline);
                    pass.set_bind_group(0, &dispatch.bind_group, &[offset]);
                    let [x, y, z] = dispatch.workgroups;
                    pass.dispatch_workgroups(x, y, z);
                    if let Some(queries) = queries {
                        pass.write_timestamp(queries, i as u32 + 1);
                    }
                }
            }
        }
        encoder
    }

    /// Appends to `encoder` a copy of `bytes` bytes of `source` from `offset` into a mappable
    /// buffer, submits it, waits, and returns them.
    fn read_back<T: bytemuck::Pod>(
        &self,
        mut encoder: wgpu::CommandEncoder,
        source: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Vec<T>, GpuError> {
        let staging = self.context.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(source, offset, &staging, 0, bytes);
        self.context.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        self.context.wait_idle()?;
        receiver
            .recv()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let values = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        staging.unmap();
        Ok(values)
    }

    fn read_words(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u32>, GpuError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let encoder = self
            .context
            .device
            .create_command_encoder(&Default::default());
        self.read_back(
            encoder,
            &self.buffers[buffer.0].buffer,
            (offset * 4) as u64,
            (len * 4) as u64,
        )
    }

    fn check_range(&self, buffer: BufferId, offset: usize, len: usize) {
        let buffer_len = self.buffers[buffer.0].len;
        assert!(
            offset + len <= buffer_len,
            "access {offset}..{} past a buffer of {buffer_len}",
            offset + len,
        );
    }
}

impl Backend for GpuBackend {
    type Program = GpuProgram;

    fn describe(&self) -> String {
        self.context.describe()
    }

    fn create_buffer(&mut self, label: &str, len: usize) -> Result<BufferId, BackendError> {
        let bytes = padded_bytes(len);
        let limit = self.buffer_limit_bytes();
        if bytes > limit {
            return Err(BackendError::BufferTooLarge {
                label: label.to_string(),
                bytes,
                limit,
            });
        }
        // Running out of device memory is an error the caller can explain, not a lost device.
        let scope = self
            .context
            .device
            .push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.context.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if pollster::block_on(scope.pop()).is_some() {
            return Err(BackendError::OutOfMemory {
                label: label.to_string(),
                bytes,
            });
        }
        self.buffers.push(DeviceBuffer { buffer, len });
        Ok(BufferId(self.buffers.len() - 1))
    }

    fn max_buffer_words(&self) -> usize {
        // Whole 16-byte units, as buffers are padded to them.
        (self.buffer_limit_bytes() / 16 * 4) as usize
    }

    fn write_f32(&mut self, buffer: BufferId, offset: usize, data: &[f32]) {
        self.write_u32(buffer, offset, bytemuck::cast_slice(data));
    }

    fn write_u32(&mut self, buffer: BufferId, offset: usize, data: &[u32]) {
        self.check_range(buffer, offset, data.len());
        if !data.is_empty() {
            self.context.queue.write_buffer(
                &self.buffers[buffer.0].buffer,
                (offset * 4) as u64,
                bytemuck::cast_slice(data),
            );
        }
    }

    fn read_f32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<f32>, BackendError> {
        Ok(bytemuck::cast_slice(&self.read_u32(buffer, offset, len)?).to_vec())
    }

    fn read_u32(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u32>, BackendError> {
        self.check_range(buffer, offset, len);
        Ok(self.read_words(buffer, offset, len)?)
    }

    fn prepare(&mut self, ops: &[Op]) -> Result<GpuProgram, BackendError> {
        if let Some(mut timing) = self.shape_timing.take() {
            // Taken out while it runs: timing prepares programs of its own.
            let chosen = super::autotune::choose_shapes(self, &mut timing, ops);
            self.shape_timing = Some(timing);
            chosen?;
        }
        let lens: Vec<usize> = self.buffers.iter().map(|b| b.len).collect();
        let mut launches = Vec::with_capacity(ops.len());
        for op in ops {
            check_op(op, &lens)?;
            let launch = op.kernel().launch(&self.tuning);
            self.check_launch(op, &launch)?;
            launches.push(launch);
        }
        // Every new pipeline of the program at once, on every core.
        let wanted: Vec<_> = launches
            .iter()
            .map(|launch| (launch.entry, launch.overrides.clone()))
            .collect();
        self.pipelines
            .build_all(&self.context.device, &wanted, self.shader_dir.as_deref())
            .map_err(|e| BackendError::Device(Box::new(GpuError::Unsupported(e))))?;
        let mut dispatches = Vec::with_capacity(ops.len());
        let mut uniforms = Vec::with_capacity(ops.len());
        for (op, launch) in ops.iter().zip(&launches) {
            let (dispatch, uniform) = self.bind(op, launch)?;
            dispatches.push(dispatch);
            uniforms.push(uniform);
        }
        self.context.check_errors()?;
        Ok(GpuProgram {
            dispatches,
            _uniforms: uniforms,
        })
    }

    fn run(&mut self, program: &GpuProgram, frame: &Frame) -> Result<(), BackendError> {
        self.run_many(&[(program, *frame)])
    }

    /// Up to `FRAME_SLOTS` steps per submit, each reading its own frame slot.
    fn run_many(&mut self, steps: &[(&GpuProgram, Frame)]) -> Result<(), BackendError> {
        for chunk in steps.chunks(FRAME_SLOTS) {
            let encoder = self.record(chunk, None);
            let submitted = self.context.queue.submit([encoder.finish()]);
            // The device works on this submit while the host records the next one; without the
            // wait the host would queue a whole epoch before its first progress read-back.
            if let Some(previous) = self.in_flight.replace(submitted) {
                self.context
                    .device
                    .poll(wgpu::PollType::Wait {
                        submission_index: Some(previous),
                        timeout: None,
                    })
                    .map_err(|e| GpuError::Device(e.to_string()))?;
            }
        }
        Ok(self.context.check_errors()?)
    }

    fn synchronize(&mut self) -> Result<(), BackendError> {
        Ok(self.context.wait_idle()?)
    }

    fn tuning(&self) -> Tuning {
        self.tuning.clone()
    }

    /// Takes the matmul kernels (per shape too), subgroup width, reduction and row lanes; the fold
    /// limit stays the device's. No shape is timed from now on: a resumed run keeps its kernels,
    /// and a shape it has no choice for runs its `matmul`.
    fn set_tuning(&mut self, tuning: Tuning) -> Result<(), BackendError> {
        for &strategy in std::iter::once(&tuning.matmul).chain(tuning.matmul_shapes.values()) {
            self.check_runs(strategy)?;
        }
        self.shape_timing = None;
        self.tuning.matmul = tuning.matmul;
        self.tuning.matmul_shapes = tuning.matmul_shapes;
        self.tuning.subgroup_lanes = tuning.subgroup_lanes;
        self.tuning.reduction_lanes = tuning.reduction_lanes;
        self.tuning.row_lanes = tuning.row_lanes;
        Ok(())
    }
}
