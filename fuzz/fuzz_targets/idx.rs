#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vae_gpu::fuzzing::idx_reader(data));
