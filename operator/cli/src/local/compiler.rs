//! The compiler as seen by the local loop: a directory in, a wire config and a plan out.

use std::path::Path;

use portcullis_core::wire::WireConfig;

use portcullis_compile::plan::EnvoyPlan;

/// The two outputs of one compilation.
#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    /// What the filters read.
    pub wire: WireConfig,
    /// What Envoy runs.
    pub plan: EnvoyPlan,
}

/// Compiles a directory of resources. Errors are human-readable reasons, printed as they are.
pub trait Compiler: Send + Sync {
    /// Compiles everything under `dir`.
    fn compile(&self, dir: &Path) -> Result<Compiled, String>;
}

impl<F> Compiler for F
where
    F: Fn(&Path) -> Result<Compiled, String> + Send + Sync,
{
    fn compile(&self, dir: &Path) -> Result<Compiled, String> {
        self(dir)
    }
}
