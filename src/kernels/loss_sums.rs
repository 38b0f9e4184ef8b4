//! `loss_sums`: a batch's loss sums in one dispatch, four `sum_into` fused: Σ of the per-row
//! reconstruction losses and Σ of the per-row KLs, each set into its step slot (if any) and added
//! to its running slot of the metrics. The sums and their order are `sum_into`'s, so the metrics
//! keep their bits; the reference is the unfused `sum_into` references in turn.

use super::sum_into::SumInto;
use super::wgsl::{shader_module, ShaderModule, WORKGROUP_TOTAL};
use super::*;

static MODULE: ShaderModule = shader_module!("loss_sums.wgsl", [WORKGROUP_TOTAL]);
static LOSS_SUMS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "loss_sums",
    workgroup: Workgroup::Fixed([256, 1, 1]),
    uniform: &[
        "count",
        "bce_offset",
        "kl_offset",
        "metrics_offset",
        "step_bce",
        "step_kl",
        "running_bce",
        "running_kl",
    ],
    bindings: &[
        Binding::read("bce", Element::F32),
        Binding::read("kl", Element::F32),
        Binding::write("metrics", Element::F32),
    ],
    constants: &[("NO_SLOT", 0xffff_ffff)],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "loss_sums",
    entry_points: &[&LOSS_SUMS],
};

const NO_SLOT: u32 = 0xffff_ffff;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossSums {
    /// Per-row reconstruction losses and KLs, `rows` each.
    pub bce: View,
    pub kl: View,
    pub rows: usize,
    pub metrics: View,
    /// Slots of `metrics` (reconstruction, KL) set to this batch's sums, if any.
    pub step: Option<(usize, usize)>,
    /// Slots of `metrics` (reconstruction, KL) the sums are added to.
    pub running: (usize, usize),
}

impl LossSums {
    /// The `sum_into` ops this one fuses, in order.
    pub fn unfused(&self) -> Vec<SumInto> {
        let slot = |s: usize| View {
            offset: self.metrics.offset + s,
            len: 1,
            ..self.metrics
        };
        let (bce, kl) = (
            View {
                len: self.rows,
                ..self.bce
            },
            View {
                len: self.rows,
                ..self.kl
            },
        );
        let mut ops = Vec::new();
        if let Some((step_bce, step_kl)) = self.step {
            ops.push(SumInto {
                src: bce,
                dst: slot(step_bce),
                accumulate: false,
            });
            ops.push(SumInto {
                src: kl,
                dst: slot(step_kl),
                accumulate: false,
            });
        }
        ops.push(SumInto {
            src: bce,
            dst: slot(self.running.0),
            accumulate: true,
        });
        ops.push(SumInto {
            src: kl,
            dst: slot(self.running.1),
            accumulate: true,
        });
        ops
    }
}

impl Kernel for LossSums {
    fn describe(&self) -> String {
        format!("loss_sums 2x{}", self.rows)
    }

    fn operands(&self) -> Vec<Operand> {
        let slots = [self.running.0, self.running.1]
            .into_iter()
            .chain(self.step.into_iter().flat_map(|(b, k)| [b, k]));
        vec![
            Operand::new("bce", self.bce, self.rows),
            Operand::new("kl", self.kl, self.rows),
            Operand::new("metrics", self.metrics, slots.max().unwrap_or(0) + 1),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &LOSS_SUMS;
        let (step_bce, step_kl) = self
            .step
            .map_or((NO_SLOT, NO_SLOT), |(b, k)| (b as u32, k as u32));
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.rows as u32),
                ("bce_offset", offset(&self.bce)),
                ("kl_offset", offset(&self.kl)),
                ("metrics_offset", offset(&self.metrics)),
                ("step_bce", step_bce),
                ("step_kl", step_kl),
                ("running_bce", self.running.0 as u32),
                ("running_kl", self.running.1 as u32),
            ]),
            workgroups: [2, 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        for op in self.unfused() {
            op.reference(memory, frame);
        }
    }
}
