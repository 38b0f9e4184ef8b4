//! `bce_rows`: the Bernoulli negative log-likelihood from logits, summed per row,
//! `out[r] = Σ_j max(l,0) − x·l + log1p(exp(−|l|))`; and, when `grad` is given,
//! `grad = frame.grad_scale · (sigmoid(l) − x)`.
//! With `normalized`, the continuous Bernoulli's: `Σ_j bce(l, x) − log C(l)` and
//! `grad_scale·(sigmoid(l) − x − d log C/dl)`. The normalizer is what makes the density integrate
//! to 1 on [0, 1] (BCE on gray levels does not).
//! Rows of a multiple of 4 columns at offsets that are multiples of 4 run `bce_rows_vec4`, four
//! columns per load; others `bce_rows`.

use super::activation::sigmoid;
use super::continuous_bernoulli::{log_normalizer, log_normalizer_slope};
use super::wgsl::{
    shader_module, ShaderModule, BCE_ELEMENT, BERNOULLI, CONTINUOUS_BERNOULLI, FRAME, ROW_SUM,
};
use super::*;

static MODULE: ShaderModule = shader_module!(
    "bce_rows.wgsl",
    [FRAME, ROW_SUM, BERNOULLI, CONTINUOUS_BERNOULLI, BCE_ELEMENT]
);
static VEC4_MODULE: ShaderModule = shader_module!(
    "bce_rows_vec4.wgsl",
    [FRAME, ROW_SUM, BERNOULLI, CONTINUOUS_BERNOULLI, BCE_ELEMENT]
);
const UNIFORM: &[&str] = &[
    "rows",
    "cols",
    "write_grad",
    "logits_offset",
    "targets_offset",
    "grad_offset",
    "out_offset",
];
/// One workgroup per row: a strided pass over the columns, then a tree over the workgroup.
static BCE_ROWS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "bce_rows",
    workgroup: Workgroup::Override("ROW_LANES"),
    uniform: UNIFORM,
    bindings: &[
        Binding::read("logits", Element::F32),
        Binding::read("targets", Element::F32),
        Binding::write("grad", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[("ROW_WORKGROUP", 64)],
    needs_subgroups: false,
    specializations: &["NORMALIZED"],
};
/// The same, four columns per load: columns and offsets (but `out`'s) multiples of 4.
static BCE_ROWS_VEC4: EntryPoint = EntryPoint {
    module: &VEC4_MODULE,
    name: "bce_rows_vec4",
    bindings: &[
        Binding::read("logits", Element::Vec4F32),
        Binding::read("targets", Element::Vec4F32),
        Binding::write("grad", Element::Vec4F32),
        Binding::write("out", Element::F32),
    ],
    ..BCE_ROWS
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "bce_rows",
    entry_points: &[&BCE_ROWS, &BCE_ROWS_VEC4],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BceRows {
    pub logits: View,
    pub targets: View,
    pub grad: Option<View>,
    pub out: View,
    pub rows: usize,
    pub cols: usize,
    /// The continuous Bernoulli: subtract its log normalizer (and its slope from the gradient).
    pub normalized: bool,
}

impl Kernel for BceRows {
    fn describe(&self) -> String {
        let name = if self.normalized {
            "bce_rows (continuous Bernoulli)"
        } else {
            "bce_rows"
        };
        format!("{name} {}x{}", self.rows, self.cols)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.cols;
        vec![
            Operand::new("logits", self.logits, count),
            Operand::new("targets", self.targets, count),
            Operand::optional("grad", self.grad, count),
            Operand::new("out", self.out, self.rows),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let four_wide = self.cols % 4 == 0
            && [Some(self.logits), Some(self.targets), self.grad]
                .iter()
                .flatten()
                .all(|v| v.offset % 4 == 0);
        let (entry, unit) = if four_wide {
            (&BCE_ROWS_VEC4, 4)
        } else {
            (&BCE_ROWS, 1)
        };
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("cols", self.cols as u32),
                ("write_grad", self.grad.is_some() as u32),
                ("logits_offset", offset(&self.logits) / unit),
                ("targets_offset", offset(&self.targets) / unit),
                (
                    "grad_offset",
                    self.grad.as_ref().map(offset).unwrap_or(0) / unit,
                ),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [self.rows as u32, 1, 1],
            overrides: vec![
                ("NORMALIZED", self.normalized as u32),
                ("ROW_LANES", tuning.row_lanes),
            ],
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let count = self.rows * self.cols;
        let logits = &memory.floats(self.logits)[..count];
        let targets = &memory.floats(self.targets)[..count];
        let scale = f64::from(frame.grad_scale);
        let mut out = Vec::with_capacity(self.rows);
        let mut grad = Vec::with_capacity(count);
        for (row_logits, row_targets) in logits.chunks(self.cols).zip(targets.chunks(self.cols)) {
            let mut sum = 0.0f64;
            for (&l, &x) in row_logits.iter().zip(row_targets) {
                let (l, x) = (f64::from(l), f64::from(x));
                let (mut nll, mut slope) = (l.max(0.0) - x * l + (-l.abs()).exp().ln_1p(), sigmoid(l) - x);
                if self.normalized {
                    nll -= log_normalizer(l);
                    slope -= log_normalizer_slope(l);
                }
                sum += nll;
                grad.push((scale * slope) as f32);
            }
            out.push(sum as f32);
        }
        memory.write_floats(self.out, &out);
        if let Some(view) = self.grad {
            memory.write_floats(view, &grad);
        }
    }
}
