"""Access keys through the unmodified azure-mgmt-quantum client: list, regenerate, disable, enable."""

import json
import re
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.quantum.models import APIKeys, KeyType

KEY = re.compile(r"^[A-Za-z0-9_-]{86}$")


def keys_of(qws, mgmt_client, name):
    return mgmt_client.workspace.list_keys(qws.resource_group, name)


def set_api_key_enabled(qws, mgmt_client, name, enabled):
    ws = mgmt_client.workspaces.get(qws.resource_group, name)
    ws.properties.api_key_enabled = enabled
    return mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, ws).result()


def test_list_keys_gives_keys_and_connection_strings(qws, mgmt_client, new_workspace):
    keys = keys_of(qws, mgmt_client, new_workspace.name)
    assert keys.api_key_enabled is True
    primary, secondary = keys.primary_key.key, keys.secondary_key.key
    assert KEY.match(primary) and KEY.match(secondary)
    assert primary != secondary
    assert keys.primary_key.created_at is not None
    prefix = (
        f"SubscriptionId={qws.subscription_id};ResourceGroupName={qws.resource_group};"
        f"WorkspaceName={new_workspace.name};"
    )
    assert keys.primary_connection_string.startswith(prefix + f"ApiKey={primary};QuantumEndpoint=")
    assert keys.secondary_connection_string.startswith(prefix + f"ApiKey={secondary};QuantumEndpoint=")
    assert keys.primary_connection_string.endswith("/;")


def test_connection_string_points_at_this_server(qws, mgmt_client):
    keys = keys_of(qws, mgmt_client, qws.workspace_name)
    fields = dict(part.split("=", 1) for part in keys.primary_connection_string.rstrip(";").split(";"))
    assert list(fields) == ["SubscriptionId", "ResourceGroupName", "WorkspaceName", "ApiKey", "QuantumEndpoint"]
    assert fields["SubscriptionId"] == qws.subscription_id
    assert fields["ApiKey"] == keys.primary_key.key
    # The data plane of this server, usable with Workspace(..., _quantum_endpoint=...).
    assert fields["QuantumEndpoint"].rstrip("/") in (qws.http_url, qws.https_url)


def test_bootstrap_connection_string_matches_list_keys(qws, mgmt_client):
    keys = keys_of(qws, mgmt_client, qws.workspace_name)
    assert qws.primary_connection_string in (
        keys.primary_connection_string,
        keys.secondary_connection_string,
    )


@pytest.mark.parametrize(
    "which",
    [[KeyType.PRIMARY], [KeyType.SECONDARY], [KeyType.PRIMARY, KeyType.SECONDARY]],
    ids=["primary", "secondary", "both"],
)
def test_regenerate_replaces_only_the_named_keys(qws, mgmt_client, new_workspace, which):
    name = new_workspace.name
    before = keys_of(qws, mgmt_client, name)
    result = mgmt_client.workspace.regenerate_keys(qws.resource_group, name, APIKeys(keys=which))
    assert result is None  # 204 No Content
    after = keys_of(qws, mgmt_client, name)

    primary_changed = after.primary_key.key != before.primary_key.key
    secondary_changed = after.secondary_key.key != before.secondary_key.key
    assert primary_changed == (KeyType.PRIMARY in which)
    assert secondary_changed == (KeyType.SECONDARY in which)
    assert KEY.match(after.primary_key.key) and KEY.match(after.secondary_key.key)
    assert f"ApiKey={after.primary_key.key};" in after.primary_connection_string
    assert f"ApiKey={after.secondary_key.key};" in after.secondary_connection_string


def test_disable_and_enable_api_keys(qws, mgmt_client, new_workspace):
    name = new_workspace.name
    enabled_keys = keys_of(qws, mgmt_client, name)

    disabled = set_api_key_enabled(qws, mgmt_client, name, False)
    assert disabled.properties.api_key_enabled is False
    assert mgmt_client.workspaces.get(qws.resource_group, name).properties.api_key_enabled is False
    hidden = keys_of(qws, mgmt_client, name)
    assert hidden.api_key_enabled is False
    assert hidden.primary_connection_string == ""
    assert hidden.secondary_connection_string == ""
    assert hidden.primary_key is None or hidden.primary_key.key is None
    assert hidden.secondary_key is None or hidden.secondary_key.key is None

    # "Access Keys have to be enabled to regenerate new keys."
    with pytest.raises(HttpResponseError) as err:
        mgmt_client.workspace.regenerate_keys(qws.resource_group, name, APIKeys(keys=[KeyType.PRIMARY]))
    assert err.value.status_code == 400
    assert err.value.error.code == "ApiKeysDisabled", err.value.error
    assert "Access keys are disabled for this workspace" in err.value.error.message

    enabled = set_api_key_enabled(qws, mgmt_client, name, True)
    assert enabled.properties.api_key_enabled is True
    shown = keys_of(qws, mgmt_client, name)
    assert shown.api_key_enabled is True
    assert KEY.match(shown.primary_key.key) and KEY.match(shown.secondary_key.key)
    assert shown.primary_connection_string.startswith("SubscriptionId=")
    # The failed regenerate must not have replaced anything behind the user's back.
    assert shown.primary_key.key == enabled_keys.primary_key.key


def test_list_keys_with_key_usage_fields_still_parses(qws, mgmt_client, new_workspace):
    """qws adds primaryKeyLastUsed/secondaryKeyLastUsed to listKeys; the client ignores them."""
    keys = keys_of(qws, mgmt_client, new_workspace.name)
    url = (
        f"{qws.http_url}/subscriptions/{qws.subscription_id}/resourceGroups/{qws.resource_group}"
        f"/providers/Microsoft.Quantum/workspaces/{new_workspace.name}/jobs"
    )
    r = requests.get(
        url,
        params={"api-version": "2026-01-15-preview"},
        headers={"x-ms-quantum-api-key": keys.primary_key.key},
        timeout=60,
    )
    assert r.status_code == 200, r.text

    def raw_and_parsed(pipeline_response, deserialized, _headers):
        return json.loads(pipeline_response.http_response.text()), deserialized

    deadline = time.monotonic() + 120
    while True:
        raw, parsed = mgmt_client.workspace.list_keys(
            qws.resource_group, new_workspace.name, cls=raw_and_parsed
        )
        if "primaryKeyLastUsed" in raw or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert raw["primaryKeyLastUsed"]["address"] == "127.0.0.1", raw
    assert "secondaryKeyLastUsed" not in raw
    assert parsed.primary_key.key == keys.primary_key.key
    assert parsed.secondary_key.key == keys.secondary_key.key
    assert parsed.primary_connection_string == keys.primary_connection_string
