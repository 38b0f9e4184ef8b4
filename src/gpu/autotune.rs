//! Choosing the matrix-multiply kernels per adapter by timing them once, and remembering the
//! choice in the user's cache folder, keyed by adapter, driver, API and vae-gpu version.
//!
//! The candidates run the three products of a dense layer of the default model at batch 128
//! (forward, input gradient, weight gradient). The rule-based default (`best_matmul_strategy`)
//! stays unless another candidate is at least `CLEAR_WIN` times faster: kernels sum in different
//! orders, so a choice that flipped with the noise of a busy machine would change a run's bits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::GpuBackend;
use crate::backend::{Backend, BackendError};
use crate::kernels::{MatMul, MatmulStrategy, Op};
use crate::ops::{Frame, View};

/// How much faster than the default a candidate must be to replace it.
pub const CLEAR_WIN: f64 = 1.2;
/// The cache file in the cache folder.
pub const CACHE_FILE: &str = "matmul-choice.json";
/// Shapes timed: a batch of 128 through a 784-400 layer.
const BATCH: usize = 128;
const INPUTS: usize = 784;
const OUTPUTS: usize = 400;

/// What was timed on one adapter and what was chosen.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MatmulChoice {
    pub chosen: MatmulStrategy,
    /// Milliseconds of the three products per candidate (a candidate dropped once it was far
    /// behind shows its first time).
    pub times_ms: BTreeMap<String, f64>,
}

/// Where a choice came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Cached(PathBuf),
    /// Timed now; the path it was cached in, if writing it worked.
    Timed(Option<PathBuf>),
}

/// The key of this adapter in the cache: what it is, its driver, the API, and the kernels'
/// version (another vae-gpu may have other kernels).
pub fn adapter_key(backend: &GpuBackend) -> String {
    let info = &backend.context().info;
    format!(
        "{} | {} {} | {:?} | vae-gpu {}",
        info.name,
        info.driver,
        info.driver_info,
        info.backend,
        env!("CARGO_PKG_VERSION")
    )
}

fn read_cache(path: &Path) -> BTreeMap<String, MatmulChoice> {
    // A missing or unreadable cache is timed again and rewritten.
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Sets the backend's matmul kernels to this adapter's choice: from the cache in `cache_dir`
/// when there is one, else timed now and cached. `warn` gets a line when the cache cannot be
/// written.
pub fn choose(
    backend: &mut GpuBackend,
    cache_dir: Option<&Path>,
    mut warn: impl FnMut(&str),
) -> Result<(MatmulChoice, Source), BackendError> {
    let key = adapter_key(backend);
    let path = cache_dir.map(|dir| dir.join(CACHE_FILE));
    if let Some(path) = &path {
        if let Some(choice) = read_cache(path).remove(&key) {
            if backend.set_matmul_strategy(choice.chosen).is_ok() {
                return Ok((choice, Source::Cached(path.clone())));
            }
        }
    }
    let choice = time_candidates(backend)?;
    backend.set_matmul_strategy(choice.chosen)?;
    let mut cached = None;
    if let Some(path) = path {
        let mut all = read_cache(&path);
        all.insert(key, choice.clone());
        let json = serde_json::to_string_pretty(&all).expect("choices serialize");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::checkpoint::write_atomic(&path, json.as_bytes()));
        match written {
            Ok(()) => cached = Some(path),
            Err(error) => warn(&format!(
                "could not cache the matmul kernel choice in {}: {error}",
                path.display()
            )),
        }
    }
    Ok((choice, Source::Timed(cached)))
}

/// Times each candidate the adapter can run on the three products: one untimed run (pipeline
/// creation), then the best of three, in device time where the adapter has timestamps inside
/// passes (on a fast GPU the wall clock of a submit is mostly its latency), else wall clock; a
/// candidate over 4x the best so far is dropped after one.
pub fn time_candidates(backend: &mut GpuBackend) -> Result<MatmulChoice, BackendError> {
    let default = GpuBackend::best_matmul_strategy(backend.context());
    let mut candidates = vec![default];
    for strategy in [
        MatmulStrategy::Subgroup,
        MatmulStrategy::Vec4,
        MatmulStrategy::Tiled,
    ] {
        if !candidates.contains(&strategy) && backend.set_matmul_strategy(strategy).is_ok() {
            candidates.push(strategy);
        }
    }
    let ops = layer_products(backend)?;
    warm_up(backend, &ops, default)?;
    let mut times_ms = BTreeMap::new();
    let mut best = f64::INFINITY;
    let mut best_strategy = default;
    let mut default_ms = f64::INFINITY;
    for strategy in candidates {
        backend.set_matmul_strategy(strategy)?;
        let program = backend.prepare(&ops)?;
        let frame = Frame::default();
        backend.run(&program, &frame)?;
        let mut fastest = f64::INFINITY;
        for _ in 0..3 {
            let ms = match backend.run_timed(&program, &frame)? {
                Some(dispatches) => dispatches.iter().sum(),
                None => {
                    backend.synchronize()?;
                    let start = Instant::now();
                    backend.run(&program, &frame)?;
                    backend.synchronize()?;
                    start.elapsed().as_secs_f64() * 1e3
                }
            };
            fastest = fastest.min(ms);
            if fastest > 4.0 * best {
                break;
            }
        }
        times_ms.insert(format!("{strategy:?}").to_lowercase(), fastest);
        if strategy == default {
            default_ms = fastest;
        }
        if fastest < best {
            best = fastest;
            best_strategy = strategy;
        }
    }
    let chosen = if best * CLEAR_WIN <= default_ms {
        best_strategy
    } else {
        default
    };
    backend.set_matmul_strategy(default)?;
    Ok(MatmulChoice { chosen, times_ms })
}

/// Keeps the device busy with the default kernels for a moment before anything is timed: an idle
/// GPU runs at a fraction of its clock (an H200 ran its first training steps 4.6x slower), which
/// would favour whichever candidate happens to be timed last.
fn warm_up(
    backend: &mut GpuBackend,
    ops: &[Op],
    strategy: MatmulStrategy,
) -> Result<(), BackendError> {
    backend.set_matmul_strategy(strategy)?;
    let program = backend.prepare(ops)?;
    let start = Instant::now();
    for _ in 0..200 {
        backend.run(&program, &Frame::default())?;
        backend.synchronize()?;
        if start.elapsed().as_millis() >= 150 {
            break;
        }
    }
    Ok(())
}

/// A buffer of `len` values for a product that is only timed: values of the size of real
/// activations (zeros could take a fast path somewhere).
pub fn timing_operand(
    backend: &mut GpuBackend,
    label: &str,
    len: usize,
) -> Result<View, BackendError> {
    let id = backend.create_buffer(label, len)?;
    let values: Vec<f32> = (0..len).map(|i| ((i % 17) as f32 - 8.0) / 16.0).collect();
    backend.write_f32(id, 0, &values);
    Ok(View::whole(id, len))
}

/// X·Wᵀ, dY·W and dYᵀ·X of a 784-400 layer at batch 128, on buffers of their own.
fn layer_products(backend: &mut GpuBackend) -> Result<Vec<Op>, BackendError> {
    let mut buffer = |label: &str, len: usize| timing_operand(backend, label, len);
    let x = buffer("timing: x", BATCH * INPUTS)?;
    let w = buffer("timing: w", OUTPUTS * INPUTS)?;
    let y = buffer("timing: y", BATCH * OUTPUTS)?;
    let dx = buffer("timing: dx", BATCH * INPUTS)?;
    let dw = buffer("timing: dw", OUTPUTS * INPUTS)?;
    let product = |a, b, c, m, n, k, trans_a, trans_b| -> Op {
        MatMul {
            a,
            b,
            c,
            m,
            n,
            k,
            trans_a,
            trans_b,
            accumulate: false,
            epilogue: None,
        }
        .into()
    };
    Ok(vec![
        product(x, w, y, BATCH, OUTPUTS, INPUTS, false, true),
        product(y, w, dx, BATCH, INPUTS, OUTPUTS, false, false),
        product(y, x, dw, OUTPUTS, INPUTS, BATCH, true, false),
    ])
}
