//! `square_sums`: `partials[g] = Σ src[i]²` over the `CHUNK` elements of workgroup `g`, the first
//! pass of the gradient's global norm for clipping (`sum_into` adds the partials up). Many
//! workgroups, so that the pass over every gradient runs on every core.

use super::wgsl::{shader_module, ShaderModule, WORKGROUP_TOTAL};
use super::*;

/// Elements per workgroup (`SQUARE_SUMS_CHUNK` in the shader).
pub const CHUNK: u32 = 4096;

static MODULE: ShaderModule = shader_module!("square_sums.wgsl", [WORKGROUP_TOTAL]);
static SQUARE_SUMS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "square_sums",
    workgroup: Workgroup::Fixed([256, 1, 1]),
    uniform: &["count", "src_offset", "partials_offset"],
    bindings: &[
        Binding::read("src", Element::F32),
        Binding::write("partials", Element::F32),
    ],
    constants: &[("SQUARE_SUMS_CHUNK", CHUNK)],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "square_sums",
    entry_points: &[&SQUARE_SUMS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SquareSums {
    pub src: View,
    /// `partials_for(src.len)` elements.
    pub partials: View,
}

/// How many partial sums `square_sums` writes for `count` elements.
pub fn partials_for(count: usize) -> usize {
    count.div_ceil(CHUNK as usize).max(1)
}

impl Kernel for SquareSums {
    fn describe(&self) -> String {
        format!("square_sums {}", self.src.len)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("src", self.src, self.src.len),
            Operand::new("partials", self.partials, partials_for(self.src.len)),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &SQUARE_SUMS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.src.len as u32),
                ("src_offset", offset(&self.src)),
                ("partials_offset", offset(&self.partials)),
            ]),
            workgroups: [partials_for(self.src.len) as u32, 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let partials: Vec<f32> = memory
            .floats(self.src)
            .chunks(CHUNK as usize)
            .map(|chunk| chunk.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() as f32)
            .collect();
        let partials = if partials.is_empty() { vec![0.0] } else { partials };
        memory.write_floats(self.partials, &partials);
    }
}
