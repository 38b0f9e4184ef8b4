//! The measuring and picture commands through the binary, on a tiny model trained here: `eval`'s
//! report, and every PNG's size (so that grids follow their layout and the image shape), for each
//! likelihood; and a missing checkpoint named before any device opens.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-pictures-{}-{name}", std::process::id()));
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

fn succeed(args: &[&str]) -> String {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "vae-gpu {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn png_size(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

/// A 2-D latent model, two epochs on 600 images, in `dir/run`.
fn train(dir: &Path, likelihood: &str) -> PathBuf {
    let run = dir.join(format!("run-{likelihood}"));
    succeed(&[
        "train",
        "--epochs",
        "2",
        "--train-limit",
        "600",
        "--test-limit",
        "80",
        "--hidden",
        "32",
        "--latent",
        "2",
        "--likelihood",
        likelihood,
        "--run-dir",
        run.to_str().unwrap(),
        "--runs",
        dir.join("runs").to_str().unwrap(),
    ]);
    run
}

#[test]
fn every_picture_has_its_layout_for_every_likelihood() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("layout");
    for likelihood in ["bernoulli", "gaussian", "continuous-bernoulli"] {
        let run = train(&dir, likelihood);
        let model = run.to_str().unwrap();
        assert_eq!(png_size(&run.join("loss.png")), (800, 500));
        let out = |name: &str| dir.join(format!("{likelihood}-{name}.png"));
        // Grids of 28x28 images with 2 pixels between and around them.
        let side = |n: u32| n * 28 + (n + 1) * 2;
        let cases: [(&str, Vec<&str>, (u32, u32)); 5] = [
            (
                "sample",
                vec!["sample", "--grid", "3x5", "--temperature", "0.8"],
                (side(5), side(3)),
            ),
            (
                "reconstruct",
                vec!["reconstruct", "--n", "6", "--columns", "3"],
                (side(3), 2 * side(2)),
            ),
            (
                "interpolate",
                vec!["interpolate", "--pairs", "2", "--steps", "4", "--slerp"],
                (side(4), side(2)),
            ),
            ("manifold", vec!["manifold", "--n", "5"], (side(5), side(5))),
            ("latent", vec!["latent", "--n", "50"], (800, 700)),
        ];
        for (name, mut args, size) in cases {
            let path = out(name);
            args.extend(["--out", path.to_str().unwrap(), "--checkpoint", model]);
            succeed(&args);
            assert_eq!(png_size(&path), size, "{likelihood} {name}");
        }
        // The pictures show the likelihood's mean: pixel values of a probability-like mean.
        let sample = image::open(out("sample")).unwrap().to_luma8();
        assert!(
            sample.pixels().any(|p| p.0[0] > 0),
            "{likelihood}: an all-black sample grid"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_reports_the_bound_below_the_elbo_and_writes_it_beside_the_model() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("eval");
    let run = train(&dir, "bernoulli");
    let stdout = succeed(&[
        "eval",
        "--checkpoint",
        run.to_str().unwrap(),
        "--k",
        "40",
        "--elbo-samples",
        "10",
        "--limit",
        "30",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["images"], 30);
    assert_eq!(report["k"], 40);
    let loss = report["loss"]["mean"].as_f64().unwrap();
    let bound = report["iwae_bound"]["mean"].as_f64().unwrap();
    let parts = report["reconstruction"].as_f64().unwrap() + report["kl"].as_f64().unwrap();
    assert!((loss - parts).abs() < 1e-6 * loss, "{report}");
    assert!(
        bound < loss,
        "the bound {bound} is not below the negative ELBO {loss}"
    );
    assert!(report["active_units"].as_u64().unwrap() <= 2);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval-test.json")).unwrap())
            .unwrap();
    assert_eq!(written["iwae_bound"], report["iwae_bound"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An unwritable output is one line, the OS error said once.
#[test]
fn an_output_in_a_missing_folder_is_one_line() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("unwritable");
    let model = train(&dir, "bernoulli");
    // A cache folder of its own: where the user's is not writable, a warning would be a line too.
    let cache = dir.join("cache");
    let out = run(&[
        "sample",
        "--checkpoint",
        model.to_str().unwrap(),
        "--out",
        "/missing/dir/x.png",
        "--cache",
        cache.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("/missing/dir/x.png"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_checkpoint_is_named_before_any_device_opens() {
    let dir = scratch("missing");
    let missing = dir.join("nothing.safetensors");
    for command in [
        "reconstruct",
        "interpolate",
        "manifold",
        "latent",
        "eval",
        "sample",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
            .args([command, "--checkpoint", missing.to_str().unwrap()])
            .env("VAE_GPU_ADAPTER", "no adapter has this name")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}");
        assert!(
            stderr.contains("nothing.safetensors"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("no GPU adapter"), "{command}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// IDX images with no labels file train and draw; only `latent`, which colours by label, refuses,
/// naming the data.
#[test]
fn data_without_labels_trains_and_only_the_latent_picture_refuses() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("unlabelled");
    let (count, rows, cols) = (120u32, 6u32, 5u32);
    let mut idx = Vec::new();
    for word in [0x0803, count, rows, cols] {
        idx.extend_from_slice(&word.to_be_bytes());
    }
    idx.extend((0..count * rows * cols).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let images = dir.join("blobs-images-idx3-ubyte");
    std::fs::write(&images, idx).unwrap();
    let run_dir = dir.join("run");
    let log = succeed(&[
        "train",
        "--data",
        images.to_str().unwrap(),
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--latent",
        "2",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--runs",
        dir.join("runs").to_str().unwrap(),
    ]);
    assert!(log.contains("blobs-images-idx3-ubyte"), "{log}");
    let out = dir.join("reconstruct.png");
    succeed(&[
        "reconstruct",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.is_file());
    let refused = run(&[
        "latent",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--out",
        dir.join("latent.png").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("blobs-images-idx3-ubyte"), "{stderr}");
    assert!(stderr.contains("no labels"), "{stderr}");
    assert!(!dir.join("latent.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A folder of RGB PNGs in class sub-folders (7x5 pixels, an odd size): `train --channels 3`,
/// then every picture in colour at that size, and the latent picture coloured by folder.
#[test]
fn an_rgb_image_folder_trains_and_draws_in_colour() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("rgb-folder");
    let data = dir.join("shapes");
    for (class, colour) in [("cyan", [0u8, 200, 220]), ("orange", [250, 140, 0])] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..30u32 {
            let image = image::RgbImage::from_fn(5, 7, |x, y| {
                let on = (x + y + i) % 3 != 0;
                image::Rgb(if on { colour } else { [0, 0, 0] })
            });
            image
                .save(data.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let run_dir = dir.join("run");
    let log = succeed(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--channels",
        "3",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--latent",
        "2",
        "--run-dir",
        run_dir.to_str().unwrap(),
        "--runs",
        dir.join("runs").to_str().unwrap(),
    ]);
    assert!(log.contains("54 train, 6 test, 3x7x5"), "{log}");
    let samples = image::open(run_dir.join("samples.png")).unwrap();
    assert!(matches!(samples, image::DynamicImage::ImageRgb8(_)));
    let out = dir.join("grid.png");
    succeed(&[
        "sample",
        "--checkpoint",
        run_dir.to_str().unwrap(),
        "--grid",
        "2x3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let grid = image::open(&out).unwrap();
    assert!(matches!(grid, image::DynamicImage::ImageRgb8(_)));
    assert_eq!(
        (grid.width(), grid.height()),
        (3 * 5 + 4 * 2, 2 * 7 + 3 * 2)
    );
    for command in ["reconstruct", "latent"] {
        let out = dir.join(format!("{command}.png"));
        succeed(&[
            command,
            "--checkpoint",
            run_dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(out.is_file(), "{command}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// More samples than one replay decodes (1,024): the first chunk's images are those of a smaller
/// request, pixel for pixel, and the rest follow in the grid.
#[test]
fn sampling_past_one_chunk_continues_the_same_draws() {
    if common::gpu().is_none() {
        return;
    }
    let dir = scratch("chunks");
    let model = train(&dir, "bernoulli");
    let grid = |columns: usize| {
        let out = dir.join(format!("row-{columns}.png"));
        succeed(&[
            "sample",
            "--checkpoint",
            model.to_str().unwrap(),
            "--grid",
            &format!("1x{columns}"),
            "--out",
            out.to_str().unwrap(),
        ]);
        image::open(&out).unwrap().to_luma8()
    };
    let (short, long) = (grid(1024), grid(1100));
    assert_eq!(long.dimensions(), (1100 * 28 + 1101 * 2, 28 + 2 * 2));
    let width = short.width();
    for y in 0..short.height() {
        for x in 0..width {
            assert_eq!(short.get_pixel(x, y), long.get_pixel(x, y), "({x}, {y})");
        }
    }
    // The images past the first chunk are drawn anew, not left black nor the first chunk's
    // draws again (image 1099 is the second chunk's 76th, as image 75 is the first's).
    let image = |i: u32| -> Vec<u8> {
        let left = 2 + i * 30;
        (0..28 * 28)
            .map(|p| long.get_pixel(left + p % 28, 2 + p / 28).0[0])
            .collect()
    };
    assert!(image(1099).iter().any(|&v| v > 0));
    assert_ne!(image(1099), image(75));
    std::fs::remove_dir_all(&dir).unwrap();
}
