//! The subcommands of the `portcullis` binary, each with its clap arguments and its run
//! function; `main.rs` only dispatches. `GatewayArgs` is `#[command(flatten)]`ed into every
//! command that compiles for (or announces) a gateway workload, so the flags mean the same
//! everywhere.

mod bootstrap;
mod controller;
mod explain;
mod gateway_args;
mod modules;
mod render;
mod status;
mod up;

pub use bootstrap::{BootstrapArgs, bootstrap_command};
pub use controller::{ControllerArgs, controller_command};
pub use explain::{ExplainArgs, explain_command};
pub use gateway_args::GatewayArgs;
pub use modules::{ModulesArgs, modules_command};
pub use render::{RenderArgs, compile_files, compile_files_admitted, render_command};
pub use status::{StatusArgs, status_command, table as status_table};
pub use up::{Modules, UpArgs, up_command};
