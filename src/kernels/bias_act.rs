//! `bias_act`: in place, `x[r, j] = act(x[r, j] + bias[j])`, the epilogue of a dense layer.

use super::activation::{activate, Activation};
use super::wgsl::{shader_module, ShaderModule, ACTIVATION, CONTINUOUS_BERNOULLI, ELEMENTWISE};
use super::*;

static MODULE: ShaderModule = shader_module!("bias_act.wgsl", [ELEMENTWISE, CONTINUOUS_BERNOULLI, ACTIVATION]);
static BIAS_ACT: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "bias_act",
    &["rows", "cols", "act", "x_offset", "bias_offset"],
    &[
        Binding::read("bias", Element::F32),
        Binding::write("x", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "bias_act",
    entry_points: &[&BIAS_ACT],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BiasAct {
    pub x: View,
    pub bias: View,
    pub rows: usize,
    pub cols: usize,
    pub act: Activation,
}

impl Kernel for BiasAct {
    fn describe(&self) -> String {
        format!("bias_act {}x{} {}", self.rows, self.cols, self.act.name())
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("bias", self.bias, self.cols),
            Operand::new("x", self.x, self.rows * self.cols),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &BIAS_ACT;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("cols", self.cols as u32),
                ("act", self.act.code()),
                ("x_offset", offset(&self.x)),
                ("bias_offset", offset(&self.bias)),
            ]),
            workgroups: elementwise_groups(self.rows * self.cols, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let bias = memory.floats(self.bias);
        let x: Vec<f32> = memory.floats(self.x)[..self.rows * self.cols]
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let pre = f64::from(v) + f64::from(bias[i % self.cols]);
                activate(pre, self.act) as f32
            })
            .collect();
        memory.write_floats(self.x, &x);
    }
}
