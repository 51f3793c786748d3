"""The blob subset through the unmodified azure-storage-blob client, with SAS URIs minted by qws's
`storage/sasUri` (reached through azure-quantum's Workspace, API-key auth over plain HTTP):
uploads (single shot and blocks), ranged and chunked downloads, listing, properties, and the
storage errors the SDK maps to its exception types."""

import hashlib
import os
import urllib.parse
import uuid

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from conftest import key_workspace, primary_key_of
from azure.storage.blob import BlobClient, ContainerClient, ContentSettings


@pytest.fixture(scope="module")
def ws(qws, mgmt_client):
    return key_workspace(qws, primary_key_of(qws, mgmt_client))


@pytest.fixture
def container_url(ws):
    return ws.get_container_uri(container_name=f"blobtest-{uuid.uuid4().hex[:12]}")


def test_sas_uri_shape_is_container_first_on_127_1(qws, container_url):
    parsed = urllib.parse.urlparse(container_url)
    port = urllib.parse.urlparse(qws.http_url).port
    assert parsed.netloc == f"127.1:{port}"
    assert parsed.path.startswith("/blobtest-")
    query = urllib.parse.parse_qs(parsed.query)
    assert {"sv", "se", "sr", "sp", "sig", "si"} <= set(query)
    assert query["sr"] == ["c"]
    assert set("racwl") <= set(query["sp"][0])


def test_upload_download_list_properties(ws, container_url):
    container = ContainerClient.from_container_url(container_url)
    assert container.container_name == urllib.parse.urlparse(container_url).path.strip("/")
    container.get_container_properties()
    payload = b'{"qubits": 2, "circuit": []}'
    container.upload_blob(
        "inputData",
        payload,
        content_settings=ContentSettings(content_type="application/json", content_encoding="identity"),
        metadata={"purpose": "compat"},
    )
    with pytest.raises(ResourceExistsError) as e:
        container.upload_blob("inputData", b"again", overwrite=False)
    assert e.value.error_code == "BlobAlreadyExists"

    blob = container.get_blob_client("inputData")
    assert blob.download_blob().readall() == payload
    props = blob.get_blob_properties()
    assert props.size == len(payload)
    assert props.content_settings.content_type == "application/json"
    assert props.content_settings.content_encoding == "identity"
    assert props.metadata == {"purpose": "compat"}
    assert props.blob_type == "BlockBlob"
    assert props.etag
    assert bytes(props.content_settings.content_md5) == hashlib.md5(payload).digest()

    container.upload_blob("attachments/b.txt", b"b")
    container.upload_blob("attachments/a.txt", b"a")
    assert [b.name for b in container.list_blobs()] == ["attachments/a.txt", "attachments/b.txt", "inputData"]
    assert [b.name for b in container.list_blobs(name_starts_with="attachments/")] == [
        "attachments/a.txt",
        "attachments/b.txt",
    ]
    listed = {b.name: b for b in container.list_blobs(include=["metadata"])}
    assert listed["inputData"].size == len(payload)
    assert listed["inputData"].content_settings.content_type == "application/json"
    assert listed["inputData"].metadata == {"purpose": "compat"}
    # Paging through NextMarker.
    pages = list(container.list_blobs(results_per_page=1).by_page())
    assert len(pages) == 3

    with pytest.raises(ResourceNotFoundError) as e:
        container.get_blob_client("missing").download_blob().readall()
    assert e.value.error_code == "BlobNotFound"

    # The blob SAS sasUri returns for downloads (what Job.get_results uses).
    blob_url = ws._get_linked_storage_sas_uri(container.container_name, "inputData")
    assert urllib.parse.parse_qs(urllib.parse.urlparse(blob_url).query)["sr"] == ["b"]
    assert BlobClient.from_blob_url(blob_url).download_blob().readall() == payload


def test_block_upload_and_chunked_ranged_download(container_url):
    data = os.urandom(5 * 1024 * 1024 + 4321)
    blob = BlobClient.from_blob_url(
        container_url.replace("?", "/big.bin?", 1),
        max_single_put_size=1024 * 1024,
        max_block_size=1024 * 1024,
        max_single_get_size=1024 * 1024,
        max_chunk_get_size=1024 * 1024,
    )
    # validate_content sends a Content-MD5 with every block, which qws checks.
    blob.upload_blob(data, validate_content=True)
    assert blob.get_blob_properties().size == len(data)
    # Several ranged GETs with If-Match, reassembled by the SDK.
    assert blob.download_blob().readall() == data
    assert blob.download_blob(offset=1000, length=3000).readall() == data[1000:4000]
    assert blob.download_blob(max_concurrency=2).readall() == data


def test_empty_blob_round_trip(container_url):
    blob = BlobClient.from_blob_url(container_url.replace("?", "/empty?", 1))
    blob.upload_blob(b"")
    assert blob.download_blob().readall() == b""


def test_bad_tokens_and_permissions_map_to_sdk_errors(ws, container_url):
    parsed = urllib.parse.urlparse(container_url)
    query = urllib.parse.parse_qs(parsed.query)
    sig = query["sig"][0]
    query["sig"] = [("A" if sig[0] != "A" else "B") + sig[1:]]
    tampered = parsed._replace(query=urllib.parse.urlencode({k: v[0] for k, v in query.items()})).geturl()
    container = ContainerClient.from_container_url(tampered)
    with pytest.raises(ClientAuthenticationError) as e:
        container.upload_blob("x", b"x")
    assert e.value.error_code == "AuthenticationFailed"

    # A blob SAS is scoped to its blob: pointing it at another blob is refused.
    ContainerClient.from_container_url(container_url).upload_blob("mine", b"v1")
    blob_url = ws._get_linked_storage_sas_uri(parsed.path.strip("/"), "mine")
    other = blob_url.replace("/mine?", "/other?", 1)
    with pytest.raises(ClientAuthenticationError) as e:
        BlobClient.from_blob_url(other).upload_blob(b"v2")
    assert e.value.error_code == "AuthenticationFailed"
    assert BlobClient.from_blob_url(blob_url).download_blob().readall() == b"v1"
