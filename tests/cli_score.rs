//! `vae-gpu score` through the binary: the judge trained once and then read from its cache, the
//! scores of a model, of the test images themselves (distance 0), of noise (far worse than the
//! training images), of a sample grid PNG; the floor on the judge's accuracy, unlabeled data, bad
//! grids and a broken cache file, each refused in one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vae_gpu::data::Dataset;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-score-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn succeed(args: &[&str]) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "vae-gpu {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The one line a refused command prints.
fn refused(args: &[&str]) -> String {
    let out = run(args);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "vae-gpu {args:?} succeeded:\n{stdout}"
    );
    assert_eq!(
        stderr
            .trim()
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1,
        "{stderr}"
    );
    stderr
}

/// A raw IDX images file (magic 0x803) of 28×28 images.
fn write_idx(path: &Path, pixels: &[u8]) {
    let count = (pixels.len() / 784) as u32;
    let mut bytes = vec![0, 0, 8, 3];
    for dim in [count, 28, 28] {
        bytes.extend_from_slice(&dim.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    std::fs::write(path, bytes).unwrap();
}

/// The judge files in a cache folder (which holds the matmul kernel choice too).
fn judges(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("judge-")
        })
        .collect()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The Fréchet distance (mean over repeats) of the set named `name` in a JSON report.
fn distance(report: &serde_json::Value, name: &str) -> f64 {
    report["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().unwrap().starts_with(name))
        .unwrap_or_else(|| panic!("no set {name} in {report}"))["frechet_distance"]["mean"]
        .as_f64()
        .unwrap()
}

/// Judge flags every call shares: a short training (this is a test of the plumbing, not of the
/// judge), its floor lowered to match, and a cache folder of the test's own.
fn judge_flags(cache: &Path) -> Vec<String> {
    ["--judge-epochs", "2", "--min-accuracy", "80", "--cache"]
        .iter()
        .map(|s| s.to_string())
        .chain([cache.to_str().unwrap().to_string()])
        .collect()
}

fn with<'a>(args: &[&'a str], more: &'a [String]) -> Vec<&'a str> {
    args.iter()
        .copied()
        .chain(more.iter().map(String::as_str))
        .collect()
}

#[test]
fn score_judges_models_images_and_grids_with_a_cached_judge() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("main");
    let cache = dir.join("cache");
    let flags = judge_flags(&cache);
    let run_dir = dir.join("run");
    succeed(&[
        "train",
        "--epochs",
        "1",
        "--hidden",
        "64",
        "--latent",
        "4",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--runs",
        dir.join("runs").to_str().unwrap(),
    ]);
    let model = run_dir.to_str().unwrap();

    // First call: the judge is trained and cached, then a model's rows.
    let (stdout, stderr) = succeed(&with(
        &[
            "score",
            "--checkpoint",
            model,
            "--n",
            "400",
            "--repeats",
            "2",
            "--json",
        ],
        &flags,
    ));
    assert!(stderr.contains("trained and cached"), "{stderr}");
    let report = json(&stdout);
    let accuracy = report["judge_accuracy"].as_f64().unwrap();
    assert!((0.8..=1.0).contains(&accuracy), "{accuracy}");
    assert_eq!(report["n"], 400);
    let names: Vec<&str> = report["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "samples (T = 1)",
            "reconstructions",
            "training images (floor)"
        ]
    );
    let samples = &report["sets"][0];
    assert_eq!(
        samples["frechet_distance"]["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let shares: f64 = samples["class_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    let confidence = samples["confidence"]["mean"].as_f64().unwrap();
    assert!((1.0..=10.0).contains(&confidence), "{confidence}");
    let floor = distance(&report, "training images");
    // A one-epoch model draws worse digits than real ones.
    assert!(distance(&report, "samples") > floor, "{report}");
    assert_eq!(judges(&cache).len(), 1, "one judge file in the cache");

    // Second call: the judge comes from the cache; the test images against themselves are at
    // distance 0, and noise is far worse than the training images.
    let embedded = Dataset::embedded();
    let test_images = dir.join("test-images-idx3-ubyte");
    write_idx(&test_images, &embedded.images[embedded.train_count * 784..]);
    let (stdout, stderr) = succeed(&with(
        &["score", "--images", test_images.to_str().unwrap(), "--json"],
        &flags,
    ));
    assert!(stderr.contains("cached in"), "{stderr}");
    assert!(!stderr.contains("trained"), "{stderr}");
    let report = json(&stdout);
    assert_eq!(report["n"], 1000);
    let itself = distance(&report, "test-images");
    let floor = distance(&report, "training images");
    assert!(itself < 1e-6, "the test set against itself: {itself}");
    assert!(floor > 0.0);

    let mut stream = vae_gpu::rng::PhiloxStream::new(1, 0);
    let noise: Vec<u8> = (0..500 * 784).map(|_| stream.below(256) as u8).collect();
    let noise_file = dir.join("noise-images-idx3-ubyte");
    write_idx(&noise_file, &noise);
    let (stdout, _) = succeed(&with(
        &["score", "--images", noise_file.to_str().unwrap(), "--json"],
        &flags,
    ));
    let report = json(&stdout);
    assert_eq!(report["n"], 500);
    let noise_distance = distance(&report, "noise");
    let floor = distance(&report, "training images");
    assert!(
        noise_distance > 20.0 * floor,
        "noise {noise_distance}, floor {floor}"
    );

    // A grid PNG as `sample` draws it, cut back into its 30 images.
    let grid = dir.join("grid.png");
    succeed(&[
        "sample",
        "--checkpoint",
        model,
        "--grid",
        "5x6",
        "--out",
        grid.to_str().unwrap(),
    ]);
    let (stdout, _) = succeed(&with(
        &[
            "score",
            "--images",
            grid.to_str().unwrap(),
            "--grid",
            "5x6",
            "--repeats",
            "1",
        ],
        &flags,
    ));
    assert!(stdout.contains("grid.png"), "{stdout}");
    let error = refused(&with(
        &["score", "--images", grid.to_str().unwrap(), "--grid", "6x6"],
        &flags,
    ));
    assert!(
        error.contains("grid.png") && error.contains("this PNG is"),
        "{error}"
    );
    let error = refused(&with(
        &["score", "--images", grid.to_str().unwrap()],
        &flags,
    ));
    assert!(error.contains("--grid"), "{error}");

    // More images than the test set has, and a floor the judge does not reach.
    let error = refused(&with(
        &["score", "--checkpoint", model, "--n", "5000"],
        &flags,
    ));
    assert!(error.contains("1000 test images"), "{error}");
    let mut strict = flags.clone();
    strict[3] = "99.99".to_string();
    let error = refused(&with(&["score", "--checkpoint", model], &strict));
    assert!(error.contains("below the floor of 99.99%"), "{error}");

    // A cache file that is not a judge is named, not silently replaced.
    let cached = judges(&cache).remove(0);
    std::fs::write(&cached, b"not a safetensors file").unwrap();
    let error = refused(&with(&["score", "--checkpoint", model], &flags));
    assert!(
        error.contains(cached.file_name().unwrap().to_str().unwrap()),
        "{error}"
    );
}

#[test]
fn unlabeled_data_gets_one_line_and_no_judge() {
    let dir = scratch("unlabeled");
    let embedded = Dataset::embedded();
    let images = dir.join("digits-images-idx3-ubyte");
    write_idx(&images, &embedded.images[..50 * 784]);
    let cache = dir.join("cache");
    let flags = judge_flags(&cache);
    let blank = dir.join("blank-images-idx3-ubyte");
    write_idx(&blank, &[0u8; 20 * 784]);
    let (stdout, stderr) = succeed(&with(
        &[
            "score",
            "--images",
            blank.to_str().unwrap(),
            "--data",
            images.to_str().unwrap(),
        ],
        &flags,
    ));
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    assert!(stdout.contains("has no labels"), "{stdout}");
    assert!(stderr.trim().is_empty(), "{stderr}");
    assert!(!cache.exists(), "no judge was trained");
}
