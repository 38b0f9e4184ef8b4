//! The matmul kernels chosen per adapter by timing: timed once and cached under the adapter's
//! key, read back from the cache the second time, timed again over a broken cache file; and the
//! choice shown by `vae-gpu info`.

mod common;

use std::process::Command;

use vae_gpu::gpu::autotune::{self, Source, CACHE_FILE};
use vae_gpu::gpu::GpuBackend;

#[test]
fn the_choice_is_timed_once_cached_and_reused() {
    let Some(mut gpu) = common::gpu() else { return };
    let dir = std::env::temp_dir().join(format!("vae-gpu-choice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut warnings = Vec::new();
    let (first, source) =
        autotune::choose(&mut gpu, Some(&dir), |w| warnings.push(w.to_string())).unwrap();
    let file = dir.join(CACHE_FILE);
    assert_eq!(source, Source::Timed(Some(file.clone())));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(gpu.matmul_strategy(), first.chosen);
    // The rule-based default is always among the candidates timed.
    let default = GpuBackend::best_matmul_strategy(gpu.context());
    let name = format!("{default:?}").to_lowercase();
    assert!(first.times_ms.contains_key(&name), "{:?}", first.times_ms);
    assert!(first
        .times_ms
        .values()
        .all(|ms| ms.is_finite() && *ms > 0.0));
    let cached = std::fs::read_to_string(&file).unwrap();
    assert!(cached.contains(&autotune::adapter_key(&gpu)), "{cached}");

    let (second, source) = autotune::choose(&mut gpu, Some(&dir), |_| {}).unwrap();
    assert_eq!(source, Source::Cached(file.clone()));
    // The same choice (the times come back from JSON up to its last decimal).
    assert_eq!(second.chosen, first.chosen);
    assert!(second.times_ms.keys().eq(first.times_ms.keys()));
    for (name, ms) in &first.times_ms {
        assert!((second.times_ms[name] - ms).abs() < 1e-9 * ms, "{name}");
    }

    std::fs::write(&file, "not json").unwrap();
    let (_, source) = autotune::choose(&mut gpu, Some(&dir), |_| {}).unwrap();
    assert_eq!(source, Source::Timed(Some(file.clone())));
    assert!(std::fs::read_to_string(&file).unwrap().contains("times_ms"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn info_shows_the_matmul_choice_and_where_it_came_from() {
    if common::gpu().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vae-gpu-choice-info-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let info = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
            .args(["info", "--cache", dir.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(info(&[]).contains("matmul kernels:") && info(&[]).contains("cached in"));
    assert!(info(&["--matmul", "tiled"]).contains("matmul kernels: Tiled (--matmul)"));
    std::fs::remove_dir_all(&dir).unwrap();
}
