//! The WGSL sources, embedded in the binary, and the composer that prepends the shared snippets a
//! kernel needs (WGSL has no `#include`).

/// A snippet: WGSL declarations shared by several kernels.
pub struct Snippet {
    pub file: &'static str,
    pub source: &'static str,
}

/// A kernel module: one WGSL file, its entry points, and the snippets composed before it.
pub struct ShaderModule {
    pub file: &'static str,
    pub source: &'static str,
    pub snippets: &'static [&'static Snippet],
}

macro_rules! wgsl {
    ($file:literal) => {
        include_str!(concat!("../../shaders/", $file))
    };
}

pub static PHILOX: Snippet = Snippet {
    file: "philox.wgsl",
    source: wgsl!("philox.wgsl"),
};
pub static FRAME: Snippet = Snippet {
    file: "frame.wgsl",
    source: wgsl!("frame.wgsl"),
};
pub static ELEMENTWISE: Snippet = Snippet {
    file: "elementwise.wgsl",
    source: wgsl!("elementwise.wgsl"),
};
pub static MATMUL_PARAMS: Snippet = Snippet {
    file: "matmul_params.wgsl",
    source: wgsl!("matmul_params.wgsl"),
};
pub static MATMUL_VEC4_IO: Snippet = Snippet {
    file: "matmul_vec4_io.wgsl",
    source: wgsl!("matmul_vec4_io.wgsl"),
};
pub static ACTIVATION: Snippet = Snippet {
    file: "activation.wgsl",
    source: wgsl!("activation.wgsl"),
};

macro_rules! module {
    ($file:literal, [$($snippet:expr),*]) => {
        ShaderModule { file: $file, source: wgsl!($file), snippets: &[$(&$snippet),*] }
    };
}

pub static MATMUL: ShaderModule = module!("matmul.wgsl", [MATMUL_PARAMS]);
pub static MATMUL_VEC4: ShaderModule = module!("matmul_vec4.wgsl", [MATMUL_PARAMS, MATMUL_VEC4_IO]);
pub static MATMUL_SUBGROUP: ShaderModule =
    module!("matmul_subgroup.wgsl", [MATMUL_PARAMS, MATMUL_VEC4_IO]);
pub static BIAS_ACT: ShaderModule = module!("bias_act.wgsl", [ELEMENTWISE, ACTIVATION]);
pub static BIAS_ACT_BACKWARD: ShaderModule =
    module!("bias_act_backward.wgsl", [ELEMENTWISE, ACTIVATION]);
pub static COLUMN_SUM: ShaderModule = module!("column_sum.wgsl", []);
pub static SUM_INTO: ShaderModule = module!("sum_into.wgsl", []);
pub static KL_ROWS: ShaderModule = module!("kl_rows.wgsl", []);
pub static KL_BACKWARD: ShaderModule = module!("kl_backward.wgsl", [FRAME, ELEMENTWISE]);
pub static BCE_ROWS: ShaderModule = module!("bce_rows.wgsl", [FRAME]);
pub static REPARAMETERIZE: ShaderModule =
    module!("reparameterize.wgsl", [FRAME, ELEMENTWISE, PHILOX]);
pub static REPARAMETERIZE_BACKWARD: ShaderModule =
    module!("reparameterize_backward.wgsl", [ELEMENTWISE]);
pub static ADAM: ShaderModule = module!("adam.wgsl", [FRAME, ELEMENTWISE]);
pub static GATHER: ShaderModule = module!("gather.wgsl", [FRAME, ELEMENTWISE]);
pub static NORMAL: ShaderModule = module!("normal.wgsl", [FRAME, ELEMENTWISE, PHILOX]);
pub static PHILOX_BLOCKS: ShaderModule = module!("philox_blocks.wgsl", [ELEMENTWISE, PHILOX]);

/// Every kernel module, for the validation test.
pub static ALL_MODULES: &[&ShaderModule] = &[
    &MATMUL,
    &MATMUL_VEC4,
    &MATMUL_SUBGROUP,
    &BIAS_ACT,
    &BIAS_ACT_BACKWARD,
    &COLUMN_SUM,
    &SUM_INTO,
    &KL_ROWS,
    &KL_BACKWARD,
    &BCE_ROWS,
    &REPARAMETERIZE,
    &REPARAMETERIZE_BACKWARD,
    &ADAM,
    &GATHER,
    &NORMAL,
    &PHILOX_BLOCKS,
];

/// A composed module and where each of its lines came from.
pub struct Composed {
    pub source: String,
    /// (first line in `source`, 1-based; file) for each piece, in order.
    pieces: Vec<(usize, &'static str)>,
}

impl Composed {
    /// `shaders/<file>:<line>` of a 1-based line of the composed source.
    pub fn origin(&self, line: usize) -> String {
        let (start, file) = self
            .pieces
            .iter()
            .rev()
            .find(|(start, _)| *start <= line)
            .copied()
            .unwrap_or((1, "?"));
        format!("shaders/{file}:{}", line - start + 1)
    }
}

pub fn compose(module: &ShaderModule) -> Composed {
    let mut source = String::new();
    let mut pieces = Vec::new();
    let parts = module
        .snippets
        .iter()
        .map(|s| (s.file, s.source))
        .chain(std::iter::once((module.file, module.source)));
    for (file, text) in parts {
        pieces.push((source.lines().count() + 1, file));
        source.push_str(text);
        if !text.ends_with('\n') {
            source.push('\n');
        }
    }
    Composed { source, pieces }
}

/// Parses and validates a composed module with naga; the error names the shader file and line.
pub fn validate(module: &ShaderModule) -> Result<naga::Module, String> {
    let composed = compose(module);
    let name = format!("shaders/{}", module.file);
    let parsed = naga::front::wgsl::parse_str(&composed.source).map_err(|e| {
        let at = e
            .location(&composed.source)
            .map(|l| composed.origin(l.line_number as usize))
            .unwrap_or_else(|| name.clone());
        format!(
            "{at}: {}\n(as naga sees the composed module:)\n{}",
            e.message(),
            e.emit_to_string_with_path(&composed.source, &name)
        )
    })?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&parsed)
    .map_err(|e| {
        let at = e
            .location(&composed.source)
            .map(|l| composed.origin(l.line_number as usize))
            .unwrap_or_else(|| name.clone());
        format!(
            "{at}: {}\n(as naga sees the composed module:)\n{}",
            e.as_inner(),
            e.emit_to_string_with_path(&composed.source, &name)
        )
    })?;
    Ok(parsed)
}
