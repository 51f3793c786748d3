#!/usr/bin/env bash
# Data-plane benchmark on loopback, every figure from one run on one machine: a fresh `qws serve`
# (release) in a temporary data dir and Azurite 3.37 (installed with npm on first use), driven by
# the dp_load example (crates/qws-server/examples/dp_load.rs):
#   bare    - unauthenticated GET /metadata/endpoints (the HTTP stack's ceiling here),
#   keyed   - GET providerStatus with x-ms-quantum-api-key,
#   token   - GET providerStatus with a bearer token of a service principal holding Quantum
#             Workspace Data Contributor (role assignments evaluated per request),
#   jobget  - GET job with the key,
#   blob    - GET of a 4 KiB blob through a SAS URL, from qws and from Azurite,
# each SECS seconds with CONC concurrent clients, ROUNDS rounds interleaved; then the submit ->
# results round trip of LAT_JOBS sequential Bell jobs through the client's flow (p50/p99): once
# polling GET job every millisecond (what an Azure client does, at its own pace), once with
# `Prefer: wait` on the submission (the outcome comes in PUT's answer; nothing to poll).
# Usage: bench/dataplane/run.sh   (env: ROUNDS=3 SECS=5 CONC=32 LAT_JOBS=200 BLOB_BYTES=4096;
#        NO_BUILD=1 uses the built binaries; BENCH_NPM=dir keeps the npm packages, default
#        ~/.cache/qws-bench-npm)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CONC=${CONC:-32}
LAT_JOBS=${LAT_JOBS:-200}
BLOB_BYTES=${BLOB_BYTES:-4096}
NPM_DIR=${BENCH_NPM:-$HOME/.cache/qws-bench-npm}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p qws --bin qws -p qws-server --example dp_load
QWS=target/release/qws
LOAD=target/release/examples/dp_load
if [ ! -x "$NPM_DIR/node_modules/.bin/azurite-blob" ] || [ ! -d "$NPM_DIR/node_modules/@azure/storage-blob" ]; then
  mkdir -p "$NPM_DIR"
  [ -f "$NPM_DIR/package.json" ] || echo '{"private":true}' >"$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund azurite@3.37.0 @azure/storage-blob@12.34.0 >/dev/null)
fi
TMP=$(mktemp -d)
AZ_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$QWS" serve --data-dir "$TMP/data" --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 >"$TMP/log" 2>&1 &
PID=$!
"$NPM_DIR/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" \
  --location "$TMP/azurite" --silent --skipApiVersionCheck >"$TMP/azurite.log" 2>&1 &
AZ_PID=$!
trap 'kill $PID $AZ_PID 2>/dev/null; wait $PID $AZ_PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do
  if [ -s "$TMP/data/bootstrap.json" ] && ! grep -q ':0"' "$TMP/data/bootstrap.json"; then break; fi
  sleep 0.1
done
read -r URL WS KEY TOKEN < <(python3 - "$TMP/data/bootstrap.json" <<'PY'
import json, re, sys, uuid, urllib.parse, urllib.request
b = json.load(open(sys.argv[1]))
url, sub, tenant = b["httpUrl"], b["subscriptionId"], b["tenantId"]
key = re.search(r"ApiKey=([^;]+);", b["primaryConnectionString"]).group(1)

def token(app, secret, scope):
    form = urllib.parse.urlencode({"client_id": app, "client_secret": secret,
                                   "grant_type": "client_credentials", "scope": scope}).encode()
    with urllib.request.urlopen(f"{url}/{tenant}/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]

admin = token(b["clientId"], b["clientSecret"], "https://management.azure.com/.default")

def call(method, path, body=None, version="2023-11-13-preview"):
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request(f"{url}{path}{sep}api-version={version}", method=method,
                                 data=json.dumps(body).encode() if body is not None else b"",
                                 headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        data = r.read()
        return json.loads(data) if data else None

sp = call("POST", "/qws/directory/servicePrincipals", {"displayName": "dataplane bench"})
secret = call("POST", f"/qws/directory/servicePrincipals/{sp['id']}/addPassword", {"passwordCredential": {}})["secretText"]
call("PUT", f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
     {"properties": {"roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/c1410b24-3e69-4857-8f86-4d0a2e603250",
                     "principalId": sp["id"], "principalType": "ServicePrincipal"}}, "2022-04-01")
ws = f"/subscriptions/{sub}/resourceGroups/{b['resourceGroup']}/providers/Microsoft.Quantum/workspaces/{b['workspaceName']}"
print(url, ws, key, token(sp["appId"], secret, "https://quantum.microsoft.com/.default"))
PY
)
QWS_BLOB=$("$LOAD" "$URL" "$WS" "$KEY" blob-sas "$BLOB_BYTES")
AZ_BLOB=""
for _ in $(seq 1 100); do
  AZ_BLOB=$(NODE_PATH="$NPM_DIR/node_modules" node bench/dataplane/azurite_blob.js "http://127.0.0.1:$AZ_PORT/devstoreaccount1" "$BLOB_BYTES" 2>/dev/null) && break
  sleep 0.2
done
[ -n "$AZ_BLOB" ] || { echo "Azurite did not start"; cat "$TMP/azurite.log"; exit 1; }
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "qws $("$QWS" --version 2>/dev/null || true); azurite $("$NPM_DIR/node_modules/.bin/azurite-blob" --version)"
rate() { "$LOAD" "$URL" "$WS" "$1" "$2" "$SECS" "$CONC" ${3:+"$3"} | sed -n 's/.*errors=\([0-9]*\) per_second=\([0-9]*\)/\2 \1/p'; }
declare -A SUM
for round in $(seq 1 "$ROUNDS"); do
  for m in bare keyed token jobget qws-blob azurite-blob; do
    case $m in
      bare) r=$(rate "$KEY" bare) ;;
      keyed) r=$(rate "$KEY" status) ;;
      token) r=$(rate "bearer:$TOKEN" status) ;;
      jobget) r=$(rate "$KEY" get) ;;
      qws-blob) r=$(rate "$KEY" url "$QWS_BLOB") ;;
      azurite-blob) r=$(rate "$KEY" url "$AZ_BLOB") ;;
    esac
    echo "round $round $m: ${r% *} requests/s (errors ${r#* })"
    SUM[$m]="${SUM[$m]:-} ${r% *}"
  done
done
echo "load after rates: $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOAD" "$URL" "$WS" "$KEY" latency "$LAT_JOBS"
"$LOAD" "$URL" "$WS" "$KEY" latency-wait "$LAT_JOBS"
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
BARE=$(echo "${SUM[bare]}" | median)
echo "medians of $ROUNDS rounds (share of the bare stack in the same run):"
for m in bare keyed token jobget qws-blob azurite-blob; do
  v=$(echo "${SUM[$m]}" | median)
  echo "  $m: $v requests/s ($(python3 -c "print(f'{$v/$BARE*100:.0f} %')"))"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
