//! `normal`: `out[i] = scale · n`, n ~ N(0, 1) from Philox at (i, frame.step, stream): the z of
//! sampling, `scale` its temperature.

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, FRAME, PHILOX};
use super::*;
use crate::rng;

static MODULE: ShaderModule = shader_module!("normal.wgsl", [FRAME, ELEMENTWISE, PHILOX]);
static NORMAL: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "normal",
    &["count", "stream", "out_offset", "scale_bits"],
    &[Binding::write("out", Element::F32)],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "normal",
    entry_points: &[&NORMAL],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normal {
    pub out: View,
    pub stream: u32,
    /// The standard deviation (1: the prior).
    pub scale: f32,
}

impl Kernel for Normal {
    fn describe(&self) -> String {
        format!("normal {}", self.out.len)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![Operand::new("out", self.out, self.out.len)]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &NORMAL;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.out.len as u32),
                ("stream", self.stream),
                ("out_offset", offset(&self.out)),
                ("scale_bits", self.scale.to_bits()),
            ]),
            workgroups: elementwise_groups(self.out.len, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let out: Vec<f32> = (0..self.out.len as u32)
            .map(|i| self.scale * rng::normal(frame.key(), i, frame.step, self.stream))
            .collect();
        memory.write_floats(self.out, &out);
    }
}
