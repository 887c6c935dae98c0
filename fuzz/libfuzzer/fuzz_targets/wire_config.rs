#![no_main]
//! `portcullis_fuzz::wire_config` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::wire_config(data));
