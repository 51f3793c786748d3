"""Several `qws serve` nodes on one database, driven by the unmodified azure-quantum client.

Three nodes share one data directory (`--shared-data-dir`: one SQLite database, one job-data
directory). Jobs are submitted round-robin through all three; while they run, one node is killed
with SIGKILL. Every accepted job must reach exactly one terminal state, with one output, and
none may be lost: the killed node's jobs are taken over by the others once their leases expire.

The backend is chosen by the environment, so that the same test runs against other databases
and job-data stores:

* QWS_CLUSTER_JOBS: how many jobs (default 200). With a debug build on a 2-core machine at a
  load of 18, 150 jobs took 2 min 48 s and 500 jobs 4 min 7 s, so 500 is left to
  QWS_CLUSTER_JOBS=500.
* QWS_CLUSTER_NODE_ARGS: extra `qws serve` arguments for every node (e.g. a database URL and a
  blob backend), split like a shell would.
* QWS_CLUSTER_DATA: `shared` (default; one data directory and --shared-data-dir) or `per-node`
  (each node its own data directory; then QWS_CLUSTER_NODE_ARGS must point them at one shared
  database and job-data store, and the environment must carry the shared master key).
"""

import concurrent.futures
import json
import os
import pathlib
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.quantum import Workspace

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from qws_binary import find_qws_bin  # noqa: E402

JOBS = int(os.environ.get("QWS_CLUSTER_JOBS", "200"))
NODE_ARGS = shlex.split(os.environ.get("QWS_CLUSTER_NODE_ARGS", ""))
DATA = os.environ.get("QWS_CLUSTER_DATA", "shared")
LEASE_SECS = 2
DEADLINE_S = 600
TERMINAL = {"Succeeded", "Failed", "Cancelled"}

BELL = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}


def slow_circuit(qubits=18, layers=40):
    """Long enough (tens to hundreds of milliseconds) that the killed node is likely mid-job."""
    gates = []
    for layer in range(layers):
        gates += [{"gate": "h" if layer % 2 == 0 else "t", "target": q} for q in range(qubits)]
        gates += [{"gate": "cnot", "control": q, "target": q + 1} for q in range(qubits - 1)]
    return {"qubits": qubits, "circuit": gates}


class Node:
    def __init__(self, name, data_dir, log_dir, role="all"):
        self.name = name
        self.data_dir = data_dir
        self.log = open(log_dir / f"{name}.log", "wb")
        args = [
            str(find_qws_bin()), "serve", "--data-dir", str(data_dir),
            "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0",
            "--role", role, "--workers", "1", "--job-lease-secs", str(LEASE_SECS),
        ]
        if DATA == "shared":
            args.append("--shared-data-dir")
        args += NODE_ARGS
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        self.url = None
        deadline = time.monotonic() + 120
        for line in self.proc.stdout:
            text = line.decode(errors="replace")
            if text.startswith("qws listening on "):
                self.url = text.split()[3]
                break
            assert time.monotonic() < deadline, f"{name} did not start"
        assert self.url, f"{name} exited before listening; see {self.log.name}"
        # Keep draining stdout so the node never blocks on a full pipe.
        self._drain = concurrent.futures.ThreadPoolExecutor(1)
        self._drain.submit(lambda: [None for _ in self.proc.stdout])

    def get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.shutdown(wait=False)
        self.log.close()


@pytest.fixture
def cluster():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-cluster-"))
    nodes = []
    try:
        for i in range(3):
            data_dir = tmp / "data" if DATA == "shared" else tmp / f"data-{i}"
            nodes.append(Node(f"node{i}", data_dir, tmp))
        yield nodes
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def workspace(node, bootstrap):
    key = next(p.split("=", 1)[1] for p in bootstrap["primaryConnectionString"].split(";")
               if p.startswith("ApiKey="))
    return Workspace(
        subscription_id=bootstrap["subscriptionId"],
        resource_group=bootstrap["resourceGroup"],
        name=bootstrap["workspaceName"],
        location=bootstrap["location"],
        credential=AzureKeyCredential(key),
        _quantum_endpoint=node.url + "/",
    )


def test_jobs_round_robin_survive_a_killed_node_each_ending_once(cluster):
    bootstrap = json.loads((cluster[0].data_dir / "bootstrap.json").read_text())
    for n in cluster:
        assert n.get("/healthz")[0] == 200
        status, body = n.get("/readyz")
        assert status == 200, body
    targets = [workspace(n, bootstrap).get_targets(name="ionq.simulator") for n in cluster]

    def submit(i, among):
        program = slow_circuit() if i % 10 == 0 else BELL
        return among[i % len(among)].submit(program, name=f"c-{i}", shots=4).id

    # A third of the jobs round-robin through all three nodes; then one node is killed while
    # they execute (its queue is full of them), and the rest go round-robin through the two
    # that are left.
    first = JOBS // 3
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        accepted = list(pool.map(lambda i: submit(i, targets), range(first)))
        cluster[2].kill()
        accepted += list(pool.map(lambda i: submit(i, targets[:2]), range(first, JOBS)))
    assert len(set(accepted)) == len(accepted)

    survivors = cluster[:2]
    ws = workspace(survivors[0], bootstrap)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        jobs = {j.id: j for j in ws.list_jobs()}
        pending = [i for i in accepted if jobs.get(i) is None or jobs[i].details.status not in TERMINAL]
        if not pending:
            break
        assert time.monotonic() < deadline, f"{len(pending)} jobs never ended, e.g. {pending[:5]}"
        time.sleep(1)

    # Exactly one end each: every accepted job is there, Succeeded, and stays as it ended.
    ends = {i: (jobs[i].details.status, jobs[i].details.end_execution_time) for i in accepted}
    assert {s for s, _ in ends.values()} == {"Succeeded"}, {i: s for i, (s, _) in ends.items() if s != "Succeeded"}
    time.sleep(LEASE_SECS * 2)
    again = {j.id: (j.details.status, j.details.end_execution_time) for j in workspace(survivors[1], bootstrap).list_jobs()}
    assert all(again[i] == ends[i] for i in accepted)

    # One output each, readable through either surviving node.
    for n, i in enumerate(accepted):
        job = workspace(survivors[n % 2], bootstrap).get_job(i)
        results = job.get_results()
        assert results, i

    if DATA == "shared" and not NODE_ARGS:
        db = sqlite3.connect(cluster[0].data_dir / "qws.db")
        try:
            leases = db.execute("SELECT count(*) FROM dp_job_leases").fetchone()[0]
            attempts = dict(db.execute(
                "SELECT id, attempts FROM dp_items WHERE item_type = 'Job'").fetchall())
        finally:
            db.close()
        assert leases == 0, "every lease was given up with its job's end"
        assert all(attempts[i] >= 1 for i in accepted)
        retried = [i for i in accepted if attempts[i] > 1]
        print(f"{len(accepted)} jobs; {len(retried)} run again after the kill")
