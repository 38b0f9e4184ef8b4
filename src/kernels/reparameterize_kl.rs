//! `reparameterize_kl`: `reparameterize` (one draw per image) and `kl_rows` fused, one invocation
//! per row, so the forward reads [mu | logvar] once and makes one dispatch instead of two. Its
//! reference is the two unfused references in turn; on the GPU it gives the same bits as the two
//! kernels apart (the same draws, the KL summed in the same order).

use super::kl_rows::KlRows;
use super::reparameterize::Reparameterize;
use super::wgsl::{shader_module, ShaderModule, FRAME, KL, PHILOX};
use super::*;

static MODULE: ShaderModule = shader_module!("reparameterize_kl.wgsl", [FRAME, PHILOX, KL]);
/// One invocation per row: the latent size is small (tens).
static REPARAMETERIZE_KL: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "reparameterize_kl",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &[
        "rows",
        "latent",
        "stream",
        "sample",
        "stats_offset",
        "z_offset",
        "eps_offset",
        "kl_offset",
    ],
    bindings: &[
        Binding::read("stats", Element::F32),
        Binding::write("z", Element::F32),
        Binding::write("eps", Element::F32),
        Binding::write("kl", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "reparameterize_kl",
    entry_points: &[&REPARAMETERIZE_KL],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReparameterizeKl {
    pub stats: View,
    pub z: View,
    pub eps: View,
    /// The KL of each row's q(z|x) to N(0, I).
    pub kl: View,
    pub rows: usize,
    pub latent: usize,
    /// Philox stream (third counter word) of the draws.
    pub stream: u32,
    pub sample: bool,
}

impl ReparameterizeKl {
    /// The two kernels this one fuses.
    pub fn unfused(&self) -> (Reparameterize, KlRows) {
        (
            Reparameterize {
                stats: self.stats,
                z: self.z,
                eps: self.eps,
                rows: self.rows,
                latent: self.latent,
                stream: self.stream,
                sample: self.sample,
                repeat: 1,
            },
            KlRows {
                stats: self.stats,
                out: self.kl,
                rows: self.rows,
                latent: self.latent,
            },
        )
    }
}

impl Kernel for ReparameterizeKl {
    fn describe(&self) -> String {
        format!("reparameterize_kl {}x{}", self.rows, self.latent)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.latent;
        vec![
            Operand::new("stats", self.stats, 2 * count),
            Operand::new("z", self.z, count),
            Operand::new("eps", self.eps, count),
            Operand::new("kl", self.kl, self.rows),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &REPARAMETERIZE_KL;
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
                ("kl_offset", offset(&self.kl)),
            ]),
            workgroups: [groups(self.rows, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let (reparameterize, kl_rows) = self.unfused();
        reparameterize.reference(memory, frame);
        kl_rows.reference(memory, frame);
    }
}
