"""The Azure CLI as it is (azure-cli 2.91.0 with the quantum extension 1.0.0b16) against
`qws serve --azure-compat` on the default cloud (AzureCloud): no custom cloud and no `az config`
tweak that changes where requests go. The only settings are the variables `qws env` prints
(HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE): `az` signs in at login.microsoftonline.com, manages
at management.azure.com and submits jobs at <region>.quantum.azure.com, all served by qws
through its proxy.

`az` comes from the pinned virtualenv `.venv-az` that scripts/test creates; the extension wheel
from `$QWS_SHARED_DIR/wheels` (default: the directory `shared` next to the repository). Each
session has its own AZURE_CONFIG_DIR and AZURE_EXTENSION_DIR; the config only turns telemetry
off, points the extension index nowhere and marks today's extension version check as done (the
extension would otherwise look for updates on the internet).

`az` starts slowly (about a second a command), so one signed-in config dir is shared by the
module (the service-principal sign-in itself is a test of its own), and one workspace serves
every workspace and job test.
"""

import datetime
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests

from conftest import REPO, find_qws_bin, spawn_server, stop_server

STARTUP_TIMEOUT_S = 60
AZ_TIMEOUT_S = 300
AZ = REPO / ".venv-az" / "bin" / "az"
QUANTUM_WHEEL = "quantum-1.0.0b16-py3-none-any.whl"
LOCATION = "eastus"
PROVIDERS = "ionq/pay-as-you-go-cred, quantinuum/credits1"
DATA_PLANE_API = "2026-01-15-preview"

BELL_QASM = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
BELL_IONQ = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}


def shared_wheels_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("QWS_SHARED_DIR") or REPO.parent / "shared") / "wheels"


def slow_ionq(qubits=20, layers=60):
    gates = []
    for layer in range(layers):
        gates += [{"gate": "h" if layer % 2 == 0 else "t", "target": q} for q in range(qubits)]
        gates += [{"gate": "cnot", "control": q, "target": q + 1} for q in range(qubits - 1)]
    return {"qubits": qubits, "circuit": gates}


def parse_env(text: str) -> dict:
    """`export NAME='value'` lines (what `qws env` prints for bash) to a dict."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("export "):
            continue
        name, _, value = line[len("export "):].partition("=")
        assert value.startswith("'") and value.endswith("'"), line
        out[name] = value[1:-1].replace("'\\''", "'")
    return out


class AzResult:
    def __init__(self, args, completed):
        self.args = args
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    def json(self):
        """The JSON document on stdout. The extension prints progress before it (the providers
        a create requested, `job wait`'s dots), so the document starts at the first line that
        opens one."""
        assert self.returncode == 0, self
        lines = self.stdout.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line[:1] in ("{", "["):
                try:
                    return json.loads("".join(lines[i:]))
                except ValueError:
                    continue  # a Python repr, not JSON
        raise AssertionError(f"no JSON document on stdout: {self}")

    def __repr__(self):
        return f"az {' '.join(self.args)} -> rc={self.returncode}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"


class AzSession:
    """A `qws serve --azure-compat` and an `az` whose environment is what `qws env` prints."""

    def __init__(self, binary, tmp, data_dir, log, bootstrap, env):
        self.binary = binary
        self.tmp = tmp
        self.data_dir = data_dir
        self.log = log
        self.b = bootstrap
        self.env = env  # qws env's variables
        self.config_dir = tmp / "azure-config"
        self.extension_dir = tmp / "azure-extensions"

    def az_env(self, config_dir=None) -> dict:
        env = {k: v for k, v in os.environ.items()
               if k.upper() not in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY",
                                    "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "AZURE_CONFIG_DIR",
                                    "AZURE_EXTENSION_DIR") and not k.startswith("AZURE_")}
        env.update(self.env)
        env.update({
            "AZURE_CONFIG_DIR": str(config_dir or self.config_dir),
            "AZURE_EXTENSION_DIR": str(self.extension_dir),
            "HOME": str(self.tmp / "home"),
            # The extension caches job output under the temp dir by job id.
            "TMPDIR": str(self.tmp / "az-tmp"),
        })
        return env

    def az(self, *args, config_dir=None, cwd=None) -> AzResult:
        args = [str(a) for a in args]
        completed = subprocess.run(
            [str(AZ), *args], env=self.az_env(config_dir), cwd=str(cwd or self.tmp),
            capture_output=True, text=True, timeout=AZ_TIMEOUT_S,
        )
        return AzResult(args, completed)

    def ok(self, *args, **kw) -> AzResult:
        r = self.az(*args, **kw)
        assert r.returncode == 0, r
        return r

    def json(self, *args, **kw):
        return self.ok(*args, "-o", "json", **kw).json()

    def qws(self, *args, home) -> subprocess.CompletedProcess:
        env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
        return subprocess.run([str(self.binary), *map(str, args)], env=env, capture_output=True,
                              text=True, timeout=120)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def data_plane(self, workspace_id: str, key: str) -> int:
        """Status of a data-plane call with an access key, through the proxy as Azure clients
        make it."""
        url = f"https://{LOCATION}.quantum.azure.com{workspace_id}/providerStatus?api-version={DATA_PLANE_API}"
        r = requests.get(url, headers={"x-ms-quantum-api-key": key},
                         proxies={"https": self.env["HTTPS_PROXY"]}, verify=self.env["REQUESTS_CA_BUNDLE"],
                         timeout=60)
        return r.status_code


def new_config_dir(session: AzSession, name: str) -> pathlib.Path:
    """An AZURE_CONFIG_DIR with telemetry off, no extension index and today's version check."""
    d = session.tmp / name
    d.mkdir()
    today = str(datetime.datetime.today()).split(" ", maxsplit=1)[0]
    (d / "config").write_text(
        "[core]\ncollect_telemetry = false\n"
        "[extension]\nindex_url = http://127.0.0.1:9/index.json\n"
        f"[quantum]\nversion_check_date = {today}\n"
    )
    return d


@pytest.fixture(scope="module")
def azs(databases):
    if not AZ.is_file():
        raise RuntimeError(f"{AZ} is missing: scripts/test creates it (pinned azure-cli in .venv-az)")
    wheel = shared_wheels_dir() / QUANTUM_WHEEL
    if not wheel.is_file():
        raise RuntimeError(f"{wheel} is missing: set QWS_SHARED_DIR to the directory holding wheels/{QUANTUM_WHEEL}")
    binary = find_qws_bin()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-az-"))
    (tmp / "home").mkdir()
    (tmp / "az-tmp").mkdir()
    data_dir = tmp / "data"
    log = tmp / "server.log"
    saved_log = os.environ.get("QWS_LOG")
    # Request lines are logged at debug level; the log tests read them.
    os.environ["QWS_LOG"] = "info,qws_server::http=debug"
    try:
        with open(log, "wb") as log_file:
            proc = spawn_server(
                [binary, "serve", "--azure-compat", "--data-dir", data_dir,
                 "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0",
                 # Two workers: a workspace runs one job at a time, so a second one waits.
                 "--workers", "2", "--auth-failure-limit", "100000", *databases.serve_args()],
                log_file,
            )
    finally:
        if saved_log is None:
            os.environ.pop("QWS_LOG", None)
        else:
            os.environ["QWS_LOG"] = saved_log
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"qws serve exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                b = json.loads((data_dir / "bootstrap.json").read_text())
            except (OSError, ValueError):
                b = None
            if b and b.get("proxyUrl") and not b["proxyUrl"].endswith(":0"):
                host, port = urllib.parse.urlsplit(b["proxyUrl"]).netloc.split(":")
                try:
                    socket.create_connection((host, int(port)), timeout=2).close()
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"qws serve did not start: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        printed = subprocess.run([str(binary), "env", "--data-dir", str(data_dir)],
                                 capture_output=True, text=True, timeout=60)
        assert printed.returncode == 0, printed.stderr
        env = parse_env(printed.stdout)
        session = AzSession(binary, tmp, data_dir, log, b, env)
        new_config_dir(session, "azure-config")
        session.ok("extension", "add", "--source", wheel, "-y")
        yield session
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def signed_in(azs):
    """The module's config dir signed in with the bootstrap service principal."""
    b = azs.b
    accounts = azs.json("login", "--service-principal", "-u", b["clientId"], "-p", b["clientSecret"],
                        "--tenant", b["tenantId"])
    return accounts


@pytest.fixture(scope="module")
def workspace(azs, signed_in):
    """A group and a workspace created with `az`, set as the default workspace."""
    suffix = os.urandom(4).hex()
    group, name, storage = f"az-rg-{suffix}", f"az-ws-{suffix}", f"azst{suffix}"
    azs.ok("group", "create", "-n", group, "-l", LOCATION, "-o", "none")
    created = azs.json("quantum", "workspace", "create", "-g", group, "-w", name, "-l", LOCATION,
                       "-a", storage, "-r", PROVIDERS, "--skip-role-assignment")
    azs.ok("quantum", "workspace", "set", "-g", group, "-w", name, "-o", "none")
    return {"group": group, "name": name, "storage": storage, "created": created}


# ---- sign-in ------------------------------------------------------------------------------------


def test_qws_env_prints_the_proxy_and_the_ca(azs):
    assert azs.env["HTTPS_PROXY"] == azs.b["proxyUrl"]
    assert azs.env["NO_PROXY"] == "127.0.0.1,127.1,localhost"
    assert pathlib.Path(azs.env["REQUESTS_CA_BUNDLE"]).samefile(azs.data_dir / "ca.pem")
    assert azs.env["SSL_CERT_FILE"] == azs.env["REQUESTS_CA_BUNDLE"]
    printed = subprocess.run([str(azs.binary), "env", "--data-dir", str(azs.data_dir), "--connection-string",
                              "--shell", "powershell"], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert f"$env:AZURE_QUANTUM_CONNECTION_STRING = '{azs.b['primaryConnectionString']}'" in printed.stdout


def test_service_principal_login_on_the_default_cloud(azs, signed_in):
    b = azs.b
    assert [a["id"] for a in signed_in] == [b["subscriptionId"]]
    assert signed_in[0]["cloudName"] == "AzureCloud"
    assert signed_in[0]["user"] == {"name": b["clientId"], "type": "servicePrincipal"}
    account = azs.json("account", "show")
    assert account["environmentName"] == "AzureCloud"
    assert account["tenantId"] == b["tenantId"] and account["id"] == b["subscriptionId"]
    assert azs.json("cloud", "show")["name"] == "AzureCloud"
    # The sign-in went to login.microsoftonline.com through the proxy, logged like any request.
    log = azs.log_text()
    def logged(host, path):
        return re.search(rf"INFO .* request .*host={re.escape(host)} path={re.escape(path)} .*status=200 ", log)

    assert logged("login.microsoftonline.com", f"/{b['tenantId']}/oauth2/v2.0/token"), log[-3000:]
    assert logged("management.azure.com", "/subscriptions"), log[-3000:]


def test_a_wrong_secret_is_refused(azs):
    b = azs.b
    r = azs.az("login", "--service-principal", "-u", b["clientId"], "-p", "not-the-secret",
               "--tenant", b["tenantId"], config_dir=new_config_dir(azs, "azure-config-wrong"))
    assert r.returncode != 0, r
    assert "7000215" in r.stderr or "invalid_client" in r.stderr, r


@pytest.fixture(scope="module")
def az_user(azs):
    """A directory user (`qws ad user create`) with Reader on the subscription."""
    home = azs.tmp / "qws-admin"
    home.mkdir()
    assert azs.qws("login", "--data-dir", azs.data_dir, home=home).returncode == 0
    upn, password = f"az-user-{os.urandom(3).hex()}@qws.local", "Az-Passw0rd-" + os.urandom(6).hex()
    created = azs.qws("ad", "user", "create", "--display-name", "Az User", "--user-principal-name", upn,
                      "--password", password, "-o", "json", home=home)
    assert created.returncode == 0, created.stderr
    oid = json.loads(created.stdout)["id"]
    granted = azs.qws("role", "assignment", "create", "--assignee-object-id", oid,
                      "--assignee-principal-type", "User", "--role", "Reader", home=home)
    assert granted.returncode == 0, granted.stderr
    return upn, password


def assert_signed_in_as(azs, config, accounts, upn):
    assert [a["id"] for a in accounts] == [azs.b["subscriptionId"]]
    assert accounts[0]["user"] == {"name": upn, "type": "user"}
    account = azs.json("account", "show", config_dir=config)
    assert account["environmentName"] == "AzureCloud" and account["user"]["name"] == upn
    groups = azs.json("group", "list", config_dir=config)
    assert azs.b["resourceGroup"] in [g["name"] for g in groups]


def test_user_password_login(azs, az_user):
    upn, password = az_user
    config = new_config_dir(azs, "azure-config-user")
    accounts = azs.json("login", "-u", upn, "-p", password, config_dir=config)
    assert_signed_in_as(azs, config, accounts, upn)

    wrong = azs.az("login", "-u", upn, "-p", "wrong-" + password, config_dir=new_config_dir(azs, "azure-config-bad"))
    assert wrong.returncode != 0, wrong
    assert "50126" in wrong.stderr or "invalid_grant" in wrong.stderr, wrong


def test_device_code_login(azs, az_user):
    upn, password = az_user
    config = new_config_dir(azs, "azure-config-device")
    proc = subprocess.Popen([str(AZ), "login", "--use-device-code", "-o", "json"], env=azs.az_env(config),
                            cwd=str(azs.tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # az prints the page and the code, then polls the token endpoint until the user approves.
        prompt = proc.stderr.readline()
        match = re.search(r"open the page (\S+) and enter the code (\S+) ", prompt)
        assert match, prompt
        page, code = match.groups()
        # The page is qws's own HTTPS listener (a browser reaches it directly, not through the proxy).
        assert page == azs.b["httpsUrl"].rstrip("/") + "/devicelogin", prompt
        browser = requests.Session()
        browser.trust_env = False
        browser.verify = azs.env["REQUESTS_CA_BUNDLE"]
        form = browser.get(page, timeout=30).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        approved = browser.post(page, timeout=30, data={
            "csrf": csrf, "user_code": code, "username": upn, "password": password, "action": "approve"})
        assert approved.status_code == 200 and "signed in" in approved.text, approved.text[:500]
        out, err = proc.communicate(timeout=AZ_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    accounts = AzResult(["login", "--use-device-code"], subprocess.CompletedProcess([], 0, out, err)).json()
    assert_signed_in_as(azs, config, accounts, upn)


# ---- groups and resources ---------------------------------------------------------------------------


def test_group_create_and_list(azs, signed_in):
    name = f"az-group-{os.urandom(3).hex()}"
    created = azs.json("group", "create", "-n", name, "-l", LOCATION)
    assert created["name"] == name and created["properties"]["provisioningState"] == "Succeeded"
    listed = azs.json("group", "list")
    assert {name, azs.b["resourceGroup"]} <= {g["name"] for g in listed}


def test_resource_list_by_group(azs, workspace):
    listed = azs.json("resource", "list", "-g", workspace["group"])
    assert workspace["name"] in [r["name"] for r in listed]


# ---- workspaces and keys -------------------------------------------------------------------------


def test_workspace_create_set_show(azs, workspace):
    created = workspace["created"]
    assert created["name"] == workspace["name"]
    assert created["properties"]["provisioningState"] == "Succeeded"
    assert created["properties"]["storageAccount"].endswith(f"/storageAccounts/{workspace['storage']}")
    shown = azs.json("quantum", "workspace", "show")
    assert shown["name"] == workspace["name"] and shown["resourceGroup"] == workspace["group"]
    assert {p["providerId"] for p in shown["properties"]["providers"]} >= {"ionq", "quantinuum"}


def test_workspace_list(azs, workspace):
    listed = azs.json("quantum", "workspace", "list", "-g", workspace["group"])
    assert workspace["name"] in [w["name"] for w in listed]


def test_workspace_create_with_role_assignment(azs, signed_in):
    """Without --skip-role-assignment the extension deploys its template: the workspace with a
    system-assigned identity, then a nested deployment with the storage account and two role
    assignments for that identity. The workspace is usable at once."""
    suffix = os.urandom(4).hex()
    group, name, storage = f"az-rg-ra-{suffix}", f"az-ws-ra-{suffix}", f"azstra{suffix}"
    azs.ok("group", "create", "-n", group, "-l", LOCATION, "-o", "none")
    deployment = azs.json("quantum", "workspace", "create", "-g", group, "-w", name, "-l", LOCATION,
                          "-a", storage, "-r", "ionq/pay-as-you-go-cred")
    # This path prints the finished deployment, not the workspace.
    assert deployment["name"] == f"Microsoft.AzureQuantum-{name}"
    assert deployment["properties"]["provisioningState"] == "Succeeded"
    created = azs.json("quantum", "workspace", "show", "-g", group, "-w", name)
    assert created["properties"]["provisioningState"] == "Succeeded"
    principal = created["identity"]["principalId"]
    assert created["identity"]["type"] == "SystemAssigned" and principal
    account = azs.json("storage", "account", "show", "-g", group, "-n", storage)
    assert account["provisioningState"] == "Succeeded"
    assert account["id"] == created["properties"]["storageAccount"]
    granted = azs.json("role", "assignment", "list", "--scope", account["id"],
                       "--fill-principal-name", "false")
    roles = {a["roleDefinitionId"].rsplit("/", 1)[-1] for a in granted if a["principalId"] == principal}
    assert roles == {"17d1049b-9a84-46fb-8f53-869881c3d3ab", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"}
    keys = azs.json("quantum", "workspace", "keys", "list", "-g", group, "-w", name)
    assert azs.data_plane(created["id"], keys["primaryKey"]["key"]) == 200


def test_keys_list_regenerate_and_disable(azs, workspace):
    keys = azs.json("quantum", "workspace", "keys", "list")
    assert keys["apiKeyEnabled"] is True
    old = keys["primaryKey"]["key"]
    assert f"WorkspaceName={workspace['name']};ApiKey={old};" in keys["primaryConnectionString"]
    assert keys["primaryConnectionString"].endswith(f"QuantumEndpoint=https://{LOCATION}.quantum.azure.com/;")
    ws_id = workspace["created"]["id"]
    assert azs.data_plane(ws_id, old) == 200

    azs.ok("quantum", "workspace", "keys", "regenerate", "--key-type", "Primary", "-o", "none")
    new = azs.json("quantum", "workspace", "keys", "list")["primaryKey"]["key"]
    assert new != old
    # The old key is refused at once; the new one works.
    assert azs.data_plane(ws_id, old) == 401
    assert azs.data_plane(ws_id, new) == 200

    updated = azs.json("quantum", "workspace", "update", "--enable-api-key", "False")
    assert updated["properties"]["apiKeyEnabled"] is False
    assert azs.data_plane(ws_id, new) == 401
    updated = azs.json("quantum", "workspace", "update", "--enable-api-key", "True")
    assert updated["properties"]["apiKeyEnabled"] is True
    assert azs.data_plane(ws_id, new) == 200


def test_quotas_targets_and_offerings(azs, workspace):
    quotas = azs.json("quantum", "workspace", "quotas")
    assert {q["providerId"] for q in quotas} >= {"ionq", "quantinuum"}
    assert all(q["dimension"] == "jobs" and q["limit"] > 0 for q in quotas), quotas
    targets = azs.json("quantum", "target", "list")
    ids = {t["id"] for provider in targets for t in provider["targets"]}
    assert {"quantinuum.sim.h2-1e", "ionq.simulator"} <= ids, ids
    offerings = azs.json("quantum", "offerings", "list", "-l", LOCATION)
    assert {"ionq", "quantinuum"} <= {o["id"] for o in offerings}, offerings


# ---- jobs -------------------------------------------------------------------------------------------


def submit(azs, target, path, in_format, out_format, *extra):
    return azs.json("quantum", "job", "submit", "-t", target, "--job-input-file", path,
                    "--job-input-format", in_format, "--job-output-format", out_format, *extra)


def test_openqasm_job_to_quantinuum(azs, workspace):
    path = azs.tmp / "bell.qasm"
    path.write_text(BELL_QASM)
    job = submit(azs, "quantinuum.sim.h2-1e", path, "honeywell.openqasm.v1", "honeywell.quantum-results.v1",
                 "--shots", "40", "--job-name", "az-bell-qasm")
    assert job["target"] == "quantinuum.sim.h2-1e" and job["providerId"] == "quantinuum"
    done = azs.json("quantum", "job", "wait", "-j", job["id"])
    assert done["status"] == "Succeeded", done
    shown = azs.json("quantum", "job", "show", "-j", job["id"])
    assert shown["status"] == "Succeeded" and shown["name"] == "az-bell-qasm"
    output = azs.json("quantum", "job", "output", "-j", job["id"])
    # Quantinuum results: one list of shots per classical register. The H2 emulator is noisy, as
    # the real one is: a Bell pair gives 00 or 11 but for the odd shot.
    shots = output["c"]
    assert len(shots) == 40 and set(shots) <= {"00", "01", "10", "11"}, output
    assert sum(s in ("00", "11") for s in shots) >= 30, output
    listed = azs.json("quantum", "job", "list")
    assert job["id"] in [j["id"] for j in listed]


def test_ionq_json_job(azs, workspace):
    path = azs.tmp / "bell.json"
    path.write_text(json.dumps(BELL_IONQ))
    job = submit(azs, "ionq.simulator", path, "ionq.circuit.v1", "ionq.quantum-results.v1",
                 "--job-params", "shots=100", "content-type=application/json")
    done = azs.json("quantum", "job", "wait", "-j", job["id"])
    assert done["status"] == "Succeeded", done
    output = azs.json("quantum", "job", "output", "-j", job["id"])
    histogram = output["histogram"]
    assert set(histogram) == {"0", "3"}, output
    assert abs(sum(histogram.values()) - 1.0) < 1e-6


def test_run_submits_waits_and_prints_the_output(azs, workspace):
    path = azs.tmp / "bell-run.qasm"
    path.write_text(BELL_QASM)
    output = azs.json("quantum", "run", "-t", "quantinuum.sim.h2-1e", "--job-input-file", path,
                      "--job-input-format", "honeywell.openqasm.v1",
                      "--job-output-format", "honeywell.quantum-results.v1", "--shots", "10")
    # The H2 emulator is noisy: 00 or 11 but for the odd shot.
    assert len(output["c"]) == 10 and sum(s in ("00", "11") for s in output["c"]) >= 7, output


def test_cancel_a_waiting_job(azs, workspace):
    path = azs.tmp / "slow.json"
    path.write_text(json.dumps(slow_ionq()))
    args = ("ionq.simulator", path, "ionq.circuit.v1", "ionq.quantum-results.v1", "--job-params", "shots=1")
    # The server runs one job of a workspace at a time: the second waits behind the first.
    busy = submit(azs, *args)
    victim = submit(azs, *args)
    cancelled = azs.json("quantum", "job", "cancel", "-j", victim["id"])
    assert cancelled["status"] == "Cancelled", cancelled
    assert azs.json("quantum", "job", "show", "-j", victim["id"])["status"] == "Cancelled"
    azs.az("quantum", "job", "cancel", "-j", busy["id"], "-o", "none")  # may have finished


def test_a_failed_job_is_logged_with_its_id_and_code(azs, workspace):
    path = azs.tmp / "broken.qasm"
    path.write_text("OPENQASM 2.0;\nqreg q[1];\nnot_a_gate q[0];\n")
    job = submit(azs, "quantinuum.sim.h2-1e", path, "honeywell.openqasm.v1", "honeywell.quantum-results.v1",
                 "--shots", "1")
    done = azs.json("quantum", "job", "wait", "-j", job["id"])
    assert done["status"] == "Failed", done
    code = done["errorData"]["code"]
    line = next((l for l in azs.log_text().splitlines() if "job failed" in l and job["id"] in l), None)
    assert line is not None, azs.log_text()[-3000:]
    assert " INFO " in line and f"code={code}" in line, line


def test_a_refused_connect_names_the_host(azs):
    host, port = urllib.parse.urlsplit(azs.env["HTTPS_PROXY"]).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"CONNECT not-served.example:443 HTTP/1.1\r\nHost: not-served.example:443\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 403")
    assert "target=not-served.example:443" in azs.log_text()


# ---- role assignments ------------------------------------------------------------------------------


def test_role_assignment_create_list_delete(azs, workspace):
    home = azs.tmp / "qws-roles"
    home.mkdir()
    assert azs.qws("login", "--data-dir", azs.data_dir, home=home).returncode == 0
    sp = azs.qws("ad", "sp", "create-for-rbac", "--name", f"az-sp-{os.urandom(3).hex()}", "-o", "json", home=home)
    assert sp.returncode == 0, sp.stderr
    shown = azs.qws("ad", "sp", "show", "--id", json.loads(sp.stdout)["appId"], "-o", "json", home=home)
    assert shown.returncode == 0, shown.stderr
    oid = json.loads(shown.stdout)["id"]
    scope = workspace["created"]["id"]
    created = azs.json("role", "assignment", "create", "--assignee-object-id", oid,
                       "--assignee-principal-type", "ServicePrincipal", "--role", "Reader", "--scope", scope)
    assert created["principalId"] == oid and created["scope"].lower() == scope.lower()
    assert created["roleDefinitionId"].endswith("acdd72a7-3385-48ef-bd42-f606fba81ae7")
    # `--assignee` and principal names would need Microsoft Graph; list by scope instead.
    def assigned():
        listed = azs.json("role", "assignment", "list", "--scope", scope, "--fill-principal-name", "false")
        return [a["id"] for a in listed if a["principalId"] == oid]

    assert assigned() == [created["id"]]
    azs.ok("role", "assignment", "delete", "--ids", created["id"])
    assert assigned() == []


# ---- deletion (last: the workspace is gone afterwards) ------------------------------------------------


def test_workspace_delete(azs, workspace):
    azs.ok("quantum", "workspace", "delete", "-g", workspace["group"], "-w", workspace["name"], "-o", "none")
    # As on Azure, the workspace stays readable as Deleting until the operation ends, then is gone.
    deadline = time.monotonic() + 60
    while True:
        shown = azs.az("quantum", "workspace", "show", "-g", workspace["group"], "-w", workspace["name"])
        if shown.returncode != 0:
            break
        assert shown.json()["properties"]["provisioningState"] == "Deleting", shown
        assert time.monotonic() < deadline, "the workspace was never deleted"
        time.sleep(1)
    assert "ResourceNotFound" in shown.stderr, shown
