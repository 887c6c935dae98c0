#!/usr/bin/env bash
# Envoy's memory with Portcullis against native Envoy routes, at 10, 1 000 and 10 000 routes.
#
#   bench/memory.sh             # SIZES="10 1000 10000" by default
#
# For each size: one VirtualService of that many prefix routes (`/r<i>/`, then `/`) on the seed
# example's gateway, served by `portcullis up` (router filter on V8, config over ADS), and the
# same routes as a native Envoy route table. Both Envoys run one worker. After a short load
# (every worker VM instantiated and serving) the script reads each Envoy's resident memory
# (/proc) and the heap Envoy has allocated (admin /memory). Results go to BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SIZES="${SIZES:-10 1000 10000}"
CONNECTIONS="${CONNECTIONS:-4}"
DURATION="${DURATION:-2s}"
source bench/lib.sh
start_run memory

echo "== building (filters for wasm32-wasip1, portcullis)"
cargo xtask wasm >/dev/null
cargo build --quiet -p portcullis
find_envoy
start_upstreams

allocated_mb() { # admin port
  curl -s "http://127.0.0.1:$1/memory" | python3 -c 'import json, sys; print(round(int(json.load(sys.stdin)["allocated"]) / 2**20))'
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

: > "$TMP/rows"
for n in $SIZES; do
  echo "== $n routes"
  dir="$TMP/istio-$n"
  mkdir -p "$dir"
  cp examples/seed/gateway.yaml examples/seed/upstreams.yaml "$dir/"
  python3 - "$n" > "$dir/virtualservice.yaml" <<'PY'
import sys
n = int(sys.argv[1])
print("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: dev, namespace: default}")
print("spec:\n  hosts: [dev.example.com]\n  gateways: [my-gateway]\n  http:")
for i in range(n):
    print(f"  - {{name: r{i}, match: [{{uri: {{prefix: /r{i}/}}}}], route: [{{destination: {{host: dev-upstream.demo.local}}}}]}}")
print("  - {name: default, route: [{destination: {host: dev-upstream.demo.local}}]}")
PY
  python3 - "$n" bench/native-envoy.yaml > "$TMP/native-$n.yaml" <<'PY'
import sys
n, template = int(sys.argv[1]), open(sys.argv[2]).read()
routes = "".join(f"{{match: {{prefix: /r{i}/}}, route: {{cluster: dev, timeout: 0s}}}}, " for i in range(n))
print(template.replace("routes: [{match: {prefix: /}, route: {cluster: dev, timeout: 0s}}]",
                       "routes: [" + routes + "{match: {prefix: /}, route: {cluster: dev, timeout: 0s}}]"))
PY
  sed -i -e "s|@PORT@|20080|" -e "s|@ADMIN@|15200|" "$TMP/native-$n.yaml"

  PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR=target/wasm32-wasip1/release \
    target/debug/portcullis up -f "$dir" --port-offset 10000 --admin-port 15100 --xds-port 0 \
    --no-access-log --concurrency 1 --state-dir "$TMP/up-$n" > "$TMP/up-$n.out" 2>&1 &
  up_pid=$!; PIDS+=($up_pid)
  "$ENVOY" -c "$TMP/native-$n.yaml" --concurrency 1 --disable-hot-restart -l warning \
    > "$TMP/native-$n.log" 2>&1 &
  native_pid=$!; PIDS+=($native_pid)
  wait_ok 10080 || { cat "$TMP/up-$n.out"; exit 1; }
  wait_ok 20080
  run_wrk 10080 >/dev/null
  run_wrk 20080 >/dev/null
  pc_envoy=$(pgrep -f "$TMP/up-$n/bootstrap.json" | head -1)
  echo "$n $(rss_mb "$pc_envoy") $(allocated_mb 15100) $(rss_mb "$native_pid") $(allocated_mb 15200)" | tee -a "$TMP/rows"
  stop "$up_pid"; stop "$native_pid"
done

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
  echo "## Envoy memory by route count: Portcullis vs native routes"
  echo
  echo "Command: \`bench/memory.sh\` (SIZES=\"$SIZES\")."
  echo "Run on $(date -u +%Y-%m-%d), $(nproc) CPUs ($CPU), Envoy $("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1)."
  echo
  echo "One VirtualService of N prefix routes on the seed gateway under \`portcullis up\` (one worker),"
  echo "against the same N routes as a native Envoy route table; read after a short load. RSS is"
  echo "the process's resident memory; \"heap\" is what Envoy's allocator has handed out (admin"
  echo "\`/memory\` \`allocated\`), which excludes V8's own pages (wasm linear memory and code)."
  echo
  echo "| routes | Portcullis RSS (MB) | Portcullis heap (MB) | native RSS (MB) | native heap (MB) | RSS difference (MB) |"
  echo "|---:|---:|---:|---:|---:|---:|"
  awk '{ printf "| %d | %d | %d | %d | %d | %+d |\n", $1, $2, $3, $4, $5, $2 - $4 }' "$TMP/rows"
  echo
} > "$TMP/section.md"
replace_section bench/memory.sh "$TMP/section.md"
echo "== updated BENCHMARKS.md"
cat "$TMP/section.md"
