//! `gaussian_rows`: the Gaussian negative log-likelihood of each row, constant included,
//! `½ Σ_j ((x − μ)²/σ² + log σ² + log 2π)`, with `log σ²` per pixel (a learned parameter vector)
//! or fixed, floored at `LOGVAR_FLOOR` (σ ≥ 1e-3) so the density stays bounded; and, when asked,
//! `dμ = grad_scale·(μ − x)/σ²` and, learned, the per-element `d log σ² = grad_scale·½(1 −
//! (x − μ)²/σ²)` (0 below the floor), which a `column_sum` adds up per pixel.

use super::wgsl::{shader_module, ShaderModule, FRAME, ROW_SUM};
use super::*;

/// log σ² below which σ² stops shrinking: σ ≥ 1e-3.
pub const LOGVAR_FLOOR: f32 = -13.815511;
const LOG_2PI: f64 = 1.837_877_066_409_345_3;

static MODULE: ShaderModule = shader_module!("gaussian_rows.wgsl", [FRAME, ROW_SUM]);
static GAUSSIAN_ROWS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "gaussian_rows",
    workgroup: Workgroup::Override("ROW_LANES"),
    uniform: &[
        "rows",
        "cols",
        "write_grad",
        "learned",
        "fixed_logvar_bits",
        "mean_offset",
        "targets_offset",
        "logvar_offset",
        "grad_offset",
        "grad_logvar_offset",
        "out_offset",
    ],
    bindings: &[
        Binding::read("mean", Element::F32),
        Binding::read("targets", Element::F32),
        Binding::read("logvar", Element::F32),
        Binding::write("grad", Element::F32),
        Binding::write("grad_logvar", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[("ROW_WORKGROUP", 64)],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "gaussian_rows",
    entry_points: &[&GAUSSIAN_ROWS],
};

/// σ² of the Gaussian likelihood: one fixed value, or learned per pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variance {
    /// log σ² of every pixel.
    Fixed(f32),
    /// log σ² per pixel, a parameter view of `cols` elements.
    Learned(View),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianRows {
    pub mean: View,
    pub targets: View,
    pub variance: Variance,
    /// dLoss/dμ, when given.
    pub grad: Option<View>,
    /// Per element dLoss/d log σ² (rows × cols), with a learned variance and `grad`.
    pub grad_logvar: Option<View>,
    pub out: View,
    pub rows: usize,
    pub cols: usize,
}

impl Kernel for GaussianRows {
    fn describe(&self) -> String {
        format!("gaussian_rows {}x{}", self.rows, self.cols)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.cols;
        let logvar = match self.variance {
            Variance::Learned(view) => Some(view),
            Variance::Fixed(_) => None,
        };
        vec![
            Operand::new("mean", self.mean, count),
            Operand::new("targets", self.targets, count),
            Operand::optional("logvar", logvar, self.cols),
            Operand::optional("grad", self.grad, count),
            Operand::optional("grad_logvar", self.grad_logvar, count),
            Operand::new("out", self.out, self.rows),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &GAUSSIAN_ROWS;
        let (learned, fixed, logvar_offset) = match self.variance {
            Variance::Fixed(lv) => (0, lv, 0),
            Variance::Learned(view) => (1, 0.0, offset(&view)),
        };
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("cols", self.cols as u32),
                ("write_grad", self.grad.is_some() as u32),
                ("learned", learned),
                ("fixed_logvar_bits", fixed.to_bits()),
                ("mean_offset", offset(&self.mean)),
                ("targets_offset", offset(&self.targets)),
                ("logvar_offset", logvar_offset),
                ("grad_offset", self.grad.as_ref().map(offset).unwrap_or(0)),
                (
                    "grad_logvar_offset",
                    self.grad_logvar.as_ref().map(offset).unwrap_or(0),
                ),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [self.rows as u32, 1, 1],
            overrides: vec![("ROW_LANES", tuning.row_lanes)],
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let count = self.rows * self.cols;
        let mean = &memory.floats(self.mean)[..count];
        let targets = &memory.floats(self.targets)[..count];
        let logvar: Vec<f32> = match self.variance {
            Variance::Fixed(lv) => vec![lv; self.cols],
            Variance::Learned(view) => memory.floats(view)[..self.cols].to_vec(),
        };
        let scale = f64::from(frame.grad_scale);
        let floor = f64::from(LOGVAR_FLOOR);
        let mut out = Vec::with_capacity(self.rows);
        let mut grad = Vec::with_capacity(count);
        let mut grad_logvar = Vec::with_capacity(count);
        for r in 0..self.rows {
            let mut sum = 0.0f64;
            for (j, &raw) in logvar.iter().enumerate() {
                let i = r * self.cols + j;
                let (mu, x) = (f64::from(mean[i]), f64::from(targets[i]));
                let raw = f64::from(raw);
                let lv = raw.max(floor);
                let precision = (-lv).exp();
                let d = x - mu;
                sum += 0.5 * (d * d * precision + lv + LOG_2PI);
                grad.push((scale * (mu - x) * precision) as f32);
                let slope = if raw > floor { 1.0 } else { 0.0 };
                grad_logvar.push((scale * 0.5 * (1.0 - d * d * precision) * slope) as f32);
            }
            out.push(sum as f32);
        }
        memory.write_floats(self.out, &out);
        if let Some(view) = self.grad {
            memory.write_floats(view, &grad);
            if let (Some(view), Variance::Learned(_)) = (self.grad_logvar, self.variance) {
                memory.write_floats(view, &grad_logvar);
            }
        }
    }
}
