"""The key-rotation story of Azure's access-key documentation, end to end with the unmodified
clients: a client on the secondary key keeps working while the primary is regenerated;
regenerating the secondary makes that client's next call fail with 401; disabling keys refuses
every key client while a token client keeps working; enabling restores them."""

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.quantum.models import APIKeys, KeyType
from azure.quantum import Workspace
from conftest import key_workspace, primary_key_of

BELL = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}


def set_api_key_enabled(qws, mgmt_client, name, enabled):
    ws = mgmt_client.workspaces.get(qws.resource_group, name)
    ws.properties.api_key_enabled = enabled
    mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, ws).result()


def test_key_rotation_story(qws, mgmt_client, mgmt_credential, new_workspace):
    name = new_workspace.name
    keys = mgmt_client.workspace.list_keys(qws.resource_group, name)
    old_primary = key_workspace(qws, keys.primary_key.key, name)
    secondary = key_workspace(qws, keys.secondary_key.key, name)
    token = Workspace(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=name,
        credential=mgmt_credential,
        arm_endpoint=qws.https_url + "/",
    )
    job = secondary.get_targets(name="ionq.simulator").submit(BELL, name="on-secondary", shots=1)
    assert job.details.created_by == "SecondaryKey"

    # 1. Regenerate the primary: the secondary client keeps working, the old primary is refused.
    mgmt_client.workspace.regenerate_keys(qws.resource_group, name, APIKeys(keys=[KeyType.PRIMARY]))
    assert secondary.get_job(job.id).id == job.id
    with pytest.raises(ClientAuthenticationError):
        old_primary.get_targets()
    new_primary = key_workspace(qws, primary_key_of(qws, mgmt_client, name), name)
    assert new_primary.get_targets(name="ionq.simulator").name == "ionq.simulator"

    # 2. Regenerate the secondary: that client's next call fails with 401.
    mgmt_client.workspace.regenerate_keys(qws.resource_group, name, APIKeys(keys=[KeyType.SECONDARY]))
    with pytest.raises(ClientAuthenticationError):
        secondary.get_job(job.id)

    # 3. Disable keys: every key client is refused, the token client keeps working.
    set_api_key_enabled(qws, mgmt_client, name, False)
    with pytest.raises(ClientAuthenticationError):
        new_primary.get_targets()
    assert token.get_job(job.id).id == job.id

    # 4. Enable keys again: the key clients work again.
    set_api_key_enabled(qws, mgmt_client, name, True)
    assert new_primary.get_job(job.id).id == job.id
