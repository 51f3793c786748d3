#!/usr/bin/env bash
# Blob subset throughput on loopback: one `qws serve` (release), a container SAS from
# storage/sasUri (API key from bootstrap.json's connection string), then curl uploads/downloads.
# Usage: bench/blob/run.sh [size MiB, default 64]
set -euo pipefail
MIB=${1:-64}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${QWS_BIN:-$ROOT/target/release/qws}
TMP=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$BIN" serve --data-dir "$TMP/data" --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 100); do [ -s "$TMP/data/bootstrap.json" ] && break; sleep 0.1; done
read -r HTTP SUB RG WS KEY < <(python3 - "$TMP/data/bootstrap.json" <<'PY'
import json, re, sys
b = json.load(open(sys.argv[1]))
key = re.search(r"ApiKey=([^;]+)", b["primaryConnectionString"]).group(1)
print(b["httpUrl"].rstrip("/"), b["subscriptionId"], b["resourceGroup"], b["workspaceName"], key)
PY
)
SAS=$(curl -sf -X POST -H "x-ms-quantum-api-key: $KEY" -H 'content-type: application/json' \
  -d '{"containerName":"bench"}' \
  "$HTTP/subscriptions/$SUB/resourceGroups/$RG/providers/Microsoft.Quantum/workspaces/$WS/storage/sasUri?api-version=2026-01-15-preview" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["sasUri"])')
URL="${SAS/\?//blob?}"
URL="${URL/127.1:/127.0.0.1:}"
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$TMP/in"
echo "size: ${MIB} MiB"
curl -sf -o /dev/null -w 'put blob (single shot): %{time_total}s, %{speed_upload} B/s\n' \
  -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary @"$TMP/in" "$URL"
curl -sf -o "$TMP/back" -w 'get blob (full):        %{time_total}s, %{speed_download} B/s\n' "$URL"
curl -sf -o /dev/null -w 'get blob (4 MiB range): %{time_total}s\n' -H 'x-ms-range: bytes=0-4194303' "$URL"
cmp "$TMP/in" "$TMP/back" && echo "round trip: identical"
