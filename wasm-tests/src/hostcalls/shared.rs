//! Shared data and shared queues, per `vm_id` across the process:
//! `proxy_{set,get}_shared_data`, `proxy_{register,resolve}_shared_queue`,
//! `proxy_{enqueue,dequeue}_shared_queue`.

use wasmtime::{Linker, Result};

use crate::abi::Status;
use crate::state::{Notify, Queue, VmData};

use super::{C, ENV, R, copy_out, done, enter_forced, forced, read, read_string, slot, write_u32};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_set_shared_data",
        |c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> R {
            let name = "proxy_set_shared_data";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl));
            let value = tri!(&c, name, key.clone(), read(&c, vp, vl));
            let cas = cas as u32;
            let detail = format!("key={key} cas={cas}");
            let st = {
                let d = c.data();
                let mut w = d.world();
                let k = (d.vm_id.clone(), key);
                // cpp-host `SharedData::set`: cas 0 is unconditional; a mismatch is refused.
                match w.shared_data.get(&k) {
                    Some((_, cur)) if cas != 0 && cas != *cur => Status::CasMismatch,
                    _ => {
                        w.next_cas = w.next_cas.wrapping_add(1);
                        if w.next_cas == 0 {
                            w.next_cas = 1;
                        }
                        let new = w.next_cas;
                        w.shared_data.insert(k, (value, new));
                        Status::Ok
                    }
                }
            };
            done(&c, name, detail, st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_get_shared_data",
        |mut c: C<'_>, kp: i32, kl: i32, vpp: i32, vlp: i32, cas_ptr: i32| -> R {
            let name = "proxy_get_shared_data";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let key = tri!(&c, name, String::new(), read_string(&c, kp, kl));
            let found = {
                let d = c.data();
                d.world()
                    .shared_data
                    .get(&(d.vm_id.clone(), key.clone()))
                    .cloned()
            };
            let Some((value, cas)) = found else {
                return done(&c, name, format!("key={key}"), Status::NotFound);
            };
            let st = copy_out(&mut c, &value, vpp, vlp)?;
            if st != Status::Ok {
                return done(&c, name, format!("key={key}"), st);
            }
            tri!(&c, name, key.clone(), write_u32(&mut c, cas_ptr, cas));
            done(&c, name, format!("key={key} cas={cas}"), Status::Ok)
        },
    )?;

    // --- shared queues ---

    linker.func_wrap(
        ENV,
        "proxy_register_shared_queue",
        |mut c: C<'_>, np: i32, nl: i32, id_ptr: i32| -> R {
            let name = "proxy_register_shared_queue";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let qname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let id = {
                let d = c.data();
                let root = d.root_of(d.active);
                let mut w = d.world();
                match w
                    .queues
                    .iter()
                    .position(|q| q.vm_id == d.vm_id && q.name == qname)
                {
                    // cpp-host `registerQueue`: the latest registrant receives on_queue_ready;
                    // queued data is kept.
                    Some(i) => {
                        let q = &mut w.queues[i];
                        q.host = d.host_id;
                        q.worker = d.worker;
                        q.root_context = root;
                        i as u32 + 1
                    }
                    None => {
                        w.queues.push(Queue {
                            host: d.host_id,
                            vm_id: d.vm_id.clone(),
                            name: qname.clone(),
                            worker: d.worker,
                            root_context: root,
                            items: Default::default(),
                        });
                        w.queues.len() as u32
                    }
                }
            };
            tri!(&c, name, qname.clone(), write_u32(&mut c, id_ptr, id));
            done(&c, name, format!("{qname} id={id}"), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, vp: i32, vl: i32, np: i32, nl: i32, id_ptr: i32| -> R {
            let name = "proxy_resolve_shared_queue";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let vm_id = tri!(&c, name, String::new(), read_string(&c, vp, vl));
            let qname = tri!(&c, name, String::new(), read_string(&c, np, nl));
            let detail = format!("vm_id={vm_id} name={qname}");
            let found = {
                let w = c.data().world();
                w.queues
                    .iter()
                    .position(|q| q.vm_id == vm_id && q.name == qname)
            };
            let Some(i) = found else {
                return done(&c, name, detail, Status::NotFound);
            };
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, id_ptr, i as u32 + 1)
            );
            done(&c, name, format!("{detail} id={}", i + 1), Status::Ok)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_enqueue_shared_queue",
        |c: C<'_>, id: i32, vp: i32, vl: i32| -> R {
            let name = "proxy_enqueue_shared_queue";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let id = id as u32;
            let value = tri!(&c, name, String::new(), read(&c, vp, vl));
            let st = {
                let mut w = c.data().world();
                let idx = slot(id);
                match w.queues.get_mut(idx) {
                    None => Status::NotFound,
                    Some(q) => {
                        q.items.push_back(value);
                        let n = Notify::QueueReady {
                            host: q.host,
                            worker: q.worker,
                            root_context: q.root_context,
                            queue_id: id,
                        };
                        w.notify.push(n);
                        Status::Ok
                    }
                }
            };
            done(&c, name, format!("id={id}"), st)
        },
    )?;

    linker.func_wrap(
        ENV,
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: i32, vpp: i32, vlp: i32| -> R {
            let name = "proxy_dequeue_shared_queue";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let id = id as u32;
            let item = {
                let mut w = c.data().world();
                let idx = slot(id);
                match w.queues.get_mut(idx) {
                    None => Err(Status::NotFound),
                    Some(q) => q.items.pop_front().ok_or(Status::Empty),
                }
            };
            let item = tri!(&c, name, format!("id={id}"), item);
            let st = copy_out(&mut c, &item, vpp, vlp)?;
            done(&c, name, format!("id={id} len={}", item.len()), st)
        },
    )?;
    Ok(())
}
