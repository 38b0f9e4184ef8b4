//! `log_weights`: `lw[r] = −nll[r] − ½ Σ_j (z_j² − eps_j² − logvar_j)`, the log importance weight
//! log p(x|z) + log p(z) − log q(z|x) of each draw z = mu + σ·eps (the 2π terms cancel); draw r
//! belongs to statistics row `r / repeat`. The importance-weighted bound's log-mean-exp and the
//! Monte-Carlo-KL ELBO are made of these.

use super::wgsl::{shader_module, ShaderModule};
use super::*;

static MODULE: ShaderModule = shader_module!("log_weights.wgsl", []);
static LOG_WEIGHTS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "log_weights",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &[
        "rows",
        "latent",
        "repeat",
        "nll_offset",
        "z_offset",
        "eps_offset",
        "stats_offset",
        "out_offset",
    ],
    bindings: &[
        Binding::read("nll", Element::F32),
        Binding::read("z", Element::F32),
        Binding::read("eps", Element::F32),
        Binding::read("stats", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "log_weights",
    entry_points: &[&LOG_WEIGHTS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogWeights {
    /// Reconstruction NLL of each draw (rows).
    pub nll: View,
    pub z: View,
    pub eps: View,
    /// [mu | logvar] of the images (rows / repeat of them).
    pub stats: View,
    pub out: View,
    pub rows: usize,
    pub latent: usize,
    pub repeat: usize,
}

impl Kernel for LogWeights {
    fn describe(&self) -> String {
        format!("log_weights {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.latent;
        let images = self.rows.div_ceil(self.repeat.max(1));
        vec![
            Operand::new("nll", self.nll, self.rows),
            Operand::new("z", self.z, count),
            Operand::new("eps", self.eps, count),
            Operand::new("stats", self.stats, images * 2 * self.latent),
            Operand::new("out", self.out, self.rows),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &LOG_WEIGHTS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("repeat", self.repeat.max(1) as u32),
                ("nll_offset", offset(&self.nll)),
                ("z_offset", offset(&self.z)),
                ("eps_offset", offset(&self.eps)),
                ("stats_offset", offset(&self.stats)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [groups(self.rows, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let latent = self.latent;
        let (nll, z) = (memory.floats(self.nll), memory.floats(self.z));
        let (eps, stats) = (memory.floats(self.eps), memory.floats(self.stats));
        let out: Vec<f32> = (0..self.rows)
            .map(|r| {
                let image = r / self.repeat.max(1);
                let sum: f64 = (0..latent)
                    .map(|j| {
                        let zj = f64::from(z[r * latent + j]);
                        let ej = f64::from(eps[r * latent + j]);
                        let logvar = f64::from(stats[image * 2 * latent + latent + j]);
                        zj * zj - ej * ej - logvar
                    })
                    .sum();
                (-f64::from(nll[r]) - 0.5 * sum) as f32
            })
            .collect();
        memory.write_floats(self.out, &out);
    }
}
