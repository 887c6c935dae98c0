// The playground page: reads the form, asks the Portcullis engine (WebAssembly) to compile the
// YAML and explain the request, and shows the answer. No decision is taken here.

import init, { compile, explain, seedExample, version } from "./pkg/portcullis_playground.js";

const $ = (id) => document.getElementById(id);

/** The gateway identity typed in the form, as the engine reads it. */
function identity() {
  const labels = {};
  for (const pair of $("labels").value.split(",")) {
    const [key, ...rest] = pair.split("=");
    if (key.trim()) labels[key.trim()] = rest.join("=").trim();
  }
  return { labels, namespace: $("namespace").value.trim() || "istio-system" };
}

/** The request typed in the form, as the engine reads it. */
function request() {
  const headers = [];
  for (const line of $("headers").value.split("\n")) {
    const at = line.indexOf(":", line.startsWith(":") ? 1 : 0);
    if (at > 0) headers.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  const port = $("port").value.trim();
  return {
    host: $("host").value.trim(),
    path: $("path").value || "/",
    method: $("method").value,
    scheme: $("scheme").value || null,
    sni: $("sni").value.trim() || null,
    port: port === "" ? null : Number(port),
    headers,
  };
}

/** Selects line `line` of the YAML text area and scrolls it into view. */
function goToLine(line) {
  const area = $("yaml");
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  const end = start + (lines[line - 1] ?? "").length;
  area.focus();
  area.setSelectionRange(start, end);
  const lineHeight = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, (line - 3) * lineHeight);
}

function showDiagnostics(diagnostics) {
  const list = $("diagnostics");
  list.replaceChildren();
  if (diagnostics.length === 0) {
    const item = document.createElement("li");
    item.className = "none";
    item.textContent = "None: every resource compiled.";
    list.append(item);
    return;
  }
  for (const d of diagnostics) {
    const item = document.createElement("li");
    item.className = d.severity;
    const where = d.line ? `line ${d.line}` : "";
    if (d.line) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = where;
      button.title = `Go to line ${d.line}`;
      button.addEventListener("click", () => goToLine(d.line));
      item.append(button, " ");
    }
    const text = document.createElement("span");
    text.textContent = `${d.severity}: ${d.resource}${d.field ? ` at ${d.field}` : ""}: ${d.message}`
      + (d.rule ? ` [${d.rule}]` : "");
    item.append(text);
    list.append(item);
  }
}

/** Header operations (`set`, `add`, `remove`, in application order) as one readable line. */
function headerChanges(operations) {
  const parts = [];
  for (const ops of operations ?? []) {
    if (!ops) continue;
    for (const [name, value] of Object.entries(ops.set ?? {})) parts.push(`set ${name}: ${value}`);
    for (const [name, value] of Object.entries(ops.add ?? {})) parts.push(`add ${name}: ${value}`);
    for (const name of ops.remove ?? []) parts.push(`remove ${name}`);
  }
  return parts.length ? parts.join("; ") : null;
}

/** One line saying what happens, in words. */
function summarise(outcome) {
  switch (outcome.kind) {
    case "forward":
      return `Routed to ${outcome.cluster}`;
    case "redirect":
      return `Redirected (${outcome.status}) to ${outcome.location}`;
    case "directResponse":
      return `Answered directly with ${outcome.status}`;
    case "abort":
      return `Aborted by a fault with ${outcome.status}`;
    case "corsPreflight":
      return `CORS preflight answered with ${outcome.status}`;
    case "refused":
      return `Refused (${outcome.status}) because ${outcome.reason}`;
    default:
      return outcome.kind;
  }
}

function showDecision(answer) {
  const summary = $("decision-summary");
  const details = $("decision-details");
  details.replaceChildren();
  if (answer.error) {
    summary.dataset.kind = "error";
    summary.textContent = `No decision: ${answer.error}`;
    $("decision-text").textContent = "";
    return;
  }
  const e = answer.explanation;
  summary.dataset.kind = e.outcome.kind;
  summary.textContent = summarise(e.outcome);
  const rows = [
    ["Listener", `port ${e.listenerPort}`],
    ["SNI", e.sni],
    ["Server", e.server],
    ["Host pattern", e.matchedHost],
    ["Virtual host", e.virtualHost],
    ["Route", e.route],
    ["VirtualService", e.virtualService],
  ];
  const o = e.outcome;
  if (o.kind === "forward") {
    rows.push(["Path rewritten to", o.path], ["Authority rewritten to", o.authority],
      ["Fault delay", o.delayMs == null ? null : `${o.delayMs} ms`],
      ["Timeout", o.timeoutMs == null ? null : `${o.timeoutMs} ms`],
      ["Mirrored to", o.mirrors.join(", ") || null],
      ["Request headers", headerChanges(o.requestHeaders)],
      ["Response headers", headerChanges(o.responseHeaders)]);
  }
  if (o.kind === "redirect" || o.kind === "directResponse") {
    rows.push(["Response headers", headerChanges([o.responseHeaders])]);
  }
  if (o.kind === "refused") rows.push(["Reason code", o.code]);
  for (const [name, value] of rows) {
    if (value == null || value === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    details.append(dt, dd);
  }
  $("decision-text").textContent = answer.text;
}

let compiled = null;
let compiledFor = null;
// The wire config as the engine reads it, serialised once per compilation, not per keystroke.
let wireJson = null;

/** Recompiles when the YAML or the identity changed, then explains the request. */
function update() {
  const key = JSON.stringify([$("yaml").value, identity()]);
  if (key !== compiledFor) {
    compiled = JSON.parse(compile($("yaml").value, JSON.stringify(identity())));
    compiledFor = key;
    wireJson = compiled.wire ? JSON.stringify(compiled.wire) : null;
    showDiagnostics(compiled.diagnostics);
  }
  if (!wireJson) {
    showDecision({ error: "the configuration did not compile; see the diagnostics" });
    return;
  }
  showDecision(JSON.parse(explain(wireJson, JSON.stringify(request()))));
}

let pending = 0;
function scheduleUpdate() {
  clearTimeout(pending);
  pending = setTimeout(update, 120);
}

try {
  await init();
} catch (error) {
  const summary = $("decision-summary");
  summary.dataset.kind = "error";
  summary.textContent = `The Portcullis engine could not start: ${error}`;
  throw error;
}
$("version").textContent = version();
$("yaml").value = seedExample();
for (const id of ["yaml", "labels", "namespace", "method", "host", "port", "path", "scheme", "sni", "headers"]) {
  $(id).addEventListener("input", scheduleUpdate);
}
$("request-form").addEventListener("submit", (event) => {
  event.preventDefault();
  update();
});
update();
document.body.dataset.ready = "true";
