//! HTTP callouts: `proxy_http_call` (the answer comes from the test, see
//! `Host::answer_callout`).

use wasmtime::{Linker, Result};

use crate::abi::{Status, deserialize_pairs};
use crate::records::HttpCallout;
use crate::state::{Pairs, VmData};

use super::{C, ENV, R, done, enter_forced, forced, read, read_string, write_u32};

pub(super) fn add(linker: &mut Linker<VmData>) -> Result<()> {
    linker.func_wrap(
        ENV,
        "proxy_http_call",
        |mut c: C<'_>,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         token_ptr: i32|
         -> R {
            let name = "proxy_http_call";
            if let Some(code) = enter_forced(&c, name)? {
                return forced(&c, name, code);
            }
            let cluster = tri!(&c, name, String::new(), read_string(&c, up, ul));
            let headers = tri!(&c, name, cluster.clone(), read(&c, hp, hl));
            let body = tri!(&c, name, cluster.clone(), read(&c, bp, bl));
            let trailers = tri!(&c, name, cluster.clone(), read(&c, tp, tl));
            let headers: Pairs = deserialize_pairs(&headers)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let trailers = deserialize_pairs(&trailers).unwrap_or_default();
            let detail = format!("cluster={cluster} headers={headers:?} timeout={timeout}");
            if timeout < 0 {
                return done(&c, name, detail, Status::BadArgument);
            }
            let has = |h: &str| headers.iter().any(|(k, _)| k == h);
            let token = {
                let d = c.data();
                let mut w = d.world();
                if !w.knows_cluster(&cluster) {
                    drop(w);
                    return done(&c, name, detail, Status::BadArgument);
                }
                // Envoy requires :path, :method and :authority (Host).
                if !(has(":path") && has(":method") && (has(":authority") || has("host"))) {
                    drop(w);
                    return done(&c, name, detail, Status::BadArgument);
                }
                w.next_http_token += 1;
                let token = w.next_http_token;
                let deadline_ms = (timeout > 0).then(|| w.now_ms() + timeout as u64);
                w.callouts.insert(
                    token,
                    HttpCallout {
                        token,
                        host: d.host_id,
                        worker: d.worker,
                        // cpp-host runs callouts on the root context.
                        context: d.root_of(d.active),
                        cluster,
                        headers,
                        body,
                        trailers,
                        timeout_ms: timeout as u32,
                        deadline_ms,
                    },
                );
                token
            };
            tri!(
                &c,
                name,
                detail.clone(),
                write_u32(&mut c, token_ptr, token)
            );
            done(&c, name, format!("{detail} token={token}"), Status::Ok)
        },
    )?;
    Ok(())
}
