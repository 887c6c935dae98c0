#!/usr/bin/env bash
# Where the router's CPU goes: an ablation series through real Envoy (V8), one piece at a time.
#
#   bench/attribution.sh        # ROUNDS=5 DURATION=5s CONNECTIONS=16 by default
#   BEFORE=dir bench/attribution.sh   # also measures dir/portcullis_router.wasm (an older build)
#   MODE=instructions bench/attribution.sh   # instructions per request under callgrind instead
#
# Every variant is its own Envoy (one worker; all pinned to CPU 0, idle while another is
# measured); wrk and the nginx upstreams share CPU 1. Each round measures every variant once, in
# turn, so drift hits them alike. The figure per variant is Envoy's CPU time (user + system, all
# threads, from /proc) divided by the requests wrk completed: CPU per request does not depend on
# whether Envoy or wrk is the bottleneck. Results go to BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODE="${MODE:-cpu}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-16}"
source bench/lib.sh
start_run attribution
need wasm-metadce binaryen

echo "== building (filters and the ablation module for wasm32-wasip1, portcullis)"
cargo xtask wasm >/dev/null
cargo build --quiet --release --target wasm32-wasip1 -p portcullis-bench-ablation
cargo build --quiet -p portcullis
find_envoy
start_upstreams

# The ablation module with every callback export but those a router needs removed
# (wasm-metadce), as `cargo xtask wasm` does for the filters: Envoy skips the VM entry for a
# callback a module does not export.
mkdir -p "$TMP/wasm" "$TMP/pruned"
cp target/wasm32-wasip1/release/*.wasm "$TMP/wasm/"
prune() { # module, exports to keep...
  local module=$1; shift
  python3 -c 'import json, sys; n = sys.argv[1:]; print(json.dumps(
    [{"name": "root", "root": True, "reaches": ["e" + x for x in n]}] +
    [{"name": "e" + x, "export": x} for x in n]))' "$@" > "$TMP/graph.json"
  wasm-metadce --all-features "$TMP/wasm/$module" -f "$TMP/graph.json" -o "$TMP/pruned/$module" >/dev/null
}
KEEP="memory _initialize proxy_abi_version_0_2_1 proxy_on_memory_allocate proxy_on_vm_start
  proxy_on_configure proxy_on_tick proxy_on_context_create proxy_on_request_headers
  proxy_on_http_call_response proxy_on_done proxy_on_delete"
# shellcheck disable=SC2086
prune portcullis_bench_ablation.wasm $KEEP

# MODE=instructions: each variant's Envoy under callgrind, two at a time (instruction counts do
# not depend on what else runs), counting from after a warm-up to the end of one wrk run.
measure_instructions() {
  need valgrind valgrind
  : > "$TMP/instructions"
  local name
  local -a batch=()
  for v in "${VARIANTS[@]}" ""; do
    name=${v%%|*}
    [ -n "$name" ] && batch+=("$name")
    if [ ${#batch[@]} -eq 2 ] || { [ -z "$name" ] && [ ${#batch[@]} -gt 0 ]; }; then
      local jobs=()
      for b in "${batch[@]}"; do measure_one "$b" & jobs+=($!); done
      wait "${jobs[@]}"
      batch=()
    fi
  done
  report_instructions
}
measure_one() { # variant name; appends "<name>\t<instructions per request>"
  local name=$1 out pid requests total
  out="${CONFIG[$name]%.yaml}.callgrind"
  valgrind --tool=callgrind --callgrind-out-file="$out" --smc-check=all-non-file \
    --dump-instr=no "$ENVOY" -c "${CONFIG[$name]}" --concurrency 1 --disable-hot-restart \
    -l warning > "${CONFIG[$name]%.yaml}.log" 2>&1 &
  pid=$!
  # V8 compiles the modules under valgrind: minutes, not seconds.
  wait_ok "${PORT[$name]}" dev.example.com 600
  run_wrk "${PORT[$name]}" > /dev/null
  callgrind_control -z "$pid" > /dev/null
  read -r _ _ requests <<< "$(run_wrk "${PORT[$name]}")"
  callgrind_control -d "$pid" > /dev/null
  sleep 1
  total=$(cat "$out".* | awk '/^totals:/ { s += $2 } END { print s }')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%s\t%s\n' "$name" "$(awk -v t="$total" -v n="$requests" 'BEGIN { printf "%.1f", t / n / 1000 }')" \
    >> "$TMP/instructions"
  echo "$name: $(tail -1 "$TMP/instructions" | cut -f2) k instructions/request ($requests requests)"
}
# The rows of a results table, one per variant measured: its figure (printed by the function
# $1 for a variant name), what it adds to the row it builds on (the row above in the series;
# "sdk" for the alternatives to it; the last step for the router module; native for the router
# under `up`), its ratio to native, then the columns the function $2 prints, if given.
table_rows() {
  local figure=$1 extra=${2:-} prev="" name value base added ratio native
  native=$($figure native)
  for v in "${VARIANTS[@]}"; do
    name=${v%%|*}
    value=$($figure "$name")
    [ -n "$value" ] || continue
    case "$name" in
      native) base="" ;;
      "sdk, callbacks pruned"|"sdk + header_map"*) base=$($figure sdk) ;;
      "router module"*) base=$($figure "+ ${SERIES[-1]}") ;;
      router*) base=$native ;;
      *) base=$prev ;;
    esac
    added=$([ -n "$base" ] && awk -v a="$value" -v b="$base" 'BEGIN { printf "%+.1f", a - b }' || true)
    ratio=$(awk -v a="$value" -v b="$native" 'BEGIN { printf "%.2f", a / b }')
    echo "| $name | $value | $added | $ratio |$([ -z "$extra" ] || $extra "$name")"
    case "$name" in "sdk"|"+ "*) prev=$value ;; esac
  done
}

instructions_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$TMP/instructions"; }

report_instructions() {
  {
    echo "## Where the router's instructions go (ablation series under callgrind)"
    echo
    echo "Command: \`MODE=instructions bench/attribution.sh\` (CONNECTIONS=$CONNECTIONS, DURATION=$DURATION)."
    echo "Run on $(date -u +%Y-%m-%d), Envoy $("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1), valgrind $(valgrind --version | sed 's/valgrind-//')."
    echo
    echo "The variants of the table above, each Envoy under \`valgrind --tool=callgrind\`: all"
    echo "instructions Envoy executed (every thread, V8's generated code included) from after a"
    echo "warm-up to the end of one wrk run, divided by the requests served. Unlike CPU time this"
    echo "does not drift with the machine, so small pieces show. The \`portcullis up\` rows are not"
    echo "measured this way (under valgrind Envoy loads the modules too slowly for \`up\`'s timeout)."
    echo
    echo "| variant | k instructions/request | added k | × native |"
    echo "|---|---:|---:|---:|"
    table_rows instructions_of
    echo
  } > "$TMP/section.md"
  replace_section "bench/attribution.sh instructions" "$TMP/section.md"
  echo "== updated BENCHMARKS.md"
  cat "$TMP/section.md"
}

# name|module|steps: the cumulative series (each row adds its piece to the row above), then
# alternatives measured against "sdk".
ABL=portcullis_bench_ablation.wasm
SERIES=(authority_path method_scheme bind_port log_level cluster_header retry_headers
  route_cache_clear metric)
VARIANTS=("native|-|-" "sdk|wasm/$ABL|" "sdk, callbacks pruned|pruned/$ABL|")
STEPS=""
for step in "${SERIES[@]}"; do
  STEPS="${STEPS:+$STEPS,}\"$step\""
  VARIANTS+=("+ $step|wasm/$ABL|$STEPS")
done
VARIANTS+=("sdk + header_map (alternative to single reads)|wasm/$ABL|\"header_map\"")
# The router module itself in the native config (its routes a catch-all on the cluster
# header, its clusters named as Portcullis names them): the router's own work, apart from the
# Envoy config Portcullis renders around it.
VARIANTS+=("router module, native config|router|")
# BEFORE=<dir> adds the router module found there (an earlier build) the same way.
[ -n "${BEFORE:-}" ] && VARIANTS+=("router module from \$BEFORE, native config|router-before|")

declare -A PORT PID CONFIG
n=0
for v in "${VARIANTS[@]}"; do
  IFS='|' read -r name module steps <<< "$v"
  port=$((21080 + n)) admin=$((21180 + n)); n=$((n + 1))
  : > "$TMP/filter-$n.yaml"
  template=bench/native-envoy.yaml
  if [ "$module" = router ] || [ "$module" = router-before ]; then
    router_wasm="$TMP/wasm/portcullis_router.wasm"
    [ "$module" = router-before ] && router_wasm="$BEFORE/portcullis_router.wasm"
    target/debug/portcullis render -f examples/seed --wire-only --port-offset $((port - 80)) \
      > "$TMP/wire-$n.json"
    python3 - "$TMP/wire-$n.json" "$router_wasm" > "$TMP/filter-$n.yaml" <<'PY'
import json, sys
wire = json.dumps(json.load(open(sys.argv[1])), separators=(",", ":"))
config = {"name": "portcullis.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
    "config": {"name": "portcullis.router", "root_id": "router", "failure_policy": "FAIL_RELOAD",
               "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                 "value": wire},
               "vm_config": {"vm_id": "portcullis_router", "runtime": "envoy.wasm.runtime.v8",
                             "code": {"local": {"filename": sys.argv[2]}}}}}}
print("          - " + json.dumps(config))
PY
    sed -e 's|route: {cluster: \([a-z]*\), timeout|route: {cluster_header: x-portcullis-cluster, timeout|' \
      -e 's/cluster_name: \([a-z]*\)$/cluster_name: "outbound|80||\1-upstream.demo.local"/' \
      -e 's/- name: \(dev\|test\)$/- name: "outbound|80||\1-upstream.demo.local"/' \
      bench/native-envoy.yaml > "$TMP/router-native.yaml"
    template="$TMP/router-native.yaml"
  elif [ "$steps" != "-" ]; then
    cat > "$TMP/filter-$n.yaml" <<YAML
          - name: portcullis.ablation
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: ablation
                root_id: ablation
                failure_policy: FAIL_RELOAD
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"steps": [$steps]}'
                vm_config:
                  vm_id: ablation
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: $TMP/$module}}
YAML
  fi
  sed -e "s|@PORT@|$port|" -e "s|@ADMIN@|$admin|" -e "\|# @FILTERS@|r $TMP/filter-$n.yaml" \
    "$template" > "$TMP/envoy-$n.yaml"
  PORT[$name]=$port CONFIG[$name]="$TMP/envoy-$n.yaml"
done

if [ "$MODE" = instructions ]; then
  measure_instructions
  exit 0
fi

for v in "${VARIANTS[@]}"; do
  name=${v%%|*}
  taskset -c 0 "$ENVOY" -c "${CONFIG[$name]}" --concurrency 1 --disable-hot-restart -l warning \
    > "${CONFIG[$name]%.yaml}.log" 2>&1 & PIDS+=($!)
  PID[$name]=$!
done

# The real router, with its own rendered config.
start_router() { # name, module dir, port offset, admin port
  PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR="$2" \
    taskset -c 0 target/debug/portcullis up -f examples/seed --port-offset "$3" \
    --admin-port "$4" --xds-port 0 --no-access-log --concurrency 1 --state-dir "$TMP/up-$3" \
    > "$TMP/up-$3.out" 2>&1 & PIDS+=($!)
  VARIANTS+=("$1||")
  PORT[$1]=$(($3 + 80))
}
echo "== starting the router: portcullis up -f examples/seed"
start_router "router (portcullis up)" "$TMP/wasm" 11000 21299
for v in "${VARIANTS[@]}"; do wait_ok "${PORT[${v%%|*}]}"; done
PID["router (portcullis up)"]=$(pgrep -f "$TMP/up-11000/bootstrap.json" | head -1)

echo "== warm-up"
for v in "${VARIANTS[@]}"; do run_wrk "${PORT[${v%%|*}]}" >/dev/null; done
: > "$TMP/results"
for r in $(seq 1 "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    name=${v%%|*}
    before=$(cpu_ticks "${PID[$name]}")
    read -r rps p99 requests <<< "$(run_wrk "${PORT[$name]}")"
    after=$(cpu_ticks "${PID[$name]}")
    us=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    echo "round $r: $name: $us µs CPU/request, $rps req/s, p99 $p99 ms"
    printf '%s\t%s\t%s\t%s\n' "$name" "$us" "$rps" "$p99" >> "$TMP/results"
  done
done

# The median over the rounds of column $2 of variant $1's results.
median_of() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$TMP/results" | median; }
cpu_of() { median_of "$1" 2; }
rps_and_p99() { echo " $(median_of "$1" 3) | $(median_of "$1" 4) |"; }
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
  echo "## Where the router's CPU goes (ablation series)"
  echo
  echo "Command: \`bench/attribution.sh\` (ROUNDS=$ROUNDS, DURATION=$DURATION, CONNECTIONS=$CONNECTIONS)."
  echo "Run on $(date -u +%Y-%m-%d), $(nproc) CPUs ($CPU), Envoy $("$ENVOY" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1)."
  echo
  echo "Envoy's CPU time (all threads) per request, median of $ROUNDS rounds, \`GET /\` for"
  echo "\`dev.example.com\`. \`native\` is \`bench/native-envoy.yaml\`; the \`sdk\` and \`+\` rows add"
  echo "\`bench/ablation\` in front of Envoy's router, a module that makes exactly the listed host"
  echo "calls through \`portcullis_glue\` (the calls the router makes), each \`+\` row adding one to"
  echo "the row above, so \"added\" is that piece's cost. \"callbacks pruned\" is the same module with"
  echo "every callback export but those a router needs removed (\`wasm-metadce\`). \"router module,"
  echo "native config\" is the router with the seed wire config in the native Envoy config (routes on"
  echo "the cluster header), compared with the last \`+\` row: the guest's own decision. The last"
  echo "row runs \`portcullis up -f examples/seed\` (its own rendered config), compared with native."
  echo "Runs on these machines vary by a few µs per request between rounds: read differences under"
  echo "~3 µs as noise."
  echo
  echo "| variant | CPU µs/request | added µs | × native CPU | requests/s | p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|"
  table_rows cpu_of rps_and_p99
  echo
} > "$TMP/section.md"
replace_section bench/attribution.sh "$TMP/section.md"
echo "== updated BENCHMARKS.md"
cat "$TMP/section.md"
