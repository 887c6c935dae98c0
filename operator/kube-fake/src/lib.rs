//! A stand-in for the Kubernetes API server, in process, for tests of the controller that
//! need what a real one does between requests: objects kept with `resourceVersion`, `uid`,
//! `generation` and `creationTimestamp`; list; watch from a `resourceVersion` (with every
//! event since, then live); get, create, replace (optimistic concurrency: a stale
//! `resourceVersion` is a 409), patch, delete; and the `status` subresource (a status write
//! leaves the spec and `generation` alone, a main-resource write leaves the status alone).
//!
//! What it does not do, so a test must not rely on it: server-side apply is a JSON merge (no
//! managedFields, no field ownership conflicts); no schema validation, CEL, admission, RBAC,
//! label selectors or pagination; `fieldSelector` supports `metadata.name=` and
//! `metadata.namespace=` only; resources are known by URL, not by discovery.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// A collection: `(group, version, plural)`; the core group is `""`.
pub type Collection = (String, String, String);

/// One stored object's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// Its collection.
    pub collection: Collection,
    /// Its namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A change, as a watch delivers it.
#[derive(Clone, Debug)]
struct Change {
    revision: u64,
    kind: &'static str,
    key: Key,
    object: Value,
}

#[derive(Debug, Default)]
struct Data {
    revision: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
    requests: Vec<String>,
}

/// The fake server's state; cheap to clone.
#[derive(Clone, Debug)]
pub struct FakeApi {
    data: Arc<Mutex<Data>>,
    changes: broadcast::Sender<Change>,
}

impl Default for FakeApi {
    fn default() -> Self {
        FakeApi {
            data: Arc::default(),
            changes: broadcast::channel(4096).0,
        }
    }
}

/// A request the fake could not take.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub code: u16,
    /// Kubernetes `Status.reason`.
    pub reason: &'static str,
    /// Why.
    pub message: String,
}

impl FakeApi {
    /// Serves on `127.0.0.1` at an ephemeral port; returns the address.
    pub async fn serve(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(address)
    }

    /// A kubeconfig for a client of the server at `address`.
    pub fn kubeconfig(address: SocketAddr) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{address}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake\n"
        )
    }

    /// Creates or replaces `object` (as `kubectl apply` would end up), by its `apiVersion`,
    /// `kind` and metadata; `plural` names its collection. Returns the stored object.
    pub fn apply(&self, plural: &str, object: Value) -> Result<Value, Refused> {
        let key = key_of(plural, &object)?;
        let mut data = self.lock();
        match data.objects.get(&key).cloned() {
            Some(current) => {
                let mut next = object;
                carry_status(&current, &mut next);
                Ok(store(
                    &mut data,
                    &self.changes,
                    key,
                    next,
                    Some(&current),
                    false,
                ))
            }
            None => Ok(store(&mut data, &self.changes, key, object, None, false)),
        }
    }

    /// Deletes an object; returns whether it existed.
    pub fn delete(&self, plural: &str, api_version: &str, namespace: &str, name: &str) -> bool {
        let (group, version) = split_api_version(api_version);
        let key = Key {
            collection: (group, version, plural.to_string()),
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let mut data = self.lock();
        remove(&mut data, &self.changes, &key).is_some()
    }

    /// The stored object, if any.
    pub fn get(
        &self,
        plural: &str,
        api_version: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let (group, version) = split_api_version(api_version);
        let key = Key {
            collection: (group, version, plural.to_string()),
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.lock().objects.get(&key).cloned()
    }

    /// Every stored object of a collection.
    pub fn list(&self, plural: &str, api_version: &str) -> Vec<Value> {
        let (group, version) = split_api_version(api_version);
        let collection = (group, version, plural.to_string());
        self.lock()
            .objects
            .iter()
            .filter(|(k, _)| k.collection == collection)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every request so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

fn key_of(plural: &str, object: &Value) -> Result<Key, Refused> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = split_api_version(api_version);
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(Refused {
            code: 422,
            reason: "Invalid",
            message: "metadata.name: Required value".to_string(),
        });
    }
    Ok(Key {
        collection: (group, version, plural.to_string()),
        namespace: object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name: name.to_string(),
    })
}

fn carry_status(current: &Value, next: &mut Value) {
    if let (Some(status), Some(map)) = (current.get("status"), next.as_object_mut()) {
        map.insert("status".to_string(), status.clone());
    }
}

/// Stores `object` under `key`, filling server-set metadata; `status_only` writes keep the
/// generation.
fn store(
    data: &mut Data,
    changes: &broadcast::Sender<Change>,
    key: Key,
    mut object: Value,
    current: Option<&Value>,
    status_only: bool,
) -> Value {
    data.revision += 1;
    let revision = data.revision;
    let unchanged_spec = current.is_some_and(|c| strip(c) == strip(&object));
    let generation = match current {
        None => 1,
        Some(c) => {
            let g = c["metadata"]["generation"].as_i64().unwrap_or(1);
            if status_only || unchanged_spec {
                g
            } else {
                g + 1
            }
        }
    };
    let meta = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = meta {
        meta.insert("resourceVersion".into(), revision.to_string().into());
        meta.insert("generation".into(), generation.into());
        meta.insert("name".into(), key.name.clone().into());
        if !key.namespace.is_empty() {
            meta.insert("namespace".into(), key.namespace.clone().into());
        }
        let uid = current
            .and_then(|c| c["metadata"]["uid"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("00000000-0000-4000-8000-{revision:012}"));
        meta.insert("uid".into(), uid.into());
        let created = current
            .and_then(|c| {
                c["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| timestamp(revision));
        meta.insert("creationTimestamp".into(), created.into());
    }
    let kind = if current.is_some() {
        "MODIFIED"
    } else {
        "ADDED"
    };
    data.objects.insert(key.clone(), object.clone());
    let change = Change {
        revision,
        kind,
        key,
        object: object.clone(),
    };
    data.history.push(change.clone());
    let _ = changes.send(change);
    object
}

fn remove(data: &mut Data, changes: &broadcast::Sender<Change>, key: &Key) -> Option<Value> {
    let mut object = data.objects.remove(key)?;
    data.revision += 1;
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), data.revision.to_string().into());
    }
    let change = Change {
        revision: data.revision,
        kind: "DELETED",
        key: key.clone(),
        object: object.clone(),
    };
    data.history.push(change.clone());
    let _ = changes.send(change);
    Some(object)
}

/// Object without server-set metadata and status, to tell a spec change.
fn strip(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "resourceVersion",
                "generation",
                "uid",
                "creationTimestamp",
                "managedFields",
            ] {
                meta.remove(k);
            }
        }
    }
    o
}

/// Creation times that order objects as they were created, one second apart.
fn timestamp(revision: u64) -> String {
    let seconds = revision % 60;
    let minutes = (revision / 60) % 60;
    let hours = (revision / 3600) % 24;
    format!("2026-01-01T{hours:02}:{minutes:02}:{seconds:02}Z")
}

/// JSON merge patch (RFC 7386).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// What a request's path names.
#[derive(Debug)]
struct Target {
    collection: Collection,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (String::new(), (*version).to_string(), rest),
        ["apis", group, version, rest @ ..] => ((*group).to_string(), (*version).to_string(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_string()), rest),
        rest => (None, rest),
    };
    let (plural, name, status) = match rest {
        [plural] => (*plural, None, false),
        [plural, name] => (*plural, Some((*name).to_string()), false),
        [plural, name, "status"] => (*plural, Some((*name).to_string()), true),
        _ => return None,
    };
    Some(Target {
        collection: (group, version, plural.to_string()),
        namespace,
        name,
        status,
    })
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn status_response(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "apiVersion": "v1", "kind": "Status", "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn ok(object: Value) -> Response {
    (StatusCode::OK, axum::Json(object)).into_response()
}

/// Field selector as `(field, value)` pairs.
fn selects(selector: Option<&String>, object: &Value) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let Some((field, value)) = term.split_once('=') else {
            return false;
        };
        let actual = match field {
            "metadata.name" => object["metadata"]["name"].as_str(),
            "metadata.namespace" => object["metadata"]["namespace"].as_str(),
            _ => None,
        };
        actual == Some(value)
    })
}

async fn handle(State(api): State<FakeApi>, method: Method, uri: Uri, body: Bytes) -> Response {
    api.lock().requests.push(format!(
        "{method} {}",
        uri.path_and_query().map(|p| p.as_str()).unwrap_or_default()
    ));
    let Some(target) = parse_path(uri.path()) else {
        return status_response(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let params = query(&uri);
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => return status_response(400, "BadRequest", &format!("body: {e}")),
        }
    };
    let namespace = target.namespace.clone().unwrap_or_default();
    match (method, target.name.clone()) {
        (Method::GET, None) if params.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(api, target, params)
        }
        (Method::GET, None) => {
            let data = api.lock();
            let items: Vec<Value> = data
                .objects
                .iter()
                .filter(|(k, _)| {
                    k.collection == target.collection
                        && target
                            .namespace
                            .as_ref()
                            .is_none_or(|ns| &k.namespace == ns)
                })
                .map(|(_, v)| v.clone())
                .filter(|v| selects(params.get("fieldSelector"), v))
                .collect();
            ok(json!({
                "apiVersion": "v1", "kind": "List",
                "metadata": {"resourceVersion": data.revision.to_string()},
                "items": items,
            }))
        }
        (method, Some(name)) => {
            let key = Key {
                collection: target.collection.clone(),
                namespace,
                name,
            };
            single(&api, method, key, target.status, body)
        }
        (Method::POST, None) => {
            let Some(object) = body else {
                return status_response(400, "BadRequest", "no body");
            };
            let mut object = object;
            if let (Some(ns), Some(meta)) = (
                target.namespace.as_ref(),
                object.get_mut("metadata").and_then(Value::as_object_mut),
            ) {
                meta.entry("namespace").or_insert_with(|| ns.clone().into());
            }
            let Some(name) = object["metadata"]["name"].as_str().map(str::to_string) else {
                return status_response(422, "Invalid", "metadata.name: Required value");
            };
            let key = Key {
                collection: target.collection.clone(),
                namespace,
                name,
            };
            let mut data = api.lock();
            if data.objects.contains_key(&key) {
                return status_response(
                    409,
                    "AlreadyExists",
                    &format!("\"{}\" already exists", key.name),
                );
            }
            let stored = store(&mut data, &api.changes, key, object, None, false);
            (StatusCode::CREATED, axum::Json(stored)).into_response()
        }
        _ => status_response(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn single(api: &FakeApi, method: Method, key: Key, status: bool, body: Option<Value>) -> Response {
    let mut data = api.lock();
    let current = data.objects.get(&key).cloned();
    let not_found = || {
        status_response(
            404,
            "NotFound",
            &format!("{} \"{}\" not found", key.collection.2, key.name),
        )
    };
    match method {
        Method::GET => current.map_or_else(not_found, ok),
        Method::DELETE => match remove(&mut data, &api.changes, &key) {
            Some(object) => ok(object),
            None => not_found(),
        },
        Method::PUT => {
            let (Some(current), Some(mut next)) = (current, body) else {
                return not_found();
            };
            let sent = next["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            let stored = current["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            if sent.is_some() && sent != stored {
                return status_response(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version and try again",
                );
            }
            if status {
                let mut merged = current.clone();
                if let Some(s) = next.get("status") {
                    merged["status"] = s.clone();
                }
                next = merged;
            } else {
                carry_status(&current, &mut next);
            }
            ok(store(
                &mut data,
                &api.changes,
                key,
                next,
                Some(&current),
                status,
            ))
        }
        Method::PATCH => {
            let Some(patch) = body else {
                return status_response(400, "BadRequest", "no body");
            };
            let created = current.is_none();
            let mut next = match current.clone() {
                Some(c) => c,
                // Server-side apply creates what does not exist.
                None if !status => json!({}),
                None => return not_found(),
            };
            if status {
                if let Some(s) = patch.get("status") {
                    merge(&mut next["status"], s);
                }
            } else {
                let mut patch = patch;
                if let Some(map) = patch.as_object_mut() {
                    map.remove("status");
                }
                merge(&mut next, &patch);
            }
            let stored = store(&mut data, &api.changes, key, next, current.as_ref(), status);
            if created {
                (StatusCode::CREATED, axum::Json(stored)).into_response()
            } else {
                ok(stored)
            }
        }
        _ => status_response(405, "MethodNotAllowed", "method not allowed"),
    }
}

/// A watch: every change after `resourceVersion`, then live ones, as JSON lines, until
/// `timeoutSeconds`.
fn watch(api: FakeApi, target: Target, params: BTreeMap<String, String>) -> Response {
    let from: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(290), Duration::from_secs);
    let field_selector = params.get("fieldSelector").cloned();
    let wanted = move |c: &Change| {
        c.key.collection == target.collection
            && target
                .namespace
                .as_ref()
                .is_none_or(|ns| &c.key.namespace == ns)
            && selects(field_selector.as_ref(), &c.object)
    };
    // Subscribe before reading the history, so no change falls between the two.
    let live = api.changes.subscribe();
    let (past, last) = {
        let data = api.lock();
        let past: Vec<Change> = data
            .history
            .iter()
            .filter(|c| c.revision > from)
            .cloned()
            .collect();
        (past, data.revision)
    };
    let wanted = Arc::new(wanted);
    let line = |c: &Change| {
        let mut text = json!({"type": c.kind, "object": c.object}).to_string();
        text.push('\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(text))
    };
    let w1 = Arc::clone(&wanted);
    let past = futures::stream::iter(
        past.into_iter()
            .filter(move |c| w1(c))
            .map(move |c| line(&c)),
    );
    let w2 = Arc::clone(&wanted);
    let live = tokio_stream::wrappers::BroadcastStream::new(live)
        .filter_map(move |c| {
            let keep = match &c {
                Ok(c) => c.revision > last && w2(c),
                Err(_) => false,
            };
            futures::future::ready(if keep { c.ok() } else { None })
        })
        .map(move |c| line(&c));
    let stream = past.chain(live).take_until(tokio::time::sleep(timeout));
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status_response(500, "InternalError", "response"))
}
