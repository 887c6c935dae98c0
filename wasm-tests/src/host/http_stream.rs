//! The test's handles on HTTP traffic: [`HttpRequest`] (headers and per-stream properties,
//! then send) and [`HttpStream`] (drive both directions, read the recorded state), with
//! [`Step`], where a direction stands after each step.

use std::fmt;

use anyhow::Result;

use crate::properties::{PropertyValue, key_from_dotted};
use crate::records::{LocalResponse, RouteCacheClear};
use crate::state::{Pairs, Phase};

use super::{Host, Side, StreamId, StreamRecord};

// === impl HttpRequest ===

/// A request being built: headers and per-stream properties, then [`HttpRequest::send_headers`].
#[derive(Debug)]
pub struct HttpRequest<'h> {
    host: &'h mut Host,
    worker: usize,
    headers: Pairs,
    properties: Vec<(String, Vec<u8>)>,
}

impl<'h> HttpRequest<'h> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    /// A header whose value is arbitrary bytes (obs-text, invalid UTF-8), as Envoy accepts
    /// them; the guest reads exactly these bytes (see [`crate::abi::raw_value`]).
    pub fn header_bytes(self, k: &str, v: &[u8]) -> Self {
        self.header(k, &crate::abi::raw_value(v))
    }
    /// `:method GET`, `:scheme https`, `:path`, `:authority`.
    pub fn get(self, authority: &str, path: &str) -> Self {
        self.header(":method", "GET")
            .header(":scheme", "https")
            .header(":path", path)
            .header(":authority", authority)
    }
    /// `:method POST`, `:scheme https`, `:path`, `:authority`.
    pub fn post(self, authority: &str, path: &str) -> Self {
        self.header(":method", "POST")
            .header(":scheme", "https")
            .header(":path", path)
            .header(":authority", authority)
    }
    /// `x-forwarded-proto: https`, which Envoy's connection manager sets on a TLS connection
    /// (overwriting any client value): the connection the filters see as TLS (G-7).
    pub fn over_tls(self) -> Self {
        self.header("x-forwarded-proto", "https")
    }
    /// Pins the stream to a worker.
    pub fn worker(mut self, w: usize) -> Self {
        self.worker = w % self.host.cfg.workers;
        self
    }
    /// A property visible only to this stream.
    pub fn property(mut self, path: &str, v: impl Into<PropertyValue>) -> Self {
        self.properties.push((key_from_dotted(path), v.into().0));
        self
    }
    /// Sends request headers (not end of stream): creates the context, runs on_request_headers.
    pub fn send_headers(self) -> Result<HttpStream<'h>> {
        self.send(false)
    }
    /// Sends request headers with end of stream (a GET).
    pub fn send_headers_only(self) -> Result<HttpStream<'h>> {
        self.send(true)
    }
    fn send(self, eos: bool) -> Result<HttpStream<'h>> {
        let id = self
            .host
            .begin_http(self.worker, self.headers, eos, self.properties)?;
        Ok(HttpStream {
            host: self.host,
            id,
        })
    }
}

// === impl HttpStream ===

/// A live HTTP stream. Methods drive it; accessors read the recorded state.
pub struct HttpStream<'h> {
    host: &'h mut Host,
    id: StreamId,
}

impl fmt::Debug for HttpStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStream")
            .field("record", &self.record())
            .field("host", &self.host)
            .finish()
    }
}

/// Where a direction of a stream stands after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Everything sent so far went through the filter.
    Continued,
    /// The filter holds the stream in this phase.
    Paused(Phase),
    /// A local response ended the stream.
    LocalResponse(LocalResponse),
    /// The stream was reset.
    Reset,
}

impl<'h> HttpStream<'h> {
    pub fn id(&self) -> StreamId {
        self.id
    }
    /// The host, e.g. to advance the clock or answer a callout mid-stream.
    pub fn host(&mut self) -> &mut Host {
        &mut *self.host
    }
    fn step(&self, side: Side) -> Step {
        let rec = self.record();
        if let Some(r) = rec.local_response {
            return Step::LocalResponse(r);
        }
        if rec.reset {
            return Step::Reset;
        }
        let d = match side {
            Side::Request => &rec.state.request,
            Side::Response => &rec.state.response,
        };
        match d.paused {
            Some(p) => Step::Paused(p),
            None if d.body_pending => Step::Paused(Phase::Headers),
            None => Step::Continued,
        }
    }
    /// The outcome of the request direction now.
    pub fn request_step(&self) -> Step {
        self.step(Side::Request)
    }
    pub fn response_step(&self) -> Step {
        self.step(Side::Response)
    }
    pub fn send_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Step {
        self.host
            .receive_body(self.id, Side::Request, chunk, end_of_stream);
        self.step(Side::Request)
    }
    pub fn send_trailers(&mut self, trailers: &[(&str, &str)]) -> Step {
        let t = trailers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.host.receive_trailers(self.id, Side::Request, t);
        self.step(Side::Request)
    }
    /// The upstream answers with these headers (`:status` first).
    pub fn respond_headers(
        &mut self,
        status: u32,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Step {
        if self.host.ended(self.id) {
            return self.step(Side::Response);
        }
        let mut h: Pairs = vec![(":status".into(), status.to_string())];
        h.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        if let Some(s) = self.host.st(self.id) {
            s.response.headers = h;
            s.response.headers_received = true;
            s.response.end_stream = end_of_stream;
        }
        self.host.deliver_headers(self.id, Side::Response);
        self.step(Side::Response)
    }
    pub fn respond_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Step {
        self.host
            .receive_body(self.id, Side::Response, chunk, end_of_stream);
        self.step(Side::Response)
    }
    pub fn respond_trailers(&mut self, trailers: &[(&str, &str)]) -> Step {
        let t = trailers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.host.receive_trailers(self.id, Side::Response, t);
        self.step(Side::Response)
    }
    /// Ends the stream: on_done, on_log, on_delete. Returns the final record.
    pub fn finish(self) -> StreamRecord {
        self.host.end_stream(self.id);
        self.record()
    }
    /// Everything recorded about the stream (state read live from the VM).
    pub fn record(&self) -> StreamRecord {
        self.host.stream(self.id).unwrap_or_default()
    }
    /// Request headers as they are now (after filter mutations).
    pub fn request_headers(&self) -> Vec<(String, String)> {
        self.record().state.request.headers
    }
    pub fn request_header(&self, name: &str) -> Option<String> {
        find(&self.record().state.request.headers, name)
    }
    pub fn response_headers(&self) -> Vec<(String, String)> {
        self.record().state.response.headers
    }
    pub fn response_header(&self, name: &str) -> Option<String> {
        find(&self.record().state.response.headers, name)
    }
    /// Request body bytes forwarded upstream so far.
    pub fn upstream_body(&self) -> Vec<u8> {
        self.record().state.request.forwarded_body
    }
    /// Response body bytes forwarded downstream so far.
    pub fn downstream_body(&self) -> Vec<u8> {
        self.record().state.response.forwarded_body
    }
    pub fn local_response(&self) -> Option<LocalResponse> {
        self.record().local_response
    }
    /// The cluster the router sent the request to (or tried to).
    pub fn upstream_cluster(&self) -> Option<String> {
        self.record().upstream_cluster
    }
    /// The host's readable trace (see [`Host::report`]), for assertion messages.
    pub fn host_report(&self) -> String {
        self.host.report()
    }
    /// Fuel spent by this stream's callbacks.
    pub fn fuel(&self) -> u64 {
        self.record().fuel
    }
    pub fn route_cache_clears(&self) -> Vec<RouteCacheClear> {
        self.host
            .route_cache_clears()
            .into_iter()
            .filter(|c| c.worker == self.id.worker && c.context == self.id.context)
            .collect()
    }
}

fn find(h: &[(String, String)], name: &str) -> Option<String> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

// === impl Host ===

impl Host {
    /// Starts an HTTP request on the next worker (round robin).
    pub fn http_request(&mut self) -> HttpRequest<'_> {
        let worker = self.next_worker % self.cfg.workers;
        self.next_worker += 1;
        HttpRequest {
            host: self,
            worker,
            headers: Vec::new(),
            properties: Vec::new(),
        }
    }
}
