//! `kl_columns`: `out[j] = Σ_r ½ (mu² + exp(logvar) − 1 − logvar)`, the batch's KL divergence in
//! each latent dimension: what free bits (Kingma et al. 2016) compare with their floor.

use super::wgsl::{shader_module, ShaderModule, KL};
use super::*;

static MODULE: ShaderModule = shader_module!("kl_columns.wgsl", [KL]);
static KL_COLUMNS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "kl_columns",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &["rows", "latent", "stats_offset", "out_offset"],
    bindings: &[
        Binding::read("stats", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "kl_columns",
    entry_points: &[&KL_COLUMNS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlColumns {
    pub stats: View,
    pub out: View,
    pub rows: usize,
    pub latent: usize,
}

impl Kernel for KlColumns {
    fn describe(&self) -> String {
        format!("kl_columns {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("stats", self.stats, self.rows * 2 * self.latent),
            Operand::new("out", self.out, self.latent),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &KL_COLUMNS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("stats_offset", offset(&self.stats)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [groups(self.latent, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let latent = self.latent;
        let stats = memory.floats(self.stats);
        let out: Vec<f32> = (0..latent)
            .map(|j| {
                let sum: f64 = stats[..self.rows * 2 * latent]
                    .chunks(2 * latent)
                    .map(|row| {
                        let (mu, lv) = (f64::from(row[j]), f64::from(row[latent + j]));
                        0.5 * (mu * mu + lv.exp_m1() - lv)
                    })
                    .sum();
                sum as f32
            })
            .collect();
        memory.write_floats(self.out, &out);
    }
}
