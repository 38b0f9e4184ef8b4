//! Ctrl-C and SIGTERM: the first asks a training run to stop after the epoch in flight (its state
//! and checkpoint written, the exit code 130 or 143 as shells expect); a second one exits at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Result;

#[derive(Clone)]
pub struct Interruption {
    /// The exit code of the signal that arrived (130 for SIGINT, 143 for SIGTERM), or 0.
    code: Arc<AtomicUsize>,
}

impl Interruption {
    #[cfg(unix)]
    pub fn install() -> Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        let code = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        for (signal, exit) in [(SIGINT, 130), (SIGTERM, 143)] {
            // Registered first, so it sees the flag a previous signal set: the second one exits.
            flag::register_conditional_shutdown(signal, exit, Arc::clone(&seen))?;
            flag::register(signal, Arc::clone(&seen))?;
            flag::register_usize(signal, Arc::clone(&code), exit as usize)?;
        }
        Ok(Self { code })
    }

    #[cfg(not(unix))]
    pub fn install() -> Result<Self> {
        Ok(Self {
            code: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn requested(&self) -> bool {
        self.code.load(Ordering::SeqCst) != 0
    }

    /// The exit code a shell expects after the signal that arrived.
    pub fn exit_code(&self) -> Option<u8> {
        match self.code.load(Ordering::SeqCst) {
            0 => None,
            code => Some(code as u8),
        }
    }
}
