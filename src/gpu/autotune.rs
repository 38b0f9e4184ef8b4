//! Choosing the matrix-multiply kernels per adapter and per product shape by timing them once,
//! and remembering the choices in the user's cache folder, keyed by adapter, driver, API,
//! vae-gpu version and the kernels' fingerprint.
//!
//! Per adapter (`choose`): the candidates run the three products of a dense layer of the default
//! model at batch 128 (forward, input gradient, weight gradient); the rule-based default
//! (`best_matmul_strategy`) stays unless another candidate is at least `CLEAR_WIN` times faster.
//! Per shape (`choose_shapes`, run by `prepare` once `GpuBackend::set_shape_timing` asks for it):
//! each product shape a program meets for the first time is timed alone under every candidate,
//! and the adapter's choice stays for it unless another is `CLEAR_WIN` times faster. Kernels sum
//! in different orders, so a choice that flipped with the noise of a busy machine would change a
//! run's bits; a run records its choices (`Tuning`) and a resumed run reuses them.

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
    /// The choice per product shape (`MatMul::shape_key`), for the shapes timed so far. Caches
    /// from before it existed have none.
    #[serde(default)]
    pub shapes: BTreeMap<String, ShapeChoice>,
}

/// What was timed for one product shape and what was chosen for it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShapeChoice {
    pub chosen: MatmulStrategy,
    /// Milliseconds of the product alone per candidate.
    pub times_ms: BTreeMap<String, f64>,
}

/// A family over this many times slower than the adapter's choice on the whole layer is not timed
/// per shape (on lavapipe the tiled kernel is 17x slower, and timing it on every shape made the
/// first run 5 s longer).
pub const FAR_BEHIND: f64 = 4.0;

/// What `prepare` needs to choose kernels per shape: the candidates, where the choices are cached,
/// and whom to tell when the cache cannot be written. Counts what it did, for reports and tests.
pub struct ShapeTiming {
    candidates: Vec<MatmulStrategy>,
    cache_file: Option<PathBuf>,
    warn: Box<dyn FnMut(&str)>,
    /// Shapes timed on the device, and shapes whose choice came from the cache.
    pub timed: usize,
    pub cached: usize,
}

impl ShapeTiming {
    /// Candidates: the families of the adapter's choice `adapter` that were not far behind its
    /// chosen one on the whole layer. Choices cached in `cache_dir` (none: timed every time a
    /// backend meets a shape).
    pub fn new(
        adapter: &MatmulChoice,
        cache_dir: Option<&Path>,
        warn: impl FnMut(&str) + 'static,
    ) -> Self {
        let chosen_ms = adapter.times_ms.get(adapter.chosen.name()).copied();
        let candidates = ALL_CANDIDATES
            .into_iter()
            .filter(|&family| {
                let ms = adapter.times_ms.get(family.name());
                match (ms, chosen_ms) {
                    (Some(ms), Some(chosen)) => *ms <= FAR_BEHIND * chosen,
                    // Not timed on the layer while others were: left out there (the 128 tiles
                    // where the 64 tiles were far behind).
                    (None, Some(_)) => family == adapter.chosen,
                    _ => true,
                }
            })
            .collect();
        Self {
            candidates,
            cache_file: cache_dir.map(|dir| dir.join(CACHE_FILE)),
            warn: Box::new(warn),
            timed: 0,
            cached: 0,
        }
    }
}

/// Where a choice came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Cached(PathBuf),
    /// Timed now; the path it was cached in, if writing it worked.
    Timed(Option<PathBuf>),
}

/// The key of this adapter in the cache: what it is, its driver, the API, and the kernels'
/// version (another vae-gpu may have other kernels, under the same version number too: the
/// fingerprint of their WGSL tells them apart).
pub fn adapter_key(backend: &GpuBackend) -> String {
    let info = &backend.context().info;
    format!(
        "{} | {} {} | {:?} | vae-gpu {} | kernels {}",
        info.name,
        info.driver,
        info.driver_info,
        info.backend,
        env!("CARGO_PKG_VERSION"),
        crate::kernels::wgsl::kernels_fingerprint()
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
        let written = update_cache(&path, |all| {
            all.insert(key, choice.clone());
        });
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

/// The families timed as candidates: the first three always, the 128 x 128 tiles only where the
/// 64 x 64 ones were not `FAR_BEHIND` on the layer, that is where workgroup memory pays. On
/// lavapipe the 64 tiles are 17-20x behind the subgroup kernels and the 128 tiles 5.3-5.7x:
/// compiling and timing them anyway made a first run 0.3 s longer (0.70-0.84 s against
/// 1.00-1.09 s for `info` with an empty cache) to drop them.
const ALL_CANDIDATES: [MatmulStrategy; 4] = [
    MatmulStrategy::Subgroup,
    MatmulStrategy::Vec4,
    MatmulStrategy::Tiled,
    MatmulStrategy::Tiled128,
];
const FIRST_CANDIDATES: [MatmulStrategy; 3] = [
    MatmulStrategy::Subgroup,
    MatmulStrategy::Vec4,
    MatmulStrategy::Tiled,
];

/// Reads the cache file, changes it and writes it back whole (atomically: another process
/// reading it sees the old or the new file).
fn update_cache(
    path: &Path,
    change: impl FnOnce(&mut BTreeMap<String, MatmulChoice>),
) -> std::io::Result<()> {
    let mut all = read_cache(path);
    change(&mut all);
    let json = serde_json::to_string_pretty(&all).expect("choices serialize");
    path.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| crate::checkpoint::write_atomic(path, json.as_bytes()))
}

/// Gives every product shape of `ops` that the backend has no choice for yet its kernels: the
/// cached choice of this adapter for the shape, else the fastest candidate timed now on scratch
/// buffers (the adapter's `matmul` unless another is `CLEAR_WIN` times faster), then cached.
pub fn choose_shapes(
    backend: &mut GpuBackend,
    timing: &mut ShapeTiming,
    ops: &[Op],
) -> Result<(), BackendError> {
    let known = backend.tuning().matmul_shapes;
    let mut pending: Vec<MatMul> = Vec::new();
    for op in ops {
        if let Op::MatMul(product) = op {
            let key = product.shape_key();
            if !known.contains_key(&key) && !pending.iter().any(|p| p.shape_key() == key) {
                pending.push(*product);
            }
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let adapter = adapter_key(backend);
    let cached = timing
        .cache_file
        .as_deref()
        .and_then(|path| read_cache(path).remove(&adapter))
        .map(|choice| choice.shapes)
        .unwrap_or_default();
    let mut tuning = backend.tuning();
    let mut timed = BTreeMap::new();
    let mut warmed = false;
    for product in &pending {
        let key = product.shape_key();
        let choice = match cached.get(&key) {
            Some(choice) if backend.can_run(choice.chosen) => {
                timing.cached += 1;
                choice.clone()
            }
            _ => {
                let candidates = &timing.candidates;
                let result = backend.with_matmul(tuning.matmul, |backend| {
                    time_shape(backend, product, tuning.matmul, candidates, !warmed)
                })?;
                warmed = true;
                match result {
                    Ok(choice) => {
                        timing.timed += 1;
                        timed.insert(key.clone(), choice.clone());
                        choice
                    }
                    // No room for the scratch copies of a large product's operands: it runs the
                    // adapter's kernels, untimed and uncached, and the user is told.
                    Err(
                        error @ (BackendError::OutOfMemory { .. }
                        | BackendError::BufferTooLarge { .. }),
                    ) => {
                        (timing.warn)(&format!(
                            "could not time the matmul kernels for {key} ({error}); it runs the \
                             adapter's ({:?})",
                            tuning.matmul
                        ));
                        ShapeChoice {
                            chosen: tuning.matmul,
                            times_ms: BTreeMap::new(),
                        }
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        tuning.matmul_shapes.insert(key, choice.chosen);
    }
    backend.set_tuning(tuning.clone())?;
    if let (Some(path), false) = (&timing.cache_file, timed.is_empty()) {
        let written = update_cache(path, |all| {
            let entry = all.entry(adapter).or_insert_with(|| MatmulChoice {
                chosen: tuning.matmul,
                times_ms: BTreeMap::new(),
                shapes: BTreeMap::new(),
            });
            entry.shapes.extend(timed);
        });
        if let Err(error) = written {
            (timing.warn)(&format!(
                "could not cache the matmul kernels chosen per shape in {}: {error}",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Times one product shape alone on scratch buffers (freed afterwards) under every candidate.
fn time_shape(
    backend: &mut GpuBackend,
    product: &MatMul,
    default: MatmulStrategy,
    candidates: &[MatmulStrategy],
    warm: bool,
) -> Result<ShapeChoice, BackendError> {
    if !candidates
        .iter()
        .any(|&c| c != default && backend.can_run(c))
    {
        // Nothing to compare with: the adapter's choice, untimed.
        return Ok(ShapeChoice {
            chosen: default,
            times_ms: BTreeMap::new(),
        });
    }
    let mark = backend.buffer_count();
    let result = (|| {
        let &MatMul { m, n, k, .. } = product;
        let scratch = MatMul {
            a: timing_operand(backend, "timing: a", m * k)?,
            b: timing_operand(backend, "timing: b", k * n)?,
            c: timing_operand(backend, "timing: c", m * n)?,
            accumulate: false,
            epilogue: None,
            ..*product
        };
        let ops = [Op::from(scratch)];
        if warm {
            warm_up(backend, &ops, default)?;
        }
        let (chosen, times_ms) = fastest(backend, &ops, default, candidates)?;
        Ok(ShapeChoice { chosen, times_ms })
    })();
    backend.truncate_buffers(mark);
    result
}

/// Times each candidate the adapter can run on the three products: one untimed run (pipeline
/// creation), then the best of `TIMING_ROUNDS` rounds that run the candidates in turn, in device
/// time where the adapter has timestamps inside passes (on a fast GPU the wall clock of a submit
/// is mostly its latency), else wall clock; a candidate over 4x the best is dropped after a round.
pub fn time_candidates(backend: &mut GpuBackend) -> Result<MatmulChoice, BackendError> {
    let default = GpuBackend::best_matmul_strategy(backend.context());
    let mark = backend.buffer_count();
    let result = (|| -> Result<_, BackendError> {
        let ops = layer_products(backend)?;
        warm_up(backend, &ops, default)?;
        let (chosen, mut times_ms) = fastest(backend, &ops, default, &FIRST_CANDIDATES)?;
        let best = times_ms.values().copied().fold(f64::INFINITY, f64::min);
        let tiled_ms = times_ms.get(MatmulStrategy::Tiled.name()).copied();
        if !tiled_ms.is_some_and(|ms| ms <= FAR_BEHIND * best) {
            return Ok((chosen, times_ms));
        }
        // Against the choice so far, which is timed again in alternation with it.
        let (chosen, more) = fastest(backend, &ops, chosen, &[MatmulStrategy::Tiled128])?;
        let tiled128 = MatmulStrategy::Tiled128.name();
        if let Some(&ms) = more.get(tiled128) {
            times_ms.insert(tiled128.to_string(), ms);
        }
        Ok((chosen, times_ms))
    })();
    backend.truncate_buffers(mark);
    backend.set_matmul_strategy(default)?;
    let (chosen, times_ms) = result?;
    Ok(MatmulChoice {
        chosen,
        times_ms,
        shapes: BTreeMap::new(),
    })
}

/// Rounds of timing: each round runs every candidate still in the race once, in turn, and a
/// candidate's time is its best round. Alternating rather than timing one candidate after the
/// other keeps a drift of the machine's speed (a third within seconds on a shared VM) from
/// favouring whichever ran in the fast moment; on lavapipe the small products are as close as
/// 0.13 against 0.18 ms, and a choice that flips with the noise changes a run's bits.
const TIMING_ROUNDS: usize = 5;

/// Times `ops` under `default` and each other candidate the adapter runs, and returns the choice
/// (`default` unless another is `CLEAR_WIN` times faster) with each candidate's time. Leaves the
/// backend on the last candidate's kernels. With no other candidate, nothing is timed. A
/// candidate over 4x the best after a round runs no more rounds.
fn fastest(
    backend: &mut GpuBackend,
    ops: &[Op],
    default: MatmulStrategy,
    others: &[MatmulStrategy],
) -> Result<(MatmulStrategy, BTreeMap<String, f64>), BackendError> {
    let mut candidates = vec![default];
    for &strategy in others {
        if !candidates.contains(&strategy) && backend.can_run(strategy) {
            candidates.push(strategy);
        }
    }
    if candidates.len() == 1 {
        return Ok((default, BTreeMap::new()));
    }
    // Each candidate's program, run once untimed (pipeline creation, first touch of memory).
    let frame = Frame::default();
    let mut programs = Vec::new();
    for &strategy in &candidates {
        backend.set_matmul_strategy(strategy)?;
        let program = backend.prepare(ops)?;
        backend.run(&program, &frame)?;
        programs.push(program);
    }
    let mut best_ms = vec![f64::INFINITY; candidates.len()];
    for _ in 0..TIMING_ROUNDS {
        let best = best_ms.iter().copied().fold(f64::INFINITY, f64::min);
        for (i, program) in programs.iter().enumerate() {
            if best_ms[i] > 4.0 * best {
                continue;
            }
            let ms = match backend.run_timed(program, &frame)? {
                Some(dispatches) => dispatches.iter().sum(),
                None => {
                    backend.synchronize()?;
                    let start = Instant::now();
                    backend.run(program, &frame)?;
                    backend.synchronize()?;
                    start.elapsed().as_secs_f64() * 1e3
                }
            };
            best_ms[i] = best_ms[i].min(ms);
        }
    }
    let times_ms = candidates
        .iter()
        .zip(&best_ms)
        .map(|(&strategy, &ms)| (strategy.name().to_string(), ms))
        .collect();
    let (best_index, best) = best_ms
        .iter()
        .copied()
        .enumerate()
        .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    let chosen = if best * CLEAR_WIN <= best_ms[0] {
        candidates[best_index]
    } else {
        default
    };
    Ok((chosen, times_ms))
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
