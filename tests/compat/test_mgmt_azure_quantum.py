"""azure-quantum's Workspace resolves a qws workspace through ARM (GET) and Resource Graph (name only)."""

import pytest
from azure.quantum import Workspace


@pytest.fixture(scope="module")
def arm_endpoint(qws):
    return qws.https_url + "/"


@pytest.fixture(scope="module")
def expected(qws, mgmt_client):
    ws = mgmt_client.workspaces.get(qws.resource_group, qws.workspace_name)
    return ws


def test_resolves_by_subscription_group_and_name(qws, mgmt_credential, arm_endpoint, expected):
    ws = Workspace(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=qws.workspace_name,
        credential=mgmt_credential,
        arm_endpoint=arm_endpoint,
    )
    assert ws.location == qws.location
    assert ws._connection_params.quantum_endpoint == expected.properties.endpoint_uri


def test_resolves_by_resource_id(qws, mgmt_credential, arm_endpoint, expected):
    ws = Workspace(resource_id=expected.id, credential=mgmt_credential, arm_endpoint=arm_endpoint)
    assert ws.location == qws.location
    assert ws.name == qws.workspace_name
    assert ws._connection_params.quantum_endpoint == expected.properties.endpoint_uri


def test_resolves_by_name_alone_through_resource_graph(qws, mgmt_credential, arm_endpoint, expected):
    ws = Workspace(name=qws.workspace_name, credential=mgmt_credential, arm_endpoint=arm_endpoint)
    assert ws.subscription_id == qws.subscription_id
    assert ws.resource_group == qws.resource_group
    assert ws.location == qws.location
    assert ws._connection_params.quantum_endpoint == expected.properties.endpoint_uri


def test_unknown_workspace_is_reported(qws, mgmt_credential, arm_endpoint, unique_name):
    name = unique_name("ghost")
    with pytest.raises(ValueError, match="not found"):
        Workspace(
            subscription_id=qws.subscription_id,
            resource_group=qws.resource_group,
            name=name,
            credential=mgmt_credential,
            arm_endpoint=arm_endpoint,
        )
    with pytest.raises(ValueError, match="No matching workspace"):
        Workspace(name=name, credential=mgmt_credential, arm_endpoint=arm_endpoint)
