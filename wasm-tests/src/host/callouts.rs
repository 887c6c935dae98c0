//! Answering what a filter asked of the outside: HTTP callout responses and failures, and
//! `proxy_on_foreign_function` callbacks.

use anyhow::{Result, bail};

use crate::state::{CallResponse, Callback, Pairs, lock};

use super::Host;

impl Host {
    /// Answers an HTTP callout: `on_http_call_response` with `:status` plus `headers`.
    pub fn answer_callout(
        &mut self,
        token: u32,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        let mut h: Pairs = vec![(":status".into(), status.to_string())];
        h.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        self.callout_response(
            token,
            Some(CallResponse {
                headers: h,
                body: body.to_vec(),
                trailers: Vec::new(),
            }),
        )
    }

    /// Fails a callout (reset): `on_http_call_response` with 0 headers.
    pub fn fail_callout(&mut self, token: u32) {
        let _ = self.callout_response(token, None);
    }

    fn callout_response(&mut self, token: u32, resp: Option<CallResponse>) -> Result<()> {
        let id = self.host_id;
        let c = {
            let mut w = lock(&self.world);
            match w.callouts.get(&token) {
                Some(c) if c.host == id => w.callouts.remove(&token),
                _ => None,
            }
        };
        let Some(c) = c else {
            bail!("no pending callout with token {token} on this host");
        };
        let w = c.worker;
        let (n, body, trailers) = resp.as_ref().map_or((0, 0, 0), |r| {
            (r.headers.len(), r.body.len(), r.trailers.len())
        });
        {
            let d = self.vms[w].store.data_mut();
            if !d.contexts.contains_key(&c.context) {
                return Ok(());
            }
            // Envoy: a failure sets BrokenConnection (11) "reset"; a success leaves the
            // root's status code as it was.
            if resp.is_none() {
                d.status = Some((11, "reset".to_string()));
                d.last_status_code = 11;
            }
            d.call_response = resp;
        }
        let _ = self.call(
            w,
            Callback::HttpCallResponse,
            c.context,
            "proxy_on_http_call_response",
            &[
                c.context as i32,
                token as i32,
                n as i32,
                body as i32,
                trailers as i32,
            ],
        );
        let d = self.vms[w].store.data_mut();
        d.call_response = None;
        d.status = None;
        self.after_stream_effects(w, c.context);
        Ok(())
    }

    /// `proxy_on_foreign_function` on a worker's root context.
    pub fn call_foreign_callback(&mut self, worker: usize, function_id: u32, args: &[u8]) {
        let root = self.roots[worker];
        self.vms[worker].store.data_mut().ffi_args = args.to_vec();
        let _ = self.call(
            worker,
            Callback::ForeignFunction,
            root,
            "proxy_on_foreign_function",
            &[root as i32, function_id as i32, args.len() as i32],
        );
        self.vms[worker].store.data_mut().ffi_args.clear();
        self.after_callback(worker);
    }
}
