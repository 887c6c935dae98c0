//! Compiled modules: one shared `Engine`, each module compiled once per process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context as _, Result, anyhow};
use wasmtime::{Config, Engine, ExternType, Module};

/// The ABI version a module declares through its marker export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AbiVersion {
    V0_1_0,
    V0_2_0,
    V0_2_1,
}

/// A compiled proxy-wasm module.
#[derive(Debug)]
pub struct WasmModule {
    pub(crate) module: Module,
    name: String,
    abi: AbiVersion,
}

/// wasmtime's own error type as an `anyhow::Error`.
pub(crate) fn wt<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow!("{e:?}"))
}

/// The process-wide engine, with fuel metering on.
pub(crate) fn engine() -> Result<&'static Engine> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.consume_fuel(true);
        Engine::new(&config).map_err(|e| format!("{e:#}"))
    });
    engine.as_ref().map_err(|e| anyhow!("wasmtime engine: {e}"))
}

impl WasmModule {
    /// Loads and compiles the module at `path`; a second load of the same path is free.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<WasmModule>> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<WasmModule>>>> = OnceLock::new();
        let path = path.as_ref();
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.get(&key) {
            return Ok(m.clone());
        }
        let bytes = std::fs::read(&key)
            .with_context(|| format!("reading wasm module {}", key.display()))?;
        let module = Arc::new(Self::compile(&key.display().to_string(), &bytes)?);
        cache.insert(key, module.clone());
        Ok(module)
    }

    /// Finds or builds `package` (see [`crate::artifacts::build_wasm`]) and loads it.
    pub fn package(package: &str) -> Result<Arc<WasmModule>> {
        Self::load(crate::artifacts::build_wasm(package)?)
    }

    /// Compiles raw bytes (not cached).
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<WasmModule> {
        Self::compile(name, bytes)
    }

    fn compile(name: &str, bytes: &[u8]) -> Result<WasmModule> {
        let module =
            Module::new(engine()?, bytes).map_err(|e| anyhow!("compiling {name}: {e:?}"))?;
        let mut abi = None;
        for export in module.exports() {
            let v = match export.name() {
                "proxy_abi_version_0_2_1" => AbiVersion::V0_2_1,
                "proxy_abi_version_0_2_0" => AbiVersion::V0_2_0,
                "proxy_abi_version_0_1_0" => AbiVersion::V0_1_0,
                _ => continue,
            };
            abi = Some(abi.map_or(v, |a: AbiVersion| a.max(v)));
        }
        let abi = abi.ok_or_else(|| {
            anyhow!("{name}: no proxy_abi_version_* export; not a proxy-wasm module")
        })?;
        Ok(WasmModule {
            module,
            name: name.to_string(),
            abi,
        })
    }

    /// The declared ABI version.
    pub fn abi(&self) -> AbiVersion {
        self.abi
    }

    /// The path or name the module was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `module.name` of every function import.
    pub fn imports(&self) -> Vec<String> {
        self.module
            .imports()
            .filter(|i| matches!(i.ty(), ExternType::Func(_)))
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect()
    }
}
