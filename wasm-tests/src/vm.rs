//! One VM: a wasmtime store and instance of a module, with fuel and memory metering.

use anyhow::{Result, anyhow, bail};
use wasmtime::{Instance, Linker, Store, Val};

use crate::module::{WasmModule, engine, wt};
use crate::state::{Callback, VmData};

/// Fuel consumed by one callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackCost {
    pub worker: usize,
    pub context: u32,
    pub callback: &'static str,
    pub fuel: u64,
}

pub(crate) struct Vm {
    pub store: Store<VmData>,
    instance: Instance,
    pub failed: Option<String>,
    pub fuel_budget: u64,
    pub memory_high_water: usize,
    pub costs: Vec<CallbackCost>,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("worker", &self.store.data().worker)
            .field("failed", &self.failed)
            .field("memory_high_water", &self.memory_high_water)
            .finish_non_exhaustive()
    }
}

impl Vm {
    /// Instantiates `module`, refusing any import Envoy would not provide.
    pub fn new(
        module: &WasmModule,
        linker: &Linker<VmData>,
        data: VmData,
        fuel_budget: u64,
    ) -> Result<Vm> {
        let mut store = Store::new(engine()?, data);
        store.limiter(|d| &mut d.limits);
        wt(store.set_fuel(fuel_budget))?;
        for import in module.module.imports() {
            if linker.get_by_import(&mut store, &import).is_none() {
                bail!(
                    "missing import: {}.{} (Envoy's ABI v0.2.1 host does not provide it; \
                     Envoy refuses to load such a module)",
                    import.module(),
                    import.name()
                );
            }
        }
        let instance = wt(linker.instantiate(&mut store, &module.module))?;
        let memory = instance.get_memory(&mut store, "memory");
        if memory.is_none() {
            bail!("module exports no `memory`");
        }
        store.data_mut().memory = memory;
        if instance
            .get_func(&mut store, "proxy_on_memory_allocate")
            .is_none()
            && instance.get_func(&mut store, "malloc").is_none()
        {
            bail!("module exports neither proxy_on_memory_allocate nor malloc");
        }
        let mut vm = Vm {
            store,
            instance,
            failed: None,
            fuel_budget,
            memory_high_water: 0,
            costs: Vec::new(),
        };
        vm.update_memory();
        Ok(vm)
    }

    pub fn has_export(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    fn update_memory(&mut self) {
        if let Some(mem) = self.store.data().memory {
            let size = mem.data_size(&self.store);
            self.memory_high_water = self.memory_high_water.max(size);
        }
    }

    /// Current linear-memory size in bytes.
    pub fn memory_size(&self) -> usize {
        self.store
            .data()
            .memory
            .map(|m| m.data_size(&self.store))
            .unwrap_or(0)
    }

    /// Calls an optional export. `Ok(None)` when the module does not export it; `Err` is a
    /// trap (the VM is then marked failed).
    pub fn call(
        &mut self,
        cb: Callback,
        context: u32,
        name: &'static str,
        args: &[i32],
    ) -> Result<Option<i64>, String> {
        if let Some(f) = &self.failed {
            return Err(format!("VM already failed: {f}"));
        }
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            return Ok(None);
        };
        let ty = func.ty(&self.store);
        let params: Vec<Val> = ty
            .params()
            .zip(args.iter().chain(std::iter::repeat(&0)))
            .map(|(p, a)| match p {
                wasmtime::ValType::I64 => Val::I64(*a as i64),
                _ => Val::I32(*a),
            })
            .collect();
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        {
            let d = self.store.data_mut();
            d.cb = cb;
            d.active = context;
        }
        let _ = self.store.set_fuel(self.fuel_budget);
        let r = func.call(&mut self.store, &params, &mut results);
        let left = self.store.get_fuel().unwrap_or(0);
        self.costs.push(CallbackCost {
            worker: self.store.data().worker,
            context,
            callback: name,
            fuel: self.fuel_budget.saturating_sub(left),
        });
        self.store.data_mut().cb = Callback::None;
        self.update_memory();
        match r {
            Ok(()) => Ok(results.first().and_then(|v| match v {
                Val::I32(x) => Some(*x as i64),
                Val::I64(x) => Some(*x),
                _ => None,
            })),
            Err(e) => {
                let msg = format!("{name}: {e:?}");
                self.failed = Some(msg.clone());
                Err(msg)
            }
        }
    }

    /// WASI reactor start: `_initialize` then `main(0, 0)` if present, else `_start`.
    pub fn initialize(&mut self) -> Result<()> {
        if self.has_export("_initialize") {
            self.call(Callback::Initialize, 0, "_initialize", &[])
                .map_err(|e| anyhow!(e))?;
            if self.has_export("main") {
                self.call(Callback::Initialize, 0, "main", &[0, 0])
                    .map_err(|e| anyhow!(e))?;
            }
        } else if self.has_export("_start") {
            self.call(Callback::Initialize, 0, "_start", &[])
                .map_err(|e| anyhow!(e))?;
        }
        Ok(())
    }
}
