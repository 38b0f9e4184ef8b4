//! The matmul kernels chosen per adapter and per product shape by timing: timed once and cached
//! under the adapter's key, read back from the cache the second time, timed again over a broken
//! cache file; a cached choice for one shape runs that shape only; a resumed run's choices are
//! taken as they are; and the choice shown by `vae-gpu info`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use vae_gpu::backend::Backend;
use vae_gpu::gpu::autotune::{self, ShapeChoice, ShapeTiming, Source, CACHE_FILE};
use vae_gpu::gpu::GpuBackend;
use vae_gpu::kernels::{MatMul, MatmulStrategy, Op, Tuning};
use vae_gpu::ops::{Frame, View};
use vae_gpu::tolerance;

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
    let name = default.name().to_string();
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

/// A product of these sizes on fresh random buffers of the pair, C poisoned.
fn product(
    pair: &mut common::Pair,
    (m, n, k): (usize, usize, usize),
    trans: (bool, bool),
    seed: u64,
) -> MatMul {
    let a = pair.input(&common::random(m * k, 1.0, seed));
    let b = pair.input(&common::random(k * n, 1.0, seed + 1));
    let c = pair.poisoned(m * n);
    MatMul {
        a: View::whole(a, m * k),
        b: View::whole(b, k * n),
        c: View::whole(c, m * n),
        m,
        n,
        k,
        trans_a: trans.0,
        trans_b: trans.1,
        accumulate: false,
        epilogue: None,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn each_product_shape_is_timed_once_then_read_from_the_cache() {
    let Some(mut pair) = common::Pair::new() else {
        return;
    };
    let dir = temp_dir("shapes");
    let (adapter, _) = autotune::choose(&mut pair.gpu, Some(&dir), |_| {}).unwrap();
    let forward = product(&mut pair, (12, 20, 36), (false, true), 1);
    let weight_grad = product(&mut pair, (20, 36, 12), (true, false), 3);
    let ops: Vec<Op> = vec![forward.into(), weight_grad.into(), forward.into()];
    let buffers_before = pair.gpu.allocated_bytes();
    pair.gpu
        .set_shape_timing(Some(ShapeTiming::new(&adapter, Some(&dir), |w| {
            panic!("{w}")
        })));
    pair.run(&ops, &Frame::default());
    // The scratch buffers of the timing are gone again (and buffer ids still agree with the CPU's).
    assert_eq!(pair.gpu.allocated_bytes(), buffers_before);
    let tuning = pair.gpu.tuning();
    let keys: Vec<&str> = tuning.matmul_shapes.keys().map(String::as_str).collect();
    assert_eq!(keys, ["NT 12x20x36", "TN 20x36x12"]);
    let timing = pair.gpu.set_shape_timing(None).unwrap();
    assert_eq!((timing.timed, timing.cached), (2, 0));
    // Whatever was chosen computes the products.
    pair.check("forward", forward.c, tolerance::KERNEL_REDUCTION);
    pair.check(
        "weight gradient",
        weight_grad.c,
        tolerance::KERNEL_REDUCTION,
    );
    let cache = std::fs::read_to_string(dir.join(CACHE_FILE)).unwrap();
    assert!(
        cache.contains("NT 12x20x36") && cache.contains("TN 20x36x12"),
        "{cache}"
    );

    // Another backend on the same adapter reads both from the cache and times nothing.
    let mut gpu = common::gpu().unwrap();
    let (adapter, source) = autotune::choose(&mut gpu, Some(&dir), |_| {}).unwrap();
    assert!(matches!(source, Source::Cached(_)));
    assert_eq!(adapter.shapes.len(), 2);
    gpu.set_shape_timing(Some(ShapeTiming::new(&adapter, Some(&dir), |w| {
        panic!("{w}")
    })));
    let (a, b, c) = (
        gpu.create_buffer("a", 12 * 36).unwrap(),
        gpu.create_buffer("b", 20 * 36).unwrap(),
        gpu.create_buffer("c", 12 * 20).unwrap(),
    );
    let again = MatMul {
        a: View::whole(a, 12 * 36),
        b: View::whole(b, 20 * 36),
        c: View::whole(c, 12 * 20),
        ..forward
    };
    gpu.prepare(&[again.into()]).unwrap();
    assert_eq!(gpu.tuning().matmul_shapes, {
        let mut only = tuning.matmul_shapes.clone();
        only.retain(|key, _| key == "NT 12x20x36");
        only
    });
    let timing = gpu.set_shape_timing(None).unwrap();
    assert_eq!((timing.timed, timing.cached), (0, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_choice_per_shape_picks_the_kernels_of_that_shape_only() {
    let Some(mut pair) = common::Pair::new() else {
        return;
    };
    let dir = temp_dir("planted-shape");
    let (mut adapter, _) = autotune::choose(&mut pair.gpu, Some(&dir), |_| {}).unwrap();
    // A cache that says: the tiled kernel for one shape, the adapter's family for another.
    let planted = "NN 12x20x36";
    for (shape, chosen) in [
        (planted, MatmulStrategy::Tiled),
        ("NN 12x24x36", adapter.chosen),
    ] {
        adapter.shapes.insert(
            shape.to_string(),
            ShapeChoice {
                chosen,
                times_ms: Default::default(),
            },
        );
    }
    let mut all = std::collections::BTreeMap::new();
    all.insert(autotune::adapter_key(&pair.gpu), adapter.clone());
    std::fs::write(dir.join(CACHE_FILE), serde_json::to_string(&all).unwrap()).unwrap();

    pair.gpu
        .set_shape_timing(Some(ShapeTiming::new(&adapter, Some(&dir), |w| {
            panic!("{w}")
        })));
    let tiled = product(&mut pair, (12, 20, 36), (false, false), 5);
    let other = product(&mut pair, (12, 24, 36), (false, false), 7);
    let ops: Vec<Op> = vec![tiled.into(), other.into()];
    pair.run(&ops, &Frame::default());
    assert_eq!(pair.gpu.entry_point(&ops[0]), "matmul_tiled");
    let family = adapter.chosen.name();
    let expected = if family == "tiled" {
        "matmul_tiled".to_string()
    } else {
        format!("matmul_{family}_nn")
    };
    assert_eq!(pair.gpu.entry_point(&ops[1]), expected);
    assert!(pair
        .gpu
        .tuning()
        .describe_matmul()
        .contains("Tiled for NN 12x20x36"));
    let timing = pair.gpu.set_shape_timing(None).unwrap();
    assert_eq!((timing.timed, timing.cached), (0, 2));
    pair.check("planted tiled shape", tiled.c, tolerance::KERNEL_REDUCTION);
    pair.check("the other shape", other.c, tolerance::KERNEL_REDUCTION);

    // A resumed run's kernels are taken as they are: no shape is timed, a new one runs `matmul`.
    let mut resumed = pair.gpu.tuning();
    resumed
        .matmul_shapes
        .insert(planted.to_string(), MatmulStrategy::Vec4);
    pair.gpu
        .set_shape_timing(Some(ShapeTiming::new(&adapter, Some(&dir), |w| {
            panic!("{w}")
        })));
    pair.gpu.set_tuning(resumed.clone()).unwrap();
    assert!(pair.gpu.set_shape_timing(None).is_none());
    let new_shape = product(&mut pair, (8, 16, 4), (false, true), 9);
    pair.gpu.prepare(&[new_shape.into()]).unwrap();
    assert_eq!(pair.gpu.tuning(), resumed);
    assert_eq!(pair.gpu.entry_point(&ops[0]), "matmul_vec4_nn");

    // with_matmul runs everything on one family and puts the choices back.
    let inside = pair
        .gpu
        .with_matmul(MatmulStrategy::Scalar, |gpu| gpu.entry_point(&ops[0]))
        .unwrap();
    assert_eq!(inside, "matmul_scalar");
    assert_eq!(pair.gpu.tuning(), resumed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn states_from_before_the_choice_per_shape_run_every_shape_on_their_family() {
    let old = r#"{"matmul":"vec4","subgroup_lanes":8,"fold_limit":65535,"reduction_lanes":1,"row_lanes":8}"#;
    let tuning: Tuning = serde_json::from_str(old).unwrap();
    assert!(tuning.matmul_shapes.is_empty());
    assert_eq!(tuning.matmul_for("NT 128x400x784"), MatmulStrategy::Vec4);
}

/// A shape whose scratch copies do not fit runs the adapter's kernels, untimed and uncached, and
/// the user is told which shape; the program still prepares and computes.
#[test]
fn a_shape_too_large_to_time_runs_the_adapters_kernels_with_a_warning() {
    let Some(mut pair) = common::Pair::new() else {
        return;
    };
    let dir = temp_dir("too-large");
    let product = product(&mut pair, (64, 48, 40), (false, true), 11);
    // Every buffer from now on is refused: the scratch operands of the timing are.
    pair.gpu.set_buffer_limit(64);
    let default = GpuBackend::best_matmul_strategy(pair.gpu.context());
    let adapter = autotune::MatmulChoice {
        chosen: default,
        // No times: every family is a candidate, so the shape would be timed.
        times_ms: Default::default(),
        shapes: Default::default(),
    };
    let warnings = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let sink = warnings.clone();
    pair.gpu
        .set_shape_timing(Some(ShapeTiming::new(&adapter, Some(&dir), move |w| {
            sink.borrow_mut().push(w.to_string())
        })));
    pair.run(&[product.into()], &Frame::default());
    pair.check("untimed shape", product.c, tolerance::KERNEL_REDUCTION);
    assert_eq!(pair.gpu.tuning().matmul_for("NT 64x48x40"), default);
    let warnings = warnings.borrow();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("NT 64x48x40") && warnings[0].contains("could not time"),
        "{}",
        warnings[0]
    );
    let timing = pair.gpu.set_shape_timing(None).unwrap();
    assert_eq!((timing.timed, timing.cached), (0, 0));
    assert!(!dir.join(CACHE_FILE).exists());
}

/// The 128 x 128 tiles are timed on the layer only where the 64 x 64 tiles were within
/// `FAR_BEHIND` of the best of the other families, and a shape is timed only under the families
/// timed (and not far behind) on the layer.
#[test]
fn the_128_tiles_are_timed_only_where_the_64_tiles_were_close() {
    let Some(mut pair) = common::Pair::new() else {
        return;
    };
    let adapter = autotune::time_candidates(&mut pair.gpu).unwrap();
    let times = &adapter.times_ms;
    if !times.contains_key("tiled") {
        eprintln!("skipped: only one matmul family was timed ({times:?})");
        return;
    }
    let best_of_first = ["subgroup", "vec4", "tiled"]
        .iter()
        .filter_map(|family| times.get(*family).copied())
        .fold(f64::INFINITY, f64::min);
    let close = times["tiled"] <= autotune::FAR_BEHIND * best_of_first;
    let can_run = pair.gpu.can_run(MatmulStrategy::Tiled128);
    assert_eq!(
        times.contains_key("tiled128"),
        close && can_run,
        "{times:?}"
    );

    let dir = temp_dir("tiled128-gate");
    pair.gpu
        .set_shape_timing(Some(ShapeTiming::new(&adapter, Some(&dir), |w| {
            panic!("{w}")
        })));
    let forward = product(&mut pair, (12, 20, 36), (false, true), 1);
    pair.run(&[forward.into()], &Frame::default());
    pair.gpu.set_shape_timing(None).unwrap();
    let cache = std::fs::read_to_string(dir.join(CACHE_FILE)).unwrap();
    let all: std::collections::BTreeMap<String, autotune::MatmulChoice> =
        serde_json::from_str(&cache).unwrap();
    let shape = &all[&autotune::adapter_key(&pair.gpu)].shapes["NT 12x20x36"];
    let chosen_ms = times[adapter.chosen.name()];
    for family in shape.times_ms.keys() {
        assert!(
            times[family] <= autotune::FAR_BEHIND * chosen_ms,
            "{family} timed per shape: {shape:?}, on the layer {times:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
