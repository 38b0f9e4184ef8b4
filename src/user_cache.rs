//! The folder vae-gpu caches what it measured or trained once (the matmul kernel choice per
//! adapter, the judges of `score`): `--cache` / `VAE_GPU_CACHE`, else `$XDG_CACHE_HOME/vae-gpu`,
//! else `$HOME/.cache/vae-gpu`.

use std::path::PathBuf;

/// The environment variable that names the cache folder.
pub const CACHE_ENV: &str = "VAE_GPU_CACHE";

/// `$XDG_CACHE_HOME/vae-gpu`, else `$HOME/.cache/vae-gpu`; `None` when neither is set.
pub fn default_dir() -> Option<PathBuf> {
    let non_empty = |key| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    non_empty("XDG_CACHE_HOME")
        .or_else(|| non_empty("HOME").map(|home| home.join(".cache")))
        .map(|dir| dir.join("vae-gpu"))
}
