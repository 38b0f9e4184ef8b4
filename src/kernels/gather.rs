//! `gather`: a batch built on the device from the resident data set (u8 pixels packed in u32
//! words) and a permutation: `out[r, :] = bytes(data)[perm[frame.batch_start + r]·dim ..][..dim] / 255`,
//! or, binarizing, `x ~ Bernoulli(byte / 255)` drawn from Philox at (element, frame.step, stream)
//! (dynamic binarization: a new draw every step).
//! `data` may be one shard of a data set larger than one binding: it holds images
//! `first_image ..` `first_image + images`, and only rows showing one of those are written.

use super::wgsl::{shader_module, ShaderModule, ELEMENTWISE, FRAME, PHILOX};
use super::*;
use crate::rng;

static MODULE: ShaderModule = shader_module!("gather.wgsl", [FRAME, ELEMENTWISE, PHILOX]);
static GATHER: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "gather",
    &[
        "rows",
        "dim",
        "perm_offset",
        "out_offset",
        "stream",
        "repeat",
        "first_image",
        "images",
    ],
    &[
        Binding::read("data", Element::U32),
        Binding::read("perm", Element::U32),
        Binding::write("out", Element::F32),
    ],
)
.specialized(&["BINARIZE", "PIXELS"]);
pub static SPEC: KernelSpec = KernelSpec {
    name: "gather",
    entry_points: &[&GATHER],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    /// Images `first_image ..` `first_image + images` of the data set, `dim` bytes each, packed
    /// little-endian into u32 words from the view's start.
    pub data: View,
    pub first_image: usize,
    pub images: usize,
    /// Image indices; rows start at `frame.batch_start` within this view.
    pub perm: View,
    pub out: View,
    pub rows: usize,
    pub dim: usize,
    /// Philox stream of the binarization draws, or `None` for gray values.
    pub binarize: Option<u32>,
    /// Consecutive rows per image (1: each row its own image).
    pub repeat: usize,
}

impl Kernel for Gather {
    fn describe(&self) -> String {
        format!("gather {}x{}", self.rows, self.dim)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("data", self.data, self.data.len),
            Operand::new("perm", self.perm, self.rows.div_ceil(self.repeat.max(1))),
            Operand::new("out", self.out, self.rows * self.dim),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = &GATHER;
        assert_eq!(self.data.offset, 0, "gather reads the data set from its start");
        // Four pixels per invocation where they share a word of the data.
        let pixels = if self.dim % 4 == 0 { 4 } else { 1 };
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("dim", self.dim as u32),
                ("perm_offset", offset(&self.perm)),
                ("out_offset", offset(&self.out)),
                ("stream", self.binarize.unwrap_or(0)),
                ("repeat", self.repeat.max(1) as u32),
                ("first_image", self.first_image as u32),
                ("images", self.images as u32),
            ]),
            workgroups: elementwise_groups(self.rows * self.dim / pixels, tuning),
            overrides: vec![
                ("BINARIZE", self.binarize.is_some() as u32),
                ("PIXELS", pixels as u32),
            ],
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let data = memory.words(self.data);
        let perm = memory.words(self.perm);
        let start = frame.batch_start as usize;
        let mut rows = Vec::new();
        for r in 0..self.rows {
            let image = perm[start + r / self.repeat.max(1)] as usize;
            let Some(local) = image
                .checked_sub(self.first_image)
                .filter(|&local| local < self.images)
            else {
                continue;
            };
            let mut row = vec![0.0f32; self.dim];
            for (j, value) in row.iter_mut().enumerate() {
                let byte = local * self.dim + j;
                let pixel = (data[byte / 4] >> ((byte % 4) * 8)) & 0xff;
                *value = match self.binarize {
                    None => pixel as f32 / 255.0,
                    Some(stream) => {
                        let index = (r * self.dim + j) as u32;
                        let one = rng::bernoulli_byte(frame.key(), index, frame.step, stream, pixel);
                        f32::from(u8::from(one))
                    }
                };
            }
            rows.push((r, row));
        }
        for (r, row) in rows {
            let at = View {
                offset: self.out.offset + r * self.dim,
                len: self.dim,
                ..self.out
            };
            memory.write_floats(at, &row);
        }
    }
}
