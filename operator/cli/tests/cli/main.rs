//! The CLI without Envoy: `render` and `explain` as `main.rs` mounts them, `bootstrap` and
//! `status` as a user runs them, the golden files of every example (`cargo xtask gen`
//! rewrites them), and `explain` against the browser playground's engine. One test binary,
//! so the dependency graph is linked once.

mod commands;
mod golden;
mod playground_parity;
mod xds_server;
