"""Role assignments and definitions through the unmodified azure-mgmt-authorization client."""

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

DATA_CONTRIBUTOR = "c1410b24-3e69-4857-8f86-4d0a2e603250"


@pytest.fixture
def auth_client(qws, mgmt_credential):
    return AuthorizationManagementClient(mgmt_credential, qws.subscription_id, base_url=qws.https_url)


def test_create_get_list_delete_assignment(qws, auth_client, mgmt_client):
    ws = mgmt_client.workspaces.get(qws.resource_group, qws.workspace_name)
    principal = ws.identity.principal_id
    scope = ws.id
    role = auth_client.role_definitions.list(
        scope, filter="roleName eq 'Quantum Workspace Data Contributor'"
    )
    role = list(role)
    assert [r.name for r in role] == [DATA_CONTRIBUTOR]

    name = str(uuid.uuid4())
    created = auth_client.role_assignments.create(
        scope,
        name,
        RoleAssignmentCreateParameters(
            role_definition_id=role[0].id, principal_id=principal, principal_type="ServicePrincipal"
        ),
    )
    assert created.name == name
    assert created.scope.lower() == scope.lower()
    assert created.principal_type == "ServicePrincipal"
    assert created.role_definition_id.lower().endswith(DATA_CONTRIBUTOR)

    got = auth_client.role_assignments.get(scope, name)
    assert got.id == created.id
    at_scope = [a.name for a in auth_client.role_assignments.list_for_scope(scope, filter="atScope()")]
    assert name in at_scope
    mine = list(auth_client.role_assignments.list_for_subscription(filter=f"principalId eq '{principal}'"))
    assert [a.name for a in mine] == [name]
    in_group = [a.name for a in auth_client.role_assignments.list_for_resource_group(qws.resource_group)]
    assert name in in_group

    with pytest.raises(HttpResponseError) as dup:
        auth_client.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(
                role_definition_id=role[0].id, principal_id=principal, principal_type="ServicePrincipal"
            ),
        )
    assert dup.value.status_code == 409
    assert dup.value.error.code == "RoleAssignmentExists"
    # The model's principal_type defaults to "User"; like Azure, qws refuses the mismatch.
    with pytest.raises(HttpResponseError) as wrong_type:
        auth_client.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(role_definition_id=role[0].id, principal_id=principal),
        )
    assert wrong_type.value.error.code == "UnmatchedPrincipalType"

    deleted = auth_client.role_assignments.delete(scope, name)
    assert deleted.name == name
    with pytest.raises(ResourceNotFoundError):
        auth_client.role_assignments.get(scope, name)


def test_builtin_role_definition_by_id(qws, auth_client):
    scope = f"/subscriptions/{qws.subscription_id}"
    reader = auth_client.role_definitions.get(scope, "acdd72a7-3385-48ef-bd42-f606fba81ae7")
    assert reader.role_name == "Reader"
    assert reader.role_type == "BuiltInRole"
