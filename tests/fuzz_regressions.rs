//! Replays the fuzz targets' seeds and every input the fuzzer once crashed on
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) through the same harness code, so that
//! a fixed crash stays fixed in CI without a nightly toolchain.

use std::path::{Path, PathBuf};

use vae_gpu::fuzzing::{checkpoint_loader, idx_reader, value_parsers};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        for path in inputs(kind, target) {
            eprintln!("{}", path.display());
            harness(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    count
}

#[test]
fn idx_inputs_replay_without_panics() {
    assert!(replay("idx", idx_reader) >= 4);
}

#[test]
fn checkpoint_inputs_replay_without_panics() {
    assert!(replay("checkpoint", checkpoint_loader) >= 3);
}

#[test]
fn value_inputs_replay_without_panics() {
    assert!(replay("values", value_parsers) >= 6);
}

/// The seeds are valid files, so that fuzzing starts from inputs that reach deep code.
#[test]
fn the_seeds_are_valid_inputs() {
    for path in inputs("seeds", "idx") {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let parsed = if name.starts_with("images") {
            vae_gpu::data::idx::parse_images(&bytes, &name).map(|_| ())
        } else {
            vae_gpu::data::idx::parse_labels(&bytes, &name).map(|_| ())
        };
        parsed.unwrap_or_else(|e| panic!("{e}"));
    }
    for path in inputs("seeds", "checkpoint") {
        vae_gpu::workflows::sample::load_model(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}
