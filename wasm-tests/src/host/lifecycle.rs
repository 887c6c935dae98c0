//! VM lifecycle: starting worker VMs and their root contexts, re-configuration and
//! shutdown (`on_done` / `proxy_done` / `on_delete` on roots).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};
use wasmtime::{Linker, StoreLimitsBuilder};

use crate::module::{AbiVersion, WasmModule, engine, wt};
use crate::state::{Callback, VmData, World, lock};
use crate::vm::Vm;
use crate::{hostcalls, wasi};

use super::{Cb, Host, HostConfig};

impl Host {
    pub(super) fn new(module: Arc<WasmModule>, cfg: HostConfig) -> Result<Host> {
        if module.abi() < AbiVersion::V0_2_0 {
            bail!(
                "{}: ABI 0.1.0 modules are not supported by this host",
                module.name()
            );
        }
        let mut linker = Linker::new(engine()?);
        wt(hostcalls::add_to_linker(&mut linker, module.abi()))?;
        wt(wasi::add_to_linker(&mut linker, "wasi_snapshot_preview1"))?;
        wt(wasi::add_to_linker(&mut linker, "wasi_unstable"))?;
        let world = match &cfg.process {
            Some(p) => p.0.clone(),
            None => {
                let mut world = World::new(cfg.seed);
                world.properties = cfg.properties.clone();
                world.log_level = cfg.log_level;
                world.strict = cfg.strict.clone();
                Arc::new(Mutex::new(world))
            }
        };
        let host_id = {
            let mut w = lock(&world);
            for c in &cfg.clusters {
                if !w.knows_cluster(c) {
                    w.clusters.push(c.clone());
                }
            }
            w.next_host_id += 1;
            w.next_host_id
        };
        // Envoy also runs the plugin on the main thread: N+1 VMs.
        let workers = cfg.workers + usize::from(cfg.main_thread_vm);
        let mut host = Host {
            module,
            linker,
            cfg,
            world,
            host_id,
            vms: Vec::new(),
            roots: vec![0; workers],
            next_context: vec![1; workers],
            next_worker: 0,
            streams: BTreeMap::new(),
            tcp: BTreeMap::new(),
            reload_at: vec![None; workers],
            reloads: 0,
            configure_results: vec![false; workers],
        };
        for w in 0..workers {
            let vm = host.start_vm(w)?;
            host.vms.push(vm);
            let ok = host.start_root(w)?;
            if !ok && !host.cfg.serve_unconfigured {
                bail!(
                    "worker {w}: proxy_on_vm_start or proxy_on_configure returned false\n{host:#?}"
                );
            }
        }
        Ok(host)
    }

    pub(super) fn start_vm(&mut self, worker: usize) -> Result<Vm> {
        let data = VmData {
            world: self.world.clone(),
            host_id: self.host_id,
            worker,
            vm_id: self.cfg.vm_id.clone(),
            abi: self.module.abi(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.cfg.memory_limit)
                .build(),
            memory: None,
            vm_config: self.cfg.vm_config.clone(),
            plugin_config: self.cfg.plugin_config.clone(),
            env: self.cfg.env.clone(),
            cb: Callback::None,
            active: 0,
            contexts: BTreeMap::new(),
            http: BTreeMap::new(),
            tcp: BTreeMap::new(),
            ticks: BTreeMap::new(),
            root_properties: BTreeMap::new(),
            ffi_args: Vec::new(),
            call_response: None,
            grpc_message: None,
            grpc_initial: None,
            grpc_trailing: None,
            status: None,
            last_status_code: 0,
            deferred: Vec::new(),
            exit_code: None,
            pending_done: Vec::new(),
            plugin_name: self.cfg.plugin_name.clone(),
            root_id: self.cfg.root_id.clone(),
        };
        let mut vm = Vm::new(&self.module, &self.linker, data, self.cfg.fuel_per_callback)?;
        if let Err(e) = vm.initialize() {
            self.record_failure(worker, "_initialize", &format!("{e:#}"));
            return Err(e);
        }
        Ok(vm)
    }

    pub(super) fn alloc_context(&mut self, worker: usize) -> u32 {
        let id = self.next_context[worker];
        self.next_context[worker] += 1;
        id
    }

    /// A new root context: on_context_create(root, 0), on_vm_start, on_configure.
    pub(super) fn start_root(&mut self, worker: usize) -> Result<bool> {
        let root = self.alloc_context(worker);
        self.vms[worker].store.data_mut().contexts.insert(root, 0);
        self.roots[worker] = root;
        let vm_cfg = self.cfg.vm_config.len() as i32;
        let plugin_cfg = self.cfg.plugin_config.len() as i32;
        let steps: [(Callback, &'static str, Vec<i32>); 3] = [
            (
                Callback::ContextCreate,
                "proxy_on_context_create",
                vec![root as i32, 0],
            ),
            (
                Callback::VmStart,
                "proxy_on_vm_start",
                vec![root as i32, vm_cfg],
            ),
            (
                Callback::Configure,
                "proxy_on_configure",
                vec![root as i32, plugin_cfg],
            ),
        ];
        let mut ok = true;
        for (cb, name, args) in steps {
            match self.vms[worker].call(cb, root, name, &args) {
                Ok(Some(r)) if cb != Callback::ContextCreate => ok &= r != 0,
                Ok(_) => {}
                Err(e) => {
                    self.record_failure(worker, name, &e);
                    return Err(anyhow!("worker {worker}: {e}\n{self:#?}"));
                }
            }
            self.after_callback(worker);
            if !ok {
                break;
            }
        }
        self.configure_results[worker] = ok;
        Ok(ok)
    }

    /// Re-configures: a new root context on each existing VM (Envoy, on a plugin-config
    /// update for the same `vm_id`). Returns `on_configure`'s result per worker. New streams
    /// attach to the new root, and the previous roots are retired: `on_done`, then `on_delete`
    /// (or pending until `proxy_done`), as Envoy does when it releases the replaced filter
    /// config (Envoy waits for that config's last stream; the host retires at once). When any
    /// `on_configure` returns false, Envoy rejects the update ("Unable to create Wasm HTTP
    /// filter") and the previous filter config, with its root contexts, keeps serving.
    pub fn reconfigure(&mut self, plugin_config: impl Into<Vec<u8>>) -> Result<Vec<bool>> {
        let previous = (
            std::mem::replace(&mut self.cfg.plugin_config, plugin_config.into()),
            self.roots.clone(),
            self.configure_results.clone(),
        );
        let mut out = Vec::new();
        for w in 0..self.vms.len() {
            self.vms[w].store.data_mut().plugin_config = self.cfg.plugin_config.clone();
            out.push(self.start_root(w)?);
        }
        if out.contains(&false) {
            let (config, roots, results) = previous;
            for vm in &mut self.vms {
                vm.store.data_mut().plugin_config = config.clone();
            }
            self.cfg.plugin_config = config;
            self.roots = roots;
            self.configure_results = results;
        } else {
            for (w, old) in previous.1.into_iter().enumerate() {
                self.retire_root(w, old);
            }
        }
        Ok(out)
    }

    /// `on_done` on a root context, then `on_delete`, or pending when it returns false.
    fn retire_root(&mut self, worker: usize, root: u32) {
        let r = self.call(
            worker,
            Callback::Done,
            root,
            "proxy_on_done",
            &[root as i32],
        );
        if let Cb::Ret(Some(0)) = r {
            self.vms[worker].store.data_mut().pending_done.push(root);
        } else {
            self.delete_root(worker, root);
        }
        self.after_callback(worker);
    }

    /// Shuts the VMs down as Envoy does: `on_done` on every root context; a root returning
    /// false stays until it calls `proxy_done` (e.g. from a tick), then gets `on_delete`.
    /// Returns the roots still pending.
    pub fn shutdown(&mut self) -> Vec<(usize, u32)> {
        for w in 0..self.vms.len() {
            let roots: Vec<u32> = self.vms[w]
                .store
                .data()
                .contexts
                .iter()
                .filter(|(_, parent)| **parent == 0)
                .map(|(id, _)| *id)
                .collect();
            for root in roots {
                self.retire_root(w, root);
            }
        }
        self.pending_done()
    }

    /// Root contexts waiting for `proxy_done`.
    pub fn pending_done(&self) -> Vec<(usize, u32)> {
        self.vms
            .iter()
            .enumerate()
            .flat_map(|(w, vm)| vm.store.data().pending_done.iter().map(move |r| (w, *r)))
            .collect()
    }

    pub(super) fn delete_root(&mut self, worker: usize, root: u32) {
        let _ = self.call(
            worker,
            Callback::Delete,
            root,
            "proxy_on_delete",
            &[root as i32],
        );
        let d = self.vms[worker].store.data_mut();
        d.contexts.remove(&root);
        d.ticks.remove(&root);
    }
}
