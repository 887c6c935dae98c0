#![no_main]
//! `portcullis_fuzz::regex` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::regex(data));
