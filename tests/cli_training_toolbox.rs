//! The training toolbox through the binary on small slices of the embedded data: resume is
//! bit-for-bit, early stopping keeps the best epoch and says why it stopped, a sweep names its
//! winner, and every bad value of a training flag gets one line naming the flag, before any
//! device opens.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vae_gpu::checkpoint;
use vae_gpu::workflows::state::SavedState;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-toolbox-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn vae_gpu(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vae-gpu"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn succeed(args: &[&str]) -> String {
    let out = vae_gpu(args, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "vae-gpu {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a command that must fail before it opens a device (the adapter filter matches nothing)
/// and returns its one line of error.
fn fails_before_the_device(args: &[&str]) -> String {
    let out = vae_gpu(args, &[("VAE_GPU_ADAPTER", "no adapter has this name")]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "vae-gpu {args:?} should have failed");
    assert!(
        !stderr.contains("no GPU adapter"),
        "{args:?} reached the device: {stderr}"
    );
    stderr
}

/// A small run exercising most of the toolbox at once.
const SMALL: [&str; 26] = [
    "--train-limit",
    "400",
    "--test-limit",
    "60",
    "--hidden",
    "48",
    "--latent",
    "5",
    "--batch-size",
    "50",
    "--val-fraction",
    "0.2",
    "--dropout",
    "0.3",
    "--binarize",
    "dynamic",
    "--clip-grad-norm",
    "30",
    "--free-bits",
    "0.1",
    "--lr-plateau",
    "0.5,1",
    "--kl-warmup",
    "1",
    "--seed",
    "4",
];

fn train(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train"];
    args.extend(SMALL);
    args.extend(extra);
    let runs = dir.join("runs");
    // The kernels chosen per product shape are timed once per cache: the runs of one test share
    // theirs, so that a noisy machine cannot hand two runs different kernels.
    let cache = dir.join("cache");
    args.extend([
        "--runs",
        runs.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    succeed(&args)
}

/// metrics.jsonl without the wall-clock fields.
fn metrics(run: &Path) -> Vec<serde_json::Value> {
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

fn assert_same_tensors(a: &Path, b: &Path) {
    let (a_tensors, _) = checkpoint::load(a).unwrap();
    let (b_tensors, _) = checkpoint::load(b).unwrap();
    assert_eq!(a_tensors.len(), b_tensors.len());
    for (x, y) in a_tensors.iter().zip(&b_tensors) {
        assert_eq!(x.name, y.name);
        let same = x
            .data
            .iter()
            .zip(&y.data)
            .all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(
            same,
            "{} differs between {} and {}",
            x.name,
            a.display(),
            b.display()
        );
    }
}

#[test]
fn resume_ends_bit_for_bit_where_the_uninterrupted_run_ends() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("resume");
    let whole = dir.join("whole");
    let halves = dir.join("halves");
    train(
        &dir,
        &["--epochs", "4", "--run-dir", whole.to_str().unwrap()],
    );
    train(
        &dir,
        &["--epochs", "2", "--run-dir", halves.to_str().unwrap()],
    );
    assert_eq!(metrics(&halves).len(), 2);
    let stdout = succeed(&[
        "train",
        "--resume",
        halves.to_str().unwrap(),
        "--epochs",
        "4",
    ]);
    assert!(stdout.contains("resumed after epoch 2"), "{stdout}");
    // The state records the kernels chosen for each product shape of the step, which the
    // resumed run took over.
    let saved = SavedState::load(&halves.join("state.safetensors")).unwrap();
    let shapes: Vec<&String> = saved.tuning.matmul_shapes.keys().collect();
    assert!(
        ["NT ", "NN ", "TN "]
            .iter()
            .all(|form| shapes.iter().any(|s| s.starts_with(form))),
        "{shapes:?}"
    );
    assert_eq!(metrics(&whole), metrics(&halves));
    assert_eq!(metrics(&whole).len(), 4);
    assert_same_tensors(
        &whole.join("model.safetensors"),
        &halves.join("model.safetensors"),
    );
    assert_same_tensors(
        &whole.join("state.safetensors"),
        &halves.join("state.safetensors"),
    );

    // A changed setting is refused, naming the flag; so is a run that has no epochs left.
    let out = vae_gpu(
        &[
            "train",
            "--resume",
            halves.to_str().unwrap(),
            "--epochs",
            "6",
            "--latent",
            "7",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--latent") && stderr.contains("trained with 5"),
        "{stderr}"
    );
    let out = vae_gpu(
        &[
            "train",
            "--resume",
            halves.to_str().unwrap(),
            "--epochs",
            "3",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 epochs already"), "{stderr}");
    // The same settings given again are no change.
    let mut again = vec![
        "train",
        "--resume",
        halves.to_str().unwrap(),
        "--epochs",
        "5",
    ];
    again.extend(["--latent", "5", "--dropout", "0.3"]);
    succeed(&again);
    assert_eq!(metrics(&halves).len(), 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn early_stopping_keeps_the_best_epoch_and_says_why_it_stopped() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("early");
    let run = dir.join("run");
    // No later epoch can beat the first by a million nats: patience 2 ends the run at epoch 3.
    let stdout = train(
        &dir,
        &[
            "--epochs",
            "10",
            "--patience",
            "2",
            "--min-delta",
            "1e6",
            "--run-dir",
            run.to_str().unwrap(),
        ],
    );
    assert!(stdout.contains("stopped after epoch 3"), "{stdout}");
    assert!(stdout.contains("--patience"), "{stdout}");
    assert!(
        stdout.contains("model.safetensors holds epoch 1"),
        "{stdout}"
    );
    let rows = metrics(&run);
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|m| m["best_epoch"] == 1 && m["val_loss"].is_f64()));
    let (_, metadata) = checkpoint::load(&run.join("model.safetensors")).unwrap();
    assert_eq!(metadata["epochs"], "1");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["stop_reason"], "patience");
    assert_eq!(summary["best_epoch"], 1);
    assert_eq!(summary["epochs_run"], 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_trains_one_run_per_latent_size_and_names_the_winner() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("sweep");
    let runs = dir.join("runs");
    let stdout = succeed(&[
        "sweep",
        "--latent",
        "2,6",
        "--hidden",
        "32",
        "--epochs",
        "2",
        "--train-limit",
        "300",
        "--test-limit",
        "50",
        "--runs",
        runs.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("best by validation loss: latent="),
        "{stdout}"
    );
    let folder = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("sweep-")
        })
        .expect("a sweep folder");
    let table = std::fs::read_to_string(folder.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[1].starts_with("latent=2,") && lines[2].starts_with("latent=6,"),
        "{table}"
    );
    for name in ["latent-2", "latent-6"] {
        assert!(
            folder.join(name).join("model.safetensors").is_file(),
            "{name}"
        );
        assert_eq!(metrics(&folder.join(name)).len(), 2);
    }
    assert!(runs.join("latest").join("model.safetensors").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_bad_training_value_gets_one_line_naming_its_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--val-fraction", "1.5"], "--val-fraction"),
        (&["--patience", "3"], "--patience needs a validation split"),
        (&["--val-fraction", "0.1", "--patience", "0"], "--patience"),
        (
            &["--val-fraction", "0.1", "--patience", "2", "--min-delta=-1"],
            "--min-delta",
        ),
        (&["--dropout", "1"], "--dropout-encoder"),
        (&["--dropout-decoder=-0.1"], "--dropout-decoder"),
        (&["--weight-decay=-1"], "--weight-decay"),
        (&["--l2=-0.5"], "--l2"),
        (&["--beta1", "1"], "--beta1"),
        (&["--adam-eps", "0"], "--adam-eps"),
        (&["--lr=0"], "--lr"),
        // A negative number is a value, not an unknown flag.
        (
            &["--lr", "-1"],
            "--lr -1: the learning rate must be a positive number",
        ),
        (&["--beta", "-0.5"], "--beta -0.5"),
        (&["--lr-schedule", "step", "--lr-gamma", "0"], "--lr-gamma"),
        (
            &["--lr-schedule", "step", "--lr-step-epochs", "0"],
            "--lr-step-epochs",
        ),
        (&["--lr-gamma", "0.5"], "--lr-gamma applies to"),
        (&["--lr-schedule", "cosine", "--lr-min", "1"], "--lr-min"),
        (
            &["--lr-plateau", "0.5,2"],
            "--lr-plateau needs a validation split",
        ),
        (
            &["--val-fraction", "0.1", "--lr-plateau", "2,1"],
            "--lr-plateau",
        ),
        (&["--beta=-1"], "--beta"),
        (&["--free-bits=-1"], "--free-bits"),
        (&["--clip-grad-norm=-1"], "--clip-grad-norm"),
        (
            &["--val-fraction", "0.0001", "--train-limit", "100"],
            "--val-fraction",
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["train"];
        args.extend(*flags);
        let stderr = fails_before_the_device(&args);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{flags:?}: {stderr}");
    }
    // Flags clap itself refuses (values that are not values) name the flag too.
    for (flags, expected) in [
        (&["--binarize", "sometimes"][..], "--binarize"),
        (&["--lr-plateau", "half"][..], "--lr-plateau"),
    ] {
        let mut args = vec!["train"];
        args.extend(flags);
        let stderr = fails_before_the_device(&args);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
    let dir = scratch("resume-errors");
    let stderr = fails_before_the_device(&["train", "--resume", dir.to_str().unwrap()]);
    assert!(stderr.contains("state.safetensors"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
