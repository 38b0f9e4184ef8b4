//! `adam`: one Adam / AdamW step over flat buffers, the hyper-parameters from the frame, in
//! PyTorch's formulation: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, then
//! `p ← p·(1 − lr·wd) − step_size · m / (sqrt(v)/sqrt(1−β2ᵗ) + ε)` with `step_size = lr/(1−β1ᵗ)`
//! (both corrections computed once per step on the host, `optim::AdamConfig::fill_frame`).
//! Before the moments, as PyTorch orders it: the raw gradient clipped by global norm
//! (`frame.clip_norm`, the squared norm read from `norm_sq` when given), then `frame.l2 · p` added
//! (classic L2, unlike the decoupled decay).
//! Where the views' offsets and length are multiples of 4 (the model's flat buffers), `adam_vec4`
//! loads and stores four parameters at a time; elsewhere `adam`, one; both compute the same bits
//! (the arithmetic is `adam_step.wgsl`'s, shared).
//! A parameter that comes out non-finite is recorded in `health` (two u32, `u32::MAX` while
//! none): the first step at which one did, and the smallest such index in that step; the trainer
//! reads it to say which tensor diverged and when.

use super::wgsl::{shader_module, ShaderModule, ADAM_STEP, ELEMENTWISE, FRAME};
use super::*;

static MODULE: ShaderModule = shader_module!("adam.wgsl", [FRAME, ELEMENTWISE, ADAM_STEP]);
static VEC4_MODULE: ShaderModule =
    shader_module!("adam_vec4.wgsl", [FRAME, ELEMENTWISE, ADAM_STEP]);
const UNIFORM: &[&str] = &[
        "count",
        "params_offset",
        "grads_offset",
        "m_offset",
        "v_offset",
        "norm_sq_offset",
        "health_offset",
];
/// Parameters per invocation, one dispatch-width apart (as vec4s in `adam_vec4`).
const CONSTANTS: &[(&str, u32)] = &[
    ("ELEMENTWISE_WORKGROUP", ELEMENTWISE_WORKGROUP),
    ("PER_INVOCATION", 8),
];
static ADAM: EntryPoint = EntryPoint::elementwise(
    &MODULE,
    "adam",
    UNIFORM,
    &[
        Binding::read("grads", Element::F32),
        Binding::read("norm_sq", Element::F32),
        Binding::write("weights", Element::F32),
        Binding::write("moment1", Element::F32),
        Binding::write("moment2", Element::F32),
        Binding::write("health", Element::U32),
    ],
)
.specialized(&["CLIP"])
.with_constants(CONSTANTS);
/// Four parameters per load: offsets (in vec4s) and count multiples of 4.
static ADAM_VEC4: EntryPoint = EntryPoint::elementwise(
    &VEC4_MODULE,
    "adam_vec4",
    UNIFORM,
    &[
        Binding::read("grads", Element::Vec4F32),
        Binding::read("norm_sq", Element::F32),
        Binding::write("weights", Element::Vec4F32),
        Binding::write("moment1", Element::Vec4F32),
        Binding::write("moment2", Element::Vec4F32),
        Binding::write("health", Element::U32),
    ],
)
.specialized(&["CLIP"])
.with_constants(CONSTANTS);
pub static SPEC: KernelSpec = KernelSpec {
    name: "adam",
    entry_points: &[&ADAM, &ADAM_VEC4],
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub params: View,
    pub grads: View,
    /// First and second moments.
    pub m: View,
    pub v: View,
    /// The gradient's squared global norm (one element), for clipping; `None`: no clipping.
    pub norm_sq: Option<View>,
    /// Two u32: the first step that made a parameter non-finite and the smallest index it did
    /// so at; both `u32::MAX` until then.
    pub health: View,
}

/// The value of both `health` words while every parameter is finite.
pub const HEALTHY: u32 = u32::MAX;

impl Kernel for Adam {
    fn describe(&self) -> String {
        format!("adam {}", self.params.len)
    }

    fn operands(&self) -> Vec<Operand> {
        let n = self.params.len;
        vec![
            Operand::new("grads", self.grads, n),
            Operand::optional("norm_sq", self.norm_sq, 1),
            Operand::new("weights", self.params, n),
            Operand::new("moment1", self.m, n),
            Operand::new("moment2", self.v, n),
            Operand::new("health", self.health, 2),
        ]
    }

    fn launch(&self, tuning: &Tuning) -> Launch {
        let views = [self.params, self.grads, self.m, self.v];
        let four_wide = self.params.len % 4 == 0 && views.iter().all(|v| v.offset % 4 == 0);
        let (entry, unit) = if four_wide {
            (&ADAM_VEC4, 4)
        } else {
            (&ADAM, 1)
        };
        Launch {
            entry,
            uniform: entry.uniform_words(&[
                ("count", self.params.len as u32),
                ("params_offset", offset(&self.params) / unit),
                ("grads_offset", offset(&self.grads) / unit),
                ("m_offset", offset(&self.m) / unit),
                ("v_offset", offset(&self.v) / unit),
                ("norm_sq_offset", self.norm_sq.as_ref().map(offset).unwrap_or(0)),
                ("health_offset", offset(&self.health)),
            ]),
            workgroups: elementwise_groups(
                self.params.len.div_ceil(entry.constant("PER_INVOCATION") as usize),
                tuning,
            ),
            overrides: vec![("CLIP", self.norm_sq.is_some() as u32)],
        }
    }

    fn reference(&self, memory: &mut HostMemory, frame: &Frame) {
        let f = f64::from;
        let n = self.params.len;
        let (beta1, beta2) = (f(frame.beta1), f(frame.beta2));
        let decay = 1.0 - f(frame.lr) * f(frame.weight_decay);
        let grads = memory.floats(self.grads);
        let clip = self.norm_sq.map(|view| {
            let norm = f(memory.floats(view)[0]).sqrt();
            (f(frame.clip_norm) / (norm + 1e-6)).min(1.0)
        });
        let mut params = memory.floats(self.params)[..n].to_vec();
        let mut m = memory.floats(self.m)[..n].to_vec();
        let mut v = memory.floats(self.v)[..n].to_vec();
        for i in 0..n {
            let g = f(grads[i]) * clip.unwrap_or(1.0) + f(frame.l2) * f(params[i]);
            // The moments are stored in f32 before the update reads them, as on the GPU.
            m[i] = (beta1 * f(m[i]) + (1.0 - beta1) * g) as f32;
            v[i] = (beta2 * f(v[i]) + (1.0 - beta2) * g * g) as f32;
            let denom = f(v[i]).sqrt() / f(frame.bias_correction2_sqrt) + f(frame.eps);
            params[i] = (f(params[i]) * decay - f(frame.step_size) * f(m[i]) / denom) as f32;
        }
        let mut health = [memory.words(self.health)[0], memory.words(self.health)[1]];
        if let Some(index) = params.iter().position(|p| !p.is_finite()) {
            if health[0] >= frame.step {
                health[1] = health[1].min(index as u32);
            }
            health[0] = health[0].min(frame.step);
        }
        memory.write_words(self.health, &health);
        memory.write_floats(self.params, &params);
        memory.write_floats(self.m, &m);
        memory.write_floats(self.v, &v);
    }
}
