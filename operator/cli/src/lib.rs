//! The `portcullis` command: the CLI (`render`, `explain`, `up`), the local runner, Envoy as a
//! child process, and demo upstreams. Compiling lives in `portcullis-compile`, rendering in
//! `portcullis-envoy`; this crate does the I/O around them.

pub mod cli;
pub mod envoy;
pub mod load;
pub mod local;
pub mod locate;
