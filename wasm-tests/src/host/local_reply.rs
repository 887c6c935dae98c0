//! Local replies: a filter's `proxy_send_local_response`, the router's and the host's own
//! replies, run through the filter's encoder callbacks or refused once headers went out.

use crate::records::{LocalResponse, ReplySource};
use crate::state::Direction;

use super::{Host, Side, StreamId};

impl Host {
    /// A local reply: refused (stream reset) once response headers went downstream,
    /// otherwise it becomes the response and runs through the filter's encoder callbacks.
    pub(super) fn local_reply(&mut self, id: StreamId, reply: LocalResponse) {
        let sent = self.st(id).is_some_and(|s| s.response.headers_forwarded);
        let rec = self.rec(id);
        if sent || rec.local_response.is_some() {
            rec.refused_local_responses.push(reply);
            if sent {
                rec.reset = true;
            }
            return;
        }
        let via_filter = reply.source != ReplySource::VmFailure;
        rec.local_response = Some(reply.clone());
        let mut headers = vec![(":status".to_string(), reply.status.to_string())];
        if !reply.body.is_empty() {
            headers.push(("content-length".into(), reply.body.len().to_string()));
            headers.push(("content-type".into(), "text/plain".into()));
        }
        headers.extend(reply.headers.iter().cloned());
        let Some(s) = self.st(id) else { return };
        s.request.paused = None;
        s.response = Direction {
            headers,
            headers_received: true,
            body_pending: !reply.body.is_empty(),
            body: reply.body.clone(),
            end_stream: true,
            ..Default::default()
        };
        if via_filter && !self.streams.get(&id).is_some_and(|r| r.filter_skipped) {
            self.deliver_headers(id, Side::Response);
        } else if let Some(s) = self.st(id) {
            let r = &mut s.response;
            r.headers_forwarded = true;
            r.forwarded_body = std::mem::take(&mut r.body);
            r.body_pending = false;
            r.complete = true;
        }
    }

    /// Local replies a stream asked for from a root-level callback (tick, queue, callout
    /// response) after `proxy_set_effective_context`.
    pub(super) fn apply_pending_local_replies(&mut self, worker: usize) {
        let ids: Vec<u32> = self.vms[worker]
            .store
            .data()
            .http
            .iter()
            .filter(|(_, s)| s.pending_local_reply.is_some())
            .map(|(k, _)| *k)
            .collect();
        for ctx in ids {
            let id = StreamId {
                worker,
                context: ctx,
            };
            if let Some(reply) = self.st(id).and_then(|s| s.pending_local_reply.take()) {
                self.local_reply(id, reply);
            }
        }
    }
}
