//! `bias_act_backward`: in place, `grad[i] *= act'(·)`, the slope written in terms of the layer's
//! stored output `y = act(·)`.

use super::activation::{slope_from_output, Activation};
use super::wgsl::{shader_module, ShaderModule, ACTIVATION, CONTINUOUS_BERNOULLI, ELEMENTWISE};
use super::*;

static MODULE: ShaderModule = shader_module!("bias_act_backward.wgsl", [ELEMENTWISE, CONTINUOUS_BERNOULLI, ACTIVATION]);
static BIAS_ACT_BACKWARD: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "bias_act_backward",
    &["count", "act", "grad_offset", "y_offset"],
    &[
        Binding::read("y", Element::F32),
        Binding::write("grad", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "bias_act_backward",
    entry_points: &[&BIAS_ACT_BACKWARD],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BiasActBackward {
    pub grad: View,
    pub y: View,
    pub rows: usize,
    pub cols: usize,
    pub act: Activation,
}

impl Kernel for BiasActBackward {
    fn describe(&self) -> String {
        let (rows, cols) = (self.rows, self.cols);
        format!("bias_act_backward {rows}x{cols} {}", self.act.name())
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.cols;
        vec![
            Operand::new("y", self.y, count),
            Operand::new("grad", self.grad, count),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &BIAS_ACT_BACKWARD;
        let count = self.rows * self.cols;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", count as u32),
                ("act", self.act.code()),
                ("grad_offset", offset(&self.grad)),
                ("y_offset", offset(&self.y)),
            ]),
            workgroups: elementwise_groups(count, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let count = self.rows * self.cols;
        let y = memory.floats(self.y);
        let grad: Vec<f32> = memory.floats(self.grad)[..count]
            .iter()
            .zip(y)
            .map(|(&g, &out)| (f64::from(g) * slope_from_output(f64::from(out), self.act)) as f32)
            .collect();
        memory.write_floats(self.grad, &grad);
    }
}
