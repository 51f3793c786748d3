"""Shared fixtures for the compat suites: one real `qws serve` per test session.

The server binary comes from $QWS_BIN, else the newest of target/release/qws and target/debug/qws
(`find_qws_bin`, the one way every suite finds it; no binary is an error, never a skip). It runs in
a temporary data dir with both listeners on 127.0.0.1:0; the fixture waits until bootstrap.json
names the bound ports and the server answers, and stops the server at the end of the session.

`qws` (session-scoped) exposes the bootstrap values and helpers to run the `qws` CLI with an
isolated config dir. Suites that need more (data-plane workspaces, storage, …) build their own
fixtures on top of it.

The server is shared by every suite: leave the bootstrap workspace's keys and settings as they are
(other tests use its connection string) and use `new_workspace` or a fresh group for anything
that regenerates or disables keys or deletes things.
"""

import atexit
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from qws_binary import find_qws_bin  # noqa: E402  (one rule for every suite)

REPO = pathlib.Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60
# The shared server's worker count, fixed so queueing behaviour does not depend on the machine's
# cores: with 2 workers a workspace runs at most one job at a time (one worker is kept for other
# workspaces), so a second job of the same workspace is certain to wait.
SERVER_WORKERS = 2




# Servers this pytest process started. They share pytest's process group (no new session), so
# the test command ends them with that group even when pytest itself is killed; this hook also
# stops any a failing fixture left behind when pytest exits normally.
_SERVERS = []


def spawn_server(args, log_file, env=None) -> subprocess.Popen:
    """Starts `qws ARGS…` with output to `log_file` (and `env` added to the environment),
    registered for cleanup at exit."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen([str(a) for a in args], stdout=log_file, stderr=subprocess.STDOUT, env=full_env)
    _SERVERS.append(proc)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM (graceful), then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def _stop_all_servers():
    for proc in _SERVERS:
        stop_server(proc)


def assert_bell_histogram(histogram: dict, shots: int):
    """A Bell pair measured `shots` times: only 00 and 11 (keys "0" and "3"), both seen, the
    probabilities sum to 1 and each is near one half (±0.2 is over 4 standard deviations at
    100 shots)."""
    assert set(histogram) == {"0", "3"}, histogram
    assert abs(sum(histogram.values()) - 1.0) < 1e-6, histogram
    for p in histogram.values():
        assert 0.5 - 0.2 <= p <= 0.5 + 0.2, histogram
        assert abs(p * shots - round(p * shots)) < 1e-6, f"not a whole number of {shots} shots: {histogram}"


class CliResult:
    """Outcome of one `qws` CLI run."""

    def __init__(self, args, completed: subprocess.CompletedProcess):
        self.args = args
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    def json(self):
        assert self.returncode == 0, f"qws {' '.join(self.args)} failed: {self.stderr}"
        return json.loads(self.stdout)

    def __repr__(self):
        return f"CliResult(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


class QwsServer:
    """A running `qws serve` and what its bootstrap.json says about it."""

    def __init__(self, binary: pathlib.Path, data_dir: pathlib.Path, proc, bootstrap: dict, tmp: pathlib.Path):
        self.binary = binary
        self.data_dir = data_dir
        self.proc = proc
        self.bootstrap = bootstrap
        self._tmp = tmp
        self.tenant_id = bootstrap["tenantId"]
        self.client_id = bootstrap["clientId"]
        self.client_secret = bootstrap["clientSecret"]
        self.subscription_id = bootstrap["subscriptionId"]
        self.resource_group = bootstrap["resourceGroup"]
        self.workspace_name = bootstrap["workspaceName"]
        self.location = bootstrap["location"]
        self.http_url = bootstrap["httpUrl"].rstrip("/")
        self.https_url = bootstrap["httpsUrl"].rstrip("/")
        ca = pathlib.Path(bootstrap["caFile"])
        self.ca_file = str(ca if ca.is_absolute() else data_dir / ca)
        self.primary_connection_string = bootstrap.get("primaryConnectionString")

    # ---- CLI ----------------------------------------------------------------------------

    def new_config_home(self) -> pathlib.Path:
        """A fresh, empty HOME/XDG_CONFIG_HOME for an isolated CLI user."""
        home = self._tmp / f"home-{uuid.uuid4().hex[:8]}"
        home.mkdir()
        return home

    def cli(self, *args, home: pathlib.Path, cwd=None, env=None, timeout=120) -> CliResult:
        """Runs `qws ARGS…` as the user whose config lives under `home`."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("QWS_CLIENT")}
        full_env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})
        full_env.update(env or {})
        completed = subprocess.run(
            [str(self.binary), *map(str, args)],
            cwd=str(cwd or home),
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(list(map(str, args)), completed)

    def logged_in_home(self) -> pathlib.Path:
        """A fresh CLI user already logged in with this server's bootstrap.json."""
        home = self.new_config_home()
        result = self.cli("login", "--data-dir", self.data_dir, home=home)
        assert result.returncode == 0, result
        return home

    # ---- plain HTTP helpers ---------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def request(self, method, path_or_url, token=None, body=None, headers=None):
        """One HTTPS request to the server; returns (status, headers, parsed-JSON-or-bytes)."""
        url = path_or_url if "://" in path_or_url else self.https_url + path_or_url
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
                status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, dict(e.headers), e.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw
        return status, hdrs, payload

    def token(self, scope="https://management.azure.com/.default", secret=None):
        """A bearer token from the server's token endpoint (client credentials)."""
        status, _, doc = self.request("GET", f"/{self.tenant_id}/v2.0/.well-known/openid-configuration")
        assert status == 200, doc
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": secret or self.client_secret,
                "scope": scope,
            }
        ).encode()
        req = urllib.request.Request(doc["token_endpoint"], data=form, method="POST")
        with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
            return json.loads(resp.read())["access_token"]

    def workspace_path(self, group, name, suffix=""):
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"
            f"/providers/Microsoft.Quantum/workspaces/{name}{suffix}"
        )


def _read_bootstrap(path: pathlib.Path):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for key in ("httpUrl", "httpsUrl"):
        url = data.get(key) or ""
        if not url or url.rstrip("/").endswith(":0"):
            return None
    return data


def _answers(url: str, ca_file: str) -> bool:
    ctx = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
    try:
        urllib.request.urlopen(url, timeout=2, context=ctx).close()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the listener is up
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(log: pathlib.Path) -> str:
    try:
        return log.read_text(errors="replace")[-4000:]
    except OSError:
        return "<no log>"


# Where the shared server keeps job data: `local` (its own blob files, the default) or `azure`
# (an Azurite the session starts; `QWS_TEST_BLOB_BACKEND=azure`), so the same suites run
# against both backends.
BLOB_BACKEND = os.environ.get("QWS_TEST_BLOB_BACKEND", "local")
if BLOB_BACKEND not in ("local", "azure"):
    raise RuntimeError(f"QWS_TEST_BLOB_BACKEND must be local or azure, not {BLOB_BACKEND!r}")


@pytest.fixture(scope="session")
def azurite():
    """The Azurite the shared server stores job data in (`None` with the local backend)."""
    if BLOB_BACKEND != "azure":
        yield None
        return
    from azurite import Azurite

    emulator = Azurite.start()
    try:
        yield emulator
    finally:
        emulator.stop()


# Where the servers the suites start keep their metadata and jobs: `sqlite` (the database file
# in each data directory, the default) or `postgres` (`QWS_TEST_DATABASE=postgres`: the session
# starts one throwaway PostgreSQL, see tests/postgres.py, and every server gets a fresh database
# of it), so the same suites run against both.
DATABASE = os.environ.get("QWS_TEST_DATABASE", "sqlite")
if DATABASE not in ("sqlite", "postgres"):
    raise RuntimeError(f"QWS_TEST_DATABASE must be sqlite or postgres, not {DATABASE!r}")


class Databases:
    """Gives each server a suite starts its database."""

    def __init__(self, postgres):
        self.postgres = postgres

    def serve_args(self) -> list:
        """`qws serve` arguments for one more server: none on SQLite (its data directory holds
        the database), `--database` with a new, empty database on PostgreSQL."""
        if self.postgres is None:
            return []
        return ["--database", self.postgres.create_database()]


@pytest.fixture(scope="session")
def databases():
    """The session's database engine (a PostgreSQL it started and stops with
    QWS_TEST_DATABASE=postgres)."""
    if DATABASE != "postgres":
        yield Databases(None)
        return
    from postgres import Postgres

    server = Postgres.start()
    try:
        yield Databases(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def qws(azurite, databases):
    binary = find_qws_bin()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-compat-"))
    data_dir = tmp / "data"
    log = tmp / "server.log"
    with open(log, "wb") as log_file:
        proc = spawn_server(
            [
                binary,
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                "127.0.0.1:0",
                "--tls-listen",
                "127.0.0.1:0",
                # Every suite shares this server and several test failure paths on purpose; the
                # per-address auth-failure limit (tested by the server's own tests) must not make
                # the outcome depend on test order.
                "--auth-failure-limit",
                "100000",
                "--workers",
                SERVER_WORKERS,
                *(["--blob-backend", "azure"] if azurite else []),
                *databases.serve_args(),
            ],
            log_file,
            # The connection string holds the account key: the environment, not the command line.
            env={"QWS_BLOB_CONNECTION_STRING": azurite.connection_string} if azurite else None,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        bootstrap = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"qws serve exited with {proc.returncode}:\n{_log_tail(log)}")
            bootstrap = _read_bootstrap(data_dir / "bootstrap.json")
            if bootstrap:
                server = QwsServer(binary, data_dir, proc, bootstrap, tmp)
                probe = f"/{server.tenant_id}/v2.0/.well-known/openid-configuration"
                if _answers(server.http_url + probe, server.ca_file) and _answers(
                    server.https_url + probe, server.ca_file
                ):
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"qws serve did not become ready in {STARTUP_TIMEOUT_S}s:\n{_log_tail(log)}")
        # The matrix is real: on PostgreSQL the data directory holds no SQLite database.
        assert (data_dir / "qws.db").exists() == (databases.postgres is None), DATABASE

        saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "QDK_PYTHON_TELEMETRY")}
        # The unmodified Azure clients trust the qws CA through requests' standard variable.
        os.environ["REQUESTS_CA_BUNDLE"] = server.ca_file
        os.environ["QDK_PYTHON_TELEMETRY"] = "none"
        try:
            yield server
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def primary_key_of(qws, mgmt_client, name=None):
    """The primary access key of workspace `name` (default: the bootstrap one), read through ARM."""
    return mgmt_client.workspace.list_keys(qws.resource_group, name or qws.workspace_name).primary_key.key


def key_workspace(qws, key, name=None, workspace_class=None):
    """A data-plane `Workspace` client for workspace `name` (default: the bootstrap one),
    authenticated with access key `key` over plain HTTP. `workspace_class` is azure-quantum's
    `Workspace` unless another client's (qdk.azure's) is given."""
    from azure.core.credentials import AzureKeyCredential

    if workspace_class is None:
        from azure.quantum import Workspace as workspace_class
    return workspace_class(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=name or qws.workspace_name,
        location=qws.location,
        credential=AzureKeyCredential(key),
        _quantum_endpoint=qws.http_url + "/",
    )


@pytest.fixture
def unique_name():
    """`unique_name("ws")` gives a fresh resource name, so tests never collide."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


# ---- management-plane clients (unmodified azure-identity + azure-mgmt-quantum) ----------------


@pytest.fixture(scope="session")
def mgmt_credential(qws):
    """`ClientSecretCredential` pointed at the qws token service (no instance discovery)."""
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        qws.tenant_id,
        qws.client_id,
        qws.client_secret,
        authority=qws.https_url,
        disable_instance_discovery=True,
    )


@pytest.fixture(scope="session")
def mgmt_client(qws, mgmt_credential):
    """`AzureQuantumMgmtClient` talking ARM to qws over HTTPS (trust via REQUESTS_CA_BUNDLE)."""
    from azure.mgmt.quantum import AzureQuantumMgmtClient

    return AzureQuantumMgmtClient(mgmt_credential, qws.subscription_id, base_url=qws.https_url)


@pytest.fixture
def new_workspace(qws, mgmt_client, unique_name):
    """Creates a fresh workspace (keys enabled) in the bootstrap resource group; deletes it after."""
    from azure.mgmt.quantum.models import (
        QuantumWorkspace,
        QuantumWorkspaceIdentity,
        WorkspaceResourceProperties,
    )

    name = unique_name("ws")
    body = QuantumWorkspace(
        location=qws.location,
        identity=QuantumWorkspaceIdentity(type="SystemAssigned"),
        properties=WorkspaceResourceProperties(api_key_enabled=True),
    )
    workspace = mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
    yield workspace
    try:
        mgmt_client.workspaces.begin_delete(qws.resource_group, name).result()
    except Exception:  # best-effort cleanup; the test itself may have deleted it
        pass
