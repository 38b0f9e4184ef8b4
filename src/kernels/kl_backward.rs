//! `kl_backward`: writes (not adds) the KL gradient scaled by `s = frame.kl_weight ·
//! frame.grad_scale`: `grad_mu = s·mu`, `grad_logvar = s·(exp(logvar) − 1)/2`. With free bits
//! (`column_kl` given, from `kl_columns`), `s = 0` in every dimension whose KL over the batch is
//! below `frame.free_bits · rows` (Kingma et al. 2016: the objective max(λ, KL_j) is flat there).

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, FRAME, KL};
use super::*;

static MODULE: ShaderModule = shader_module!("kl_backward.wgsl", [FRAME, ELEMENTWISE, KL]);
static KL_BACKWARD: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "kl_backward",
    &[
        "rows",
        "latent",
        "stats_offset",
        "grad_offset",
        "free_bits",
        "column_kl_offset",
    ],
    &[
        Binding::read("stats", Element::F32),
        Binding::read("column_kl", Element::F32),
        Binding::write("grad_stats", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "kl_backward",
    entry_points: &[&KL_BACKWARD],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlBackward {
    pub stats: View,
    /// The batch's KL per dimension (`kl_columns`), for free bits; `None`: no free bits.
    pub column_kl: Option<View>,
    pub grad_stats: View,
    pub rows: usize,
    pub latent: usize,
}

impl Kernel for KlBackward {
    fn describe(&self) -> String {
        format!("kl_backward {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        let len = self.rows * 2 * self.latent;
        vec![
            Operand::new("stats", self.stats, len),
            Operand::optional("column_kl", self.column_kl, self.latent),
            Operand::new("grad_stats", self.grad_stats, len),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &KL_BACKWARD;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("stats_offset", offset(&self.stats)),
                ("grad_offset", offset(&self.grad_stats)),
                ("free_bits", self.column_kl.is_some() as u32),
                ("column_kl_offset", self.column_kl.as_ref().map(offset).unwrap_or(0)),
            ]),
            workgroups: elementwise_groups(self.rows * self.latent, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let scale = f64::from(frame.kl_weight * frame.grad_scale);
        let stats = memory.floats(self.stats);
        let latent = self.latent;
        // The same f32 comparison as the shader: floor = free_bits · rows in f32.
        let floor = frame.free_bits * self.rows as f32;
        let freed: Vec<bool> = match self.column_kl {
            Some(view) => memory.floats(view).iter().map(|&kl| kl < floor).collect(),
            None => vec![false; latent],
        };
        let grad: Vec<f32> = stats[..self.rows * 2 * latent]
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let v = f64::from(v);
                let scale = if freed[i % latent] { 0.0 } else { scale };
                let value = if i % (2 * latent) < latent {
                    scale * v
                } else {
                    scale * 0.5 * v.exp_m1()
                };
                value as f32
            })
            .collect();
        memory.write_floats(self.grad_stats, &grad);
    }
}
