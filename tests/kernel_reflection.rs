//! Every kernel's Rust declaration (src/kernels/<name>.rs) against naga's reflection of its
//! composed WGSL: entry points, bindings (group, number, storage access, element type), the shape
//! uniform's fields and layout, the frame uniform, workgroup sizes, overrides and the constants the
//! host's dispatch arithmetic relies on. A declaration that drifts from its shader fails here, not
//! in a training run. Every module is also validated by naga, from the same table.

use naga::{
    AddressSpace, ArraySize, Expression, Literal, Module, ScalarKind, StorageAccess, TypeInner,
    VectorSize,
};
use vae_gpu::kernels::wgsl::{self, ShaderModule, ELEMENTWISE};
use vae_gpu::kernels::{
    padded_words, Access, Binding, Element, EntryPoint, Workgroup, ALL_KERNELS,
};
use vae_gpu::ops::Frame;

fn entry_points() -> impl Iterator<Item = (&'static str, &'static EntryPoint)> {
    ALL_KERNELS
        .iter()
        .flat_map(|spec| spec.entry_points.iter().map(move |e| (spec.name, *e)))
}

fn scalar_kind(module: &Module, ty: naga::Handle<naga::Type>) -> Option<(ScalarKind, u8)> {
    match module.types[ty].inner {
        TypeInner::Scalar(s) => Some((s.kind, s.width)),
        _ => None,
    }
}

fn element_of(module: &Module, ty: naga::Handle<naga::Type>) -> Option<Element> {
    let TypeInner::Array {
        base,
        size: ArraySize::Dynamic,
        ..
    } = module.types[ty].inner
    else {
        return None;
    };
    match module.types[base].inner {
        TypeInner::Scalar(s) => match (s.kind, s.width) {
            (ScalarKind::Float, 4) => Some(Element::F32),
            (ScalarKind::Uint, 4) => Some(Element::U32),
            _ => None,
        },
        // Atomic counters and flags are u32 words to the host.
        TypeInner::Atomic(s) if (s.kind, s.width) == (ScalarKind::Uint, 4) => Some(Element::U32),
        TypeInner::Vector {
            size: VectorSize::Quad,
            scalar,
        } => match (scalar.kind, scalar.width) {
            (ScalarKind::Float, 4) => Some(Element::Vec4F32),
            (ScalarKind::Uint, 4) => Some(Element::Vec4U32),
            _ => None,
        },
        _ => None,
    }
}

/// Checks a uniform struct: `fields` in order, 4 bytes each at offsets 0, 4, …, then only `_pad`
/// fields, `span` bytes in all. `scalar` says which kinds a field may have.
fn check_struct(
    module: &Module,
    ty: naga::Handle<naga::Type>,
    fields: &[&str],
    span: u32,
    what: &str,
    kinds: &[ScalarKind],
    problems: &mut Vec<String>,
) {
    let TypeInner::Struct {
        members,
        span: actual_span,
    } = &module.types[ty].inner
    else {
        problems.push(format!("{what}: not a struct"));
        return;
    };
    for (i, member) in members.iter().enumerate() {
        let name = member.name.as_deref().unwrap_or("?");
        let expected = fields.get(i).copied();
        match expected {
            Some(field) if field != name => problems.push(format!(
                "{what}: field {i} is `{name}` in the WGSL, `{field}` in the declaration"
            )),
            None if !name.starts_with("_pad") => problems.push(format!(
                "{what}: field {i} `{name}` is not declared (only `_pad` fields may follow)"
            )),
            _ => {}
        }
        if member.offset != 4 * i as u32 {
            problems.push(format!("{what}: `{name}` at byte {}", member.offset));
        }
        match scalar_kind(module, member.ty) {
            Some((kind, 4)) if kinds.contains(&kind) => {}
            other => problems.push(format!("{what}: `{name}` has type {other:?}")),
        }
    }
    if members.len() < fields.len() {
        let missing = &fields[members.len()..];
        problems.push(format!("{what}: the WGSL lacks fields {missing:?}"));
    }
    if *actual_span != span {
        problems.push(format!(
            "{what}: {actual_span} bytes in the WGSL, {span} on the host"
        ));
    }
}

fn u32_value(module: &Module, expression: naga::Handle<Expression>) -> Option<u64> {
    match module.global_expressions[expression] {
        Expression::Literal(Literal::U32(v)) => Some(u64::from(v)),
        Expression::Literal(Literal::I32(v)) => u64::try_from(v).ok(),
        Expression::Literal(Literal::AbstractInt(v)) => u64::try_from(v).ok(),
        _ => None,
    }
}

/// Everything in which `entry` disagrees with its WGSL, in words.
fn problems_of(entry: &EntryPoint) -> Vec<String> {
    let mut problems = Vec::new();
    let module = match wgsl::validate(entry.module) {
        Ok(module) => module,
        Err(error) => return vec![error],
    };
    let name = entry.name;
    let Some(ep) = module.entry_points.iter().find(|e| e.name == name) else {
        return vec![format!("shaders/{} has no entry point", entry.module.file)];
    };
    if ep.stage != naga::ShaderStage::Compute {
        problems.push(format!("stage {:?}", ep.stage));
    }

    // Bindings: 0 the shape uniform, 1 the frame (if used), 2.. the storage buffers.
    let mut storage_seen = vec![false; entry.bindings.len()];
    for (_, global) in module.global_variables.iter() {
        let Some(binding) = &global.binding else {
            continue;
        };
        let var = global.name.as_deref().unwrap_or("?");
        if binding.group != 0 {
            problems.push(format!("`{var}` is in group {}", binding.group));
            continue;
        }
        match (binding.binding, global.space) {
            (0, AddressSpace::Uniform) => {
                let span = 4 * padded_words(entry.uniform.len()) as u32;
                let kinds = [ScalarKind::Uint];
                let what = "shape uniform";
                let fields = entry.uniform;
                check_struct(
                    &module,
                    global.ty,
                    fields,
                    span,
                    what,
                    &kinds,
                    &mut problems,
                );
            }
            (1, AddressSpace::Uniform) => {
                let span = std::mem::size_of::<Frame>() as u32;
                let kinds = [ScalarKind::Uint, ScalarKind::Float];
                let fields = &Frame::FIELDS;
                check_struct(
                    &module,
                    global.ty,
                    fields,
                    span,
                    "frame",
                    &kinds,
                    &mut problems,
                );
            }
            (n, AddressSpace::Storage { access }) if n >= 2 => {
                let i = (n - 2) as usize;
                let Some(declared) = entry.bindings.get(i) else {
                    problems.push(format!("binding {n} `{var}` is not declared"));
                    continue;
                };
                storage_seen[i] = true;
                let wgsl_access = if access.contains(StorageAccess::STORE) {
                    Access::ReadWrite
                } else {
                    Access::Read
                };
                let element = element_of(&module, global.ty);
                let wgsl = (var, wgsl_access, element);
                let host = (declared.name, declared.access, Some(declared.element));
                if wgsl != host {
                    problems.push(format!(
                        "binding {n}: the WGSL has {wgsl:?}, the declaration {host:?}"
                    ));
                }
            }
            (n, space) => problems.push(format!("binding {n} `{var}` in {space:?}")),
        }
    }
    for (i, seen) in storage_seen.iter().enumerate() {
        if !seen {
            let declared = &entry.bindings[i];
            problems.push(format!("binding {} {declared:?} is not in the WGSL", i + 2));
        }
    }

    // Workgroup size, fixed or from an override.
    match entry.workgroup {
        Workgroup::Fixed(size) => {
            if ep.workgroup_size != size || ep.workgroup_size_overrides.is_some() {
                problems.push(format!(
                    "workgroup size {:?} in the WGSL, {size:?} declared",
                    ep.workgroup_size
                ));
            }
        }
        Workgroup::Override(wanted) => {
            let x = ep.workgroup_size_overrides.and_then(|o| o[0]);
            let named = x.and_then(|x| match module.global_expressions[x] {
                Expression::Override(h) => module.overrides[h].name.clone(),
                _ => None,
            });
            if named.as_deref() != Some(wanted) {
                problems.push(format!("workgroup width is {named:?}, declared {wanted}"));
            }
        }
    }

    // Every override of the module is the workgroup width or a declared specialization.
    let width = match entry.workgroup {
        Workgroup::Override(name) => Some(name),
        Workgroup::Fixed(_) => None,
    };
    let overrides: Vec<String> = module
        .overrides
        .iter()
        .filter_map(|(_, o)| o.name.clone())
        .collect();
    for name in &overrides {
        if Some(name.as_str()) != width && !entry.specializations.contains(&name.as_str()) {
            problems.push(format!("override {name} is not declared"));
        }
    }
    for name in entry.specializations {
        if !overrides.iter().any(|o| o == name) {
            problems.push(format!(
                "specialization {name} is not an override of the WGSL"
            ));
        }
    }
    for &(constant, value) in entry.constants {
        let found = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(constant))
            .map(|(_, c)| u32_value(&module, c.init));
        if found != Some(Some(u64::from(value))) {
            problems.push(format!("const {constant} is {found:?}, declared {value}"));
        }
    }
    let elementwise = entry
        .module
        .snippets
        .iter()
        .any(|s| std::ptr::eq(*s, &ELEMENTWISE));
    let folds = entry
        .constants
        .iter()
        .any(|(n, _)| *n == "ELEMENTWISE_WORKGROUP");
    if elementwise && !folds {
        problems.push("uses element_index but does not declare ELEMENTWISE_WORKGROUP".into());
    }

    let uses_subgroups = ep.function.arguments.iter().any(|a| {
        matches!(
            a.binding,
            Some(naga::Binding::BuiltIn(naga::BuiltIn::SubgroupInvocationId))
        )
    });
    if uses_subgroups != entry.needs_subgroups {
        problems.push(format!(
            "uses subgroups: {uses_subgroups}, declared needs_subgroups: {}",
            entry.needs_subgroups
        ));
    }
    problems
}

#[test]
fn every_kernel_declaration_matches_its_wgsl() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (kernel, entry) in entry_points() {
        for problem in problems_of(entry) {
            failures.push(format!(
                "{kernel} / {} (shaders/{}): {problem}",
                entry.name, entry.module.file
            ));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} entry points checked");
}

#[test]
fn every_composed_wgsl_module_validates_with_naga() {
    let failures: Vec<String> = entry_points()
        .filter_map(|(_, entry)| wgsl::validate(entry.module).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn kernels_are_named_for_their_files_and_entry_points_are_unique() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut names = std::collections::HashSet::new();
    for spec in ALL_KERNELS {
        assert!(names.insert(spec.name), "two kernels named {}", spec.name);
        let rust = format!("{root}/src/kernels/{}.rs", spec.name);
        assert!(std::path::Path::new(&rust).exists(), "{rust} is missing");
        // shaders/<name>.wgsl, or shaders/<name>_<variant>.wgsl for a kernel with variants.
        for entry in spec.entry_points {
            let file = entry.module.file;
            let stem = file.trim_end_matches(".wgsl");
            let named = stem == spec.name || stem.starts_with(&format!("{}_", spec.name));
            assert!(
                named,
                "{}: its entry {} lives in {file}",
                spec.name, entry.name
            );
        }
    }
    let mut entries = std::collections::HashSet::new();
    for (_, entry) in entry_points() {
        assert!(
            entries.insert(entry.name),
            "two entry points {}",
            entry.name
        );
    }
}

/// The checker finds drift: a declaration with the bindings of bias_act swapped, a uniform field
/// renamed, the wrong workgroup size, a wrong constant and a specialization the WGSL lacks.
#[test]
fn a_drifted_declaration_is_caught() {
    static MODULE: ShaderModule = ShaderModule {
        file: "bias_act.wgsl",
        source: include_str!("../shaders/bias_act.wgsl"),
        snippets: &[&ELEMENTWISE, &wgsl::CONTINUOUS_BERNOULLI, &wgsl::ACTIVATION],
    };
    static DRIFTED: EntryPoint = EntryPoint {
        module: &MODULE,
        name: "bias_act",
        workgroup: Workgroup::Fixed([128, 1, 1]),
        uniform: &["rows", "cols", "activation", "x_offset", "bias_offset"],
        bindings: &[
            Binding::write("x", Element::F32),
            Binding::read("bias", Element::F32),
        ],
        constants: &[("ELEMENTWISE_WORKGROUP", 64)],
        needs_subgroups: false,
        specializations: &["GHOST"],
    };
    let problems = problems_of(&DRIFTED).join("\n");
    for expected in [
        "field 2 is `act` in the WGSL, `activation`",
        "binding 2: the WGSL has",
        "binding 3: the WGSL has",
        "workgroup size [256, 1, 1] in the WGSL",
        "const ELEMENTWISE_WORKGROUP is Some(Some(256)), declared 64",
        "specialization GHOST is not an override of the WGSL",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
}

#[test]
fn a_broken_shader_is_reported_with_its_file_and_line() {
    static BROKEN: ShaderModule = ShaderModule {
        file: "broken.wgsl",
        source: "fn f() -> f32 {\n    return undefined_name;\n}\n",
        snippets: &[&ELEMENTWISE],
    };
    let error = wgsl::validate(&BROKEN).unwrap_err();
    assert!(error.contains("shaders/broken.wgsl:2"), "{error}");
}

/// The workgroup-memory matmul kernels (for real GPUs) keep their accumulators and loaded values
/// in named vectors and structs, never in function-scope arrays. An earlier 128 x 128 kernel that
/// kept its accumulators in arrays indexed in loops ran 4.6x slower than the 64 x 64 one on an
/// NVIDIA H200; whether the arrays were the cause is not known (the subgroup kernels, written
/// for lavapipe, hold an array of 32 vec4s and ran fast there), so these kernels rule it out.
#[test]
fn workgroup_memory_matmul_kernels_hold_no_function_scope_arrays() {
    let matmul = ALL_KERNELS
        .iter()
        .find(|spec| spec.name == "matmul")
        .expect("the matmul kernel");
    let mut files = Vec::new();
    for entry in matmul.entry_points {
        if files.contains(&entry.module.file) || !entry.name.starts_with("matmul_tiled") {
            continue;
        }
        files.push(entry.module.file);
        let module = wgsl::validate(entry.module).unwrap();
        let functions = module
            .functions
            .iter()
            .map(|(_, f)| f)
            .chain(module.entry_points.iter().map(|e| &e.function));
        for function in functions {
            for (_, local) in function.local_variables.iter() {
                assert!(
                    !matches!(module.types[local.ty].inner, TypeInner::Array { .. }),
                    "{}: {:?} declares the array {:?}",
                    entry.module.file,
                    function.name,
                    local.name
                );
            }
        }
    }
    assert_eq!(files, ["matmul_tiled.wgsl", "matmul_tiled128.wgsl"]);
}

/// The workgroup memory `can_run` checks adapters for is what matmul_tiled128.wgsl declares.
#[test]
fn tiled128_declares_the_workgroup_memory_the_host_checks_for() {
    let entry = entry_points()
        .find(|(_, e)| e.name == "matmul_tiled128")
        .expect("matmul_tiled128")
        .1;
    let module = wgsl::validate(entry.module).unwrap();
    let bytes: u32 = module
        .global_variables
        .iter()
        .filter(|(_, g)| g.space == AddressSpace::WorkGroup)
        .map(|(_, g)| module.types[g.ty].inner.size(module.to_ctx()))
        .sum();
    assert_eq!(bytes, vae_gpu::kernels::matmul::TILED128_WORKGROUP_BYTES);
}
