"""Fixtures of the portal's browser tests: one real `qws serve` per session (temp data dir, both
listeners on 127.0.0.1:0), Debian's Chromium driven by Playwright (the system browser; Playwright
never downloads one), axe-core from tests/portal/node_modules (installed by `npm ci`), and a
small ARM client that signs in with the bootstrap service principal to check what the portal did.

Screenshots of every page go to tests/portal/artifacts/ (ignored by git)."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import ssl
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from qws_binary import find_qws_bin  # noqa: E402  (one rule for every suite)

if os.environ.get("QWS_SKIP_PORTAL") == "1":
    pytest.skip("QWS_SKIP_PORTAL=1", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = HERE / "artifacts"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("QWS_CHROMIUM", "/usr/bin/chromium")
STARTUP_TIMEOUT_S = 120
# Flags for a sandboxed, offline machine: no background traffic to anywhere.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

QUANTUM_API = "2025-11-01-preview"
ARM_API = "2022-12-01"




class Server:
    """A running `qws serve` and what its bootstrap.json says."""

    def __init__(self, data_dir: pathlib.Path, bootstrap: dict):
        self.data_dir = data_dir
        self.b = bootstrap
        self.https_url = bootstrap["httpsUrl"].rstrip("/")
        self.http_url = bootstrap["httpUrl"].rstrip("/")
        self.portal_url = bootstrap["portalUrl"]
        self.sub = bootstrap["subscriptionId"]
        self.ca = ssl.create_default_context(cafile=bootstrap["caFile"])
        self._token = None

    def token(self) -> str:
        if self._token is None:
            form = urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": self.b["clientId"],
                    "client_secret": self.b["clientSecret"],
                    "scope": "https://management.azure.com/.default",
                }
            ).encode()
            url = f"{self.https_url}/{self.b['tenantId']}/oauth2/v2.0/token"
            with urllib.request.urlopen(url, data=form, context=self.ca) as r:
                self._token = json.load(r)["access_token"]
        return self._token

    def arm(self, method: str, path: str, body=None, api=QUANTUM_API):
        """One ARM request as the bootstrap service principal; returns (status, JSON or None)."""
        sep = "&" if "?" in path else "?"
        req = urllib.request.Request(
            f"{self.https_url}{path}{sep}api-version={api}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self.ca) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, (json.loads(text) if text else None)

    def ws_id(self, rg: str, name: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{name}"

    def create_workspace(self, name: str, rg: str = "qws") -> dict:
        status, body = self.arm(
            "PUT",
            self.ws_id(rg, name),
            {
                "location": "eastus",
                "identity": {"type": "SystemAssigned"},
                "properties": {"providers": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}]},
            },
        )
        assert status in (200, 201), body
        return body

    def list_keys(self, name: str, rg: str = "qws") -> dict:
        status, body = self.arm("POST", self.ws_id(rg, name) + "/listKeys")
        assert status == 200, body
        return body


def _read_bootstrap(path: pathlib.Path):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if any(not data.get(k) or data[k].rstrip("/").endswith(":0") for k in ("httpUrl", "httpsUrl")):
        return None
    return data


@pytest.fixture(scope="session")
def server():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qws-portal-"))
    data_dir = tmp / "data"
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [str(find_qws_bin()), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0",
         "--tls-listen", "127.0.0.1:0", "--auth-failure-limit", "100000"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        srv = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"qws serve exited: {(tmp / 'server.log').read_text()[-3000:]}")
            b = _read_bootstrap(data_dir / "bootstrap.json")
            if b:
                srv = Server(data_dir, b)
                try:
                    urllib.request.urlopen(srv.https_url + "/portal/signin", context=srv.ca, timeout=2).close()
                    break
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.1)
        else:
            raise RuntimeError("qws serve did not become ready")
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    if not pathlib.Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)")
    # Playwright gives each launch a new, empty profile of its own.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(ignore_https_errors=True, base_url=server.https_url)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.set_default_timeout(30_000)
    return p


def sign_in(page, user: str, password: str):
    page.goto("/portal/")
    page.get_by_role("textbox", name="Username").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def admin(page, server):
    """A page signed in as the bootstrap administrator user."""
    sign_in(page, server.b["adminUser"], server.b["adminPassword"])
    page.get_by_role("heading", name="Home", level=1).wait_for()
    return page


def axe_check(page):
    """Runs axe-core in the page; fails on any serious or critical violation."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(bad)


def screenshot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
