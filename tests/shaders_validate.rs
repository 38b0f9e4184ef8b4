//! Every composed WGSL module parses and validates with naga, so a shader error fails `cargo test`
//! with the file and line, before any device is involved.

use vae_gpu::gpu::shaders::{validate, ALL_MODULES};

#[test]
fn every_composed_wgsl_module_validates_with_naga() {
    let failures: Vec<String> = ALL_MODULES
        .iter()
        .filter_map(|module| validate(module).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_kernel_entry_point_exists_in_its_module() {
    use vae_gpu::gpu::Kernel;
    let kernels = [
        Kernel::Matmul,
        Kernel::MatmulNn,
        Kernel::MatmulNt,
        Kernel::MatmulTn,
        Kernel::BiasAct,
        Kernel::BiasActBackward,
        Kernel::ColumnSum,
        Kernel::SumInto,
        Kernel::KlRows,
        Kernel::KlBackward,
        Kernel::BceRows,
        Kernel::Reparameterize,
        Kernel::ReparameterizeBackward,
        Kernel::Adam,
        Kernel::Gather,
        Kernel::Normal,
        Kernel::PhiloxBlocks,
    ];
    for kernel in kernels {
        let module = validate(kernel.module()).unwrap();
        assert!(
            module
                .entry_points
                .iter()
                .any(|e| e.name == kernel.entry_point()),
            "{} has no entry point {}",
            kernel.module().file,
            kernel.entry_point()
        );
    }
}

#[test]
fn a_broken_shader_is_reported_with_its_file_and_line() {
    use vae_gpu::gpu::shaders::{ShaderModule, ELEMENTWISE};
    static BROKEN: ShaderModule = ShaderModule {
        file: "broken.wgsl",
        source: "fn f() -> f32 {\n    return undefined_name;\n}\n",
        snippets: &[&ELEMENTWISE],
    };
    let error = validate(&BROKEN).unwrap_err();
    assert!(error.contains("shaders/broken.wgsl:2"), "{error}");
}
