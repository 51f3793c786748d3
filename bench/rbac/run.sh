#!/usr/bin/env bash
# RBAC cost on loopback: one fresh `qws serve` (release), two callers with the same tokens'
# shape, measured alternately in the same run:
#   admin  - the bootstrap administrator, for which role evaluation is skipped (no assignment
#            query, no check),
#   rbac   - a service principal holding Quantum Workspace Data Contributor and Reader at the
#            subscription plus EXTRA Reader assignments on other resource groups, so every
#            request loads its assignments and evaluates them.
# For each caller: authenticated `GET job` (data plane) and `GET workspace` (management) per
# second (SECS seconds, CONC clients), and submit -> results latency (LAT_JOBS jobs), ROUNDS times.
# Usage: bench/rbac/run.sh   (env: ROUNDS=3 SECS=5 CONC=32 LAT_JOBS=100 EXTRA=10; NO_BUILD=1
# runs the release binaries already built)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CONC=${CONC:-32}
LAT_JOBS=${LAT_JOBS:-100}
EXTRA=${EXTRA:-10}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p qws --bin qws -p qws-server --example dp_load
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
read -r URL WS ADMIN_Q ADMIN_M SP_Q SP_M < <(python3 - "$TMP/data/bootstrap.json" "$EXTRA" <<'PY'
import json, sys, uuid, urllib.parse, urllib.request
b = json.load(open(sys.argv[1]))
extra = int(sys.argv[2])
url, sub, tenant = b["httpUrl"], b["subscriptionId"], b["tenantId"]
MGMT, QUANTUM = "https://management.azure.com/.default", "https://quantum.microsoft.com/.default"

def token(app, secret, scope):
    form = urllib.parse.urlencode({"client_id": app, "client_secret": secret,
                                   "grant_type": "client_credentials", "scope": scope}).encode()
    with urllib.request.urlopen(f"{url}/{tenant}/oauth2/v2.0/token", form) as r:
        return json.load(r)["access_token"]

admin_m = token(b["clientId"], b["clientSecret"], MGMT)

def call(method, path, body=None, version="2023-11-13-preview"):
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request(f"{url}{path}{sep}api-version={version}", method=method,
                                 data=json.dumps(body).encode() if body is not None else b"",
                                 headers={"Authorization": f"Bearer {admin_m}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        data = r.read()
        return json.loads(data) if data else None

def assign(scope, role, oid):
    call("PUT", f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
         {"properties": {"roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                         "principalId": oid, "principalType": "ServicePrincipal"}}, "2022-04-01")

sp = call("POST", "/qws/directory/servicePrincipals", {"displayName": "rbac bench"})
secret = call("POST", f"/qws/directory/servicePrincipals/{sp['id']}/addPassword", {"passwordCredential": {}})["secretText"]
subscope = f"/subscriptions/{sub}"
assign(subscope, "c1410b24-3e69-4857-8f86-4d0a2e603250", sp["id"])  # Quantum Workspace Data Contributor
assign(subscope, "acdd72a7-3385-48ef-bd42-f606fba81ae7", sp["id"])  # Reader
for i in range(extra):
    call("PUT", f"{subscope}/resourceGroups/other-{i}", {"location": "eastus"})
    assign(f"{subscope}/resourceGroups/other-{i}", "acdd72a7-3385-48ef-bd42-f606fba81ae7", sp["id"])
ws = f"/subscriptions/{sub}/resourceGroups/{b['resourceGroup']}/providers/Microsoft.Quantum/workspaces/{b['workspaceName']}"
print(url, ws, token(b["clientId"], b["clientSecret"], QUANTUM), admin_m,
      token(sp["appId"], secret, QUANTUM), token(sp["appId"], secret, MGMT))
PY
)
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  for who in admin rbac; do
    if [ "$who" = admin ]; then Q=$ADMIN_Q; M=$ADMIN_M; else Q=$SP_Q; M=$SP_M; fi
    echo "round $round $who $("$LOAD" "$URL" "$WS" "bearer:$Q" get "$SECS" "$CONC")"
    echo "round $round $who $("$LOAD" "$URL" "$WS" "bearer:$M" mget "$SECS" "$CONC")"
    echo "round $round $who $("$LOAD" "$URL" "$WS" "bearer:$Q" latency "$LAT_JOBS")"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
