//! `dropout`: `out = x · mask / (1 − p)`, the mask drawn from Philox at (element, frame.step,
//! stream), decided in integers (`rng::keep`) so that the GPU and the CPU draw the same mask bit
//! for bit. The backward is the same op on the gradient: the same counters redraw the same mask.

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, FRAME, PHILOX};
use super::*;
use crate::rng;

static MODULE: ShaderModule = shader_module!("dropout.wgsl", [FRAME, ELEMENTWISE, PHILOX]);
static DROPOUT: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "dropout",
    &[
        "count",
        "stream",
        "threshold",
        "scale_bits",
        "x_offset",
        "out_offset",
    ],
    &[
        Binding::read("x", Element::F32),
        Binding::write("out", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "dropout",
    entry_points: &[&DROPOUT],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    pub x: View,
    pub out: View,
    /// Drop probability, in [0, 1).
    pub p: f32,
    /// Philox stream of the mask: one per layer.
    pub stream: u32,
}

impl Dropout {
    /// The kept elements' factor, 1/(1 − p), rounded to f32 once for both backends.
    pub fn scale(&self) -> f32 {
        (1.0 / (1.0 - f64::from(self.p))) as f32
    }
}

impl Kernel for Dropout {
    fn describe(&self) -> String {
        format!("dropout {} p={}", self.x.len, self.p)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("x", self.x, self.x.len),
            Operand::new("out", self.out, self.x.len),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &DROPOUT;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.x.len as u32),
                ("stream", self.stream),
                ("threshold", rng::drop_threshold(self.p)),
                ("scale_bits", self.scale().to_bits()),
                ("x_offset", offset(&self.x)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: elementwise_groups(self.x.len, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let threshold = rng::drop_threshold(self.p);
        let scale = self.scale();
        let out: Vec<f32> = memory
            .floats(self.x)
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let keep = rng::keep(frame.key(), i as u32, frame.step, self.stream, threshold);
                if keep {
                    v * scale
                } else {
                    0.0
                }
            })
            .collect();
        memory.write_floats(self.out, &out);
    }
}
