//! `group_sums`: `out[g] (+)= Σ_i values[g·size + i]`, the per-image sums over several draws (the
//! reconstruction term of a many-draw ELBO).

use super::wgsl::{shader_module, ShaderModule};
use super::*;

static MODULE: ShaderModule = shader_module!("group_sums.wgsl", []);
static GROUP_SUMS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "group_sums",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &["groups", "size", "accumulate", "values_offset", "out_offset"],
    bindings: &[
        Binding::read("values", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "group_sums",
    entry_points: &[&GROUP_SUMS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupSums {
    pub values: View,
    pub out: View,
    pub groups: usize,
    pub size: usize,
    pub accumulate: bool,
}

impl Kernel for GroupSums {
    fn describe(&self) -> String {
        format!("group_sums {}x{}", self.groups, self.size)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("values", self.values, self.groups * self.size),
            Operand::new("out", self.out, self.groups),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &GROUP_SUMS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("groups", self.groups as u32),
                ("size", self.size as u32),
                ("accumulate", self.accumulate as u32),
                ("values_offset", offset(&self.values)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [groups(self.groups, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let values = memory.floats(self.values);
        let old = memory.floats(self.out);
        let out: Vec<f32> = (0..self.groups)
            .map(|g| {
                let sum: f64 = values[g * self.size..(g + 1) * self.size]
                    .iter()
                    .map(|&v| f64::from(v))
                    .sum();
                let base = if self.accumulate { f64::from(old[g]) } else { 0.0 };
                (base + sum) as f32
            })
            .collect();
        memory.write_floats(self.out, &out);
    }
}
