//! `matmul`: C = op(A)·op(B) (+ C), the three products of a dense layer (forward X·Wᵀ, input
//! gradient dY·W, weight gradient dYᵀ·X). Five families of entry points, chosen per device
//! (`MatmulStrategy`): scalar (any shape and transpose), workgroup-memory tiles of 64 and of 128
//! (any shape; for real GPUs), vec4 register blocks, and subgroup broadcasts; the last two where
//! the vectorized sizes and every offset are multiples of 4.

use super::activation::{activate, slope_from_output};
use super::wgsl::{
    shader_module, ShaderModule, ACTIVATION, CONTINUOUS_BERNOULLI, MATMUL_PARAMS, MATMUL_TILES_IO,
    MATMUL_VEC4_IO,
};
use super::*;

static SCALAR_MODULE: ShaderModule = shader_module!(
    "matmul_scalar.wgsl",
    [CONTINUOUS_BERNOULLI, ACTIVATION, MATMUL_PARAMS]
);
static VEC4_MODULE: ShaderModule = shader_module!(
    "matmul_vec4.wgsl",
    [CONTINUOUS_BERNOULLI, ACTIVATION, MATMUL_PARAMS, MATMUL_VEC4_IO]
);
static SUBGROUP_MODULE: ShaderModule = shader_module!(
    "matmul_subgroup.wgsl",
    [CONTINUOUS_BERNOULLI, ACTIVATION, MATMUL_PARAMS, MATMUL_VEC4_IO]
);
static TILED_MODULE: ShaderModule = shader_module!(
    "matmul_tiled.wgsl",
    [CONTINUOUS_BERNOULLI, ACTIVATION, MATMUL_PARAMS, MATMUL_TILES_IO]
);
static TILED128_MODULE: ShaderModule = shader_module!(
    "matmul_tiled128.wgsl",
    [CONTINUOUS_BERNOULLI, ACTIVATION, MATMUL_PARAMS, MATMUL_TILES_IO]
);

const UNIFORM: &[&str] = &[
    "m",
    "n",
    "k",
    "a_offset",
    "b_offset",
    "c_offset",
    "bias_offset",
];
/// What a store does (accumulate, epilogue, activation) and how A and B are stored: pipeline
/// overrides, not uniform fields, as lavapipe runs both sides of every branch under a mask; each
/// pipeline holds only its own.
const MATMUL_OVERRIDES: &[&str] = &["ACCUMULATE", "EPILOGUE", "ACT", "TRANS_A", "TRANS_B"];
const SCALAR_BINDINGS: &[Binding] = &[
    Binding::read("a", Element::F32),
    Binding::read("b", Element::F32),
    Binding::write("c", Element::F32),
    Binding::read("bias", Element::F32),
];
const VEC4_BINDINGS: &[Binding] = &[
    Binding::read("a", Element::Vec4F32),
    Binding::read("b", Element::Vec4F32),
    Binding::write("c", Element::Vec4F32),
    Binding::read("bias", Element::Vec4F32),
];

/// Each invocation of the scalar kernel owns a BLOCK x BLOCK tile of C; 8 x 8 invocations.
const SCALAR_BLOCK: u32 = 4;
static SCALAR: EntryPoint = EntryPoint {
    module: &SCALAR_MODULE,
    name: "matmul_scalar",
    workgroup: Workgroup::Fixed([8, 8, 1]),
    uniform: UNIFORM,
    bindings: SCALAR_BINDINGS,
    constants: &[("BLOCK", SCALAR_BLOCK)],
    needs_subgroups: false,
    specializations: MATMUL_OVERRIDES,
};

/// A 16 x 16 workgroup owns a TILE x TILE tile of C (4 x 4 per invocation), stepping TILE_K
/// along k through workgroup memory; any shape, transpose and offset. (A 128 x 128 tile with
/// 8 x 8 per invocation in arrays ran 4.6x slower on an NVIDIA H200: keep accumulators in named
/// vec4s.)
const TILED_TILE: u32 = 64;
static TILED: EntryPoint = EntryPoint {
    module: &TILED_MODULE,
    name: "matmul_tiled",
    workgroup: Workgroup::Fixed([16, 16, 1]),
    uniform: UNIFORM,
    bindings: SCALAR_BINDINGS,
    constants: &[("TILE", TILED_TILE), ("TILE_K", 16), ("PER_THREAD", 4)],
    needs_subgroups: false,
    specializations: MATMUL_OVERRIDES,
};

/// A 16 x 16 workgroup owns a TILED128_TILE x TILED128_TILE tile of C (8 x 8 per invocation, in
/// named vec4s), stepping 8 along k through double-buffered workgroup memory; any shape,
/// transpose and offset. For products large enough to fill a GPU with such tiles.
const TILED128_TILE: u32 = 128;
/// vec4s per slice of op(A) or op(B) in workgroup memory: 8 steps along k of 33 vec4s (128
/// values and a vec4 of padding).
const TILED128_SLICE_VEC4S: u32 = 8 * 33;
/// The workgroup memory it declares (two slice buffers each of op(A) and op(B), 16 bytes a
/// vec4): adapters with less cannot run it.
pub const TILED128_WORKGROUP_BYTES: u32 = 2 * 2 * TILED128_SLICE_VEC4S * 16;
static TILED128: EntryPoint = EntryPoint {
    module: &TILED128_MODULE,
    name: "matmul_tiled128",
    workgroup: Workgroup::Fixed([16, 16, 1]),
    uniform: UNIFORM,
    bindings: SCALAR_BINDINGS,
    constants: &[
        ("TILE", TILED128_TILE),
        ("TILE_K", 8),
        ("INVOCATIONS", 256),
        ("ROW_VEC4S", 33),
        ("SLICE_VEC4S", TILED128_SLICE_VEC4S),
    ],
    needs_subgroups: false,
    specializations: MATMUL_OVERRIDES,
};

const fn vec4(name: &'static str) -> EntryPoint {
    EntryPoint {
        module: &VEC4_MODULE,
        name,
        workgroup: Workgroup::Fixed([32, 1, 1]),
        uniform: UNIFORM,
        bindings: VEC4_BINDINGS,
        // ROWS rows of C per workgroup; its 32 invocations each own 4 columns.
        constants: &[("ROWS", 8), ("LANES", 32)],
        needs_subgroups: false,
        specializations: MATMUL_OVERRIDES,
    }
}
static VEC4_NN: EntryPoint = vec4("matmul_vec4_nn");
static VEC4_NT: EntryPoint = vec4("matmul_vec4_nt");
static VEC4_TN: EntryPoint = vec4("matmul_vec4_tn");

const fn subgroup(name: &'static str) -> EntryPoint {
    EntryPoint {
        module: &SUBGROUP_MODULE,
        name,
        workgroup: Workgroup::Override("LANES"),
        uniform: UNIFORM,
        bindings: VEC4_BINDINGS,
        // ROWS rows of C per workgroup, shared by its subgroups.
        constants: &[("ROWS", 32)],
        needs_subgroups: true,
        specializations: MATMUL_OVERRIDES,
    }
}
static SUBGROUP_NN: EntryPoint = subgroup("matmul_subgroup_nn");
static SUBGROUP_NT: EntryPoint = subgroup("matmul_subgroup_nt");
static SUBGROUP_TN: EntryPoint = subgroup("matmul_subgroup_tn");

pub static SPEC: KernelSpec = KernelSpec {
    name: "matmul",
    entry_points: &[
        &SCALAR,
        &VEC4_NN,
        &VEC4_NT,
        &VEC4_TN,
        &SUBGROUP_NN,
        &SUBGROUP_NT,
        &SUBGROUP_TN,
        &TILED,
        &TILED128,
    ],
};

/// What the product's store does besides storing, fused so that C is written once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Epilogue {
    /// A dense layer's forward: `c = act(op(a)·op(b) + bias)`, the bias a row of n values added
    /// to every row (the unfused pair: the product, then `bias_act`).
    BiasAct { bias: View, act: Activation },
    /// The backward through the activation of the layer below: `c = op(a)·op(b) · act'(y)`, the
    /// slope taken from that layer's output `y` (m×n, row-major like c) as `bias_act_backward`
    /// takes it (the unfused pair: the product, then `bias_act_backward`).
    Slope { y: View, act: Activation },
    /// A dense layer's weight gradient `c = dYᵀ·X` (`trans_a`) and its bias gradient with it:
    /// `sums[i] = Σ_p op(a)[i, p]` for each of the m rows of c, the sums of dY over the batch,
    /// added from the loads the product makes anyway, in the order of `column_sum`'s loop (the
    /// unfused pair: `column_sum` of a, then the product). `sums` is written through c's binding,
    /// so it lies in c's buffer (the flat gradient buffer), outside c's view.
    RowSums { sums: View },
}

impl Epilogue {
    /// The view the shader finds at `bias_offset`: the bias, the output the slope is taken from,
    /// or where the row sums go.
    pub fn view(&self) -> View {
        match *self {
            Epilogue::BiasAct { bias, .. } => bias,
            Epilogue::Slope { y, .. } => y,
            Epilogue::RowSums { sums } => sums,
        }
    }

    /// The view bound as the kernels' `bias` operand (none for the row sums, written through c).
    pub fn operand(&self) -> Option<View> {
        match *self {
            Epilogue::RowSums { .. } => None,
            _ => Some(self.view()),
        }
    }

    pub fn act(&self) -> Activation {
        match *self {
            Epilogue::BiasAct { act, .. } | Epilogue::Slope { act, .. } => act,
            Epilogue::RowSums { .. } => Activation::Identity,
        }
    }

    /// The shader's `EPILOGUE` override (EPILOGUE_BIAS_ACT, EPILOGUE_SLOPE, EPILOGUE_ROW_SUMS).
    fn code(&self) -> u32 {
        match self {
            Epilogue::BiasAct { .. } => 1,
            Epilogue::Slope { .. } => 2,
            Epilogue::RowSums { .. } => 3,
        }
    }
}

/// `c = op(a)·op(b) (+ c if accumulate)`; op(a) is m×k, op(b) is k×n, all row-major.
/// `trans_a`: `a` is stored k×m; `trans_b`: `b` is stored n×k. With an epilogue (never with
/// `accumulate`), what `Epilogue` says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatMul {
    pub a: View,
    pub b: View,
    pub c: View,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub epilogue: Option<Epilogue>,
}

impl MatMul {
    /// The product's shape as kernel choices are keyed: the transposes, then m×n×k, e.g.
    /// "NT 128x400x784" (the forward of a 784-400 layer at batch 128).
    pub fn shape_key(&self) -> String {
        let t = |trans: bool| if trans { "T" } else { "N" };
        format!(
            "{}{} {}x{}x{}",
            t(self.trans_a),
            t(self.trans_b),
            self.m,
            self.n,
            self.k
        )
    }

    /// The entry point that runs this product under a strategy.
    pub fn entry_point(&self, strategy: MatmulStrategy) -> &'static EntryPoint {
        let (nn, nt, tn) = match strategy {
            MatmulStrategy::Scalar => return &SCALAR,
            MatmulStrategy::Tiled => return &TILED,
            MatmulStrategy::Tiled128 => return &TILED128,
            MatmulStrategy::Vec4 => (&VEC4_NN, &VEC4_NT, &VEC4_TN),
            MatmulStrategy::Subgroup => (&SUBGROUP_NN, &SUBGROUP_NT, &SUBGROUP_TN),
        };
        let epilogue_view = self.epilogue.map(|e| e.view());
        let aligned = [Some(self.a), Some(self.b), Some(self.c), epilogue_view]
            .iter()
            .flatten()
            .all(|v| v.offset % 4 == 0);
        let n_aligned = aligned && self.n % 4 == 0;
        // Only the TN kernels of the vec4 families add row sums.
        let row_sums = matches!(self.epilogue, Some(Epilogue::RowSums { .. }));
        // NN and NT vectorize along k; TN along m.
        match (self.trans_a, self.trans_b) {
            (false, false) if n_aligned && self.k % 4 == 0 && !row_sums => nn,
            (false, true) if n_aligned && self.k % 4 == 0 && !row_sums => nt,
            (true, false) if n_aligned && self.m % 4 == 0 => tn,
            _ => &SCALAR,
        }
    }
}

impl Kernel for MatMul {
    fn describe(&self) -> String {
        let t = |trans: bool| if trans { "T" } else { "N" };
        let epilogue = match self.epilogue {
            Some(Epilogue::BiasAct { act, .. }) => format!(" + bias, {}", act.name()),
            Some(Epilogue::Slope { act, .. }) => format!(" · {}'", act.name()),
            Some(Epilogue::RowSums { .. }) => " + row sums".to_string(),
            None => String::new(),
        };
        format!(
            "matmul {}{} m={} n={} k={}{epilogue}",
            t(self.trans_a),
            t(self.trans_b),
            self.m,
            self.n,
            self.k
        )
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("a", self.a, self.m * self.k),
            Operand::new("b", self.b, self.k * self.n),
            Operand::new("c", self.c, self.m * self.n),
            Operand::optional(
                "bias",
                self.epilogue.and_then(|e| e.operand()),
                match self.epilogue {
                    Some(Epilogue::Slope { .. }) => self.m * self.n,
                    _ => self.n,
                },
            ),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = self.entry_point(tuning.matmul_for(&self.shape_key()));
        let (n, m) = (self.n, self.m);
        // Offsets count elements of the bindings' type: floats, or vec4s.
        let (unit, workgroups, mut overrides) = match entry.workgroup {
            _ if std::ptr::eq(entry, &SCALAR) => {
                let block = SCALAR_BLOCK * 8;
                (1, [groups(n, block), groups(m, block), 1], vec![])
            }
            _ if std::ptr::eq(entry, &TILED) => (
                1,
                [groups(n, TILED_TILE), groups(m, TILED_TILE), 1],
                vec![],
            ),
            _ if std::ptr::eq(entry, &TILED128) => (
                1,
                [groups(n, TILED128_TILE), groups(m, TILED128_TILE), 1],
                vec![],
            ),
            Workgroup::Fixed([lanes, _, _]) => {
                let rows = groups(m, entry.constant("ROWS"));
                (4, [groups(n / 4, lanes), rows, 1], vec![])
            }
            Workgroup::Override(lanes) => {
                let rows = groups(m, entry.constant("ROWS"));
                let cols = groups(n / 4, tuning.subgroup_lanes);
                (4, [cols, rows, 1], vec![(lanes, tuning.subgroup_lanes)])
            }
        };
        overrides.extend([
            ("TRANS_A", self.trans_a as u32),
            ("TRANS_B", self.trans_b as u32),
            ("ACCUMULATE", self.accumulate as u32),
            ("EPILOGUE", self.epilogue.map_or(0, |e| e.code())),
            ("ACT", self.epilogue.map_or(0, |e| e.act().code())),
        ]);
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("m", m as u32),
                ("n", n as u32),
                ("k", self.k as u32),
                ("a_offset", offset(&self.a) / unit),
                ("b_offset", offset(&self.b) / unit),
                ("c_offset", offset(&self.c) / unit),
                (
                    "bias_offset",
                    self.epilogue.map_or(0, |e| offset(&e.view()) / unit),
                ),
            ]),
            workgroups,
            overrides,
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let &MatMul { m, n, k, .. } = self;
        let (a, b) = (memory.floats(self.a), memory.floats(self.b));
        let a_at = |i: usize, p: usize| {
            f64::from(if self.trans_a { a[p * m + i] } else { a[i * k + p] })
        };
        let b_at = |p: usize, j: usize| {
            f64::from(if self.trans_b { b[j * k + p] } else { b[p * n + j] })
        };
        let operand = self.epilogue.and_then(|e| {
            let len = match e {
                Epilogue::Slope { .. } => m * n,
                _ => n,
            };
            e.operand().map(|view| memory.floats(view)[..len].to_vec())
        });
        // The unfused pair's first op: column_sum's reference over a as stored (k×m).
        let row_sums = match self.epilogue {
            Some(Epilogue::RowSums { sums }) => {
                let values: Vec<f32> = (0..m)
                    .map(|i| (0..k).map(|p| a_at(i, p)).sum::<f64>() as f32)
                    .collect();
                Some((sums, values))
            }
            _ => None,
        };
        let old = memory.floats(self.c);
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let base = if self.accumulate {
                    f64::from(old[i * n + j])
                } else {
                    0.0
                };
                let sum: f64 = (0..k).map(|p| a_at(i, p) * b_at(p, j)).sum();
                // With an epilogue: the product rounded to f32 as the unfused matmul stored it, then
                // bias_act's or bias_act_backward's reference: the fused op's reference is the
                // unfused pair's, bit for bit.
                let stored = f64::from(sum as f32);
                c[i * n + j] = match (self.epilogue, &operand) {
                    (Some(Epilogue::BiasAct { act, .. }), Some(bias)) => {
                        activate(stored + f64::from(bias[j]), act) as f32
                    }
                    (Some(Epilogue::Slope { act, .. }), Some(y)) => {
                        (stored * slope_from_output(f64::from(y[i * n + j]), act)) as f32
                    }
                    _ => (base + sum) as f32,
                };
            }
        }
        memory.write_floats(self.c, &c);
        if let Some((sums, values)) = row_sums {
            memory.write_floats(sums, &values);
        }
    }

    fn check(&self, buffer_lens: &[usize]) -> Result<(), String> {
        let Some(Epilogue::RowSums { sums }) = self.epilogue else {
            return Ok(());
        };
        if self.accumulate {
            return Err("row sums with accumulate".to_string());
        }
        if sums.buffer != self.c.buffer {
            return Err("the row sums are written through c: they must lie in c's buffer".into());
        }
        if sums.len < self.m {
            return Err(format!("row sums view holds {}, needs {}", sums.len, self.m));
        }
        let len = buffer_lens.get(sums.buffer.0).copied().unwrap_or(0);
        if sums.offset + self.m > len {
            return Err(format!(
                "row sums {}..{} lie outside their buffer of {len}",
                sums.offset,
                sums.offset + self.m
            ));
        }
        let c_range = self.c.offset..self.c.offset + self.m * self.n;
        let sums_range = sums.offset..sums.offset + self.m;
        if sums_range.start < c_range.end && c_range.start < sums_range.end {
            return Err("row sums overlap c".to_string());
        }
        Ok(())
    }
}
