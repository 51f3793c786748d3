"""Failure paths of the management plane, seen through the unmodified clients."""

import time

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential
from azure.mgmt.quantum import AzureQuantumMgmtClient
from azure.mgmt.quantum.models import (
    APIKeys,
    KeyType,
    Provider,
    QuantumWorkspace,
    QuantumWorkspaceIdentity,
    WorkspaceResourceProperties,
)


class StaticToken:
    """A credential that hands out a fixed (bogus) token."""

    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)


def new_body(qws):
    return QuantumWorkspace(
        location=qws.location,
        identity=QuantumWorkspaceIdentity(type="SystemAssigned"),
        properties=WorkspaceResourceProperties(api_key_enabled=True),
    )


def test_request_without_token_is_401_authentication_failed(qws):
    status, headers, body = qws.request("GET", qws.workspace_path(qws.resource_group, qws.workspace_name) + "?api-version=2023-11-13-preview")
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"
    assert any(k.lower() == "www-authenticate" and v.startswith("Bearer") for k, v in headers.items())


def test_forged_token_is_rejected(qws):
    client = AzureQuantumMgmtClient(StaticToken("not.a.jwt"), qws.subscription_id, base_url=qws.https_url)
    with pytest.raises(ClientAuthenticationError) as err:
        client.workspaces.get(qws.resource_group, qws.workspace_name)
    assert err.value.status_code == 401
    assert err.value.error.code == "InvalidAuthenticationToken"


def test_wrong_client_secret_gets_no_token(qws):
    wrong = ClientSecretCredential(
        qws.tenant_id,
        qws.client_id,
        qws.client_secret + "x",
        authority=qws.https_url,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError) as err:
        wrong.get_token("https://management.azure.com/.default")
    assert qws.client_secret not in str(err.value)
    client = AzureQuantumMgmtClient(wrong, qws.subscription_id, base_url=qws.https_url)
    with pytest.raises(ClientAuthenticationError):
        client.workspaces.get(qws.resource_group, qws.workspace_name)


def test_unknown_client_id_gets_no_token(qws):
    stranger = ClientSecretCredential(
        qws.tenant_id,
        "00000000-0000-0000-0000-00000000dead",
        qws.client_secret,
        authority=qws.https_url,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError):
        stranger.get_token("https://management.azure.com/.default")


@pytest.mark.parametrize(
    "bad_name",
    ["-leading-hyphen", "trailing-hyphen-", "has_underscore", "a", "x" * 55, "dots.in.name"],
)
def test_invalid_workspace_names_are_rejected(qws, mgmt_client, bad_name):
    with pytest.raises(HttpResponseError) as err:
        mgmt_client.workspaces.begin_create_or_update(qws.resource_group, bad_name, new_body(qws)).result()
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidResourceName", err.value.error
    assert f"The workspace name '{bad_name}' is invalid" in err.value.error.message, err.value.error
    names = [w.name for w in mgmt_client.workspaces.list_by_resource_group(qws.resource_group)]
    assert bad_name not in names


def test_missing_location_is_rejected(qws, mgmt_client, unique_name):
    name = unique_name("noloc")
    with pytest.raises(HttpResponseError) as err:
        mgmt_client.workspaces.begin_create_or_update(
            qws.resource_group, name, {"properties": {"apiKeyEnabled": True}}
        ).result()
    assert err.value.status_code == 400
    assert err.value.error.code == "LocationRequired", err.value.error
    assert err.value.error.message == "The location property is required for this definition."
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspaces.get(qws.resource_group, name)


def test_unknown_resource_group(qws, mgmt_client, unique_name):
    group = unique_name("nogroup")
    with pytest.raises(ResourceNotFoundError) as err:
        mgmt_client.workspaces.get(group, qws.workspace_name)
    assert err.value.error.code == "ResourceGroupNotFound"
    assert group in err.value.error.message

    with pytest.raises(ResourceNotFoundError) as err:
        mgmt_client.workspaces.begin_create_or_update(group, unique_name("ws"), new_body(qws)).result()
    assert err.value.error.code == "ResourceGroupNotFound"

    with pytest.raises(ResourceNotFoundError) as err:
        list(mgmt_client.workspaces.list_by_resource_group(group))
    assert err.value.error.code == "ResourceGroupNotFound"


def test_unknown_workspace(qws, mgmt_client, unique_name):
    name = unique_name("missing")
    with pytest.raises(ResourceNotFoundError) as err:
        mgmt_client.workspaces.get(qws.resource_group, name)
    assert err.value.error.code == "ResourceNotFound"
    assert name in err.value.error.message
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspace.list_keys(qws.resource_group, name)
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspace.regenerate_keys(qws.resource_group, name, APIKeys(keys=[KeyType.PRIMARY]))


def test_missing_api_version_is_rejected(qws):
    token = qws.token()
    status, _, body = qws.request("GET", qws.workspace_path(qws.resource_group, qws.workspace_name), token=token)
    assert status == 400
    assert body["error"]["code"] == "MissingApiVersionParameter"


def test_unoffered_provider_or_sku_is_rejected(qws, mgmt_client, unique_name):
    name = unique_name("prov")
    offered = {o.id: o.properties.skus[0].id for o in mgmt_client.offerings.list(qws.location)}
    cases = [
        (Provider(provider_id="no-such-provider", provider_sku="free"), "InvalidProvider", "providerId"),
        (Provider(provider_id="ionq", provider_sku="no-such-sku"), "InvalidSku", "providerSku"),
    ]
    for provider, code, field in cases:
        body = new_body(qws)
        body.properties.providers = [provider]
        with pytest.raises(HttpResponseError) as err:
            mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
        assert err.value.status_code == 400
        assert err.value.error.code == code
        assert err.value.error.target == f"properties.providers[0].{field}"
        # The message lists what is offered: every provider id, or the provider's SKU.
        listed = [offered["ionq"]] if code == "InvalidSku" else list(offered)
        assert all(x in err.value.error.message for x in listed), err.value.error.message
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspaces.get(qws.resource_group, name)

    body = new_body(qws)
    body.properties.providers = [Provider(provider_id=pid.upper(), provider_sku=sku) for pid, sku in offered.items()]
    created = mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
    assert len(created.properties.providers) == len(offered)
    mgmt_client.workspaces.begin_delete(qws.resource_group, name).result()


def test_workspace_name_taken_in_region_is_409(qws, mgmt_client, new_workspace, unique_name):
    group = unique_name("dupgroup")
    status, _, doc = qws.request(
        "PUT",
        f"/subscriptions/{qws.subscription_id}/resourceGroups/{group}?api-version=2021-04-01",
        token=qws.token(),
        body={"location": qws.location},
    )
    assert status in (200, 201), doc
    with pytest.raises(HttpResponseError) as err:
        mgmt_client.workspaces.begin_create_or_update(group, new_workspace.name, new_body(qws)).result()
    assert err.value.status_code == 409
    assert err.value.error.code == "WorkspaceNameNotAvailable"
    assert new_workspace.name in err.value.error.message
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspaces.get(group, new_workspace.name)
    # The owner can still update its workspace (same id: 200, not a conflict).
    updated = mgmt_client.workspaces.begin_create_or_update(
        qws.resource_group, new_workspace.name, new_body(qws)
    ).result()
    assert updated.id == new_workspace.id
