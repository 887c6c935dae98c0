#![no_main]
//! `portcullis_fuzz::decide` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::decide(data));
