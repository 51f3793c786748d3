"""Workspace lifecycle through the unmodified azure-mgmt-quantum client."""

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.quantum.models import (
    CheckNameAvailabilityParameters,
    QuantumWorkspace,
    QuantumWorkspaceIdentity,
    TagsObject,
    WorkspaceResourceProperties,
)


def test_bootstrap_workspace_exists(qws, mgmt_client):
    ws = mgmt_client.workspaces.get(qws.resource_group, qws.workspace_name)
    assert ws.name == qws.workspace_name
    assert ws.location == qws.location
    assert ws.properties.provisioning_state == "Succeeded"
    assert ws.properties.api_key_enabled is True
    assert ws.properties.endpoint_uri


def test_create_get_list_delete(qws, mgmt_client, unique_name):
    name = unique_name("life")
    body = QuantumWorkspace(
        location=qws.location,
        tags={"purpose": "compat"},
        identity=QuantumWorkspaceIdentity(type="SystemAssigned"),
        properties=WorkspaceResourceProperties(api_key_enabled=True),
    )
    created = mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
    expected_id = (
        f"/subscriptions/{qws.subscription_id}/resourceGroups/{qws.resource_group}"
        f"/providers/Microsoft.Quantum/workspaces/{name}"
    )
    assert created.id.lower() == expected_id.lower()
    assert created.name == name
    assert created.type.lower() == "microsoft.quantum/workspaces"
    assert created.location == qws.location
    assert created.tags == {"purpose": "compat"}
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.api_key_enabled is True
    assert created.properties.endpoint_uri.startswith("http")

    fetched = mgmt_client.workspaces.get(qws.resource_group, name)
    assert fetched.id == created.id
    assert fetched.properties.endpoint_uri == created.properties.endpoint_uri

    in_group = [w.name for w in mgmt_client.workspaces.list_by_resource_group(qws.resource_group)]
    in_sub = [w.name for w in mgmt_client.workspaces.list_by_subscription()]
    assert name in in_group and qws.workspace_name in in_group
    assert name in in_sub

    mgmt_client.workspaces.begin_delete(qws.resource_group, name).result()
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspaces.get(qws.resource_group, name)
    assert name not in [w.name for w in mgmt_client.workspaces.list_by_resource_group(qws.resource_group)]


def test_put_on_existing_workspace_updates_it(qws, mgmt_client, new_workspace):
    name = new_workspace.name
    body = mgmt_client.workspaces.get(qws.resource_group, name)
    body.tags = {"changed": "yes"}
    updated = mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
    assert updated.id == new_workspace.id
    assert updated.tags == {"changed": "yes"}
    assert mgmt_client.workspaces.get(qws.resource_group, name).tags == {"changed": "yes"}


def test_update_tags_replaces_them(qws, mgmt_client, new_workspace):
    name = new_workspace.name
    first = mgmt_client.workspaces.update_tags(qws.resource_group, name, TagsObject(tags={"a": "1", "b": "2"}))
    assert first.tags == {"a": "1", "b": "2"}
    second = mgmt_client.workspaces.update_tags(qws.resource_group, name, TagsObject(tags={"c": "3"}))
    assert second.tags == {"c": "3"}
    assert mgmt_client.workspaces.get(qws.resource_group, name).tags == {"c": "3"}


def test_check_name_availability(qws, mgmt_client, unique_name):
    check = mgmt_client.workspace.check_name_availability

    taken = check(qws.location, CheckNameAvailabilityParameters(name=qws.workspace_name, type="Microsoft.Quantum/Workspaces"))
    assert taken.name_available is False
    assert taken.reason == "AlreadyExists"

    free = check(qws.location, CheckNameAvailabilityParameters(name=unique_name("free"), type="Microsoft.Quantum/Workspaces"))
    assert free.name_available is True

    invalid = check(qws.location, CheckNameAvailabilityParameters(name="-bad-name-", type="Microsoft.Quantum/Workspaces"))
    assert invalid.name_available is False
    assert invalid.reason == "Invalid"


def test_delete_of_missing_workspace_succeeds(qws, mgmt_client, unique_name):
    # ARM answers 204 for a DELETE of something that does not exist; the poller completes.
    name = unique_name("never")
    assert mgmt_client.workspaces.begin_delete(qws.resource_group, name).result() is None
    status, _, body = qws.request(
        "DELETE",
        qws.workspace_path(qws.resource_group, name, "?api-version=2023-11-13-preview"),
        token=qws.token(),
    )
    assert (status, body) == (204, None)
    # And nothing was created by it.
    with pytest.raises(ResourceNotFoundError):
        mgmt_client.workspaces.get(qws.resource_group, name)


def test_offerings_and_operations_catalogues(qws, mgmt_client):
    offerings = list(mgmt_client.offerings.list(qws.location))
    assert offerings, "the provider catalogue is empty"
    for offering in offerings:
        assert offering.id and offering.properties is not None
    assert any(o.properties.targets for o in offerings)

    operations = [op.name for op in mgmt_client.operations.list()]
    assert any(name.lower() == "microsoft.quantum/workspaces/listkeys/action" for name in operations), operations
