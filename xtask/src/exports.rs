//! Removing the per-stream callback exports a filter does not implement.
//!
//! The proxy-wasm SDK exports every `proxy_on_*` callback whatever the filter implements, and
//! Envoy enters the VM for every exported one: for an HTTP filter, per request, the response
//! headers and body (each chunk), `on_log` and `on_done` besides the callbacks it uses. A
//! callback whose SDK dispatch would only reach a default trait method does nothing, so the
//! build drops its export; Envoy (and the test host) then skip the call, as they do for any
//! callback a module does not export (`bench/attribution.sh` measures the saving).
//!
//! Which callbacks a filter implements is read from its sources and the glue crate's: a callback
//! is kept when any of the trait methods it dispatches to is defined there (`fn on_log(`), so a
//! filter that starts implementing one keeps its export without anyone updating a list. Exports
//! this table does not know are kept.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};
use wasmparser::{ExternalKind, Parser, Payload};

/// The per-stream callback exports that may go: Envoy calls each for every request (or
/// connection), and the SDK's dispatch of each only reaches the listed trait methods. Every
/// other export stays: the allocator, context creation and deletion (the SDK's own
/// bookkeeping), the root's callbacks (configuration, ticks, queues, callout and gRPC answers,
/// which cost nothing per request), and anything this table does not know.
const OPTIONAL: [(&str, &[&str]); 13] = [
    ("proxy_on_done", &["on_done"]),
    ("proxy_on_log", &["on_log"]),
    ("proxy_on_new_connection", &["on_new_connection"]),
    ("proxy_on_downstream_data", &["on_downstream_data"]),
    (
        "proxy_on_downstream_connection_close",
        &["on_downstream_close"],
    ),
    ("proxy_on_upstream_data", &["on_upstream_data"]),
    ("proxy_on_upstream_connection_close", &["on_upstream_close"]),
    ("proxy_on_request_headers", &["on_http_request_headers"]),
    ("proxy_on_request_body", &["on_http_request_body"]),
    ("proxy_on_request_trailers", &["on_http_request_trailers"]),
    ("proxy_on_response_headers", &["on_http_response_headers"]),
    ("proxy_on_response_body", &["on_http_response_body"]),
    ("proxy_on_response_trailers", &["on_http_response_trailers"]),
];

/// The optional callbacks whose trait methods are defined in the `.rs` files under `dirs`.
pub fn implemented(dirs: &[&Path]) -> Result<BTreeSet<&'static str>> {
    let mut sources = String::new();
    for dir in dirs {
        read_rust_files(dir, &mut sources)?;
    }
    Ok(OPTIONAL
        .iter()
        .filter(|(_, methods)| {
            methods
                .iter()
                .any(|m| sources.contains(&format!("fn {m}(")))
        })
        .map(|(export, _)| *export)
        .collect())
}

fn read_rust_files(dir: &Path, out: &mut String) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            read_rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    Ok(())
}

/// Whether `export` stays when the filter implements `implemented`.
fn kept(export: &str, implemented: &BTreeSet<&str>) -> bool {
    let optional = OPTIONAL.iter().any(|(name, _)| *name == export);
    !optional || implemented.contains(export)
}

/// `wasm` without the optional callback exports the filter does not implement; every other
/// section is copied byte for byte. Returns the module and the names it removed.
pub fn prune(wasm: &[u8], implemented: &BTreeSet<&str>) -> Result<(Vec<u8>, Vec<String>)> {
    let mut module = Module::new();
    let mut removed = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("parsing the module")?;
        if let Payload::Version { encoding, .. } = &payload
            && *encoding != wasmparser::Encoding::Module
        {
            bail!("not a core wasm module");
        }
        if let Payload::ExportSection(reader) = &payload {
            let mut section = ExportSection::new();
            for export in reader.clone() {
                let export = export.context("parsing the exports")?;
                if kept(export.name, implemented) {
                    section.export(export.name, kind(export.kind), export.index);
                } else {
                    removed.push(export.name.to_string());
                }
            }
            module.section(&section);
        } else if let Some((id, range)) = payload.as_section() {
            let data = wasm
                .get(range)
                .context("a section past the end of the module")?;
            module.section(&RawSection { id, data });
        }
    }
    Ok((module.finish(), removed))
}

/// How many `proxy_on_*` callbacks `wasm` exports.
pub fn callbacks(wasm: &[u8]) -> Result<usize> {
    let mut count = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ExportSection(reader) = payload.context("parsing the module")? {
            for export in reader {
                count += usize::from(export?.name.starts_with("proxy_on_"));
            }
        }
    }
    Ok(count)
}

fn kind(kind: ExternalKind) -> ExportKind {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
        ExternalKind::Table => ExportKind::Table,
        ExternalKind::Memory => ExportKind::Memory,
        ExternalKind::Global => ExportKind::Global,
        ExternalKind::Tag => ExportKind::Tag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module exporting a memory and the named functions (all of type `() -> ()`).
    fn module(exports: &[&str]) -> Vec<u8> {
        let mut m = Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        m.section(&types);
        let mut funcs = wasm_encoder::FunctionSection::new();
        for _ in exports {
            funcs.function(0);
        }
        m.section(&funcs);
        let mut memory = wasm_encoder::MemorySection::new();
        memory.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        m.section(&memory);
        let mut section = ExportSection::new();
        section.export("memory", ExportKind::Memory, 0);
        for (i, name) in exports.iter().enumerate() {
            section.export(name, ExportKind::Func, i as u32);
        }
        m.section(&section);
        let mut code = wasm_encoder::CodeSection::new();
        for _ in exports {
            let mut f = wasm_encoder::Function::new([]);
            f.instruction(&wasm_encoder::Instruction::End);
            code.function(&f);
        }
        m.section(&code);
        m.section(&wasm_encoder::CustomSection {
            name: "note".into(),
            data: b"kept".as_slice().into(),
        });
        m.finish()
    }

    fn exports(wasm: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Ok(Payload::ExportSection(reader)) = payload {
                names.extend(
                    reader
                        .into_iter()
                        .map(|e| e.map(|e| e.name.to_string()).unwrap_or_default()),
                );
            }
        }
        names
    }

    #[test]
    fn unimplemented_optional_callbacks_go_and_everything_else_stays() -> Result<()> {
        let wasm = module(&[
            "_initialize",
            "proxy_abi_version_0_2_1",
            "proxy_on_memory_allocate",
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_response_body",
            "proxy_on_log",
            "proxy_on_delete",
            "proxy_on_something_new",
        ]);
        let implemented = BTreeSet::from(["proxy_on_request_headers"]);
        let (pruned, removed) = prune(&wasm, &implemented)?;
        assert_eq!(removed, ["proxy_on_response_body", "proxy_on_log"]);
        assert_eq!(
            exports(&pruned),
            [
                "memory",
                "_initialize",
                "proxy_abi_version_0_2_1",
                "proxy_on_memory_allocate",
                "proxy_on_context_create",
                "proxy_on_request_headers",
                "proxy_on_delete",
                "proxy_on_something_new",
            ]
        );
        // Pruning is idempotent, and the other sections are copied as they were.
        assert_eq!(prune(&pruned, &implemented)?.0, pruned);
        assert!(pruned.windows(4).any(|w| w == b"kept"));
        assert_eq!(
            pruned.len(),
            wasm.len() - removed.iter().map(|n| n.len() + 3).sum::<usize>()
        );
        Ok(())
    }

    #[test]
    fn a_callback_is_implemented_when_one_of_its_methods_is_defined() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-exports-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("nested"))?;
        std::fs::write(
            dir.join("a.rs"),
            "impl HttpContext for S {\n    fn on_log(&mut self) {}\n}\n",
        )?;
        std::fs::write(
            dir.join("nested/b.rs"),
            "fn on_http_request_headers(&mut self, n: usize, e: bool) -> Action { todo() }\n\
             // on_http_response_body is only mentioned\n",
        )?;
        let found = implemented(&[&dir]);
        std::fs::remove_dir_all(&dir)?;
        assert_eq!(
            found?,
            BTreeSet::from(["proxy_on_log", "proxy_on_request_headers"])
        );
        Ok(())
    }
}
