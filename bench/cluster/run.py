#!/usr/bin/env python3
"""Job round trip and submissions per second: SQLite vs PostgreSQL, one node vs three.

For each configuration this starts fresh release `qws serve` nodes on loopback (and, for
PostgreSQL, a throwaway cluster from tests/postgres.py), then drives them with the
dp_load example (crates/qws-server/examples/dp_load.rs):

* round trip: LAT_JOBS sequential Bell jobs through node 0 (sasUri, upload, PUT job, poll every
  millisecond until Succeeded, ranged GET of the output); p50 and p99 in ms.
* submissions/s: SECS seconds of concurrent submit flows (sasUri + upload + PUT), CONC clients
  in all, split evenly over the nodes (one dp_load process per node, started together); the sum
  of accepted jobs over the wall time. The nodes' workers run the jobs meanwhile.

Configurations: sqlite-1 (one node, its own data directory), sqlite-3 (three nodes sharing one
data directory, --shared-data-dir), postgres-1 and postgres-3 (per-node data directories,
--database, job data in one shared directory with --blob-backend dir:PATH, one master key).

Usage: cargo build --release -p qws --bin qws -p qws-server --example dp_load
       python3 bench/cluster/run.py        (env: LAT_JOBS=200 SECS=10 CONC=24 CONFIGS=...)
Standard library only; every process it starts is stopped at the end.
"""

import base64
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from postgres import Postgres  # noqa: E402

QWS = REPO / "target" / "release" / "qws"
LOAD = REPO / "target" / "release" / "examples" / "dp_load"
LAT_JOBS = int(os.environ.get("LAT_JOBS", "200"))
SECS = int(os.environ.get("SECS", "10"))
CONC = int(os.environ.get("CONC", "24"))
CONFIGS = os.environ.get("CONFIGS", "sqlite-1 sqlite-3 postgres-1 postgres-3").split()


def start_node(i, tmp, args, env):
    log = open(tmp / f"node{i}.log", "wb")
    proc = subprocess.Popen(
        [str(QWS), "serve", "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE, stderr=log, env={**os.environ, **env},
    )
    for line in proc.stdout:
        text = line.decode(errors="replace")
        if text.startswith("qws listening on "):
            # The rest of stdout is small (a few start-up lines); let it go to a file.
            threading_drain(proc)
            return proc, text.split()[3]
    raise RuntimeError(f"node {i} did not start: {(tmp / f'node{i}.log').read_text()[-2000:]}")


def threading_drain(proc):
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_config(name):
    backend, count = name.split("-")
    count = int(count)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-bench-cluster-"))
    pg = None
    procs = []
    try:
        env = {"QWS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        urls = []
        for i in range(count):
            if backend == "sqlite":
                args = ["--data-dir", str(tmp / "data")] + (["--shared-data-dir"] if count > 1 else [])
            else:
                if pg is None:
                    pg = Postgres.start()
                args = ["--data-dir", str(tmp / f"data-{i}"), "--database", pg.url,
                        "--blob-backend", f"dir:{tmp / 'jobdata'}"]
            proc, url = start_node(i, tmp, args, env)
            procs.append(proc)
            urls.append(url)
        data0 = tmp / ("data" if backend == "sqlite" else "data-0")
        b = json.loads((data0 / "bootstrap.json").read_text())
        ws = (f"/subscriptions/{b['subscriptionId']}/resourceGroups/{b['resourceGroup']}"
              f"/providers/Microsoft.Quantum/workspaces/{b['workspaceName']}")
        key = re.search(r"ApiKey=([^;]+);", b["primaryConnectionString"]).group(1)

        out = subprocess.run([str(LOAD), urls[0], ws, key, "latency", str(LAT_JOBS)],
                             check=True, capture_output=True, text=True).stdout
        m = re.search(r"median_ms=([\d.]+) p99_ms=([\d.]+)", out)
        p50, p99 = float(m.group(1)), float(m.group(2))

        per_node = max(1, CONC // count)
        t0 = time.monotonic()
        loads = [subprocess.Popen([str(LOAD), u, ws, key, "submit", str(SECS), str(per_node)],
                                  stdout=subprocess.PIPE, text=True) for u in urls]
        accepted = errors = 0
        for p in loads:
            text, _ = p.communicate()
            m = re.search(r"ok=(\d+) errors=(\d+)", text)
            accepted += int(m.group(1))
            errors += int(m.group(2))
        wall = time.monotonic() - t0
        return {"config": name, "p50": p50, "p99": p99, "per_s": accepted / wall,
                "accepted": accepted, "errors": errors}
    finally:
        stop(procs)
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    for exe in (QWS, LOAD):
        if not exe.is_file():
            sys.exit(f"missing {exe}: cargo build --release -p qws --bin qws -p qws-server --example dp_load")
    print(f"LAT_JOBS={LAT_JOBS} SECS={SECS} CONC={CONC} cores={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f}")
    print("| configuration | round trip p50 (ms) | p99 (ms) | submissions/s | accepted | errors |")
    print("|---|---|---|---|---|---|")
    for name in CONFIGS:
        r = run_config(name)
        print(f"| {r['config']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['per_s']:.0f} | "
              f"{r['accepted']} | {r['errors']} |", flush=True)


if __name__ == "__main__":
    main()
