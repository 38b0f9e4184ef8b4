//! `kl_reparameterize_backward`: `kl_backward` and `reparameterize_backward` fused. Writes the
//! gradient of [mu | logvar]: the KL's, scaled by `s = frame.kl_weight · frame.grad_scale` (0 in a
//! dimension below its free bits, when `column_kl` is given), plus the one through
//! `z = mu + exp(logvar/2)·eps`: `grad_mu = s·mu + grad_z`,
//! `grad_logvar = s·(exp(logvar) − 1)/2 + grad_z·eps·exp(logvar/2)/2`. Its reference is the two
//! unfused references in turn.

use super::kl_backward::KlBackward;
use super::reparameterize_backward::ReparameterizeBackward;
use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, FRAME, KL};
use super::*;

static MODULE: ShaderModule =
    shader_module!("kl_reparameterize_backward.wgsl", [FRAME, ELEMENTWISE, KL]);
static KL_REPARAMETERIZE_BACKWARD: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "kl_reparameterize_backward",
    &[
        "rows",
        "latent",
        "stats_offset",
        "grad_z_offset",
        "eps_offset",
        "grad_offset",
        "free_bits",
        "column_kl_offset",
    ],
    &[
        Binding::read("stats", Element::F32),
        Binding::read("grad_z", Element::F32),
        Binding::read("eps", Element::F32),
        Binding::read("column_kl", Element::F32),
        Binding::write("grad_stats", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "kl_reparameterize_backward",
    entry_points: &[&KL_REPARAMETERIZE_BACKWARD],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlReparameterizeBackward {
    pub stats: View,
    pub grad_z: View,
    pub eps: View,
    /// The batch's KL per dimension (`kl_columns`), for free bits; `None`: no free bits.
    pub column_kl: Option<View>,
    pub grad_stats: View,
    pub rows: usize,
    pub latent: usize,
}

impl KlReparameterizeBackward {
    /// The two kernels this one fuses.
    pub fn unfused(&self) -> (KlBackward, ReparameterizeBackward) {
        (
            KlBackward {
                stats: self.stats,
                column_kl: self.column_kl,
                grad_stats: self.grad_stats,
                rows: self.rows,
                latent: self.latent,
            },
            ReparameterizeBackward {
                grad_z: self.grad_z,
                stats: self.stats,
                eps: self.eps,
                grad_stats: self.grad_stats,
                rows: self.rows,
                latent: self.latent,
            },
        )
    }
}

impl Kernel for KlReparameterizeBackward {
    fn describe(&self) -> String {
        format!("kl_reparameterize_backward {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.latent;
        vec![
            Operand::new("stats", self.stats, 2 * count),
            Operand::new("grad_z", self.grad_z, count),
            Operand::new("eps", self.eps, count),
            Operand::optional("column_kl", self.column_kl, self.latent),
            Operand::new("grad_stats", self.grad_stats, 2 * count),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &KL_REPARAMETERIZE_BACKWARD;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("stats_offset", offset(&self.stats)),
                ("grad_z_offset", offset(&self.grad_z)),
                ("eps_offset", offset(&self.eps)),
                ("grad_offset", offset(&self.grad_stats)),
                ("free_bits", self.column_kl.is_some() as u32),
                ("column_kl_offset", self.column_kl.as_ref().map(offset).unwrap_or(0)),
            ]),
            workgroups: elementwise_groups(self.rows * self.latent, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let (kl_backward, reparameterize_backward) = self.unfused();
        kl_backward.reference(memory, frame);
        reparameterize_backward.reference(memory, frame);
    }
}
