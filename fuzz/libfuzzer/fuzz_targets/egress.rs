#![no_main]
//! `portcullis_fuzz::egress` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::egress(data));
