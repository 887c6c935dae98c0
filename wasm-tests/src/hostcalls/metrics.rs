//! Metrics: `proxy_define_metric`, `proxy_increment_metric`, `proxy_record_metric`,
//! `proxy_get_metric`.

use wasmtime::{Linker, Result};

use crate::abi::{self, Status};
use crate::records::{Metric, MetricKind};
use crate::state::VmData;

use super::{C, ENV, R, done, enter_forced, forced, read_string, slot, write_u32, write_u64};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_define_metric",
        |mut c: C<'_>, t: i32, np: i32, nl: i32, id_ptr: i32| -> R {
            let name = "proxy_define_metric";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let mname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let kind = match t as u32 {
                abi::metric::COUNTER => MetricKind::Counter,
                abi::metric::GAUGE => MetricKind::Gauge,
                abi::metric::HISTOGRAM => MetricKind::Histogram,
                _ => return done(&c, name, mname, Status::BadArgument),
            };
            let id = {
                let mut w = c.data().world();
                match w
                    .metrics
                    .iter()
                    .position(|m| m.name == mname && m.kind == kind)
                {
                    Some(i) => i as u32 + 1,
                    None => {
                        w.metrics.push(Metric {
                            name: mname.clone(),
                            kind,
                            value: 0,
                            samples: Vec::new(),
                        });
                        w.metrics.len() as u32
                    }
                }
            };
            tri!(&c, name, mname.clone(), write_u32(&mut c, id_ptr, id));
            done(&c, name, format!("{kind:?} {mname} id={id}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_increment_metric",
        |c: C<'_>, id: i32, delta: i64| -> R {
            let name = "proxy_increment_metric";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let st = {
                let mut w = c.data().world();
                match w.metrics.get_mut(slot(id as u32)) {
                    None => Status::NotFound,
                    Some(m) => match m.kind {
                        // Envoy: a counter only takes a positive offset.
                        MetricKind::Counter if delta <= 0 => Status::BadArgument,
                        MetricKind::Counter | MetricKind::Gauge => {
                            m.value = m.value.saturating_add(delta);
                            Status::Ok
                        }
                        MetricKind::Histogram => Status::BadArgument,
                    },
                }
            };
            done(&c, name, format!("id={id} delta={delta}"), st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_record_metric",
        |c: C<'_>, id: i32, value: i64| -> R {
            let name = "proxy_record_metric";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let value = value as u64;
            let st = {
                let mut w = c.data().world();
                match w.metrics.get_mut(slot(id as u32)) {
                    None => Status::NotFound,
                    Some(m) => {
                        match m.kind {
                            // Envoy: a counter is added to, a gauge set, a histogram sampled.
                            MetricKind::Counter => m.value = m.value.saturating_add(value as i64),
                            MetricKind::Gauge => m.value = value as i64,
                            MetricKind::Histogram => m.samples.push(value),
                        }
                        Status::Ok
                    }
                }
            };
            done(&c, name, format!("id={id} value={value}"), st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_metric",
        |mut c: C<'_>, id: i32, ptr: i32| -> R {
            let name = "proxy_get_metric";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let value = {
                let w = c.data().world();
                match w.metrics.get(slot(id as u32)) {
                    None => Err(Status::NotFound),
                    Some(m) if m.kind == MetricKind::Histogram => Err(Status::BadArgument),
                    Some(m) => Ok(m.value as u64),
                }
            };
            let value = tri!(&c, name, format!("id={id}"), value);
            tri!(&c, name, format!("id={id}"), write_u64(&mut c, ptr, value));
            done(&c, name, format!("id={id} value={value}"), Status::Ok)
        },
    )?;
    Ok(())
}
