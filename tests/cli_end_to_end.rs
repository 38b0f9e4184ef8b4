//! The binary end to end on a small slice of the embedded data: `train` writes a readable run
//! folder, `sample` loads the checkpoint it wrote, the same seed gives the same run, and bad input
//! fails with a message that names the problem, before any device is opened.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vae_gpu::checkpoint;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn vae_gpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Whether the GPU tests run here (`VAE_GPU_SKIP_GPU_TESTS=1` without an adapter skips them).
fn have_gpu() -> bool {
    common::gpu().is_some()
}

fn succeed(args: &[&str]) -> String {
    let out = vae_gpu(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "vae-gpu {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a command that must fail once it runs on the device.
fn fail_on_the_device(args: &[&str]) -> String {
    let out = vae_gpu(args);
    assert!(!out.status.success(), "vae-gpu {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs a command that must fail before it opens a device: the adapter filter matches nothing, so
/// reaching the GPU would fail with another message.
fn fail(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
        .args(args)
        .env("VAE_GPU_ADAPTER", "no adapter has this name")
        .output()
        .expect("the binary runs");
    assert!(!out.status.success(), "vae-gpu {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

const TINY: [&str; 14] = [
    "train",
    "--epochs",
    "2",
    "--train-limit",
    "300",
    "--test-limit",
    "70",
    "--batch-size",
    "64",
    "--hidden",
    "32",
    "--latent",
    "4",
    "--seed=3",
];

fn train_into(run_dir: &Path, runs: &Path) -> String {
    let mut args: Vec<&str> = TINY.to_vec();
    let run_dir = run_dir.to_str().unwrap();
    let runs = runs.to_str().unwrap();
    args.extend(["--run-dir", run_dir, "--runs", runs]);
    succeed(&args)
}

fn png_size(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

/// metrics.jsonl without the wall-clock fields.
fn metrics_without_timing(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            object.remove("seconds");
            object.remove("images_per_second");
            value
        })
        .collect()
}

#[test]
fn train_writes_a_readable_run_and_sample_reads_it() {
    if !have_gpu() {
        return;
    }
    let dir = scratch("run");
    let runs = dir.join("runs");
    let run = runs.join("first");
    let stdout = train_into(&run, &runs);
    assert!(stdout.contains("epoch   2/2"), "{stdout}");

    let (tensors, metadata) = checkpoint::load(&run.join("model.safetensors")).unwrap();
    assert_eq!(metadata["hidden"], "32");
    assert_eq!(metadata["latent"], "4");
    assert_eq!(metadata["epochs"], "2");
    let weight = tensors
        .iter()
        .find(|t| t.name == "encoder.0.weight")
        .unwrap();
    assert_eq!(weight.shape, vec![32, 784]);
    assert!(tensors.iter().all(|t| t.data.iter().all(|v| v.is_finite())));

    let metrics = metrics_without_timing(&run);
    assert_eq!(metrics.len(), 2);
    let value = |epoch: usize, key: &str| metrics[epoch][key].as_f64().unwrap();
    for epoch in 0..2 {
        assert_eq!(value(epoch, "epoch"), (epoch + 1) as f64);
        for key in ["train_loss", "test_reconstruction", "test_kl"] {
            assert!(value(epoch, key) > 0.0, "{key} of epoch {epoch}");
        }
    }
    // It learned: the second epoch's losses are below the first's.
    for key in ["train_loss", "test_loss"] {
        assert!(
            value(1, key) < value(0, key),
            "{key} did not fall: {metrics:?}"
        );
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header and two epochs:\n{csv}");

    // 64 samples, 8 to a row, 28x28 with 2 pixels between and around.
    assert_eq!(png_size(&run.join("samples.png")), (242, 242));
    // 16 test images in 2 rows of 8, above their 16 reconstructions.
    assert_eq!(png_size(&run.join("reconstructions.png")), (242, 124));
    assert_eq!(
        std::fs::canonicalize(runs.join("latest")).unwrap(),
        std::fs::canonicalize(&run).unwrap()
    );

    let grid = dir.join("grid.png");
    let runs_arg = runs.to_str().unwrap();
    succeed(&[
        "sample",
        "--out",
        grid.to_str().unwrap(),
        "--runs",
        runs_arg,
    ]);
    assert_eq!(png_size(&grid), (242, 242));
    let small = dir.join("ten.png");
    let checkpoint = run.join("model.safetensors");
    succeed(&[
        "sample",
        "--out",
        small.to_str().unwrap(),
        "--n",
        "10",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert_eq!(png_size(&small), (122, 92), "10 samples: 4 columns, 3 rows");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_same_seed_gives_the_same_run() {
    if !have_gpu() {
        return;
    }
    let dir = scratch("repro");
    let runs = dir.join("runs");
    train_into(&runs.join("a"), &runs);
    train_into(&runs.join("b"), &runs);
    assert_eq!(
        metrics_without_timing(&runs.join("a")),
        metrics_without_timing(&runs.join("b"))
    );
    // Same tensors bit for bit and same metadata (the file bytes may differ: the safetensors
    // crate writes metadata from a hash map, in no fixed order).
    let (a, meta_a) = checkpoint::load(&runs.join("a/model.safetensors")).unwrap();
    let (b, meta_b) = checkpoint::load(&runs.join("b/model.safetensors")).unwrap();
    assert_eq!(meta_a, meta_b);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.name, y.name);
        let same = x
            .data
            .iter()
            .zip(&y.data)
            .all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(
            same,
            "{} differs between two runs with the same seed",
            x.name
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_fails_with_a_message_naming_the_problem() {
    let dir = scratch("errors");
    let missing = dir.join("missing.safetensors");
    let stderr = fail(&["sample", "--checkpoint", missing.to_str().unwrap()]);
    assert!(stderr.contains("missing.safetensors"), "{stderr}");

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    let stderr = fail(&["sample", "--checkpoint", garbage.to_str().unwrap()]);
    assert!(stderr.contains("garbage.safetensors"), "{stderr}");

    let stderr = fail(&["sample", "--runs", dir.join("no-runs").to_str().unwrap()]);
    assert!(stderr.contains("train a model first"), "{stderr}");

    let stderr = fail(&[
        "train",
        "--data",
        dir.join("nothing-here").to_str().unwrap(),
    ]);
    assert!(stderr.contains("nothing-here"), "{stderr}");

    let used = dir.join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("keep.txt"), b"earlier run").unwrap();
    let mut args: Vec<&str> = TINY.to_vec();
    args.extend(["--run-dir", used.to_str().unwrap()]);
    let stderr = fail(&args);
    assert!(stderr.contains("already holds files"), "{stderr}");
    assert_eq!(
        std::fs::read(used.join("keep.txt")).unwrap(),
        b"earlier run"
    );

    let stderr = fail(&["train", "--hidden", "400,0"]);
    assert!(stderr.contains("hidden layer 2 has width 0"), "{stderr}");
    let stderr = fail(&["train", "--latent", "0"]);
    assert!(
        stderr.contains("latent size must be at least 1"),
        "{stderr}"
    );
    let stderr = fail(&["train", "--channels", "3"]);
    assert!(stderr.contains("apply to folders of PNG/JPEG"), "{stderr}");
    let stderr = fail(&["train", "--image-size", "0x5"]);
    assert!(stderr.contains("between 1 and"), "{stderr}");
    let stderr = fail(&["train", "--epochs", "0"]);
    assert!(stderr.contains("epochs must be at least 1"), "{stderr}");
    let stderr = fail(&["train", "--batch-size", "0"]);
    assert!(stderr.contains("batch size must be at least 1"), "{stderr}");
    let stderr = fail(&["sample", "--n", "0"]);
    assert!(stderr.contains("--n must be at least 1"), "{stderr}");
    // Valid input reaches the device, which `fail` makes unfindable: then no run folder is made.
    let new = dir.join("new");
    let stderr = fail(&["train", "--epochs", "1", "--run-dir", new.to_str().unwrap()]);
    assert!(stderr.contains("no GPU adapter"), "{stderr}");
    assert!(!new.exists(), "a run folder was left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_good_checkpoint() {
    if !have_gpu() {
        return;
    }
    let dir = scratch("diverge");
    let run = dir.join("run");
    let mut args: Vec<&str> = TINY.to_vec();
    args[2] = "4";
    args.extend(["--lr", "1e3", "--run-dir", run.to_str().unwrap()]);
    args.extend(["--runs", dir.to_str().unwrap()]);
    let stderr = fail_on_the_device(&args);
    assert!(stderr.contains("diverged"), "{stderr}");
    // With this seed the loss is finite after epoch 1 and NaN in epoch 2 (on lavapipe).
    let kept = stderr
        .split("the checkpoint of epoch ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no checkpoint kept: {stderr}"));
    let (tensors, metadata) = checkpoint::load(&run.join("model.safetensors")).unwrap();
    assert_eq!(metadata["epochs"], kept);
    assert!(tensors.iter().all(|t| t.data.iter().all(|v| v.is_finite())));
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
            .to_string(),
        kept
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A learning rate so large that Adam's first step size is infinite: the first update makes a
/// parameter NaN (0 × ∞ where a pixel is always black), which the GPU records and the message
/// names, with the step, before any loss shows it.
#[test]
fn a_non_finite_parameter_is_named_with_its_step() {
    if !have_gpu() {
        return;
    }
    let dir = scratch("nonfinite");
    let mut args: Vec<&str> = TINY.to_vec();
    let run = dir.join("run");
    args.extend(["--lr", "3e38", "--run-dir", run.to_str().unwrap()]);
    args.extend(["--runs", dir.to_str().unwrap()]);
    let stderr = fail_on_the_device(&args);
    assert!(
        stderr.contains(
            "at step 1: the update made `encoder.0.weight` non-finite (first at index 0)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("learning rate (3e38)"), "{stderr}");
    assert!(stderr.contains("no checkpoint was written"), "{stderr}");
    assert!(!run.join("model.safetensors").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cpu_reference_training_matches_the_gpu_run() {
    if !have_gpu() {
        return;
    }
    let dir = scratch("cpu");
    let runs = dir.join("runs");
    train_into(&runs.join("gpu"), &runs);
    let mut args: Vec<&str> = TINY.to_vec();
    let cpu_run = runs.join("cpu");
    args.extend(["--cpu-reference", "--run-dir", cpu_run.to_str().unwrap()]);
    let stdout = succeed(&args);
    assert!(stdout.contains("CPU reference"), "{stdout}");
    let gpu = metrics_without_timing(&runs.join("gpu"));
    let cpu = metrics_without_timing(&cpu_run);
    assert_eq!(gpu.len(), 2, "epochs of the GPU run");
    assert_eq!(cpu.len(), gpu.len(), "epochs of the CPU run");
    for (g, c) in gpu.iter().zip(&cpu) {
        for key in ["train_loss", "test_loss", "test_kl"] {
            let (g, c) = (g[key].as_f64().unwrap(), c[key].as_f64().unwrap());
            assert!((g - c).abs() <= 1e-3 * c.abs(), "{key}: gpu {g}, cpu {c}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bench --baseline-shaders`: a folder holding a copy of a built-in shader is timed alongside,
/// kernel by kernel, with several steps per submit; a file no kernel uses is refused, named. The
/// JSON report names the kernels each product shape ran.
#[test]
fn bench_times_a_shader_folder_alongside_and_refuses_unknown_files() {
    if !have_gpu() {
        return;
    }
    let dir = scratch("bench-shaders");
    let shaders = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    // Adam's arithmetic, which both of its entry points share.
    std::fs::copy(shaders.join("adam_step.wgsl"), dir.join("adam_step.wgsl")).unwrap();
    let folder = dir.to_str().unwrap();
    let small = [
        "bench",
        "--batch-sizes",
        "8",
        "--kernel-batch",
        "8",
        "--steps",
        "3",
        "--repeats",
        "2",
        "--steps-per-submit",
        "2",
        "--hidden",
        "16",
        "--latent",
        "3",
    ];
    let args: Vec<&str> = small
        .iter()
        .copied()
        .chain(["--baseline-shaders", folder])
        .collect();
    let report = succeed(&args);
    assert!(
        report.contains("baseline shaders (timed alongside)"),
        "{report}"
    );
    assert!(
        report.contains("3 per timed repeat, 2 per submit"),
        "{report}"
    );
    if report.contains("GPU timestamps") {
        assert!(report.contains("baseline ms"), "{report}");
    }
    let json: Vec<&str> = small.iter().copied().chain(["--json"]).collect();
    let json: serde_json::Value = serde_json::from_str(&succeed(&json)).unwrap();
    let shapes = json["matmul_shapes"].as_object().expect("matmul_shapes");
    for form in ["NT ", "NN ", "TN "] {
        assert!(shapes.keys().any(|k| k.starts_with(form)), "{shapes:?}");
    }
    std::fs::write(dir.join("adams.wgsl"), "// misspelt").unwrap();
    let args: Vec<&str> = small
        .iter()
        .copied()
        .chain(["--baseline-shaders", folder])
        .collect();
    let error = fail_on_the_device(&args);
    assert!(
        error.contains("adams.wgsl") && error.contains("no kernel uses"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The command line switches Mesa's device-select layer off itself (headless it prints
/// "XDG_RUNTIME_DIR is invalid" for every Vulkan instance), also when the environment does not
/// (cargo sets NODEVICE_SELECT for the tests: here it is taken away). Where the layer is not
/// installed the line never comes either way.
#[test]
fn the_command_line_prints_no_device_select_noise() {
    if !have_gpu() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
        .arg("info")
        .env_remove("NODEVICE_SELECT")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

/// On a CPU adapter the command line asks lavapipe for two workers per core unless the user set
/// LP_NUM_THREADS, whose value it then leaves as it is; `info` says which.
#[test]
fn the_command_line_gives_lavapipe_two_workers_per_core_unless_told() {
    if !have_gpu() {
        return;
    }
    let info = |threads: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vae-gpu"));
        command.arg("info").env_remove("LP_NUM_THREADS");
        if let Some(threads) = threads {
            command.env("LP_NUM_THREADS", threads);
        }
        let out = command.output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let default = info(None);
    if !default
        .lines()
        .any(|l| l.starts_with("chosen:") && l.contains("Cpu"))
    {
        return;
    }
    let cores = std::thread::available_parallelism().unwrap().get();
    let expected = format!("CPU workers: LP_NUM_THREADS={} (set by vae-gpu", 2 * cores);
    assert!(default.contains(&expected), "{default}");
    let chosen = info(Some("3"));
    assert!(
        chosen.contains("CPU workers: LP_NUM_THREADS=3 (yours)"),
        "{chosen}"
    );
}
