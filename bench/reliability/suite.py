#!/usr/bin/env python3
"""qws reliability suite: figures for key rotation under load, crash safety, lockout
resistance, poison jobs and secret hygiene, each against a real `qws serve` on loopback.

Standard library only, so it runs with any Python 3.9+. Every scenario starts its own server
in a temporary data directory and stops it at the end. All traffic goes to 127.0.0.0/8.

    python3 bench/reliability/suite.py                 # full run, prints a Markdown table
    python3 bench/reliability/suite.py --quick         # the small version CI runs
    python3 bench/reliability/suite.py --only rotation,poison

The binary is $QWS_BIN, else target/release/qws, else target/debug/qws. The compat suite
(tests/compat/test_reliability.py) runs the quick version and asserts its invariants; this
script only reports.
"""

import argparse
import http.client
import json
import os
import pathlib
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests"))
from qws_binary import find_qws_bin  # noqa: E402  (one rule for every suite)

REPO = pathlib.Path(__file__).resolve().parents[2]
DP_VERSION = "2026-01-15-preview"
ARM_VERSION = "2025-12-15-preview"
BELL = json.dumps(
    {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}
)
TERMINAL = ("Succeeded", "Failed", "Cancelled")




# ---- a server process ------------------------------------------------------------------------


class Server:
    """`qws serve` as a child process in its own temporary data directory."""

    def __init__(self, binary, extra_args=(), data_dir=None):
        self.binary = pathlib.Path(binary)
        self.extra_args = list(extra_args)
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-reliability-"))
        self.data_dir = pathlib.Path(data_dir) if data_dir else self.tmp / "data"
        self.logs = []
        self.proc = None
        self.start()
        self.bootstrap = json.loads((self.data_dir / "bootstrap.json").read_text())
        self.ssl = ssl.create_default_context(cafile=self.bootstrap["caFile"])
        cs = self.bootstrap["primaryConnectionString"]
        self.primary = dict(p.split("=", 1) for p in cs.split(";") if "=" in p)["ApiKey"]
        self.ws_path = (
            f"/subscriptions/{self.bootstrap['subscriptionId']}/resourceGroups/"
            f"{self.bootstrap['resourceGroup']}/providers/Microsoft.Quantum/workspaces/"
            f"{self.bootstrap['workspaceName']}"
        )

    def start(self):
        log = self.tmp / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        out = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0",
             "--tls-listen", "127.0.0.1:0", *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=out,
            env={**os.environ, "QWS_LOG": os.environ.get("QWS_LOG", "info")},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                raise RuntimeError(f"qws serve exited: {log.read_text(errors='replace')[-2000:]}")
            # stdout is the first-start banner, which prints the credentials once on purpose;
            # it is not kept. The log file holds stderr, where no secret may ever appear.
            if line.startswith("qws listening on "):
                parts = line.split()
                self.http_url, self.https_url = parts[3], parts[5]
                break
        else:
            raise RuntimeError("qws serve did not print its listening line")
        out.close()
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        self.http_port = int(self.http_url.rsplit(":", 1)[1])
        self.https_port = int(self.https_url.rsplit(":", 1)[1])

    @staticmethod
    def _drain(proc):
        for _ in proc.stdout:
            pass

    def alive(self):
        return self.proc.poll() is None

    def peak_rss_mib(self):
        try:
            for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- HTTP --------------------------------------------------------------------------------

    def conn(self, tls=False, source="127.0.0.1"):
        if tls:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, context=self.ssl, timeout=60, source_address=(source, 0)
            )
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60, source_address=(source, 0))

    def token(self, secret=None, source="127.0.0.1"):
        """(status, access token or None) from the client-credentials flow."""
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": self.bootstrap["clientId"],
            "client_secret": secret or self.bootstrap["clientSecret"],
            "scope": "https://management.azure.com/.default",
        })
        c = self.conn(tls=True, source=source)
        try:
            c.request("POST", f"/{self.bootstrap['tenantId']}/oauth2/v2.0/token", form,
                      {"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            body = r.read()
            return r.status, (json.loads(body).get("access_token") if r.status == 200 else None)
        finally:
            c.close()

    def arm(self, method, suffix, token, body=None):
        c = self.conn(tls=True)
        try:
            c.request(method, f"{self.ws_path}{suffix}?api-version={ARM_VERSION}",
                      None if body is None else json.dumps(body),
                      {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = c.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
        finally:
            c.close()

    def keys(self):
        _, tok = self.token()
        status, doc = self.arm("POST", "/listKeys", tok)
        assert status == 200, doc
        key = lambda v: v["key"] if isinstance(v, dict) else v
        return key(doc["primaryKey"]), key(doc["secondaryKey"])


def dp_call(conn, server, method, suffix, key, body=None):
    """One data-plane request on a kept-alive connection: (status, parsed body)."""
    conn.request(method, f"{server.ws_path}{suffix}?api-version={DP_VERSION}",
                 None if body is None else json.dumps(body),
                 {"x-ms-quantum-api-key": key, "Content-Type": "application/json"})
    r = conn.getresponse()
    raw = r.read()
    try:
        return r.status, (json.loads(raw) if raw else None)
    except ValueError:
        return r.status, raw


def submit(server, key, job_id, program, target="ionq.simulator", fmt=("ionq.circuit.v1", "ionq.quantum-results.v1"),
           shots=10):
    """sasUri, blob upload and job PUT; the PUT's status (200 means acknowledged)."""
    c = server.conn()
    try:
        s, doc = dp_call(c, server, "POST", "/storage/sasUri", key, {"containerName": f"job-{job_id}"})
        if s != 200:
            return s
        sas = doc["sasUri"]
        base, query = sas.split("?", 1)
        u = urllib.parse.urlsplit(base)
        b = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        b.request("PUT", f"{u.path}/inputData?{query}", program.encode(), {"x-ms-blob-type": "BlockBlob"})
        r = b.getresponse()
        r.read()
        b.close()
        if r.status != 201:
            return r.status
        s, _ = dp_call(c, server, "PUT", f"/jobs/{job_id}", key, {
            "containerUri": sas, "inputDataUri": f"{base}/inputData", "inputDataFormat": fmt[0],
            "outputDataFormat": fmt[1], "target": target, "inputParams": {"shots": shots}, "itemType": "Job",
        })
        return s
    finally:
        c.close()


def job_status(server, key, job_id):
    c = server.conn()
    try:
        s, doc = dp_call(c, server, "GET", f"/jobs/{job_id}", key)
        return (doc or {}).get("status") if s == 200 else f"HTTP {s}", doc
    finally:
        c.close()


def wait_terminal(server, key, ids, seconds):
    deadline = time.monotonic() + seconds
    pending, final = set(ids), {}
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            st, doc = job_status(server, key, job_id)
            if st in TERMINAL:
                final[job_id] = doc
                pending.discard(job_id)
        if pending:
            time.sleep(0.2)
    return final, pending


# ---- scenarios -------------------------------------------------------------------------------


def rotation(binary, seconds, threads):
    """Keys are regenerated while clients hammer the data plane with both keys."""
    srv = Server(binary, ["--auth-failure-limit", "1000000"])
    try:
        primary, secondary = srv.keys()
        stop, regen_done = threading.Event(), [None]
        counts = {"old_after": 0, "secondary_refused": 0, "5xx": 0, "requests": 0}
        lock = threading.Lock()

        def client(i):
            c = srv.conn()
            local = {"old_after": 0, "secondary_refused": 0, "5xx": 0, "requests": 0}
            while not stop.is_set():
                use_old = i % 2 == 0
                key = primary if use_old else secondary
                sent = time.monotonic()
                try:
                    status, _ = dp_call(c, srv, "GET", "/providerStatus", key)
                except (OSError, http.client.HTTPException):
                    c.close()
                    c = srv.conn()
                    continue
                local["requests"] += 1
                if status >= 500:
                    local["5xx"] += 1
                done = regen_done[0]
                if use_old and status == 200 and done is not None and sent > done:
                    local["old_after"] += 1
                if not use_old and status != 200:
                    local["secondary_refused"] += 1
                    local.setdefault("refusal statuses", set()).add(status)
            with lock:
                for k, v in local.items():
                    if isinstance(v, set):
                        counts.setdefault(k, set()).update(v)
                    else:
                        counts[k] += v

        workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
        start = time.monotonic()
        for w in workers:
            w.start()
        time.sleep(seconds / 3)
        _, tok = srv.token()
        status, doc = srv.arm("POST", "/regenerateKey", tok, {"keys": ["Primary"]})
        assert status in (200, 204), (status, doc)
        regen_done[0] = time.monotonic()
        time.sleep(seconds * 2 / 3)
        stop.set()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - start
        return {
            "old-key accepts after regenerate returned": counts["old_after"],
            "secondary-key refusals": counts["secondary_refused"],
            "statuses of those refusals": sorted(counts.get("refusal statuses", ())),
            "5xx answers": counts["5xx"],
            "requests": counts["requests"],
            "requests/s": round(counts["requests"] / elapsed),
        }
    finally:
        srv.cleanup()


def crash(binary, rounds, jobs_per_round):
    """Jobs are submitted while the server is SIGKILLed; every acknowledged job must end."""
    srv = Server(binary)
    acknowledged = []
    try:
        for _ in range(rounds):
            ids = [f"crash-{uuid.uuid4().hex[:12]}" for _ in range(jobs_per_round)]
            lock = threading.Lock()

            def submitter(batch):
                for job_id in batch:
                    try:
                        if submit(srv, srv.primary, job_id, BELL) == 200:
                            with lock:
                                acknowledged.append(job_id)
                    except (OSError, http.client.HTTPException):
                        return  # the server is gone: later jobs were never acknowledged

            batches = [ids[i::4] for i in range(4)]
            workers = [threading.Thread(target=submitter, args=(b,)) for b in batches]
            for w in workers:
                w.start()
            # Kill in the middle of submissions and executions.
            time.sleep(random.uniform(0.2, 0.6))
            srv.kill9()
            for w in workers:
                w.join()
            srv.start()
        final, pending = wait_terminal(srv, srv.primary, acknowledged, 120)
        lost = [j for j in acknowledged if j not in final]
        succeeded = sum(1 for d in final.values() if d.get("status") == "Succeeded")
        return {
            "kill -9 rounds": rounds,
            "acknowledged jobs": len(acknowledged),
            "acknowledged jobs not terminal": len(lost),
            "succeeded": succeeded,
        }
    finally:
        srv.cleanup()


def lockout(binary, seconds):
    """Wrong keys and secrets from several addresses at the failure limit; a valid client from
    the same addresses must keep working."""
    srv = Server(binary)  # the default --auth-failure-limit
    try:
        _, token = srv.token()
        stop = threading.Event()
        attempts = {"attacks": 0, "throttled": 0}
        valid = {"ok": 0, "failed": 0}
        lock = threading.Lock()
        sources = [f"127.0.0.{i}" for i in range(1, 6)]

        def attacker(src):
            c = srv.conn(source=src)
            n = t = 0
            while not stop.is_set():
                try:
                    status, _ = dp_call(c, srv, "GET", "/providerStatus", "AZQU" + "x" * 82)
                    st2, _ = srv.token(secret="wrong-" + uuid.uuid4().hex, source=src)
                except (OSError, http.client.HTTPException):
                    c.close()
                    c = srv.conn(source=src)
                    continue
                n += 2
                t += (status == 429) + (st2 == 429)
            with lock:
                attempts["attacks"] += n
                attempts["throttled"] += t

        def good(src):
            c = srv.conn(source=src)
            ok = bad = 0
            while not stop.is_set():
                try:
                    s1, _ = dp_call(c, srv, "GET", "/providerStatus", srv.primary)
                    s2, _ = srv.token(source=src)
                    s3, _ = srv.arm("GET", "", token)
                except (OSError, http.client.HTTPException):
                    c.close()
                    c = srv.conn(source=src)
                    bad += 1
                    continue
                for s in (s1, s2, s3):
                    ok += s == 200
                    bad += s != 200
                time.sleep(0.05)
            with lock:
                valid["ok"] += ok
                valid["failed"] += bad

        workers = [threading.Thread(target=attacker, args=(s,)) for s in sources]
        workers += [threading.Thread(target=good, args=(s,)) for s in sources[:2]]
        for w in workers:
            w.start()
        time.sleep(seconds)
        stop.set()
        for w in workers:
            w.join()
        return {
            "bad credentials sent": attempts["attacks"],
            "bad credentials throttled (429)": attempts["throttled"],
            "valid requests during the attack": valid["ok"] + valid["failed"],
            "valid requests refused": valid["failed"],
        }
    finally:
        srv.cleanup()


def poison_corpus(full):
    """(name, target, (input format, output format), program, shots)."""
    qtm = "quantinuum.sim.h2-1e"
    qasm = ("honeywell.openqasm.v1", "honeywell.quantum-results.v1")
    qir = ("qir.v1", "microsoft.quantum-results.v2")
    header = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; creg c[1];'
    nested = "inttoptr (i64 0 to %Qubit*)"
    for _ in range(20_000):
        nested = f"inttoptr (i64 ptrtoint (%Qubit* {nested} to i64) to %Qubit*)"
    qir_deep = (
        "%Qubit = type opaque\n%Result = type opaque\n"
        f"define void @main() #0 {{\n  call void @__quantum__qis__h__body(%Qubit* {nested})\n  ret void\n}}\n"
        "declare void @__quantum__qis__h__body(%Qubit*)\n"
        'attributes #0 = { "entry_point" "required_num_qubits"="1" "required_num_results"="0" }\n'
    )
    corpus = [
        ("qasm: a sum of 30,000 terms", qtm, qasm, header + "rx(" + "+".join(["0"] * 30_000) + ") q[0];", 10),
        ("qasm: 100,000 nested parentheses", qtm, qasm, header + "rx(" + "(" * 100_000 + "0" + ")" * 100_000 + ") q[0];", 10),
        ("qasm: 100,000 unary minus signs", qtm, qasm, header + "rx(" + "-" * 100_000 + "1) q[0];", 10),
        ("qasm3: 100,000 nested parentheses", "qws.simulator", ("openqasm.v3", "microsoft.quantum-results.v2"),
         "OPENQASM 3.0; qubit[1] q; bit[1] c; rx(" + "(" * 100_000 + "0" + ")" * 100_000 + ") q[0];", 10),
        ("qir text: inttoptr nested 20,000 deep", qtm, qir, qir_deep, 10),
        ("ionq json: arrays nested 100,000 deep", "ionq.simulator", ("ionq.circuit.v1", "ionq.quantum-results.v1"),
         "[" * 100_000 + "]" * 100_000, 10),
        ("memory bomb: 65,536 classical bits x 200,000 shots", qtm, qasm,
         'OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; creg c[65536]; x q[0];', 200_000),
    ]
    if full:
        # Claims one qubit, addresses 27: budgeted by what it really uses (2 GiB of state).
        body = "".join(
            f"  call void @__quantum__qis__h__body(%Qubit* inttoptr (i64 {i} to %Qubit*))\n" for i in range(27)
        )
        lying = (
            "%Qubit = type opaque\n%Result = type opaque\n"
            f"define void @main() #0 {{\n{body}  ret void\n}}\n"
            "declare void @__quantum__qis__h__body(%Qubit*)\n"
            'attributes #0 = { "entry_point" "required_num_qubits"="1" "required_num_results"="0" }\n'
        )
        corpus.append(("qir: required_num_qubits=1 on 27 qubits", qtm, qir, lying, 1))
    return corpus


def poison(binary, full):
    """Every poison job fails (or runs) alone; the server stays up and a Bell job succeeds."""
    srv = Server(binary)
    try:
        rows = []
        for name, target, fmt, program, shots in poison_corpus(full):
            job_id = f"poison-{uuid.uuid4().hex[:12]}"
            status = submit(srv, srv.primary, job_id, program, target, fmt, shots)
            if status != 200:
                rows.append((name, f"refused at submission (HTTP {status})", ""))
                continue
            final, _ = wait_terminal(srv, srv.primary, [job_id], 300)
            doc = final.get(job_id) or {}
            err = (doc.get("errorData") or {}).get("code", "")
            rows.append((name, doc.get("status", "not terminal"), err))
            if not srv.alive():
                rows.append((name, "SERVER DIED", ""))
                break
        alive = srv.alive()
        bell_ok = False
        if alive:
            job_id = f"bell-{uuid.uuid4().hex[:8]}"
            if submit(srv, srv.primary, job_id, BELL) == 200:
                final, _ = wait_terminal(srv, srv.primary, [job_id], 60)
                bell_ok = (final.get(job_id) or {}).get("status") == "Succeeded"
        return {
            "jobs": rows,
            "server alive after the corpus": alive,
            "Bell job after the corpus succeeded": bell_ok,
            "peak RSS (MiB)": round(srv.peak_rss_mib()),
        }
    finally:
        srv.cleanup()


def secrets_scan(binary):
    """Generates keys, regenerates them, fails auth with secrets in odd fields, then searches
    the data directory and every log for each key and secret ever issued."""
    srv = Server(binary, ["--auth-failure-limit", "1000000"])
    try:
        _, tok = srv.token()
        secrets = {srv.bootstrap["clientSecret"], srv.primary, tok}
        for slot in ("Primary", "Secondary", "Primary"):
            secrets.update(srv.keys())
            srv.arm("POST", "/regenerateKey", tok, {"keys": [slot]})
        secrets.update(srv.keys())
        # A secret typed into the client id field, and a key sent to the wrong workspace.
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": srv.bootstrap["clientSecret"],
                                       "client_secret": "x", "scope": "https://management.azure.com/.default"})
        c = srv.conn(tls=True)
        c.request("POST", f"/{srv.bootstrap['tenantId']}/oauth2/v2.0/token", form,
                  {"Content-Type": "application/x-www-form-urlencoded"})
        c.getresponse().read()
        c.close()
        submit(srv, srv.primary, "scan-job", BELL)
        srv.stop()
        hits = []
        files = [p for p in srv.data_dir.rglob("*") if p.is_file() and p.name != "bootstrap.json"] + srv.logs
        for path in files:
            data = path.read_bytes()
            for s in secrets:
                if s and s.encode() in data:
                    hits.append(str(path.relative_to(srv.tmp)))
        return {"secrets searched": len(secrets), "files searched": len(files), "files holding a secret": sorted(set(hits))}
    finally:
        srv.cleanup()


SCENARIOS = ("rotation", "crash", "lockout", "poison", "secrets")


def run(binary, only=SCENARIOS, quick=False):
    out = {}
    if "rotation" in only:
        out["rotation"] = rotation(binary, seconds=3 if quick else 15, threads=4 if quick else 8)
    if "crash" in only:
        out["crash"] = crash(binary, rounds=2 if quick else 5, jobs_per_round=40 if quick else 200)
    if "lockout" in only:
        out["lockout"] = lockout(binary, seconds=3 if quick else 15)
    if "poison" in only:
        out["poison"] = poison(binary, full=not quick)
    if "secrets" in only:
        out["secrets"] = secrets_scan(binary)
    return out


def markdown(results):
    lines = []
    for name, figures in results.items():
        lines.append(f"### {name}\n")
        lines.append("| figure | value |\n|---|---|")
        for k, v in figures.items():
            if k == "jobs":
                continue
            lines.append(f"| {k} | {v} |")
        if "jobs" in figures:
            lines.append("\n| poison job | status | errorData.code |\n|---|---|---|")
            for row in figures["jobs"]:
                lines.append("| " + " | ".join(map(str, row)) + " |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the small version (as in CI)")
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = ap.parse_args()
    results = run(find_qws_bin(), only=args.only.split(","), quick=args.quick)
    print(json.dumps(results, indent=2) if args.json else markdown(results))


if __name__ == "__main__":
    sys.exit(main())
