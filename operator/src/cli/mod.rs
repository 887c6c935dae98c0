//! Clap subcommands of the `portcullis` binary that belong to the compiler: `render` and
//! `explain`. `main.rs` mounts them.

mod explain;
mod gateway_args;
mod render;

pub use explain::{ExplainArgs, explain_command};
pub use gateway_args::GatewayArgs;
pub use render::{RenderArgs, compile_files, render_command};
