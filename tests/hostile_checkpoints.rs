//! Broken and hostile checkpoints through the binary: each gets one line on stderr naming the
//! file and the problem, before any device opens, and memory bounded by the file's real size
//! (the loads run under a 1 GiB address-space limit while the files declare models far larger).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vae_gpu::checkpoint::{self, NamedTensor};
use vae_gpu::model::{init_parameters, to_named_tensors, ParamLayout, VaeConfig};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-gpu-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small, valid model checkpoint's tensors and metadata.
fn small_model() -> (Vec<NamedTensor>, BTreeMap<String, String>) {
    let config = VaeConfig {
        hidden: vec![16],
        latent: 3,
        ..VaeConfig::mnist_default()
    };
    let layout = ParamLayout::new(&config);
    let tensors = to_named_tensors(&layout, &init_parameters(&layout, 5));
    (tensors, config.to_metadata())
}

/// `vae-gpu sample` on `file` under a 1 GiB address-space limit, with no adapter findable: the
/// checkpoint must be refused first. Returns stderr, checking it is one line naming the file.
fn refused(file: &Path) -> String {
    let script = "ulimit -v 1048576; exec \"$0\" sample --checkpoint \"$1\" --out \"$2\"";
    let out = Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_vae-gpu")])
        .arg(file)
        .arg(file.with_extension("png"))
        .env("VAE_GPU_ADAPTER", "no adapter has this name")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(!out.status.success(), "{name} was accepted");
    assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    assert!(stderr.contains(name), "{name} is not named: {stderr}");
    assert!(
        !stderr.contains("adapter"),
        "{name} reached the device: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    stderr
}

fn save(
    dir: &Path,
    name: &str,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> PathBuf {
    let path = dir.join(name);
    checkpoint::save(&path, tensors, meta).unwrap();
    path
}

/// A safetensors file written by hand: its JSON header as given, then `data`.
fn raw(dir: &Path, name: &str, header: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn every_broken_checkpoint_gets_one_line_naming_file_and_problem() {
    let dir = scratch();
    let (tensors, meta) = small_model();

    // A control: the same tensors load, and only the missing device stops the command.
    let good = save(&dir, "good.safetensors", &tensors, &meta);
    let out = Command::new(env!("CARGO_BIN_EXE_vae-gpu"))
        .args(["sample", "--checkpoint", good.to_str().unwrap()])
        .arg("--out")
        .arg(dir.join("good.png"))
        .env("VAE_GPU_ADAPTER", "no adapter has this name")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("adapter"));

    // Another architecture: a convolutional model's tensors, no vae-gpu metadata.
    let conv = NamedTensor {
        name: "conv1.weight".into(),
        shape: vec![4, 1, 3, 3],
        data: vec![0.5; 36],
    };
    let stderr = refused(&save(&dir, "conv.safetensors", &[conv], &BTreeMap::new()));
    assert!(stderr.contains("not a vae-gpu checkpoint"), "{stderr}");

    // Another vae-gpu shape: metadata says 32 hidden units, the tensors hold 16.
    let mut wider = meta.clone();
    wider.insert("hidden".into(), "32".into());
    let stderr = refused(&save(&dir, "disagree.safetensors", &tensors, &wider));
    assert!(
        stderr.contains("encoder.0.weight") && stderr.contains("[16, 784]"),
        "{stderr}"
    );

    // A tensor missing, and metadata that is not a number.
    let stderr = refused(&save(&dir, "lacks.safetensors", &tensors[1..], &meta));
    assert!(stderr.contains("lacks tensor"), "{stderr}");
    let mut bad = meta.clone();
    bad.insert("latent".into(), "three".into());
    let stderr = refused(&save(&dir, "badmeta.safetensors", &tensors, &bad));
    assert!(
        stderr.contains("\"latent\"") && stderr.contains("three"),
        "{stderr}"
    );

    // NaN weights.
    let mut nan = tensors.clone();
    nan[3].data[2] = f32::NAN;
    let stderr = refused(&save(&dir, "nan.safetensors", &nan, &meta));
    assert!(
        stderr.contains(&nan[3].name)
            && stderr.contains("non-finite")
            && stderr.contains("index 2"),
        "{stderr}"
    );

    // Truncated anywhere: in the length, in the header, in the data.
    let whole = std::fs::read(&good).unwrap();
    for (i, keep) in [5, 40, whole.len() / 2, whole.len() - 1]
        .into_iter()
        .enumerate()
    {
        let path = dir.join(format!("truncated{i}.safetensors"));
        std::fs::write(&path, &whole[..keep]).unwrap();
        refused(&path);
    }
    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    refused(&empty);

    // Huge declared sizes, in the tensor shape, in the header length and in the model's
    // metadata: none may be allocated.
    let stderr = refused(&raw(
        &dir,
        "hugeshape.safetensors",
        r#"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}}"#,
        &[0; 16],
    ));
    assert!(stderr.contains('w'), "{stderr}");
    let mut bytes = (1u64 << 62).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let hugeheader = dir.join("hugeheader.safetensors");
    std::fs::write(&hugeheader, bytes).unwrap();
    refused(&hugeheader);
    let mut huge = meta.clone();
    huge.insert("hidden".into(), "100000000000,100000000000".into());
    let stderr = refused(&save(&dir, "hugemodel.safetensors", &tensors, &huge));
    assert!(stderr.contains("parameters"), "{stderr}");
    // Within the parameter limit (2.2 GiB of f32) yet far beyond the file: the tensors are
    // checked before the model's buffer is allocated.
    let mut big = meta.clone();
    big.insert("hidden".into(), "16384,16384".into());
    let stderr = refused(&save(&dir, "bigmodel.safetensors", &tensors, &big));
    assert!(stderr.contains("encoder.0.weight"), "{stderr}");

    // Not F32.
    let stderr = refused(&raw(
        &dir,
        "half.safetensors",
        r#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
        &[0; 4],
    ));
    assert!(stderr.contains("F16"), "{stderr}");

    // Overlapping data offsets, and a header that is not JSON.
    refused(&raw(
        &dir,
        "overlap.safetensors",
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
        &[0; 12],
    ));
    refused(&raw(&dir, "notjson.safetensors", "{\"a\": [", &[]));
    std::fs::remove_dir_all(&dir).unwrap();
}
