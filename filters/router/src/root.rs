//! The router's root context: owns the compiled config and the delay timers.

use std::cell::RefCell;
use std::rc::Rc;

use portcullis_core::{Gateway, SplitMix64};
use portcullis_glue::{Unconfigured, host, load_wire_config};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use crate::metrics::RouterMetrics;
use crate::stream::RouterStream;
use crate::timers::Timers;

/// State shared by the root context and its streams.
#[derive(Debug)]
pub struct Shared {
    /// Delayed streams.
    pub timers: RefCell<Timers>,
    /// Randomness for weights and percentages.
    pub entropy: RefCell<SplitMix64>,
    /// Metrics.
    pub metrics: RouterMetrics,
}

/// One root context per plugin configuration and worker.
#[derive(Debug, Default)]
pub struct RouterRoot {
    context_id: u32,
    gateway: Option<Rc<Gateway>>,
    shared: Option<Rc<Shared>>,
}

impl RouterRoot {
    fn shared(&mut self) -> Rc<Shared> {
        self.shared
            .get_or_insert_with(|| {
                Rc::new(Shared {
                    timers: RefCell::new(Timers::default()),
                    // Seeded from the clock: weights need spread, not secrecy.
                    entropy: RefCell::new(SplitMix64(host::now_nanos())),
                    metrics: RouterMetrics::define(),
                })
            })
            .clone()
    }
}

impl Context for RouterRoot {}

impl RootContext for RouterRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let shared = self.shared();
        let outcome = load_wire_config().and_then(|wire| Gateway::compile(&wire));
        let kept = self.gateway.as_ref().map(|g| g.config_version());
        match shared
            .metrics
            .config
            .report("router", outcome, Gateway::config_version, kept)
        {
            Some(gateway) => {
                self.gateway = Some(Rc::new(gateway));
                true
            }
            None => false,
        }
    }

    fn on_tick(&mut self) {
        let now = host::now_millis();
        if let Some(shared) = &self.shared {
            shared.timers.borrow_mut().fire(now, self.context_id);
        }
    }

    /// Never `None` (the SDK would panic): before any configuration the request is refused.
    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(match self.shared.clone() {
            Some(shared) => Box::new(RouterStream::new(context_id, self.gateway.clone(), shared)),
            None => Box::new(Unconfigured::new("router")),
        })
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl RouterRoot {
    /// Records the root's own context id (needed to switch back after resuming streams).
    pub fn with_id(context_id: u32) -> Self {
        RouterRoot {
            context_id,
            ..RouterRoot::default()
        }
    }
}
