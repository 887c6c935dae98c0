#!/usr/bin/env bash
# Soak: the seed (ingress) and egress examples under constant load for a long time, with a
# configuration change applied to each every few seconds.
#
#   bench/soak.sh                 # SOAK_MINUTES=30 CHANGE_EVERY=5 SLICE=10 CONNECTIONS=8
#
# Both gateways run under `portcullis up` (one Envoy worker each, CPU 0) on copies of the
# examples; wrk (two instances, one per gateway) and the nginx upstreams share CPU 1. Load runs
# in slices of SLICE seconds; after each, the script records requests, failed requests (non-2xx
# answers and socket errors), both Envoys' resident memory and the egress filter's audit
# counters. Every CHANGE_EVERY seconds each VirtualService is rewritten (a response header
# carrying a new generation number), so `up` compiles and pushes a new configuration while
# requests are in flight. The summary goes to BENCHMARKS.md; the per-slice figures to
# $TMP/slices.csv.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SOAK_MINUTES="${SOAK_MINUTES:-30}"
CHANGE_EVERY="${CHANGE_EVERY:-5}"
SLICE="${SLICE:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
DURATION="${SLICE}s"
source bench/lib.sh
start_run soak

echo "== building (filters for wasm32-wasip1, portcullis)"
cargo xtask wasm >/dev/null
cargo build --quiet -p portcullis
find_envoy
start_upstreams

cp -r examples/seed "$TMP/seed-dir"
cp -r examples/egress "$TMP/egress-dir"
rm -rf "$TMP/seed-dir/expected" "$TMP/egress-dir/expected"

declare -A PORT ADMIN HOST
up() { # name, dir, port offset, admin port, extra flags...
  local name=$1 dir=$2 offset=$3 admin=$4; shift 4
  PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR=target/wasm32-wasip1/release \
    taskset -c 0 target/debug/portcullis up -f "$dir" --port-offset "$offset" "$@" \
    --admin-port "$admin" --xds-port 0 --no-access-log --concurrency 1 \
    --state-dir "$TMP/$name" > "$TMP/$name.out" 2>&1 & PIDS+=($!)
  PORT[$name]=$((offset + 80)) ADMIN[$name]=$admin
}
up seed "$TMP/seed-dir" 10000 15500
up egress "$TMP/egress-dir" 13000 15600 --gateway-labels istio=egressgateway
HOST[seed]=dev.example.com HOST[egress]=httpbin.org
for name in seed egress; do
  wait_ok "${PORT[$name]}" "${HOST[$name]}" || { cat "$TMP/$name.out"; exit 1; }
done
envoy_pid() { pgrep -f "$TMP/$1/bootstrap.json" | head -1; }
counter() { # gateway, stat name → value (0 when absent)
  curl -s "http://127.0.0.1:${ADMIN[$1]}/stats?filter=^$2\$" | awk -F': ' 'NR == 1 { v = $2 } END { print v + 0 }'
}

# The changer: a new generation in each VirtualService every CHANGE_EVERY seconds.
change() { # file, generation
  python3 - "$1" "$2" <<'PY'
import re, sys
path, generation = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r"\n    headers: \{response: \{set: \{x-soak-generation: \"\d+\"\}\}\}", "", text)
# Every route destination list gets the header: `route:` at the rule's indentation.
text = re.sub(r"(\n  - (?:name: [^\n]+\n    )?(?:match:(?:\n    [^\n]+)+\n    )?)route:",
              lambda m: m.group(1) + f'headers: {{response: {{set: {{x-soak-generation: "{generation}"}}}}}}\n    route:',
              text)
open(path, "w").write(text)
PY
}
changer() {
  local generation=0
  while sleep "$CHANGE_EVERY"; do
    generation=$((generation + 1))
    change "$TMP/seed-dir/virtualservice.yaml" "$generation"
    change "$TMP/egress-dir/egress-gateway.yaml" "$generation"
  done
}
change "$TMP/seed-dir/virtualservice.yaml" 0
change "$TMP/egress-dir/egress-gateway.yaml" 0
sleep 2
for name in seed egress; do
  curl -s -D - -o /dev/null -H "Host: ${HOST[$name]}" "http://127.0.0.1:${PORT[$name]}/" \
    | grep -qi '^x-soak-generation: 0' || { echo "$name: the change is not served"; cat "$TMP/$name.out"; exit 1; }
done
changer & PIDS+=($!)

# One slice of load on gateway $1: "<requests> <failed>" (non-2xx answers and socket errors).
slice() {
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Host: ${HOST[$1]}" \
    "http://127.0.0.1:${PORT[$1]}/" > "$TMP/wrk-$1.out" 2>&1 || true
  # A slice with failures keeps its wrk output, for the diagnosis.
  grep -q -e 'Non-2xx' -e 'Socket errors' "$TMP/wrk-$1.out" && cp "$TMP/wrk-$1.out" "$TMP/wrk-$1-failed-$(date +%s).out" || true
  awk '
    / requests in / { n = $1 }
    / Non-2xx or 3xx responses:/ { bad += $5 }
    /Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
    END { printf "%d %d\n", n, bad }
  ' "$TMP/wrk-$1.out"
}

AUDITED0=$(counter egress wasmcustom.portcullis.egress.audited)
echo "elapsed_s,seed_requests,seed_failed,egress_requests,egress_failed,seed_rss_mb,egress_rss_mb,audited,logged,dropped" > "$TMP/slices.csv"
START=$(date +%s)
END=$((START + SOAK_MINUTES * 60))
echo "== soaking for $SOAK_MINUTES min (slices of ${SLICE}s, a change every ${CHANGE_EVERY}s)"
while [ "$(date +%s)" -lt "$END" ]; do
  slice seed > "$TMP/slice-seed" & a=$!
  slice egress > "$TMP/slice-egress" & b=$!
  wait "$a" "$b"
  read -r sr sf < "$TMP/slice-seed"
  read -r er ef < "$TMP/slice-egress"
  row="$(( $(date +%s) - START )),$sr,$sf,$er,$ef,$(rss_mb "$(envoy_pid seed)"),$(rss_mb "$(envoy_pid egress)")"
  row="$row,$(counter egress wasmcustom.portcullis.egress.audited),$(counter egress wasmcustom.portcullis.egress.logged),$(counter egress wasmcustom.portcullis.egress.dropped)"
  echo "$row" >> "$TMP/slices.csv"
  echo "$row"
done
kill "${PIDS[-1]}" 2>/dev/null || true
sleep 2

APPLIED_SEED=$(grep -c '✓ applied' "$TMP/seed.out" || true)
APPLIED_EGRESS=$(grep -c '✓ applied' "$TMP/egress.out" || true)
REJECTED=$(cat "$TMP/seed.out" "$TMP/egress.out" | grep -c '✗' || true)
RESTARTS=$(cat "$TMP/seed.out" "$TMP/egress.out" | grep -c 'restarting Envoy' || true)
AUDITED=$(( $(counter egress wasmcustom.portcullis.egress.audited) - AUDITED0 ))
LOGGED=$(counter egress wasmcustom.portcullis.egress.logged)
DROPPED=$(counter egress wasmcustom.portcullis.egress.dropped)
summary() { awk -F, -v c="$1" 'NR > 1 { s += $c } END { print s + 0 }' "$TMP/slices.csv"; }
rss_at() { # column, row selector: first | last | min | max
  awk -F, -v c="$1" -v w="$2" 'NR == 2 { f = $c; mn = $c; mx = $c } NR > 1 { l = $c; if ($c < mn) mn = $c; if ($c > mx) mx = $c }
    END { print (w == "first") ? f : (w == "last") ? l : (w == "min") ? mn : mx }' "$TMP/slices.csv"
}
# Memory every five minutes (the first slice, then the slice nearest each multiple of 300 s).
rss_timeline() {
  awk -F, 'NR > 1 { t = $1; m = int(t / 300); if (!(m in seen)) { seen[m] = 1; printf "| %d | %s | %s |\n", t, $6, $7 } }' "$TMP/slices.csv"
}
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat > "$TMP/section.md" <<MD
## Soak: the seed and egress examples under load with a change every ${CHANGE_EVERY} s

Command: \`bench/soak.sh\` (SOAK_MINUTES=$SOAK_MINUTES, CHANGE_EVERY=$CHANGE_EVERY, SLICE=$SLICE,
CONNECTIONS=$CONNECTIONS). Run on $(date -u +%Y-%m-%d), $(nproc) CPUs ($CPU), Envoy
$("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1).

Setup: \`portcullis up\` on copies of \`examples/seed\` and \`examples/egress\` (one Envoy worker
each, CPU 0); \`wrk -t1 -c$CONNECTIONS\` against each and the nginx upstreams on CPU 1, in ${SLICE} s
slices; every ${CHANGE_EVERY} s each VirtualService gets a new response header value, which \`up\`
compiles and pushes over xDS while the load runs.

| figure | seed | egress |
|---|---:|---:|
| requests | $(summary 2) | $(summary 4) |
| failed requests (non-2xx, socket errors) | $(summary 3) | $(summary 5) |
| configuration changes applied | $APPLIED_SEED | $APPLIED_EGRESS |
| Envoy RSS, first slice / min / max / last (MB) | $(rss_at 6 first) / $(rss_at 6 min) / $(rss_at 6 max) / $(rss_at 6 last) | $(rss_at 7 first) / $(rss_at 7 min) / $(rss_at 7 max) / $(rss_at 7 last) |

Changes refused or failed: $REJECTED; Envoy restarts: $RESTARTS. Egress audit: $AUDITED records made
during the soak for $(summary 4) requests wrk completed (the difference is requests cut off at
slice ends, which Envoy still records); since start $LOGGED logged, $DROPPED dropped.

Envoy RSS over time (MB):

| elapsed (s) | seed | egress |
|---:|---:|---:|
$(rss_timeline)

MD
replace_section bench/soak.sh "$TMP/section.md"
echo "== updated BENCHMARKS.md"
cat "$TMP/section.md"
