//! WGSL sources embedded in the binary: the shared snippets, the kernel modules (each declared by
//! its kernel in `src/kernels/<name>.rs`), and the composer that prepends the snippets a module
//! needs (WGSL has no `#include`), with naga validation that names the shader file and line.

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

impl std::fmt::Debug for ShaderModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shaders/{}", self.file)
    }
}

/// The text of `shaders/<file>`.
macro_rules! wgsl {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file))
    };
}
pub(crate) use wgsl;

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
pub static MATMUL_TILES_IO: Snippet = Snippet {
    file: "matmul_tiles_io.wgsl",
    source: wgsl!("matmul_tiles_io.wgsl"),
};
pub static ROW_SUM: Snippet = Snippet {
    file: "row_sum.wgsl",
    source: wgsl!("row_sum.wgsl"),
};
pub static BERNOULLI: Snippet = Snippet {
    file: "bernoulli.wgsl",
    source: wgsl!("bernoulli.wgsl"),
};
pub static CONTINUOUS_BERNOULLI: Snippet = Snippet {
    file: "continuous_bernoulli.wgsl",
    source: wgsl!("continuous_bernoulli.wgsl"),
};
pub static KL: Snippet = Snippet {
    file: "kl.wgsl",
    source: wgsl!("kl.wgsl"),
};
pub static WORKGROUP_TOTAL: Snippet = Snippet {
    file: "workgroup_total.wgsl",
    source: wgsl!("workgroup_total.wgsl"),
};
pub static BCE_ELEMENT: Snippet = Snippet {
    file: "bce_element.wgsl",
    source: wgsl!("bce_element.wgsl"),
};
pub static ADAM_STEP: Snippet = Snippet {
    file: "adam_step.wgsl",
    source: wgsl!("adam_step.wgsl"),
};
pub static ACTIVATION: Snippet = Snippet {
    file: "activation.wgsl",
    source: wgsl!("activation.wgsl"),
};

/// `shader_module!("file.wgsl", [SNIPPET, …])`: a kernel module and the snippets composed before it.
macro_rules! shader_module {
    ($file:literal, [$($snippet:expr),*]) => {
        $crate::kernels::wgsl::ShaderModule {
            file: $file,
            source: $crate::kernels::wgsl::wgsl!($file),
            snippets: &[$(&$snippet),*],
        }
    };
}
pub(crate) use shader_module;

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
    compose_parts(module, |_, text| {
        Ok::<_, std::convert::Infallible>(text.into())
    })
    .unwrap_or_else(|never| match never {})
}

/// `compose` with each file (snippet or module) that `dir` holds read from there instead of the
/// embedded text: a kernel edit timed against the built-in one (`vae-gpu bench
/// --baseline-shaders`) without a second build.
pub fn compose_from(module: &ShaderModule, dir: &std::path::Path) -> Result<Composed, String> {
    compose_parts(module, |file, text| {
        let path = dir.join(file);
        if path.exists() {
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        } else {
            Ok(text.to_string())
        }
    })
}

/// Every file name the kernels compose (modules and snippets), for checking a folder of edits.
pub fn shader_files<'a>(modules: impl IntoIterator<Item = &'a ShaderModule>) -> Vec<&'static str> {
    let mut files: Vec<&'static str> = modules
        .into_iter()
        .flat_map(|m| m.snippets.iter().map(|s| s.file).chain([m.file]))
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// A fingerprint of every kernel's WGSL (modules and snippets, FNV-1a over names and texts):
/// what the kernels' timings cached per adapter hold for, since a build with other kernels keeps
/// the crate's version number.
pub fn kernels_fingerprint() -> String {
    let mut seen = std::collections::BTreeMap::new();
    for spec in super::ALL_KERNELS {
        for entry in spec.entry_points {
            let module = entry.module;
            seen.insert(module.file, module.source);
            for snippet in module.snippets {
                seen.insert(snippet.file, snippet.source);
            }
        }
    }
    fingerprint_of(&seen)
}

/// FNV-1a over (name, text) pairs in name order, as 16 hex digits.
fn fingerprint_of(files: &std::collections::BTreeMap<&str, &str>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (file, text) in files {
        for byte in file.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn compose_parts<E>(
    module: &ShaderModule,
    mut text_of: impl FnMut(&'static str, &'static str) -> Result<String, E>,
) -> Result<Composed, E> {
    let mut source = String::new();
    let mut pieces = Vec::new();
    let parts = module
        .snippets
        .iter()
        .map(|s| (s.file, s.source))
        .chain(std::iter::once((module.file, module.source)));
    for (file, text) in parts {
        let text = text_of(file, text)?;
        let text = text.as_str();
        pieces.push((source.lines().count() + 1, file));
        source.push_str(text);
        if !text.ends_with('\n') {
            source.push('\n');
        }
    }
    Ok(Composed { source, pieces })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_fingerprint_follows_every_byte_and_name() {
        let fingerprint = kernels_fingerprint();
        assert_eq!(fingerprint.len(), 16);
        assert_eq!(fingerprint, kernels_fingerprint());
        let files = std::collections::BTreeMap::from([("a.wgsl", "fn f() {}"), ("b.wgsl", "x")]);
        let base = fingerprint_of(&files);
        let mut edited = files.clone();
        edited.insert("b.wgsl", "y");
        let mut renamed = files.clone();
        renamed.remove("b.wgsl");
        renamed.insert("c.wgsl", "x");
        // A byte moved from one file's end to the next one's start is a change too.
        let moved = std::collections::BTreeMap::from([("a.wgsl", "fn f() {"), ("b.wgsl", "}x")]);
        for other in [edited, renamed, moved] {
            assert_ne!(fingerprint_of(&other), base, "{other:?}");
        }
    }
}
