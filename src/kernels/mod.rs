//! Every kernel, one Rust file each: the op's fields, its WGSL entry points with their bindings,
//! shape uniform and workgroup size, how it is launched, and its CPU reference.
//!
//! A kernel is `shaders/<name>.wgsl` plus `src/kernels/<name>.rs` (and one line in the list at the
//! bottom of this file, which is also its `mod` declaration). The GPU backend builds pipelines and
//! bind groups from the declarations alone, the CPU backend calls the reference, and
//! `tests/kernel_reflection.rs` holds every declaration to naga's reflection of the WGSL, so a
//! binding, access, element type or uniform field that drifts fails a test. See
//! docs/ARCHITECTURE.md, "Adding a kernel".

pub mod activation;
pub mod continuous_bernoulli;
pub mod wgsl;

use crate::ops::{BufferId, Frame, View};
pub use activation::Activation;
use wgsl::ShaderModule;

/// Storage access of a binding, as the WGSL declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// Element type of a storage array, as the WGSL declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    F32,
    U32,
    Vec4F32,
    Vec4U32,
}

/// A storage binding (bindings 2, 3, … in declaration order; 0 is the shape uniform, 1 the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The WGSL variable name.
    pub name: &'static str,
    pub access: Access,
    pub element: Element,
}

impl Binding {
    pub const fn read(name: &'static str, element: Element) -> Self {
        Self {
            name,
            access: Access::Read,
            element,
        }
    }

    pub const fn write(name: &'static str, element: Element) -> Self {
        Self {
            name,
            access: Access::ReadWrite,
            element,
        }
    }
}

/// Workgroup size of an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workgroup {
    Fixed([u32; 3]),
    /// `@workgroup_size(NAME)`: x from a pipeline override the launch sets, y = z = 1.
    Override(&'static str),
}

/// One WGSL entry point and everything the host needs to bind and dispatch it.
#[derive(Debug)]
pub struct EntryPoint {
    pub module: &'static ShaderModule,
    pub name: &'static str,
    pub workgroup: Workgroup,
    /// Fields of the shape uniform (binding 0), each a u32, in order; the host pads it to 16 bytes
    /// and the WGSL pads with `_pad` fields.
    pub uniform: &'static [&'static str],
    /// Storage bindings 2, 3, … in order.
    pub bindings: &'static [Binding],
    /// `const`s of the WGSL that the host's dispatch arithmetic relies on.
    pub constants: &'static [(&'static str, u32)],
    /// Needs the SUBGROUP feature with subgroups of at least 8 invocations.
    pub needs_subgroups: bool,
    /// WGSL `override`s (u32) a launch sets to specialize the pipeline: a feature switched off
    /// costs nothing at run time (besides the workgroup width of `Workgroup::Override`).
    pub specializations: &'static [&'static str],
}

impl EntryPoint {
    /// An element-wise entry point: one invocation per element, `ELEMENTWISE_WORKGROUP` to a
    /// workgroup, dispatches folded by `elementwise_groups`.
    pub const fn elementwise(
        module: &'static ShaderModule,
        name: &'static str,
        uniform: &'static [&'static str],
        bindings: &'static [Binding],
    ) -> Self {
        Self {
            module,
            name,
            workgroup: Workgroup::Fixed([ELEMENTWISE_WORKGROUP, 1, 1]),
            uniform,
            bindings,
            constants: &[("ELEMENTWISE_WORKGROUP", ELEMENTWISE_WORKGROUP)],
            needs_subgroups: false,
            specializations: &[],
        }
    }

    /// The same entry point with these specialization constants.
    /// The same entry point with these WGSL consts declared (the element-wise one included).
    pub const fn with_constants(self, constants: &'static [(&'static str, u32)]) -> Self {
        Self { constants, ..self }
    }

    pub const fn specialized(self, names: &'static [&'static str]) -> Self {
        Self {
            specializations: names,
            ..self
        }
    }

    /// Invocations along x of a fixed-size workgroup.
    pub fn width(&self) -> u32 {
        match self.workgroup {
            Workgroup::Fixed([x, _, _]) => x,
            Workgroup::Override(name) => panic!("{}: width set by override {name}", self.name),
        }
    }

    /// The value of one of `constants`.
    pub fn constant(&self, name: &str) -> u32 {
        self.constants
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{} declares no constant {name}", self.name))
            .1
    }

    /// The shape uniform from (field, value) pairs, checked against `uniform` (a mismatch is a bug
    /// in the kernel's Rust file, caught by any test that launches it) and padded to 16 bytes.
    pub fn uniform_words(&self, fields: &[(&str, u32)]) -> Vec<u32> {
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names, self.uniform,
            "{}: uniform fields out of step with the declaration",
            self.name
        );
        let mut words: Vec<u32> = fields.iter().map(|&(_, value)| value).collect();
        words.resize(padded_words(words.len()), 0);
        words
    }
}

/// A uniform of `fields` u32 fields occupies this many words (a multiple of 4, at least 4).
pub fn padded_words(fields: usize) -> usize {
    fields.div_ceil(4).max(1) * 4
}

/// A kernel: its name and every entry point it may launch.
#[derive(Debug)]
pub struct KernelSpec {
    pub name: &'static str,
    pub entry_points: &'static [&'static EntryPoint],
}

/// One buffer view an op uses, in binding order. `None`: an optional output left out (the GPU
/// binds a dummy buffer and the kernel's uniform tells it not to write).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Operand {
    pub binding: &'static str,
    pub view: Option<View>,
    /// Elements the view must hold at least.
    pub needed: usize,
}

impl Operand {
    pub fn new(binding: &'static str, view: View, needed: usize) -> Self {
        Self {
            binding,
            view: Some(view),
            needed,
        }
    }

    pub fn optional(binding: &'static str, view: Option<View>, needed: usize) -> Self {
        Self {
            binding,
            view,
            needed,
        }
    }
}

/// Which matrix-multiply kernels run. (Plain comments on the variants: doc comments would turn
/// clap's whole `--help` into its long format.)
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum MatmulStrategy {
    // The subgroup-broadcast kernels wherever shapes and offsets are multiples of 4, the scalar
    // kernel elsewhere; needs subgroups of at least 8.
    Subgroup,
    // The vec4 register-block kernels wherever shapes and offsets are multiples of 4, the scalar
    // kernel elsewhere.
    Vec4,
    // The scalar kernel everywhere.
    Scalar,
    // The workgroup-memory tiled kernel everywhere (64 x 64 tiles, coalesced loads; for real
    // GPUs).
    Tiled,
    // 128 x 128 workgroup-memory tiles, 8 x 8 per invocation, everywhere (large products on
    // real GPUs); needs 16.5 KiB of workgroup memory.
    Tiled128,
}

impl MatmulStrategy {
    /// The family as `--matmul` takes it and the timing caches key it: "subgroup", "tiled128", ...
    pub fn name(self) -> &'static str {
        match self {
            MatmulStrategy::Subgroup => "subgroup",
            MatmulStrategy::Vec4 => "vec4",
            MatmulStrategy::Scalar => "scalar",
            MatmulStrategy::Tiled => "tiled",
            MatmulStrategy::Tiled128 => "tiled128",
        }
    }
}

/// The per-device choices a launch depends on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tuning {
    /// The matmul kernels of every product whose shape `matmul_shapes` does not name.
    pub matmul: MatmulStrategy,
    /// The matmul kernels chosen for one product shape (`MatMul::shape_key`, e.g.
    /// "NT 128x400x784"), timed on this adapter. Runs from before it existed used `matmul` for
    /// every shape.
    #[serde(default)]
    pub matmul_shapes: std::collections::BTreeMap<String, MatmulStrategy>,
    /// Workgroup width of the subgroup matmul kernels (their `LANES` override).
    pub subgroup_lanes: u32,
    /// Workgroups per dispatch dimension before element-wise dispatches fold into two.
    pub fold_limit: u32,
    /// Invocations that share a column of `column_sum`: 1 on CPU adapters (a SIMD lane per
    /// column), `REDUCTION_LANES_GPU` on GPUs (more loads in flight, then a tree in workgroup
    /// memory). Runs from before it existed summed with 1.
    #[serde(default = "one_lane")]
    pub reduction_lanes: u32,
    /// Invocations per row of the per-row sums (`bce_rows`, `gaussian_rows`): `ROW_LANES_CPU` on
    /// CPU adapters, `ROW_LANES_GPU` on GPUs. Runs from before it existed summed with 64.
    #[serde(default = "row_lanes_before")]
    pub row_lanes: u32,
}

impl Tuning {
    /// The matmul kernels in words: the adapter's family, and the shapes that run another one
    /// ("Subgroup; Tiled for NT 128x40x400").
    pub fn describe_matmul(&self) -> String {
        let others: Vec<String> = self
            .matmul_shapes
            .iter()
            .filter(|(_, &strategy)| strategy != self.matmul)
            .map(|(shape, strategy)| format!("{strategy:?} for {shape}"))
            .collect();
        if others.is_empty() {
            format!("{:?}", self.matmul)
        } else {
            format!("{:?}; {}", self.matmul, others.join(", "))
        }
    }

    /// The matmul kernels of a product of this shape key.
    pub fn matmul_for(&self, shape_key: &str) -> MatmulStrategy {
        self.matmul_shapes
            .get(shape_key)
            .copied()
            .unwrap_or(self.matmul)
    }
}

fn one_lane() -> u32 {
    1
}

fn row_lanes_before() -> u32 {
    ROW_LANES_GPU
}

/// Invocations per row of a row reduction: one SIMD vector on CPU adapters (at least this; the
/// subgroup size where it is larger), more on GPUs.
pub const ROW_LANES_CPU: u32 = 8;
pub const ROW_LANES_GPU: u32 = 64;

/// Invocations per column of a column reduction on GPUs.
pub const REDUCTION_LANES_GPU: u32 = 8;

impl Default for Tuning {
    /// The kernels every adapter runs, unfolded up to the WebGPU limit.
    fn default() -> Self {
        Self {
            matmul: MatmulStrategy::Vec4,
            matmul_shapes: Default::default(),
            subgroup_lanes: SUBGROUP_LANES_GPU,
            fold_limit: 65_535,
            reduction_lanes: REDUCTION_LANES_GPU,
            row_lanes: ROW_LANES_GPU,
        }
    }
}

/// Subgroup matmul workgroup width on CPU adapters (one SIMD vector of lavapipe) and on GPUs.
pub const SUBGROUP_LANES_CPU: u32 = 8;
pub const SUBGROUP_LANES_GPU: u32 = 32;

/// One launch of an op: the entry point, its shape uniform and its workgroup counts.
#[derive(Clone, Debug)]
pub struct Launch {
    pub entry: &'static EntryPoint,
    pub uniform: Vec<u32>,
    pub workgroups: [u32; 3],
    /// Pipeline-override values, by WGSL name.
    pub overrides: Vec<(&'static str, u32)>,
}

/// Invocations per workgroup of the element-wise kernels (`shaders/elementwise.wgsl`).
pub const ELEMENTWISE_WORKGROUP: u32 = 256;

/// Workgroups to cover `count` items at `per_group` each (at least one).
pub fn groups(count: usize, per_group: u32) -> u32 {
    count.div_ceil(per_group as usize).max(1) as u32
}

/// An element-wise dispatch over `count` elements, folded into (x, y) past the fold limit; the
/// shaders rebuild the index with `element_index` (shaders/elementwise.wgsl).
pub fn elementwise_groups(count: usize, tuning: &Tuning) -> [u32; 3] {
    let total = groups(count, ELEMENTWISE_WORKGROUP);
    let limit = tuning.fold_limit.max(1);
    if total <= limit {
        [total, 1, 1]
    } else {
        [limit, total.div_ceil(limit), 1]
    }
}

/// An op's offset as a u32 uniform field.
pub fn offset(view: &View) -> u32 {
    view.offset as u32
}

/// Host memory of the CPU backend: every buffer as u32 words (f32 buffers read through a cast, as
/// on the GPU). The kernels' references read and write it.
#[derive(Default)]
pub struct HostMemory {
    buffers: Vec<Vec<u32>>,
}

impl HostMemory {
    pub fn create(&mut self, len: usize) -> BufferId {
        self.buffers.push(vec![0; len]);
        BufferId(self.buffers.len() - 1)
    }

    pub fn buffer_len(&self, buffer: BufferId) -> usize {
        self.buffers[buffer.0].len()
    }

    pub fn lens(&self) -> Vec<usize> {
        self.buffers.iter().map(Vec::len).collect()
    }

    pub fn words(&self, view: View) -> &[u32] {
        &self.buffers[view.buffer.0][view.range()]
    }

    pub fn floats(&self, view: View) -> &[f32] {
        bytemuck::cast_slice(self.words(view))
    }

    /// Writes `data` at the start of `view` (at most its length).
    pub fn write_words(&mut self, view: View, data: &[u32]) {
        assert!(data.len() <= view.len, "write past a view");
        let start = view.offset;
        self.buffers[view.buffer.0][start..start + data.len()].copy_from_slice(data);
    }

    pub fn write_floats(&mut self, view: View, data: &[f32]) {
        self.write_words(view, bytemuck::cast_slice(data));
    }
}

/// What every kernel says about itself (its static declaration, `SPEC`, is reached through
/// `Op::spec`). Object-safe, so that `Op::kernel` hands out any of them.
pub trait Kernel {
    /// The kernel and its shape in a few words, for reports.
    fn describe(&self) -> String;
    /// The views it uses, in binding order (the same order as every entry point's `bindings`).
    fn operands(&self) -> Vec<Operand>;
    /// The entry point, shape uniform and workgroups of this op under `tuning`.
    fn launch(&self, tuning: &Tuning) -> Launch;
    /// Runs the op on host memory: the CPU reference, f32 storage and f64 arithmetic.
    fn reference(&self, memory: &mut HostMemory, frame: &Frame);
    /// What `check_op` cannot see in the operands (a view written through another operand's
    /// binding, say), given every buffer's length; the reason it cannot run, if any.
    fn check(&self, _buffer_lens: &[usize]) -> Result<(), String> {
        Ok(())
    }
}

/// Declares the kernel modules and builds `Op` (one variant per kernel, named as its struct) and
/// `ALL_KERNELS` (for the reflection and validation tests) from one list.
macro_rules! kernels {
    ($($module:ident :: $kernel:ident),* $(,)?) => {
        $(
            pub mod $module;
            pub use $module::$kernel;
            impl From<$kernel> for Op {
                fn from(op: $kernel) -> Op {
                    Op::$kernel(op)
                }
            }
        )*

        /// One kernel launch over buffer views: what a model's op lists are made of.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Op {
            $($kernel($kernel),)*
        }

        impl Op {
            pub fn kernel(&self) -> &dyn Kernel {
                match self {
                    $(Op::$kernel(op) => op,)*
                }
            }

            /// The kernel's declaration: its name and entry points.
            pub fn spec(&self) -> &'static KernelSpec {
                match self {
                    $(Op::$kernel(_) => &$module::SPEC,)*
                }
            }
        }

        /// Every kernel's declaration.
        pub static ALL_KERNELS: &[&KernelSpec] = &[$(&$module::SPEC,)*];
    };
}

kernels! {
    gather::Gather,
    matmul::MatMul,
    bias_act::BiasAct,
    bias_act_backward::BiasActBackward,
    column_sum::ColumnSum,
    reparameterize::Reparameterize,
    reparameterize_backward::ReparameterizeBackward,
    kl_rows::KlRows,
    kl_columns::KlColumns,
    kl_backward::KlBackward,
    reparameterize_kl::ReparameterizeKl,
    kl_reparameterize_backward::KlReparameterizeBackward,
    bce_rows::BceRows,
    gaussian_rows::GaussianRows,
    sum_into::SumInto,
    loss_sums::LossSums,
    square_sums::SquareSums,
    column_moments::ColumnMoments,
    dropout::Dropout,
    log_weights::LogWeights,
    logsumexp_groups::LogsumexpGroups,
    group_sums::GroupSums,
    softmax_xent::SoftmaxXent,
    adam::Adam,
    normal::Normal,
    philox_blocks::PhiloxBlocks,
}

impl Op {
    /// The kernel's name (its file names: `shaders/<name>.wgsl`, `src/kernels/<name>.rs`).
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    pub fn describe(&self) -> String {
        self.kernel().describe()
    }
}
