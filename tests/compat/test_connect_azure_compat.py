"""Every documented way to connect the unmodified azure-quantum client, through `qws serve
--azure-compat`: the server also runs an HTTPS proxy (bootstrap.json `proxyUrl`) that accepts
CONNECT only for <region>.quantum.azure.com, <region>-v2.quantum.azure.com and
management.azure.com, and terminates TLS with a certificate from the server's own CA.

With HTTPS_PROXY=proxyUrl, REQUESTS_CA_BUNDLE=ca.pem and NO_PROXY=127.0.0.1,127.1,localhost
(blob URLs and the token service are reached directly):

* Workspace.from_connection_string(cs) with the canonical QuantumEndpoint
* Workspace() with AZURE_QUANTUM_CONNECTION_STRING
* from qdk.azure import Workspace
* Workspace(resource_id=…), Workspace(subscription_id=…, resource_group=…, name=…) and
  Workspace(name=…) with azure-identity credentials from the ADFS-style environment or the
  managed-identity endpoint

This module starts its own server (own temp dir); the shared fixture's server is not in compat mode.
"""

import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import assert_bell_histogram, find_qws_bin, spawn_server, stop_server

STARTUP_TIMEOUT_S = 60
BELL_IONQ = {
    "qubits": 2,
    "circuit": [{"gate": "h", "targets": [0]}, {"gate": "cnot", "control": 0, "target": 1}],
}
PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
             "REQUESTS_CA_BUNDLE", "AZURE_QUANTUM_CONNECTION_STRING", "QDK_PYTHON_TELEMETRY")


class CompatServer:
    def __init__(self, data_dir: pathlib.Path, bootstrap: dict):
        self.data_dir = data_dir
        self.b = bootstrap
        self.ca_file = bootstrap["caFile"]
        self.proxy_url = bootstrap["proxyUrl"]
        self.cs = bootstrap["primaryConnectionString"]
        self.resource_id = (
            f"/subscriptions/{bootstrap['subscriptionId']}/resourceGroups/{bootstrap['resourceGroup']}"
            f"/providers/Microsoft.Quantum/Workspaces/{bootstrap['workspaceName']}"
        )


@pytest.fixture(scope="module")
def compat(databases):
    binary = find_qws_bin()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-azure-compat-"))
    data_dir = tmp / "data"
    log = tmp / "server.log"
    with open(log, "wb") as log_file:
        proc = spawn_server(
            [binary, "serve", "--azure-compat", "--data-dir", data_dir,
             "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0",
             *databases.serve_args()],
            log_file,
        )
    saved = {k: os.environ.get(k) for k in PROXY_ENV}
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        server = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"qws serve --azure-compat exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                b = json.loads((data_dir / "bootstrap.json").read_text())
            except (OSError, ValueError):
                b = None
            if b and b.get("proxyUrl") and not b["proxyUrl"].endswith(":0"):
                host, port = urllib.parse.urlsplit(b["proxyUrl"]).netloc.split(":")
                try:
                    socket.create_connection((host, int(port)), timeout=2).close()
                    server = CompatServer(data_dir, b)
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        assert server, f"no proxyUrl in time: {log.read_text(errors='replace')[-3000:]}"
        for k in PROXY_ENV:
            os.environ.pop(k, None)
        os.environ["HTTPS_PROXY"] = server.proxy_url
        os.environ["NO_PROXY"] = "127.0.0.1,127.1,localhost"
        os.environ["REQUESTS_CA_BUNDLE"] = server.ca_file
        os.environ["QDK_PYTHON_TELEMETRY"] = "none"
        yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def run_bell(workspace):
    """Lists targets and runs a Bell circuit on ionq.simulator; returns the results."""
    names = [t.name for t in workspace.get_targets()]
    assert "ionq.simulator" in names, names
    target = workspace.get_targets(name="ionq.simulator")
    job = target.submit(BELL_IONQ, name="compat-bell", shots=100)
    job.wait_until_completed(timeout_secs=120)
    assert job.details.status == "Succeeded", job.details.error_data
    results = job.get_results()
    assert_bell_histogram(results["histogram"], 100)
    return results


def test_bootstrap_and_connection_string_use_the_canonical_endpoint(compat):
    assert compat.b["location"] == "eastus"
    assert compat.cs.endswith("QuantumEndpoint=https://eastus.quantum.azure.com/;"), compat.cs
    assert compat.proxy_url.startswith("http://127.0.0.1:")


def test_from_connection_string(compat):
    from azure.quantum import Workspace

    ws = Workspace.from_connection_string(compat.cs)
    assert ws.location == "eastus"
    run_bell(ws)


def test_workspace_from_environment_variable(compat, monkeypatch):
    from azure.quantum import Workspace

    monkeypatch.setenv("AZURE_QUANTUM_CONNECTION_STRING", compat.cs)
    run_bell(Workspace())


def test_qdk_azure_workspace(compat):
    from qdk.azure import Workspace

    run_bell(Workspace.from_connection_string(compat.cs))


@pytest.fixture
def adfs_env(compat, monkeypatch):
    """azure-identity's EnvironmentCredential aimed at the qws token service (ADFS authority)."""
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", compat.b["authority"])
    monkeypatch.setenv("AZURE_TENANT_ID", "adfs")
    monkeypatch.setenv("AZURE_CLIENT_ID", compat.b["clientId"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", compat.b["clientSecret"])


def test_resource_id_with_adfs_environment_credential(compat, adfs_env):
    from azure.identity import EnvironmentCredential
    from azure.quantum import Workspace

    ws = Workspace(resource_id=compat.resource_id, credential=EnvironmentCredential())
    assert ws.location == "eastus"
    run_bell(ws)


def test_subscription_group_name_with_managed_identity(compat, monkeypatch):
    from azure.identity import ManagedIdentityCredential
    from azure.quantum import Workspace

    monkeypatch.setenv("IDENTITY_ENDPOINT", compat.b["identityEndpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", compat.b["identityHeader"])
    ws = Workspace(
        subscription_id=compat.b["subscriptionId"],
        resource_group=compat.b["resourceGroup"],
        name=compat.b["workspaceName"],
        credential=ManagedIdentityCredential(),
    )
    run_bell(ws)


def test_the_python_snippet_the_vscode_extension_generates(compat, adfs_env):
    """The QDK extension's "Copy Python code to connect" text, unmodified: qdk.azure's Workspace
    from subscription, group, name and the location it parses from the endpoint, with the
    default credential chain (here EnvironmentCredential from the ADFS-style environment)."""
    from qdk.azure import Workspace

    endpoint = dict(p.split("=", 1) for p in compat.cs.split(";") if p)["QuantumEndpoint"]
    location = urllib.parse.urlsplit(endpoint).hostname.split(".")[0]
    assert location == "eastus"
    workspace = Workspace(
        subscription_id=compat.b["subscriptionId"],
        resource_group=compat.b["resourceGroup"],
        name=compat.b["workspaceName"],
        location=location,
    )
    run_bell(workspace)


def test_name_only_through_resource_graph(compat, adfs_env):
    from azure.identity import DefaultAzureCredential
    from azure.quantum import Workspace

    ws = Workspace(name=compat.b["workspaceName"], credential=DefaultAzureCredential())
    assert ws.subscription_id == compat.b["subscriptionId"]
    assert ws.resource_group == compat.b["resourceGroup"]
    run_bell(ws)


def test_name_only_with_no_match_is_the_clients_error(compat, adfs_env):
    from azure.identity import EnvironmentCredential
    from azure.quantum import Workspace

    with pytest.raises(ValueError, match="No matching workspace"):
        Workspace(name="nosuchworkspace", credential=EnvironmentCredential())


def connect_raw(proxy_url: str, target: str) -> bytes:
    host, port = urllib.parse.urlsplit(proxy_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return s.recv(4096)


def test_proxy_refuses_other_hosts_ports_and_plain_requests(compat):
    for target in ("example.com:443", "login.windows.net:443", "management.azure.com:80",
                   "127.0.0.1:443", "eastus.quantum.azure.com.evil.com:443"):
        answer = connect_raw(compat.proxy_url, target)
        assert answer.startswith(b"HTTP/1.1 403"), (target, answer)
    host, port = urllib.parse.urlsplit(compat.proxy_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 405")


def test_proxy_certificate_is_issued_by_the_local_ca_for_the_azure_names(compat):
    host, port = urllib.parse.urlsplit(compat.proxy_url).netloc.split(":")
    ctx = ssl.create_default_context(cafile=compat.ca_file)
    for name in ("westus2.quantum.azure.com", "westus2-v2.quantum.azure.com", "management.azure.com",
                 "login.microsoftonline.com"):
        raw = socket.create_connection((host, int(port)), timeout=10)
        raw.sendall(f"CONNECT {name}:443 HTTP/1.1\r\nHost: {name}:443\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += raw.recv(1)
        assert head.startswith(b"HTTP/1.1 200"), head
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.getpeercert()["subjectAltName"]
    # A client that does not trust the qws CA cannot be intercepted.
    raw = socket.create_connection((host, int(port)), timeout=10)
    raw.sendall(b"CONNECT management.azure.com:443 HTTP/1.1\r\nHost: management.azure.com:443\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += raw.recv(1)
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="management.azure.com")
    raw.close()


def test_list_keys_gives_the_canonical_endpoint(compat, adfs_env):
    from azure.identity import EnvironmentCredential
    from azure.mgmt.quantum import AzureQuantumMgmtClient

    # Through the proxy, to the default ARM endpoint the SDK uses.
    client = AzureQuantumMgmtClient(EnvironmentCredential(), compat.b["subscriptionId"])
    keys = client.workspace.list_keys(compat.b["resourceGroup"], compat.b["workspaceName"])
    assert keys.primary_connection_string.endswith("QuantumEndpoint=https://eastus.quantum.azure.com/;")


def test_qws_cli_with_the_canonical_connection_string(compat, tmp_path):
    """The Rust side (qws CLI on qws-client) uses the same string and proxy unchanged."""
    program = tmp_path / "bell.json"
    program.write_text(json.dumps(BELL_IONQ))
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"),
               AZURE_QUANTUM_CONNECTION_STRING=compat.cs)
    run = subprocess.run(
        [str(find_qws_bin()), "run", "-t", "ionq.simulator", "--job-input-file", str(program),
         "--shots", "100", "--ca-file", compat.ca_file, "-o", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert_bell_histogram(json.loads(run.stdout)["histogram"], 100)
