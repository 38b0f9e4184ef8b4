//! `reparameterize_backward`: adds the reparameterization's gradient to `grad_stats`:
//! `grad_mu += grad_z`, `grad_logvar += grad_z · eps · exp(logvar/2) / 2`.

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, KL};
use super::*;

static MODULE: ShaderModule = shader_module!("reparameterize_backward.wgsl", [ELEMENTWISE, KL]);
static REPARAMETERIZE_BACKWARD: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "reparameterize_backward",
    &[
        "rows",
        "latent",
        "grad_z_offset",
        "stats_offset",
        "eps_offset",
        "grad_stats_offset",
    ],
    &[
        Binding::read("grad_z", Element::F32),
        Binding::read("stats", Element::F32),
        Binding::read("eps", Element::F32),
        Binding::write("grad_stats", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "reparameterize_backward",
    entry_points: &[&REPARAMETERIZE_BACKWARD],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReparameterizeBackward {
    pub grad_z: View,
    pub stats: View,
    pub eps: View,
    pub grad_stats: View,
    pub rows: usize,
    pub latent: usize,
}

impl Kernel for ReparameterizeBackward {
    fn describe(&self) -> String {
        format!("reparameterize_backward {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.latent;
        vec![
            Operand::new("grad_z", self.grad_z, count),
            Operand::new("stats", self.stats, 2 * count),
            Operand::new("eps", self.eps, count),
            Operand::new("grad_stats", self.grad_stats, 2 * count),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &REPARAMETERIZE_BACKWARD;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("grad_z_offset", offset(&self.grad_z)),
                ("stats_offset", offset(&self.stats)),
                ("eps_offset", offset(&self.eps)),
                ("grad_stats_offset", offset(&self.grad_stats)),
            ]),
            workgroups: elementwise_groups(self.rows * self.latent, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let (rows, latent) = (self.rows, self.latent);
        let grad_z = memory.floats(self.grad_z);
        let stats = memory.floats(self.stats);
        let eps = memory.floats(self.eps);
        let mut grad_stats = memory.floats(self.grad_stats)[..2 * rows * latent].to_vec();
        for r in 0..rows {
            for j in 0..latent {
                let at = r * latent + j;
                let (mu_at, lv_at) = (r * 2 * latent + j, r * 2 * latent + latent + j);
                let g = f64::from(grad_z[at]);
                let std = (0.5 * f64::from(stats[lv_at])).exp();
                grad_stats[mu_at] = (f64::from(grad_stats[mu_at]) + g) as f32;
                grad_stats[lv_at] =
                    (f64::from(grad_stats[lv_at]) + g * f64::from(eps[at]) * 0.5 * std) as f32;
            }
        }
        memory.write_floats(self.grad_stats, &grad_stats);
    }
}
