#!/usr/bin/env bash
# Load comparison, in one run: the seed example through Portcullis (router filter on V8, config
# over ADS) against the same routing as native Envoy routes, and the egress example (audit
# filter and router) against native Envoy routes with a JSON access log to a file.
#
#   bench/compare.sh            # ROUNDS=5 DURATION=10s CONNECTIONS=16 by default
#
# All four Envoys run at once with one worker each, pinned to CPU 0 (idle while another is
# measured); wrk and nginx (the upstreams) share CPU 1. Each round measures all four in turn,
# so drift hits them alike (runs on this kind of machine vary ±25 %: compare within one run,
# paired). Results go to BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
source bench/lib.sh
start_run bench

# The portcullis process is not in the data path (Envoy is), so a debug build is enough.
echo "== building (filters for wasm32-wasip1, portcullis)"
cargo xtask wasm >/dev/null
cargo build --quiet -p portcullis
find_envoy

echo "== starting nginx upstreams (CPU 1)"
start_upstreams

# name → port, Host header, Envoy pid (found once serving).
declare -A PORT HOST PID
up() { # name, example dir, port offset, admin port, extra flags...
  local name=$1 dir=$2 offset=$3 admin=$4; shift 4
  echo "== starting $name (CPU 0): portcullis up -f $dir $*"
  PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR=target/wasm32-wasip1/release \
    taskset -c 0 target/debug/portcullis up -f "$dir" --port-offset "$offset" "$@" \
    --admin-port "$admin" --xds-port 0 --no-access-log --concurrency 1 \
    --state-dir "$TMP/$name" > "$TMP/$name.out" 2>&1 & PIDS+=($!)
  PORT[$name]=$((offset + 80))
}
native() { # name, config template, port, admin port
  echo "== starting $1 (CPU 0): $2"
  sed -e "s|@PORT@|$3|" -e "s|@ADMIN@|$4|" -e "s|@LOG@|$TMP/$1-access.log|" "$2" > "$TMP/$1.yaml"
  taskset -c 0 "$ENVOY" -c "$TMP/$1.yaml" --concurrency 1 --disable-hot-restart -l warning \
    --file-flush-interval-msec 100 --base-id "$4" > "$TMP/$1.log" 2>&1 & PIDS+=($!)
  PORT[$1]=$3 PID[$1]=$!
}
up seed examples/seed 10000 15100
native seed-native bench/native-envoy.yaml 20080 15200
up egress examples/egress 13000 15300 --gateway-labels istio=egressgateway
native egress-native bench/native-egress.yaml 20090 15400
HOST[seed]=dev.example.com HOST[seed-native]=dev.example.com
HOST[egress]=httpbin.org HOST[egress-native]=httpbin.org
NAMES=(seed seed-native egress egress-native)
for name in "${NAMES[@]}"; do
  wait_ok "${PORT[$name]}" "${HOST[$name]}" || { cat "$TMP/$name.out" 2>/dev/null; exit 1; }
done
PID[seed]=$(pgrep -f "$TMP/seed/bootstrap.json" | head -1)
PID[egress]=$(pgrep -f "$TMP/egress/bootstrap.json" | head -1)

echo "== warm-up"
for name in "${NAMES[@]}"; do run_wrk "${PORT[$name]}" "${HOST[$name]}" >/dev/null; done
: > "$TMP/results"
for r in $(seq 1 "$ROUNDS"); do
  line="round $r:"
  for name in "${NAMES[@]}"; do
    read -r rps p99 _ <<< "$(run_wrk "${PORT[$name]}" "${HOST[$name]}")"
    echo "$name $rps $p99" >> "$TMP/results"
    line="$line $name $rps req/s p99 $p99 ms |"
  done
  echo "$line"
done

# Audit lines written per request: the egress filter's records (in Envoy's log under `up`) and
# the native access log, counted so a benchmark that silently logged nothing cannot pass.
AUDITED=$(grep -c '"decision"' "$TMP/egress/envoy.log" 2>/dev/null || true)
LOGGED=$(wc -l < "$TMP/egress-native-access.log")

stat() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$TMP/results" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
pair_table() { # portcullis name, native name, portcullis label, native label
  local pr pp nr np
  pr=$(stat "$1" 2) pp=$(stat "$1" 3) nr=$(stat "$2" 2) np=$(stat "$2" 3)
  echo "| gateway | requests/s | p99 latency (ms) | Envoy RSS after (MB) |"
  echo "|---|---:|---:|---:|"
  echo "| $3 | $pr | $pp | $(rss_mb "${PID[$1]}") |"
  echo "| $4 | $nr | $np | $(rss_mb "${PID[$2]}") |"
  echo "| ratio Portcullis / native | $(ratio "$pr" "$nr") | $(ratio "$pp" "$np") | |"
}

cat > "$TMP/section.md" <<MD
## Portcullis vs native Envoy: the seed (ingress) and egress examples

Command: \`bench/compare.sh\` (ROUNDS=$ROUNDS, DURATION=$DURATION, CONNECTIONS=$CONNECTIONS).
Run on $(date -u +%Y-%m-%d), $(nproc) CPUs ($CPU), Envoy $("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1).

Setup: the four gateways run at the same time, one Envoy worker each, pinned to CPU 0;
\`wrk -t1 -c$CONNECTIONS --latency\` and the nginx upstreams share CPU 1; \`GET /\`. Rounds measure
the four in turn; figures are medians of $ROUNDS rounds.

Ingress, Host \`dev.example.com\`: Portcullis is \`portcullis up -f examples/seed\` (router filter
on V8, config over ADS, access log off); native is \`bench/native-envoy.yaml\` (two vhosts → two
clusters, the same connection-manager settings).

$(pair_table seed seed-native "Portcullis (wasm router)" "native Envoy routes")

Egress, Host \`httpbin.org\`: Portcullis is \`portcullis up -f examples/egress --gateway-labels
istio=egressgateway\` (audit filter then router; one audit record per request to Envoy's log);
native is \`bench/native-egress.yaml\` (one route, a JSON access log to a file with the audit
record's fields). Both flush their files every 100 ms. Lines written during the run: $AUDITED
audit records, $LOGGED access-log lines.

$(pair_table egress egress-native "Portcullis (audit filter + router)" "native Envoy + JSON access log")

Per round (req/s, p99 ms):

| round | seed: Portcullis | seed: native | egress: Portcullis | egress: native |
|---:|---|---|---|---|
$(awk '{ v[NR] = $2 ", " $3 } END { for (i = 1; i <= NR; i += 4) printf "| %d | %s | %s | %s | %s |\n", (i + 3) / 4, v[i], v[i+1], v[i+2], v[i+3] }' "$TMP/results")

MD
replace_section bench/compare.sh "$TMP/section.md"
echo "== updated BENCHMARKS.md"
cat "$TMP/section.md"
