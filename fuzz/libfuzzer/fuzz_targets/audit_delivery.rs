#![no_main]
//! `portcullis_fuzz::audit_delivery` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::audit_delivery(data));
