//! `sum_into`: `dst[0] = Σ src (+ dst[0] if accumulate)`, a tree reduction to one number in one
//! workgroup (the loss sums that stay on the device until a report reads them).

use super::wgsl::{shader_module, ShaderModule, WORKGROUP_TOTAL};
use super::*;

static MODULE: ShaderModule = shader_module!("sum_into.wgsl", [WORKGROUP_TOTAL]);
static SUM_INTO: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "sum_into",
    workgroup: Workgroup::Fixed([256, 1, 1]),
    uniform: &["count", "src_offset", "dst_offset", "accumulate"],
    bindings: &[
        Binding::read("src", Element::F32),
        Binding::write("dst", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "sum_into",
    entry_points: &[&SUM_INTO],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SumInto {
    pub src: View,
    /// One element.
    pub dst: View,
    pub accumulate: bool,
}

impl Kernel for SumInto {
    fn describe(&self) -> String {
        format!("sum_into {}", self.src.len)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("src", self.src, self.src.len),
            Operand::new("dst", self.dst, 1),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &SUM_INTO;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.src.len as u32),
                ("src_offset", offset(&self.src)),
                ("dst_offset", offset(&self.dst)),
                ("accumulate", self.accumulate as u32),
            ]),
            workgroups: [1, 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let total: f64 = memory.floats(self.src).iter().map(|&v| f64::from(v)).sum();
        let base = if self.accumulate {
            f64::from(memory.floats(self.dst)[0])
        } else {
            0.0
        };
        memory.write_floats(self.dst, &[(base + total) as f32]);
    }
}
