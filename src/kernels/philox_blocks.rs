//! `philox_blocks`: raw Philox4x32-10 blocks for given counters and key, so that tests can hold
//! the WGSL RNG (`shaders/philox.wgsl`) to the Rust one (`src/rng.rs`) bit for bit.

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, PHILOX};
use super::*;
use crate::rng;

static MODULE: ShaderModule = shader_module!("philox_blocks.wgsl", [ELEMENTWISE, PHILOX]);
static PHILOX_BLOCKS: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "philox_blocks",
    &[
        "count",
        "key_lo",
        "key_hi",
        "counters_offset",
        "blocks_offset",
    ],
    &[
        Binding::read("counters", Element::Vec4U32),
        Binding::write("blocks", Element::Vec4U32),
    ],
);
pub static SPEC: KernelSpec = KernelSpec {
    name: "philox_blocks",
    entry_points: &[&PHILOX_BLOCKS],
};

/// `blocks[i] = philox4x32_10(counters[i], key)`; both views hold 4 words per block and start at
/// a multiple of 4 words.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhiloxBlocks {
    pub counters: View,
    pub blocks: View,
    pub count: usize,
    pub key: [u32; 2],
}

impl Kernel for PhiloxBlocks {
    fn describe(&self) -> String {
        format!("philox_blocks {}", self.count)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("counters", self.counters, 4 * self.count),
            Operand::new("blocks", self.blocks, 4 * self.count),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &PHILOX_BLOCKS;
        assert!(
            self.counters.offset % 4 == 0 && self.blocks.offset % 4 == 0,
            "philox_blocks views start at whole blocks"
        );
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.count as u32),
                ("key_lo", self.key[0]),
                ("key_hi", self.key[1]),
                ("counters_offset", offset(&self.counters) / 4),
                ("blocks_offset", offset(&self.blocks) / 4),
            ]),
            workgroups: elementwise_groups(self.count, tuning),
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let counters = memory.words(self.counters);
        let blocks: Vec<u32> = counters[..4 * self.count]
            .chunks(4)
            .flat_map(|c| rng::philox4x32_10([c[0], c[1], c[2], c[3]], self.key))
            .collect();
        memory.write_words(self.blocks, &blocks);
    }
}
