//! `column_sum`: `out[j] = Σ_r x[r, j]`, the bias gradient of a dense layer.

use super::wgsl::{shader_module, ShaderModule};
use super::*;

static MODULE: ShaderModule = shader_module!("column_sum.wgsl", []);
/// One invocation per column: adjacent invocations read adjacent addresses on every row.
static COLUMN_SUM: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "column_sum",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &["rows", "cols", "x_offset", "out_offset"],
    bindings: &[
        Binding::read("x", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
/// GPUs: 32 columns per workgroup, 8 invocations on each, their partial sums added in
/// workgroup memory (`Tuning::reduction_lanes`).
static COLUMN_SUM_TREE: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "column_sum_tree",
    workgroup: Workgroup::Fixed([32, 8, 1]),
    uniform: &["rows", "cols", "x_offset", "out_offset"],
    bindings: &[
        Binding::read("x", Element::F32),
        Binding::write("out", Element::F32),
    ],
    constants: &[("TREE_COLUMNS", 32), ("TREE_LANES", 8)],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "column_sum",
    entry_points: &[&COLUMN_SUM, &COLUMN_SUM_TREE],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnSum {
    pub x: View,
    pub out: View,
    pub rows: usize,
    pub cols: usize,
}

impl Kernel for ColumnSum {
    fn describe(&self) -> String {
        format!("column_sum {}x{}", self.rows, self.cols)
    }

    fn operands(&self) -> Vec<Operand> {
        vec![
            Operand::new("x", self.x, self.rows * self.cols),
            Operand::new("out", self.out, self.cols),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let entry = if tuning.reduction_lanes > 1 {
            &COLUMN_SUM_TREE
        } else {
            &COLUMN_SUM
        };
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("cols", self.cols as u32),
                ("x_offset", offset(&self.x)),
                ("out_offset", offset(&self.out)),
            ]),
            workgroups: [groups(self.cols, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, _frame: &Frame) {
        let x = memory.floats(self.x);
        let out: Vec<f32> = (0..self.cols)
            .map(|j| {
                let sum: f64 = (0..self.rows).map(|r| f64::from(x[r * self.cols + j])).sum();
                sum as f32
            })
            .collect();
        memory.write_floats(self.out, &out);
    }
}
