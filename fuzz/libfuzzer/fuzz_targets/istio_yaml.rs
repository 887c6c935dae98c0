#![no_main]
//! `portcullis_fuzz::istio_yaml` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::istio_yaml(data));
