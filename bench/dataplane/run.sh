#!/usr/bin/env bash
# Data-plane benchmark on loopback: starts a fresh `qws serve` (release) in a temporary data dir,
# then drives it with the dp_load example (crates/qws-server/examples/dp_load.rs):
#   1. latency of submit -> results for a Bell job over HTTP (sequential, LAT_JOBS jobs),
#   2. sustained job submissions per second (SECS seconds, CONC concurrent clients),
#   3. authenticated GET job requests per second (SECS seconds, CONC concurrent clients).
# Usage: bench/dataplane/run.sh   (env: LAT_JOBS=200 SECS=10 CONC=32)
set -euo pipefail
cd "$(dirname "$0")/../.."
LAT_JOBS=${LAT_JOBS:-200}
SECS=${SECS:-10}
CONC=${CONC:-32}
cargo build --release -q -p qws -p qws-server --example dp_load
QWS=target/release/qws
LOAD=target/release/examples/dp_load
TMP=$(mktemp -d)
"$QWS" serve --data-dir "$TMP/data" --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 >"$TMP/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do
  if [ -s "$TMP/data/bootstrap.json" ] && ! grep -q ':0"' "$TMP/data/bootstrap.json"; then break; fi
  sleep 0.1
done
read -r URL WS KEY < <(python3 - "$TMP/data/bootstrap.json" <<'PY'
import json, re, sys
b = json.load(open(sys.argv[1]))
key = re.search(r"ApiKey=([^;]+);", b["primaryConnectionString"]).group(1)
ws = f"/subscriptions/{b['subscriptionId']}/resourceGroups/{b['resourceGroup']}/providers/Microsoft.Quantum/workspaces/{b['workspaceName']}"
print(b["httpUrl"], ws, key)
PY
)
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$LOAD" "$URL" "$WS" "$KEY" latency "$LAT_JOBS"
"$LOAD" "$URL" "$WS" "$KEY" submit "$SECS" "$CONC"
"$LOAD" "$URL" "$WS" "$KEY" get "$SECS" "$CONC"
