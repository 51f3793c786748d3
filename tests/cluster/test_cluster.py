"""Several `qws serve` nodes on one database, driven by the unmodified azure-quantum client.

Three nodes on loopback ports. Jobs are submitted round-robin through all three; while they
run, one node is killed with SIGKILL. Every accepted job must reach exactly one terminal state,
with one output, and none may be lost: the killed node's jobs are taken over by the others once
their leases expire. A key regenerated through one node is refused by another on the next
request.

The backend is chosen by the environment, so that the same test runs against other databases
and job-data stores:

* QWS_CLUSTER_BACKEND: `postgres` (the suite starts its own PostgreSQL, see tests/postgres.py, and its
  own Azurite, see tests/compat/azurite.py; every node has its own data directory, and they
  share `--database`, `--blob-backend azure` and QWS_MASTER_KEY) or `sqlite` (default; one
  shared data directory, `--shared-data-dir`: one SQLite database, one job-data directory).
* QWS_CLUSTER_JOBS: how many jobs (default 200). With a debug build on a 2-core machine at a
  load of 18, 150 jobs took 2 min 48 s and 500 jobs 4 min 7 s on SQLite, so 500 is left to
  QWS_CLUSTER_JOBS=500.
* QWS_CLUSTER_NODE_ARGS: extra `qws serve` arguments for every node, split like a shell would.
* QWS_CLUSTER_DATA (with the sqlite backend): `shared` (default) or `per-node` (each node its
  own data directory; then QWS_CLUSTER_NODE_ARGS must point them at one shared database and
  job-data store, and the environment must carry the shared master key).
"""

import base64
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

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "compat"))
sys.path.insert(0, str(HERE))
from qws_binary import find_qws_bin  # noqa: E402

BACKEND = os.environ.get("QWS_CLUSTER_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"QWS_CLUSTER_BACKEND must be sqlite or postgres, not {BACKEND!r}")
JOBS = int(os.environ.get("QWS_CLUSTER_JOBS", "200"))
NODE_ARGS = shlex.split(os.environ.get("QWS_CLUSTER_NODE_ARGS", ""))
DATA = "per-node" if BACKEND == "postgres" else os.environ.get("QWS_CLUSTER_DATA", "shared")
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
    def __init__(self, name, data_dir, log_dir, role="all", extra_args=(), env=None):
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
        args += extra_args
        args += NODE_ARGS
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                     env={**os.environ, **(env or {})})
        self.url = None
        deadline = time.monotonic() + 120
        for line in self.proc.stdout:
            text = line.decode(errors="replace")
            if text.startswith("qws listening on "):
                self.url = text.split()[3]
                break
            assert time.monotonic() < deadline, f"{name} did not start"
        if not self.url:
            self.proc.wait()
            self.log.flush()
            tail = pathlib.Path(self.log.name).read_text(errors="replace")[-3000:]
            raise AssertionError(f"{name} exited ({self.proc.returncode}) before listening:\n{tail}")
        # Keep draining stdout so the node never blocks on a full pipe.
        self._drain = concurrent.futures.ThreadPoolExecutor(1)
        self._drain.submit(lambda: [None for _ in self.proc.stdout])

    def get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def dump_log_tail(self):
        self.log.flush()
        try:
            tail = pathlib.Path(self.log.name).read_text(errors="replace")[-3000:]
        except OSError:
            tail = "<no log>"
        print(f"--- {self.name} log tail ---\n{tail}", file=sys.stderr)

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


class Backend:
    """What the nodes share besides the network: nothing extra (sqlite: the shared data
    directory is the backend), or a PostgreSQL and an Azurite this suite started."""

    def __init__(self):
        self.postgres = None
        self.azurite = None
        self.args = []
        self.env = {}

    @classmethod
    def start(cls):
        backend = cls()
        if BACKEND != "postgres":
            return backend
        from azurite import Azurite
        from postgres import Postgres

        try:
            backend.postgres = Postgres.start()
            backend.azurite = Azurite.start()
        except BaseException:
            backend.stop()
            raise
        backend.args = ["--database", backend.postgres.url, "--blob-backend", "azure"]
        # Secrets through the environment, never the command line: the master key every node
        # must share (it encrypts keys and secrets in the database) and the account key.
        backend.env = {
            "QWS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "QWS_BLOB_CONNECTION_STRING": backend.azurite.connection_string,
        }
        return backend

    def stop(self):
        if self.azurite:
            self.azurite.stop()
        if self.postgres:
            self.postgres.stop()


@pytest.fixture(scope="module")
def backend():
    b = Backend.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def cluster(backend):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-cluster-"))
    nodes = []
    try:
        # One after the other: the first node creates the schema and the bootstrap workspace.
        for i in range(3):
            data_dir = tmp / "data" if DATA == "shared" else tmp / f"data-{i}"
            nodes.append(Node(f"node{i}", data_dir, tmp, extra_args=backend.args, env=backend.env))
        yield nodes
    except BaseException:
        for n in nodes:
            n.dump_log_tail()
        raise
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def workspace(node, bootstrap, key=None):
    key = key or next(p.split("=", 1)[1] for p in bootstrap["primaryConnectionString"].split(";")
                      if p.startswith("ApiKey="))
    return Workspace(
        subscription_id=bootstrap["subscriptionId"],
        resource_group=bootstrap["resourceGroup"],
        name=bootstrap["workspaceName"],
        location=bootstrap["location"],
        credential=AzureKeyCredential(key),
        _quantum_endpoint=node.url + "/",
    )


def test_a_key_regenerated_through_one_node_is_refused_by_another(cluster, monkeypatch):
    from azure.core.exceptions import HttpResponseError
    from azure.identity import ClientSecretCredential
    from azure.mgmt.quantum import AzureQuantumMgmtClient
    from azure.mgmt.quantum.models import APIKeys, KeyType

    # Node A is the one whose HTTPS listener and CA bootstrap.json names (with a shared data
    # directory every node rewrites it at start, so it is the last one started); B another.
    bootstrap = json.loads((cluster[0].data_dir / "bootstrap.json").read_text())
    a = next(n for n in cluster if n.url.rstrip("/") == bootstrap["httpUrl"].rstrip("/"))
    b = next(n for n in cluster if n is not a)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bootstrap["caFile"])
    credential = ClientSecretCredential(
        bootstrap["tenantId"], bootstrap["clientId"], bootstrap["clientSecret"],
        authority=bootstrap["httpsUrl"], disable_instance_discovery=True,
    )
    mgmt = AzureQuantumMgmtClient(credential, bootstrap["subscriptionId"], base_url=bootstrap["httpsUrl"])
    group, name = bootstrap["resourceGroup"], bootstrap["workspaceName"]

    # The secondary key (the other tests use the primary one) works on B, and B has now seen
    # it (whatever B caches about keys, it caches this one).
    old = mgmt.workspace.list_keys(group, name).secondary_key.key
    assert list(workspace(b, bootstrap, old).list_jobs()) is not None

    assert mgmt.workspace.regenerate_keys(group, name, APIKeys(keys=[KeyType.SECONDARY])) is None
    new = mgmt.workspace.list_keys(group, name).secondary_key.key
    assert new != old

    # The very next request to B with the old key is refused; the new one is accepted.
    with pytest.raises(HttpResponseError) as refused:
        list(workspace(b, bootstrap, old).list_jobs())
    assert refused.value.status_code == 401
    assert list(workspace(b, bootstrap, new).list_jobs()) is not None


def test_jobs_round_robin_survive_a_killed_node_each_ending_once(cluster, backend):
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

    counts = database_counts(backend, cluster[0], accepted)
    if counts is not None:
        leases, attempts = counts
        assert leases == 0, "every lease was given up with its job's end"
        assert all(attempts[i] >= 1 for i in accepted)
        retried = [i for i in accepted if attempts[i] > 1]
        print(f"{len(accepted)} jobs; {len(retried)} run again after the kill")


def test_readiness_follows_the_job_data_store(cluster, backend):
    """The last test of the module: it stops Azurite under the nodes that are left."""
    if backend.azurite is None:
        pytest.skip("the job-data store is the nodes' own directory")
    alive = [n for n in cluster if n.proc.poll() is None]
    assert alive
    for n in alive:
        status, body = n.get("/readyz")
        assert status == 200, body
    backend.azurite.stop()
    for n in alive:
        status, body = n.get("/readyz")
        assert status == 503, body
        assert body["checks"] == {"database": "ok", "blobStore": "unavailable"}, body
        # Alive all the same: a balancer stops sending work but does not restart the node.
        assert n.get("/healthz")[0] == 200


def database_counts(backend, node, accepted):
    """(job leases left, attempts per job) read from the shared database, or None when this
    suite does not know where it is (extra node arguments)."""
    if backend.postgres is not None:
        leases = int(backend.postgres.psql("SELECT count(*) FROM dp_job_leases").strip())
        rows = backend.postgres.psql("SELECT id, attempts FROM dp_items WHERE item_type = 'Job'")
        attempts = {i: int(n) for i, n in (line.split("|") for line in rows.splitlines() if line)}
        return leases, attempts
    if DATA == "shared" and not NODE_ARGS:
        db = sqlite3.connect(node.data_dir / "qws.db")
        try:
            leases = db.execute("SELECT count(*) FROM dp_job_leases").fetchone()[0]
            attempts = dict(db.execute(
                "SELECT id, attempts FROM dp_items WHERE item_type = 'Job'").fetchall())
        finally:
            db.close()
        return leases, attempts
    return None
