//! `reparameterize`: `z = mu + exp(logvar/2)·eps`, with `eps ~ N(0, 1)` drawn here from Philox at
//! (element, frame.step, stream) and kept for the backward; with `sample == false`, `z = mu` and
//! `eps = 0`. `stats` rows are [mu | logvar]; row r of `z` draws from row `r / repeat` of them
//! (`repeat` draws per image, for the multi-sample bounds).

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, FRAME, PHILOX};
use super::*;
use crate::rng;

static MODULE: ShaderModule = shader_module!("reparameterize.wgsl", [FRAME, ELEMENTWISE, PHILOX]);
static REPARAMETERIZE: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "reparameterize",
    &[
        "rows",
        "latent",
        "stream",
        "sample",
        "stats_offset",
        "z_offset",
        "eps_offset",
        "repeat",
    ],
    &[
        Binding::read("stats", Element::F32),
        Binding::write("z", Element::F32),
        Binding::write("eps", Element::F32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "reparameterize",
    entry_points: &[&REPARAMETERIZE],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reparameterize {
    pub stats: View,
    pub z: View,
    pub eps: View,
    pub rows: usize,
    pub latent: usize,
    /// Philox stream (third counter word) of the draws.
    pub stream: u32,
    pub sample: bool,
    /// Rows of `z` per row of `stats` (1: one draw per image).
    pub repeat: usize,
}

impl Kernel for Reparameterize {
    fn describe(&self) -> String {
        format!("reparameterize {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.latent;
        let images = self.rows.div_ceil(self.repeat.max(1));
        vec![
            Operand::new("stats", self.stats, 2 * images * self.latent),
            Operand::new("z", self.z, count),
            Operand::new("eps", self.eps, count),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &REPARAMETERIZE;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("latent", self.latent as u32),
                ("stream", self.stream),
                ("sample", self.sample as u32),
                ("stats_offset", offset(&self.stats)),
                ("z_offset", offset(&self.z)),
                ("eps_offset", offset(&self.eps)),
                ("repeat", self.repeat.max(1) as u32),
            ]),
            workgroups: elementwise_groups(self.rows * self.latent, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let (rows, latent) = (self.rows, self.latent);
        let stats = memory.floats(self.stats);
        let mut z = Vec::with_capacity(rows * latent);
        let mut eps = Vec::with_capacity(rows * latent);
        for r in 0..rows {
            let image = r / self.repeat.max(1);
            for j in 0..latent {
                let index = (r * latent + j) as u32;
                let mu = f64::from(stats[image * 2 * latent + j]);
                let logvar = f64::from(stats[image * 2 * latent + latent + j]);
                let e = if self.sample {
                    rng::normal(frame.key(), index, frame.step, self.stream)
                } else {
                    0.0
                };
                eps.push(e);
                z.push((mu + (0.5 * logvar).exp() * f64::from(e)) as f32);
            }
        }
        memory.write_floats(self.z, &z);
        memory.write_floats(self.eps, &eps);
    }
}
