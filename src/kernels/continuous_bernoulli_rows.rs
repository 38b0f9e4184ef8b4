//! `continuous_bernoulli_rows`: the continuous Bernoulli negative log-likelihood from logits η,
//! summed per row, `Σ_j bce(η, x) − log C(η)`, and, when asked, its gradient
//! `grad_scale·(sigmoid(η) − x − d log C/dη)`. The normalizer is what makes the density integrate
//! to 1 on [0, 1] (BCE on gray levels does not).

use super::activation::sigmoid;
use super::continuous_bernoulli::{log_normalizer, log_normalizer_slope};
use super::wgsl::{shader_module, ShaderModule, BERNOULLI, CONTINUOUS_BERNOULLI, FRAME, ROW_SUM};
use super::*;

static MODULE: ShaderModule = shader_module!(
    "continuous_bernoulli_rows.wgsl",
    [FRAME, ROW_SUM, BERNOULLI, CONTINUOUS_BERNOULLI]
);
static ROWS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "continuous_bernoulli_rows",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &[
        "rows",
        "cols",
        "write_grad",
        "logits_offset",
        "targets_offset",
        "grad_offset",
        "out_offset",
    ],
    bindings: &[
        Binding::read("logits", Element::F32),
        Binding::read("targets", Element::F32),
        Binding::write("grad", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[("ROW_WORKGROUP", 64)],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "continuous_bernoulli_rows",
    entry_points: &[&ROWS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContinuousBernoulliRows {
    pub logits: View,
    pub targets: View,
    pub grad: Option<View>,
    pub out: View,
    pub rows: usize,
    pub cols: usize,
}

impl Kernel for ContinuousBernoulliRows {
    fn describe(&self) -> String {
        format!("continuous_bernoulli_rows {}x{}", self.rows, self.cols)
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

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &ROWS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("cols", self.cols as u32),
                ("write_grad", self.grad.is_some() as u32),
                ("logits_offset", offset(&self.logits)),
                ("targets_offset", offset(&self.targets)),
                ("grad_offset", self.grad.as_ref().map(offset).unwrap_or(0)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [self.rows as u32, 1, 1],
            overrides: Vec::new(),
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
                let bce = l.max(0.0) - x * l + (-l.abs()).exp().ln_1p();
                sum += bce - log_normalizer(l);
                grad.push((scale * (sigmoid(l) - x - log_normalizer_slope(l))) as f32);
            }
            out.push(sum as f32);
        }
        memory.write_floats(self.out, &out);
        if let Some(view) = self.grad {
            memory.write_floats(view, &grad);
        }
    }
}
