//! `softmax_xent`: `probs[r, :] = softmax(logits[r, :])`; with labels, the cross-entropy
//! `loss[r] = −log probs[r, y_r]` with `y_r = labels[frame.batch_start + r]` (a label out of range
//! gives NaN), and, when `grad` is given, `grad = frame.grad_scale · (probs − onehot(y))`.

use super::wgsl::{shader_module, ShaderModule, FRAME};
use super::*;

static MODULE: ShaderModule = shader_module!("softmax_xent.wgsl", [FRAME]);
/// One invocation per row: a classifier has tens of classes.
static SOFTMAX_XENT: EntryPoint = EntryPoint {
    module: &MODULE,
    name: "softmax_xent",
    workgroup: Workgroup::Fixed([64, 1, 1]),
    uniform: &[
        "rows",
        "classes",
        "with_labels",
        "write_grad",
        "logits_offset",
        "labels_offset",
        "probs_offset",
        "loss_offset",
        "grad_offset",
    ],
    bindings: &[
        Binding::read("logits", Element::F32),
        Binding::read("labels", Element::U32),
        Binding::write("probs", Element::F32),
        Binding::write("loss", Element::F32),
        Binding::write("grad", Element::F32),
    ],
    constants: &[],
    needs_subgroups: false,
    specializations: &[],
};
pub static SPEC: KernelSpec = KernelSpec {
    name: "softmax_xent",
    entry_points: &[&SOFTMAX_XENT],
};

/// The labels and what to write from them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropy {
    /// Class indices; rows start at `frame.batch_start` within this view.
    pub labels: View,
    /// −log p(y|x) per row.
    pub loss: View,
    /// dLoss/dlogits, scaled by `frame.grad_scale`.
    pub grad: Option<View>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxXent {
    pub logits: View,
    pub probs: View,
    pub cross_entropy: Option<CrossEntropy>,
    pub rows: usize,
    pub classes: usize,
}

impl Kernel for SoftmaxXent {
    fn describe(&self) -> String {
        let name = match self.cross_entropy {
            Some(CrossEntropy { grad: Some(_), .. }) => "softmax_xent (with gradient)",
            Some(_) => "softmax_xent",
            None => "softmax_xent (probabilities only)",
        };
        format!("{name} {}x{}", self.rows, self.classes)
    }

    fn operands(&self) -> Vec<Operand> {
        let count = self.rows * self.classes;
        let ce = self.cross_entropy;
        vec![
            Operand::new("logits", self.logits, count),
            Operand::optional("labels", ce.map(|c| c.labels), self.rows),
            Operand::new("probs", self.probs, count),
            Operand::optional("loss", ce.map(|c| c.loss), self.rows),
            Operand::optional("grad", ce.and_then(|c| c.grad), count),
        ]
    }

    fn launch(&self, _tuning: &Tuning) -> Launch {
        let entry = &SOFTMAX_XENT;
        let ce = self.cross_entropy;
        let view_offset = |view: Option<View>| view.as_ref().map(offset).unwrap_or(0);
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("rows", self.rows as u32),
                ("classes", self.classes as u32),
                ("with_labels", ce.is_some() as u32),
                ("write_grad", ce.and_then(|c| c.grad).is_some() as u32),
                ("logits_offset", offset(&self.logits)),
                ("labels_offset", view_offset(ce.map(|c| c.labels))),
                ("probs_offset", offset(&self.probs)),
                ("loss_offset", view_offset(ce.map(|c| c.loss))),
                ("grad_offset", view_offset(ce.and_then(|c| c.grad))),
            ]),
            workgroups: [groups(self.rows, entry.width()), 1, 1],
            overrides: Vec::new(),
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let count = self.rows * self.classes;
        let logits = memory.floats(self.logits)[..count].to_vec();
        let labels: Option<Vec<u32>> = self.cross_entropy.map(|ce| {
            let start = frame.batch_start as usize;
            memory.words(ce.labels)[start..start + self.rows].to_vec()
        });
        let scale = f64::from(frame.grad_scale);
        let (mut probs, mut loss, mut grad) = (Vec::with_capacity(count), Vec::new(), Vec::new());
        for (r, row) in logits.chunks(self.classes).enumerate() {
            let row: Vec<f64> = row.iter().map(|&l| f64::from(l)).collect();
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|l| (l - max).exp()).sum();
            let label = labels.as_ref().map(|labels| labels[r] as usize);
            if let Some(label) = label {
                let nll = match row.get(label) {
                    Some(l) => (max - l) + sum.ln(),
                    None => f64::NAN,
                };
                loss.push(nll as f32);
            }
            for (j, l) in row.iter().enumerate() {
                let p = (l - max).exp() / sum;
                probs.push(p as f32);
                let onehot = if label == Some(j) { 1.0 } else { 0.0 };
                grad.push((scale * (p - onehot)) as f32);
            }
        }
        memory.write_floats(self.probs, &probs);
        if let Some(ce) = self.cross_entropy {
            memory.write_floats(ce.loss, &loss);
            if let Some(view) = ce.grad {
                memory.write_floats(view, &grad);
            }
        }
    }
}
