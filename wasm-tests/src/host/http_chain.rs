//! The HTTP filter-chain model: delivering headers, bodies and trailers to the filter,
//! applying its return values (continue, pause, buffer), resuming, and ending a stream
//! (`on_done`, `on_log`, `on_delete`).

use anyhow::Result;

use crate::records::{LocalResponse, ReplySource};
use crate::state::{Callback, HttpState, Pairs, Phase};

use super::{Cb, FailurePolicy, Host, Side, StreamId, StreamRecord};

impl Host {
    pub(super) fn begin_http(
        &mut self,
        worker: usize,
        headers: Pairs,
        eos: bool,
        props: Vec<(String, Vec<u8>)>,
    ) -> Result<StreamId> {
        self.prepare_worker(worker)?;
        let ctx = self.alloc_context(worker);
        let root = self.roots[worker];
        let id = StreamId {
            worker,
            context: ctx,
        };
        let headers: Pairs = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let cached = self.route_for(&headers);
        {
            let d = self.vms[worker].store.data_mut();
            d.contexts.insert(ctx, root);
            let mut s = HttpState {
                root,
                ..Default::default()
            };
            s.properties.extend(props);
            s.request.headers = headers;
            s.request.headers_received = true;
            s.request.end_stream = eos;
            d.http.insert(ctx, s);
        }
        self.streams.insert(
            id,
            StreamRecord {
                id: Some(id),
                root,
                cached_route: cached,
                ..Default::default()
            },
        );
        let vm_failed = self.vms[worker].failed.is_some();
        if vm_failed {
            // A VM that already failed: FAIL_OPEN skips the filter, the others reply 503.
            self.rec(id).filter_skipped = true;
            if self.cfg.failure_policy != FailurePolicy::FailOpen {
                self.failure_reply(id);
                return Ok(id);
            }
            self.pump(id, Side::Request);
            return Ok(id);
        }
        match self.call(
            worker,
            Callback::ContextCreate,
            ctx,
            "proxy_on_context_create",
            &[ctx as i32, root as i32],
        ) {
            Cb::Trapped => {
                self.on_trap(id);
                return Ok(id);
            }
            _ => self.after_callback(worker),
        }
        if let Some(d) = self.dir(id, Side::Request) {
            d.headers_open = true;
        }
        self.deliver_headers(id, Side::Request);
        Ok(id)
    }

    pub(super) fn ended(&self, id: StreamId) -> bool {
        self.streams
            .get(&id)
            .is_none_or(|r| r.local_response.is_some() || r.reset || r.deleted)
    }

    /// Runs a stream callback and applies its result to `side`.
    pub(super) fn deliver_headers(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        let n = d.headers.len() as i32;
        let eos = (d.end_stream && !d.body_pending && d.trailers.is_none()) as i32;
        d.headers_open = true;
        let (cb, name) = match side {
            Side::Request => (Callback::RequestHeaders, "proxy_on_request_headers"),
            Side::Response => (Callback::ResponseHeaders, "proxy_on_response_headers"),
        };
        let r = self.stream_call(id, cb, name, &[id.context as i32, n, eos]);
        self.apply(id, side, Phase::Headers, r);
    }

    fn deliver_body(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        d.body_open = true;
        let size = d.body.len() as i32;
        let eos = (d.end_stream && d.trailers.is_none()) as i32;
        let (cb, name) = match side {
            Side::Request => (Callback::RequestBody, "proxy_on_request_body"),
            Side::Response => (Callback::ResponseBody, "proxy_on_response_body"),
        };
        let r = self.stream_call(id, cb, name, &[id.context as i32, size, eos]);
        self.apply(id, side, Phase::Body, r);
    }

    fn deliver_trailers(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        d.trailers_open = true;
        let n = d.trailers.as_ref().map_or(0, |t| t.len()) as i32;
        let (cb, name) = match side {
            Side::Request => (Callback::RequestTrailers, "proxy_on_request_trailers"),
            Side::Response => (Callback::ResponseTrailers, "proxy_on_response_trailers"),
        };
        let r = self.stream_call(id, cb, name, &[id.context as i32, n]);
        self.apply(id, side, Phase::Trailers, r);
    }

    fn stream_call(&mut self, id: StreamId, cb: Callback, name: &'static str, args: &[i32]) -> Cb {
        if self.streams.get(&id).is_some_and(|r| r.filter_skipped) {
            return Cb::Skipped;
        }
        self.call(id.worker, cb, id.context, name, args)
    }

    /// Envoy's handling of a filter's return value, then the deferred actions.
    fn apply(&mut self, id: StreamId, side: Side, phase: Phase, r: Cb) {
        let action = match r {
            Cb::Trapped => {
                self.on_trap(id);
                return;
            }
            Cb::Skipped => 0,
            Cb::Ret(v) => v.unwrap_or(0),
        };
        // A local reply asked for during the callback runs after it (Envoy after-VM-call action).
        if let Some(reply) = self.st(id).and_then(|s| s.pending_local_reply.take()) {
            self.local_reply(id, reply);
            self.after_callback(id.worker);
            return;
        }
        if let Some(d) = self.dir(id, side) {
            if action == 0 {
                match phase {
                    // Envoy drops its pointer to the map once the callback continues.
                    Phase::Headers => d.headers_open = false,
                    Phase::Body => {
                        let body = std::mem::take(&mut d.body);
                        d.forwarded_body.extend(body);
                        d.body_open = false;
                    }
                    Phase::Trailers => {
                        d.trailers_open = false;
                        d.trailers_forwarded = true;
                    }
                }
                d.paused = None;
            } else {
                // Headers: StopAllIterationAndWatermark; body: StopIterationAndBuffer.
                d.paused = Some(phase);
            }
        }
        if action == 0 && phase == Phase::Headers {
            self.forward_headers(id, side);
        }
        self.pump(id, side);
        self.after_callback(id.worker);
    }

    pub(super) fn forward_headers(&mut self, id: StreamId, side: Side) {
        if let Some(d) = self.dir(id, side) {
            d.headers_forwarded = true;
        }
        if side == Side::Request {
            self.route(id);
        }
    }

    /// Delivers whatever is pending on `side` while it is not paused.
    pub(super) fn pump(&mut self, id: StreamId, side: Side) {
        loop {
            if self.ended(id) && side == Side::Request {
                return;
            }
            let Some(d) = self.dir(id, side) else { return };
            if d.paused.is_some() || !d.headers_received || d.complete {
                return;
            }
            if !d.headers_forwarded {
                self.forward_headers(id, side);
                continue;
            }
            if d.body_pending {
                d.body_pending = false;
                self.deliver_body(id, side);
                return;
            }
            if d.trailers_pending {
                d.trailers_pending = false;
                self.deliver_trailers(id, side);
                return;
            }
            if d.end_stream && d.body.is_empty() {
                d.complete = true;
            }
            return;
        }
    }

    pub(super) fn receive_body(&mut self, id: StreamId, side: Side, chunk: &[u8], eos: bool) {
        if side == Side::Request && self.ended(id) {
            return;
        }
        let limit = self.cfg.buffer_limit;
        let Some(d) = self.dir(id, side) else { return };
        if d.complete {
            return;
        }
        let buffering = d.paused.is_some();
        d.body.extend_from_slice(chunk);
        d.end_stream |= eos;
        if buffering && d.body.len() > limit {
            // Envoy: a buffered body over the limit is 413 on requests, 500 on responses.
            let status = if side == Side::Request { 413 } else { 500 };
            let details = if side == Side::Request {
                "request_payload_too_large"
            } else {
                "response_payload_too_large"
            };
            self.local_reply(
                id,
                LocalResponse {
                    status,
                    body: Vec::new(),
                    headers: Vec::new(),
                    details: details.to_string(),
                    grpc_status: None,
                    flags: Vec::new(),
                    source: ReplySource::BufferLimit,
                },
            );
            return;
        }
        match d.paused {
            // StopAll in headers: no body callback until resumed.
            Some(Phase::Headers) | Some(Phase::Trailers) => d.body_pending = true,
            // Buffering in body: the callback sees the cumulative size.
            Some(Phase::Body) => self.deliver_body(id, side),
            None => {
                d.body_pending = true;
                self.pump(id, side);
            }
        }
    }

    pub(super) fn receive_trailers(&mut self, id: StreamId, side: Side, trailers: Pairs) {
        if side == Side::Request && self.ended(id) {
            return;
        }
        let Some(d) = self.dir(id, side) else { return };
        d.trailers = Some(
            trailers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        );
        d.end_stream = true;
        d.trailers_pending = true;
        self.pump(id, side);
    }

    pub(super) fn resume(&mut self, id: StreamId, side: Side) {
        let Some(d) = self.dir(id, side) else { return };
        match d.paused.take() {
            Some(Phase::Headers) => {
                self.forward_headers(id, side);
                self.pump(id, side);
            }
            Some(Phase::Body) => {
                let body = std::mem::take(&mut d.body);
                d.forwarded_body.extend(body);
                d.body_open = false;
                self.pump(id, side);
            }
            Some(Phase::Trailers) => {
                d.trailers_open = false;
                d.trailers_forwarded = true;
                self.pump(id, side);
            }
            None => {}
        }
    }

    /// on_done, then (unless it returned false) on_log and on_delete.
    pub(super) fn end_stream(&mut self, id: StreamId) {
        if self.streams.get(&id).is_some_and(|r| r.deleted) {
            return;
        }
        let r = self.stream_call(id, Callback::Done, "proxy_on_done", &[id.context as i32]);
        // For stream contexts Envoy ignores on_done's result (only roots may defer with
        // proxy_done, at VM shutdown).
        if let Cb::Ret(Some(0)) = r {
            self.rec(id).done_returned_false = true;
        }
        self.after_callback(id.worker);
        self.log_and_delete(id);
    }

    fn log_and_delete(&mut self, id: StreamId) {
        if let Some(s) = self.st(id) {
            s.log_phase = true;
            s.request.headers_open = false;
            s.response.headers_open = false;
            s.request.body_open = false;
            s.response.body_open = false;
        }
        let _ = self.stream_call(id, Callback::Log, "proxy_on_log", &[id.context as i32]);
        self.after_callback(id.worker);
        let _ = self.stream_call(
            id,
            Callback::Delete,
            "proxy_on_delete",
            &[id.context as i32],
        );
        let d = self.vms[id.worker].store.data_mut();
        let state = d.http.remove(&id.context);
        d.contexts.remove(&id.context);
        let rec = self.rec(id);
        rec.deleted = true;
        if let Some(s) = state {
            rec.state = s;
        }
    }
}
