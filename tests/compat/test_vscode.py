"""The QDK editor extension's workspace flow ("QDK: Connect to an Azure Quantum workspace" ▸
"Connection string"), replayed request by request against a real `qws serve`: in plain mode (the
shared `qws` fixture, plain HTTP) and in `--azure-compat` mode (the `compat` fixture: the canonical
https://<region>.quantum.azure.com/ endpoint reached through the qws HTTPS proxy).

What the extension does, as read from its public source (written here from that description, not
copied):

* Connection string: split on `;`; each part split at its first `=`; keys trimmed and
  lower-cased, values trimmed, empty values dropped. SubscriptionId, ResourceGroupName,
  WorkspaceName and QuantumEndpoint are required, plus ApiKey or TenantId. The workspace id is
  `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Quantum/Workspaces/{w}` (capital W).
* Every data-plane URL is `{QuantumEndpoint}{id}/{op}?api-version=2026-01-15-preview`; the endpoint
  qws prints ends in `/`, so paths start with `//subscriptions/`. Requests carry
  `Content-Type: application/json`, `x-ms-useragent` and, with a key, `x-ms-quantum-api-key`.
* Opening the workspace: `GET providerStatus` (providers → targets; a provider is a tree node), then
  `GET jobs` (no filter, no paging; it reads `inputParams.count`/`shots` of every job, so each job
  must have an `inputParams` object).
* Submitting (Q# compiled to QIR text): a fresh GUID is both the job id and the container name;
  `POST storage/sasUri {"containerName": id}`; the SAS URI is passed through JS `decodeURI`; the
  QIR text is uploaded with `PUT storage/proxy` carrying `x-proxy-to: <account>/<container>/
  inputData?<sas query>`, `x-ms-blob-type: BlockBlob`, `Content-Type: text/plain`, `x-ms-version`,
  `x-ms-date` and the key; then `PUT jobs/{id}` with id, name, providerId, target,
  itemType "Job", containerUri (the decoded container SAS), inputDataUri (blob URL without SAS),
  inputDataFormat "qir.v1", outputDataFormat "microsoft.quantum-results.v2" and inputParams
  {entryPoint "ENTRYPOINT__main", arguments [], shots}.
* Waiting: it re-reads `GET jobs` until nothing is Waiting/Executing/Finishing.
* Results (offered once a job is Succeeded with an outputDataUri): container and blob are the first
  two segments of the outputDataUri's path; `POST storage/sasUri {"containerName", "blobName"}`,
  `decodeURI`, then `GET storage/proxy` with that blob SAS URL in `x-proxy-to`. The histogram comes
  from `Results[0].Histogram` (`Display`, `Count` per entry; the shot count is the sum).
* Cancel (offered for Waiting/Queued/Executing): `POST jobs/{id}:cancel`, no body.
  Delete: `DELETE jobs/{id}`. Both only need a 2xx.
"""

import datetime
import json
import os
import re
import time
import urllib.parse
import uuid

import pytest
import requests

os.environ.setdefault("QDK_PYTHON_TELEMETRY", "none")

from qdk import qsharp  # noqa: E402

from test_connect_azure_compat import compat  # noqa: E402,F401  (module fixture, own server)

API_VERSION = "2026-01-15-preview"
STORAGE_VERSION = "2023-01-03"
USER_AGENT = "qdk-vscode-flow-test"
SHOTS = 100
WAIT_S = 120

BELL = """
operation Bell() : Result[] {
  use qs = Qubit[2];
  H(qs[0]); CNOT(qs[0], qs[1]);
  MResetEachZ(qs)
}
"""

# 22 qubits and a few thousand entangling layers: minutes of simulation, so the job is still
# Waiting or Executing when it is cancelled (the extension only offers cancel then).
SLOW = """
operation Slow() : Result[] {
  use qs = Qubit[22];
  for _ in 1..150 {
    for q in qs { H(q); }
    for i in 0..20 { CNOT(qs[i], qs[i + 1]); }
    for q in qs { T(q); }
  }
  MResetEachZ(qs)
}
"""


def compile_qir(src: str, name: str) -> str:
    """QIR text, as the extension uploads it (Base profile, the one it picks for ionq)."""
    qsharp.init(target_profile=qsharp.TargetProfile.Base)
    qsharp.eval(src)
    return str(qsharp.compile(f"{name}()"))


def parse_connection_string(cs: str):
    """The extension's parsing rules (see the module docstring)."""
    parts = {}
    for part in cs.split(";"):
        if "=" not in part:
            continue
        key, value = part.split("=", 1)
        value = value.strip()
        if value:
            parts[key.strip().lower()] = value
    for required in ("subscriptionid", "resourcegroupname", "workspacename", "quantumendpoint"):
        assert required in parts, f"{required} missing from {list(parts)}"
    assert "apikey" in parts or "tenantid" in parts
    workspace_id = (
        f"/subscriptions/{parts['subscriptionid']}/resourceGroups/{parts['resourcegroupname']}"
        f"/providers/Microsoft.Quantum/Workspaces/{parts['workspacename']}"
    )
    return parts["quantumendpoint"], workspace_id, parts.get("apikey")


# JS decodeURI leaves escapes of these characters alone.
_URI_RESERVED = set(";/?:@&=+$,#")


def decode_uri(s: str) -> str:
    """JS `decodeURI`: decodes runs of %XX as UTF-8, except escapes of reserved characters."""

    def decode_run(m):
        run = m.group(0)
        text = bytes(int(run[k + 1:k + 3], 16) for k in range(0, len(run), 3)).decode("utf-8")
        out, k = [], 0
        for ch in text:
            width = len(ch.encode("utf-8")) * 3
            out.append(run[k:k + width] if ch in _URI_RESERVED else ch)
            k += width
        return "".join(out)

    return re.sub(r"(?:%[0-9A-Fa-f]{2})+", decode_run, s)


class Extension:
    """The extension's requests for one workspace connection."""

    def __init__(self, connection_string: str, session: requests.Session):
        self.endpoint, self.id, self.key = parse_connection_string(connection_string)
        assert self.key, "the printed connection string carries an ApiKey"
        self.http = session

    def url(self, op: str) -> str:
        return f"{self.endpoint}{self.id}/{op}?api-version={API_VERSION}"

    def azure(self, method: str, op: str, body=None, expect_json=True):
        headers = {
            "Content-Type": "application/json",
            "x-ms-useragent": USER_AGENT,
            "x-ms-quantum-api-key": self.key,
        }
        r = self.http.request(method, self.url(op), headers=headers, data=body)
        assert r.ok, f"{method} {op}: {r.status_code} {r.text}"
        return r.json() if expect_json else None

    def storage(self, method: str, target: str, extra=(), body=None) -> requests.Response:
        headers = {
            "x-ms-version": STORAGE_VERSION,
            "x-ms-date": datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "x-ms-useragent": USER_AGENT,
            "x-ms-quantum-api-key": self.key,
            "x-proxy-to": target,
        }
        headers.update(dict(extra))
        r = self.http.request(method, self.url("storage/proxy"), headers=headers, data=body)
        assert r.ok, f"storage {method} {target}: {r.status_code} {r.text}"
        return r

    def sas(self, **body) -> str:
        return decode_uri(self.azure("POST", "storage/sasUri", json.dumps(body))["sasUri"])

    def providers(self):
        status = self.azure("GET", "providerStatus")
        return {p["id"]: [t["id"] for t in p["targets"]] for p in status["value"]}

    def jobs(self):
        listed = self.azure("GET", "jobs")["value"]
        for job in listed:
            assert isinstance(job["inputParams"], dict), job
        return {job["id"]: job for job in listed}

    def submit(self, qir: str, name: str, provider: str, target: str, shots: int) -> str:
        job_id = str(uuid.uuid4())
        container_sas = self.sas(containerName=job_id)
        split = urllib.parse.urlsplit(container_sas)
        account = f"{split.scheme}://{split.netloc}"
        sas_query = container_sas[container_sas.index("?") + 1:]
        self.storage(
            "PUT",
            f"{account}/{job_id}/inputData?{sas_query}",
            [("x-ms-blob-type", "BlockBlob"), ("Content-Type", "text/plain")],
            qir.encode(),
        )
        payload = {
            "id": job_id,
            "name": name,
            "providerId": provider,
            "target": target,
            "itemType": "Job",
            "containerUri": container_sas,
            "inputDataUri": f"{account}/{job_id}/inputData",
            "inputDataFormat": "qir.v1",
            "outputDataFormat": "microsoft.quantum-results.v2",
            "inputParams": {"entryPoint": "ENTRYPOINT__main", "arguments": [], "shots": shots},
        }
        self.azure("PUT", f"jobs/{job_id}", json.dumps(payload))
        return job_id

    def wait(self, job_id: str, done) -> dict:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            job = self.jobs()[job_id]
            if done(job["status"]):
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} stayed {job['status']}")

    def histogram(self, job: dict):
        path = urllib.parse.urlsplit(job["outputDataUri"]).path
        _, container, blob = path.split("/")[:3]
        text = self.storage("GET", self.sas(containerName=container, blobName=blob)).text
        parsed = json.loads(text)
        assert parsed["DataFormat"] == "microsoft.quantum-results.v2", parsed
        buckets = [(e["Display"], e["Count"]) for e in parsed["Results"][0]["Histogram"]]
        return buckets, sum(c for _, c in buckets)


def run_flow(ext: Extension):
    providers = ext.providers()
    assert "ionq.simulator" in providers.get("ionq", []), providers
    assert all(providers.values()), f"a provider without targets would be an empty node: {providers}"
    ext.jobs()

    bell = ext.submit(compile_qir(BELL, "Bell"), "vscode-bell", "ionq", "ionq.simulator", SHOTS)
    job = ext.wait(bell, lambda s: s not in ("Waiting", "Executing", "Finishing"))
    assert job["status"] == "Succeeded", job.get("errorData")
    assert job["outputDataUri"]
    buckets, shots = ext.histogram(job)
    assert shots == SHOTS, buckets
    assert {d for d, _ in buckets} == {"[0, 0]", "[1, 1]"}, buckets

    slow = ext.submit(compile_qir(SLOW, "Slow"), "vscode-slow", "ionq", "ionq.simulator", 1)
    job = ext.jobs()[slow]
    assert job["status"] in ("Waiting", "Queued", "Executing"), job
    ext.azure("POST", f"jobs/{slow}:cancel", expect_json=False)
    assert ext.wait(slow, lambda s: s in ("Cancelled", "Failed", "Succeeded"))["status"] == "Cancelled"

    ext.azure("DELETE", f"jobs/{bell}", expect_json=False)
    assert bell not in ext.jobs()
    r = ext.http.get(ext.url(f"jobs/{bell}"), headers={"x-ms-quantum-api-key": ext.key})
    assert r.status_code == 404


def test_connection_string_parses_and_builds_double_slash_urls(qws):
    endpoint, workspace_id, key = parse_connection_string(qws.primary_connection_string)
    assert endpoint.endswith("/") and workspace_id.startswith("/subscriptions/")
    assert f"{endpoint}{workspace_id}".count("//subscriptions/") == 1
    assert key


def test_decode_uri_keeps_reserved_escapes():
    assert decode_uri("a%20b%3Ac%2Fd%2Be%3D%C3%A9") == "a b%3Ac%2Fd%2Be%3Dé"


def test_plain_mode(qws):
    session = requests.Session()
    session.trust_env = False
    run_flow(Extension(qws.primary_connection_string, session))


def test_azure_compat_mode(compat):  # noqa: F811
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": compat.proxy_url}
    session.verify = compat.ca_file
    ext = Extension(compat.cs, session)
    assert ext.endpoint == "https://eastus.quantum.azure.com/"
    run_flow(ext)


def test_azure_compat_management_challenge_names_entra(compat):  # noqa: F811
    """The extension finds a subscription's tenant from ARM's anonymous 401."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": compat.proxy_url}
    session.verify = compat.ca_file
    r = session.get(f"https://management.azure.com/subscriptions/{compat.b['subscriptionId']}?api-version=2020-01-01")
    assert r.status_code == 401
    assert (
        f'authorization_uri="https://login.microsoftonline.com/{compat.b["tenantId"]}"'
        in r.headers["WWW-Authenticate"]
    ), r.headers["WWW-Authenticate"]


if __name__ == "__main__":
    pytest.main([__file__])
