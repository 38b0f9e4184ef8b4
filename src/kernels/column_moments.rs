//! `column_moments`: `out[j] (+)= Σ_r x[r, j]` and `out[cols + j] (+)= Σ_r x[r, j]²`, rows `stride`
//! elements apart: the running sums of the posterior means over a data set, from which the host
//! counts active latent units (Burda et al. 2016: Cov_x(E_q[z_j]) > 0.01).

use super::wgsl::{shader_module, ShaderModule};
use super::*;

static MODULE: ShaderModule = shader_module!("column_moments.wgsl", []);
static COLUMN_MOMENTS: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "column_moments",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &[
        "rows",
        "cols",
        "stride",
        "accumulate",
        "x_offset",
        "out_offset",
    ],
    bindings: &[
        Binding::read("x", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "column_moments",
    entry_points: &[&COLUMN_MOMENTS],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnMoments {
    /// `rows` rows of `stride` elements; the first `cols` of each are summed.
    pub x: View,
    /// 2·cols: the sums, then the sums of squares.
    pub out: View,
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
    pub accumulate: bool,
}

impl Kernel for ColumnMoments {
    fn describe(&self) -> String {
        format!("column_moments {}x{}", self.rows, self.cols)
    }

    fn operands(&self) -> Vec<Operand> {
        let needed = (self.rows.max(1) - 1) * self.stride + self.cols;
        vec![
            Operand::new("x", self.x, needed),
            Operand::new("out", self.out, 2 * self.cols),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &COLUMN_MOMENTS;
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("cols", self.cols as u32),
                ("stride", self.stride as u32),
                ("accumulate", self.accumulate as u32),
                ("x_offset", offset(&self.x)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [groups(self.cols, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let x = memory.floats(self.x);
        let old = memory.floats(self.out);
        let cols = self.cols;
        let mut out = vec![0.0f32; 2 * cols];
        for j in 0..cols {
            let values = (0..self.rows).map(|r| f64::from(x[r * self.stride + j]));
            let (mut sum, mut squares) = (0.0, 0.0);
            for v in values {
                sum += v;
                squares += v * v;
            }
            if self.accumulate {
                sum += f64::from(old[j]);
                squares += f64::from(old[cols + j]);
            }
            out[j] = sum as f32;
            out[cols + j] = squares as f32;
        }
        memory.write_floats(self.out, &out);
    }
}
