//! Nothing lost when a run is stopped: Ctrl-C and SIGTERM end it after the epoch in flight, its
//! state written, with the exit codes shells expect (130, 143); a second signal exits at once;
//! SIGKILL at any moment, inside a checkpoint write too, leaves files that load and a `latest`
//! link to a complete run; two runs started together never share a folder.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vae_gpu::checkpoint;
use vae_gpu::rng::PhiloxStream;
use vae_gpu::workflows::state::SavedState;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-stop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `train` on a small slice, into `run_dir` (or a new timestamped folder of `runs`).
fn spawn(runs: &Path, run_dir: Option<&Path>, epochs: usize, env: &[(&str, &str)]) -> Child {
    let epochs = epochs.to_string();
    let mut args = vec![
        "train",
        "--epochs",
        &epochs,
        "--train-limit",
        "1500",
        "--test-limit",
        "100",
        "--hidden",
        "64",
        "--latent",
        "4",
        "--runs",
        runs.to_str().unwrap(),
    ];
    if let Some(dir) = run_dir {
        args.extend(["--run-dir", dir.to_str().unwrap()]);
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_vae-gpu"));
    command
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("the binary starts")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits (up to a minute) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn epochs_written(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// Whatever the run folder holds loads: the checkpoint with finite weights, the state.
fn assert_loadable(run: &Path) {
    let model = run.join("model.safetensors");
    if model.exists() {
        let (tensors, _) =
            checkpoint::load(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
        assert!(tensors.iter().all(|t| t.data.iter().all(|v| v.is_finite())));
    }
    let state = run.join("state.safetensors");
    if state.exists() {
        SavedState::load(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
    }
}

/// `<runs>/latest` points at a complete run.
fn assert_latest_complete(runs: &Path) {
    let latest = std::fs::canonicalize(runs.join("latest")).expect("runs/latest resolves");
    for file in [
        "model.safetensors",
        "state.safetensors",
        "summary.json",
        "samples.png",
    ] {
        assert!(latest.join(file).is_file(), "latest lacks {file}");
    }
    assert_loadable(&latest);
}

#[test]
fn ctrl_c_finishes_the_epoch_writes_the_state_and_exits_130() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("int");
    let run = dir.join("run");
    let child = spawn(&dir, Some(&run), 100, &[]);
    wait_for("a first epoch", || epochs_written(&run) >= 1);
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("resume with: vae-gpu train --resume"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["stop_reason"], "interrupted");
    let done = epochs_written(&run);
    assert!(done < 100);
    let state = SavedState::load(&run.join("state.safetensors")).unwrap();
    assert_eq!(state.state.epochs_done, done);
    assert_loadable(&run);
    // And the run goes on from there.
    let total = (done + 1).to_string();
    let status = Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
        .args([
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--epochs",
            &total,
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(epochs_written(&run), done + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_sigterm_exits_at_once_with_143() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("term");
    let run = dir.join("run");
    let mut child = spawn(&dir, Some(&run), 100, &[]);
    wait_for("a first epoch", || epochs_written(&run) >= 1);
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(30));
    signal(&child, "TERM");
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it did not stop at once"
    );
    assert_loadable(&run);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigkill_anywhere_leaves_loadable_files_and_latest_at_a_complete_run() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("kill");
    let runs = dir.join("runs");
    // A complete run first, so that `latest` exists before anything is killed.
    let first = spawn(&runs, None, 1, &[]).wait_with_output().unwrap();
    assert!(first.status.success());
    assert_latest_complete(&runs);
    let mut moments = PhiloxStream::new(2027, 1);
    for _ in 0..20 {
        let mut child = spawn(&runs, None, 3, &[]);
        let after = Duration::from_millis(u64::from(moments.below(2500)));
        std::thread::sleep(after);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // Once inside a checkpoint write: the pause holds the temporary file before its rename.
    let inside = dir.join("inside");
    let mut child = spawn(&runs, Some(&inside), 3, &[(checkpoint::PAUSE_ENV, "5000")]);
    wait_for("a write in flight", || {
        std::fs::read_dir(&inside).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_loadable(&inside);
    for run in std::fs::read_dir(&runs).unwrap().flatten() {
        if run.file_name() != "latest" {
            assert_loadable(&run.path());
        }
    }
    assert_latest_complete(&runs);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_runs_started_together_never_share_a_folder() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("together");
    let runs = dir.join("runs");
    let a = spawn(&runs, None, 1, &[]);
    let b = spawn(&runs, None, 1, &[]);
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let folders: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "latest")
        .map(|e| e.path())
        .collect();
    assert_eq!(folders.len(), 2, "{folders:?}");
    for folder in &folders {
        assert_eq!(epochs_written(folder), 1, "{} was shared", folder.display());
        assert_loadable(folder);
    }
    assert_latest_complete(&runs);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A full disk, as a file-size limit (`ulimit -f`, SIGXFSZ ignored so that writes fail with
/// EFBIG as they would with ENOSPC): the resumed epoch's checkpoint cannot be written, the error
/// names the file, the temporary file is gone, and the previous checkpoint and state still load.
#[test]
fn a_full_disk_fails_naming_the_file_and_keeps_the_previous_checkpoint() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("full");
    let run = dir.join("run");
    let out = spawn(&dir, Some(&run), 1, &[]).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = std::fs::read(run.join("model.safetensors")).unwrap();
    // 64 KiB (in 1 KiB blocks for bash): the metrics line fits, a checkpoint does not.
    let out = Command::new("bash")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 64; exec \"$0\" train --resume \"$1\" --epochs 2",
            env!("CARGO_BIN_EXE_vae-gpu"),
            run.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("run/") && stderr.contains("File too large"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        before
    );
    assert_loadable(&run);
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
