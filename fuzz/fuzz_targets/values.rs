#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vae_gpu::fuzzing::value_parsers(data));
