//! Clap subcommands of the `portcullis` binary that belong to the compiler: `render` and
//! `explain`. `main.rs` mounts them, e.g.:
//!
//! ```ignore
//! #[derive(clap::Subcommand)]
//! enum Command {
//!     /// Compile Istio resources and print the wire config and Envoy plan.
//!     Render(portcullis::cli::RenderArgs),
//!     /// Explain which route would take a request.
//!     Explain(portcullis::cli::ExplainArgs),
//! }
//! // match command { Command::Render(a) => portcullis::cli::render_command(&a), … }
//! ```
//!
//! `GatewayArgs` is `#[command(flatten)]`-able into any other subcommand (`up`).

mod explain;
mod gateway_args;
mod render;

pub use explain::{ExplainArgs, explain_command};
pub use gateway_args::GatewayArgs;
pub use render::{RenderArgs, compile_files, render_command};
