//! `kl_rows`: `out[r] = ½ Σ_j (mu² + exp(logvar) − 1 − logvar)`, the KL divergence of each row's
//! q(z|x) = N(mu, exp(logvar)) to N(0, I). `stats` rows are [mu | logvar].

use super::wgsl::{shader_module, ShaderModule, KL};
use super::*;

static MODULE: ShaderModule = shader_module!("kl_rows.wgsl", [KL]);
/// One invocation per row: the latent size is small (tens); `sum_into` reduces over rows.
static KL_ROWS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "kl_rows",
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
    name: "kl_rows",
    entry_points: &[&KL_ROWS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlRows {
    pub stats: View,
    pub out: View,
    pub rows: usize,
    pub latent: usize,
}

impl Kernel for KlRows {
    fn describe(&self) -> String {
        format!("kl_rows {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("stats", self.stats, self.rows * 2 * self.latent),
            Operand::new("out", self.out, self.rows),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &KL_ROWS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("stats_offset", offset(&self.stats)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [groups(self.rows, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let stats = memory.floats(self.stats);
        let out: Vec<f32> = stats[..self.rows * 2 * self.latent]
            .chunks(2 * self.latent)
            .map(|row| {
                let (mu, logvar) = row.split_at(self.latent);
                let sum: f64 = mu
                    .iter()
                    .zip(logvar)
                    .map(|(&m, &lv)| {
                        let (m, lv) = (f64::from(m), f64::from(lv));
                        0.5 * (m * m + lv.exp_m1() - lv)
                    })
                    .sum();
                sum as f32
            })
            .collect();
        memory.write_floats(self.out, &out);
    }
}
