//! `logsumexp_groups`: merges each group of `size` values into its running log-sum-exp, kept as
//! `(m, s)` pairs (`log Σ exp = m + log s`): `m' = max(m, max v)`, `s' = s·exp(m − m') +
//! Σ exp(v − m')`. Starting from `(−3e38, 0)`, chunks of draws add up without overflow: the
//! importance-weighted bound for any k in bounded memory.

use super::wgsl::{shader_module, ShaderModule};
use super::*;

/// The running maximum before any value: finite, so that exp(m − m') stays well defined.
pub const EMPTY_MAX: f32 = -3.0e38;

static MODULE: ShaderModule = shader_module!("logsumexp_groups.wgsl", []);
static LOGSUMEXP_GROUPS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "logsumexp_groups",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &["groups", "size", "values_offset", "acc_offset"],
    bindings: &[
        Binding::read("values", Element::F32),
        Binding::write("acc", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "logsumexp_groups",
    entry_points: &[&LOGSUMEXP_GROUPS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogsumexpGroups {
    /// groups × size values.
    pub values: View,
    /// 2 × groups: (m, s) per group, read and written.
    pub acc: View,
    pub groups: usize,
    pub size: usize,
}

impl Kernel for LogsumexpGroups {
    fn describe(&self) -> String {
        format!("logsumexp_groups {}x{}", self.groups, self.size)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("values", self.values, self.groups * self.size),
            Operand::new("acc", self.acc, 2 * self.groups),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &LOGSUMEXP_GROUPS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("groups", self.groups as u32),
                ("size", self.size as u32),
                ("values_offset", offset(&self.values)),
                ("acc_offset", offset(&self.acc)),
            ]),
            workgroups: [groups(self.groups, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let values = memory.floats(self.values);
        let acc = memory.floats(self.acc);
        let mut out = Vec::with_capacity(2 * self.groups);
        for (g, group) in values[..self.groups * self.size]
            .chunks(self.size.max(1))
            .enumerate()
        {
            let (m, s) = (f64::from(acc[2 * g]), f64::from(acc[2 * g + 1]));
            let max = group.iter().map(|&v| f64::from(v)).fold(m, f64::max);
            let sum = s * (m - max).exp()
                + group.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>();
            out.extend([max as f32, sum as f32]);
        }
        memory.write_floats(self.acc, &out);
    }
}
