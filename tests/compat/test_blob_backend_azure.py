"""Job data in an Azure Storage account (`qws serve --blob-backend azure`), against Azurite.

Runs only with `QWS_TEST_BLOB_BACKEND=azure` (the session then starts Azurite and the shared
server uses it). The unmodified azure-quantum client submits through the real flow: `sasUri`
gives a SAS URL of the account, the client uploads the input there, the scheduler reads it and
writes the output there, and the results are downloaded from there. What the account holds is
checked by listing Azurite directly, and deleting a workspace purges its containers.
"""

import json
import urllib.error
import urllib.request

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.quantum import Workspace

from conftest import BLOB_BACKEND

pytestmark = pytest.mark.skipif(BLOB_BACKEND != "azure", reason="needs QWS_TEST_BLOB_BACKEND=azure")

BELL_IONQ = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}


def key_workspace(qws, mgmt_client, name):
    key = mgmt_client.workspace.list_keys(qws.resource_group, name).primary_key.key
    return Workspace(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=name,
        location=qws.location,
        credential=AzureKeyCredential(key),
        _quantum_endpoint=qws.http_url + "/",
    )


def run_bell(ws, name):
    job = ws.get_targets(name="ionq.simulator").submit(BELL_IONQ, name=name, shots=100)
    job.wait_until_completed(timeout_secs=120)
    assert job.details.status == "Succeeded", job.details.error_data
    return job


def containers(azurite):
    return {c["name"]: c for c in azurite.service_client().list_containers(include_metadata=True)}


def test_job_data_lives_in_the_account_and_results_come_back(qws, azurite, mgmt_client, new_workspace):
    ws = key_workspace(qws, mgmt_client, new_workspace.name)
    job = run_bell(ws, "azure-backend")
    # The client was sent to the account, not to qws.
    assert job.details.container_uri.startswith(azurite.blob_endpoint + f"/job-{job.id}?"), job.details.container_uri
    assert "sig=" in job.details.container_uri
    histogram = job.get_results()["histogram"]
    assert set(histogram) == {"0", "3"}, histogram

    container = containers(azurite)[f"job-{job.id}"]
    assert container["metadata"].get("qwsnamespace"), container["metadata"]
    assert container["metadata"].get("qwsdeployment") == qws.tenant_id, container["metadata"]
    blobs = {b.name: b for b in azurite.service_client().get_container_client(container["name"]).list_blobs()}
    assert set(blobs) >= {"inputData", "outputData"}, set(blobs)
    assert blobs["inputData"].content_settings.content_type == "application/json"
    assert blobs["outputData"].content_settings.content_type == "application/json"
    blob = azurite.service_client().get_blob_client(container["name"], "inputData")
    assert json.loads(blob.download_blob().readall()) == BELL_IONQ
    output = json.loads(
        azurite.service_client().get_blob_client(container["name"], "outputData").download_blob().readall()
    )
    assert output, output

    # Nothing of the job went to qws's own blob files.
    blob_dir = qws.data_dir / "blobs"
    assert not list(blob_dir.rglob(f"job-{job.id}")), list(blob_dir.rglob("*"))


def test_deleting_a_workspace_purges_its_containers_only(qws, azurite, mgmt_client, unique_name, new_workspace):
    from azure.mgmt.quantum.models import QuantumWorkspace, QuantumWorkspaceIdentity, WorkspaceResourceProperties

    keep = run_bell(key_workspace(qws, mgmt_client, new_workspace.name), "kept")
    name = unique_name("ws")
    body = QuantumWorkspace(
        location=qws.location,
        identity=QuantumWorkspaceIdentity(type="SystemAssigned"),
        properties=WorkspaceResourceProperties(api_key_enabled=True),
    )
    mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
    gone = run_bell(key_workspace(qws, mgmt_client, name), "purged")
    assert f"job-{gone.id}" in containers(azurite)
    # A container of another qws deployment sharing the account, for a namespace this one
    # doesn't know: never this deployment's to purge.
    foreign = unique_name("foreign")
    azurite.service_client().create_container(
        foreign, metadata={"qwsnamespace": "unknown-namespace", "qwsdeployment": "another-deployment"}
    )

    mgmt_client.workspaces.begin_delete(qws.resource_group, name).result()
    left = containers(azurite)
    assert f"job-{gone.id}" not in left, sorted(left)
    assert f"job-{keep.id}" in left, sorted(left)
    assert foreign in left, sorted(left)


def test_qws_blob_endpoint_points_to_the_account(qws, azurite):
    req = urllib.request.Request(f"{qws.http_url}/job-x/inputData?sv=2020-12-06&sig=x", method="GET")
    req.add_header("x-ms-version", "2021-12-02")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    assert e.value.headers.get("x-ms-error-code") == "BlobDataElsewhere"
    assert azurite.blob_endpoint in e.value.read().decode()


def test_storage_proxy_is_refused_rather_than_routing_data_through_qws(qws, azurite, mgmt_client, new_workspace):
    import requests

    key = mgmt_client.workspace.list_keys(qws.resource_group, new_workspace.name).primary_key.key
    ws_path = qws.workspace_path(qws.resource_group, new_workspace.name)
    r = requests.put(
        f"{qws.http_url}{ws_path}/storage/proxy?api-version=2026-01-15-preview",
        headers={
            "x-ms-quantum-api-key": key,
            "x-proxy-to": f"{azurite.blob_endpoint}/job-x/inputData",
            "x-ms-blob-type": "BlockBlob",
        },
        data=b"{}",
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.headers.get("x-ms-error-code") == "ProxyNotAvailable", (r.headers, r.text)
    assert azurite.blob_endpoint in r.text
