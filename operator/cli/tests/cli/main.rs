//! The CLI without Envoy: `render` and `explain` as `main.rs` mounts them, `bootstrap` and
//! `status` as a user runs them, and the golden files of every example (`cargo xtask gen`
//! rewrites them). One test binary, so the dependency graph is linked once.

mod commands;
mod golden;
mod xds_server;
