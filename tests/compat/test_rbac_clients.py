"""Azure role rules as the unmodified clients meet them (issue 9, reference note §2).

Principals are made the way a user makes them: `qws ad sp create-for-rbac --name N --role R
--scopes S` (and `qws ad group …`, `qws role assignment …`) run as the bootstrap administrator.
Each principal then signs in with azure-identity's `ClientSecretCredential` and talks to qws
through azure-quantum (data plane) and azure-mgmt-quantum / azure-mgmt-authorization (ARM).

Every test works on its own fresh workspace (`new_workspace`), so nothing here touches the
bootstrap workspace's keys even if a refusal were wrongly allowed.
"""

import uuid

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.quantum import AzureQuantumMgmtClient
from azure.mgmt.quantum.models import APIKeys, KeyType
from azure.quantum import JobStatus, Workspace

DATA_CONTRIBUTOR = "Quantum Workspace Data Contributor"
DATA_READER = "Quantum Workspace Data Reader"
BELL_IONQ = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}
LIST_KEYS = "Microsoft.Quantum/workspaces/listKeys/action"
REGENERATE_KEY = "Microsoft.Quantum/workspaces/regenerateKey/action"
WORKSPACE_READ = "Microsoft.Quantum/workspaces/read"
JOBS_WRITE = "Microsoft.Quantum/Workspaces/jobs/write"


# ---- principals, made with the qws CLI as the bootstrap administrator --------------------------


@pytest.fixture(scope="module")
def admin_home(qws):
    """A CLI user signed in as the bootstrap administrator (Owner at subscription scope)."""
    return qws.logged_in_home()


class Principal:
    """A service principal made by `create-for-rbac`: its ids and a credential for its secret."""

    def __init__(self, qws, created: dict, object_id: str):
        self.app_id = created["appId"]
        self.object_id = object_id
        assert created["tenant"] == qws.tenant_id
        self.credential = ClientSecretCredential(
            qws.tenant_id,
            created["appId"],
            created["password"],
            authority=qws.https_url,
            disable_instance_discovery=True,
        )


@pytest.fixture
def make_principal(qws, admin_home, unique_name):
    """`make_principal(role, scope)` runs `qws ad sp create-for-rbac` (with `--role/--scopes`
    when given) and returns the new `Principal`."""

    def make(role=None, scope=None) -> Principal:
        args = ["ad", "sp", "create-for-rbac", "--name", unique_name("rbac"), "-o", "json"]
        if role:
            args += ["--role", role, "--scopes", scope]
        created = qws.cli(*args, home=admin_home).json()
        shown = qws.cli("ad", "sp", "show", "--id", created["appId"], "-o", "json", home=admin_home).json()
        assert shown["appId"] == created["appId"]
        return Principal(qws, created, shown["id"])

    return make


def role_known(qws, admin_home, role: str) -> bool:
    """Whether the server has a role definition of this name (`qws role definition list -n`)."""
    found = qws.cli("role", "definition", "list", "-n", role, "-o", "json", home=admin_home).json()
    return any(d["properties"]["roleName"] == role for d in found)


# ---- clients as each principal -----------------------------------------------------------------


def mgmt_as(qws, principal: Principal) -> AzureQuantumMgmtClient:
    return AzureQuantumMgmtClient(principal.credential, qws.subscription_id, base_url=qws.https_url)


def data_plane_as(qws, credential, workspace_name: str) -> Workspace:
    """azure-quantum on the workspace's data plane with this credential, without ARM discovery,
    so what the data plane decides is tested apart from what ARM decides."""
    return Workspace(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=workspace_name,
        location=qws.location,
        credential=credential,
        _quantum_endpoint=qws.https_url + "/",
    )


def key_data_plane(qws, mgmt_client, workspace_name: str) -> Workspace:
    """The workspace through its primary access key: a view that needs no role."""
    key = mgmt_client.workspace.list_keys(qws.resource_group, workspace_name).primary_key.key
    return data_plane_as(qws, AzureKeyCredential(key), workspace_name)


def submit_bell(ws: Workspace, name: str):
    """An IonQ JSON Bell circuit to `ionq.simulator`, through the client's IonQ target class."""
    from azure.quantum.target import IonQ

    return IonQ(workspace=ws, name="ionq.simulator").submit(BELL_IONQ, name=name, shots=10)


def assert_bell_results(job):
    job.wait_until_completed(timeout_secs=120)
    assert job.details.status == JobStatus.SUCCEEDED, job.details.error_data
    assert set(job.get_results()["histogram"]) == {"0", "3"}


def assert_refused(excinfo, principal: Principal, action: str, scope: str):
    """Azure's refusal: 403 `AuthorizationFailed` naming the client, its object id, the action
    and the scope (action and scope compared case-insensitively, as Azure treats them)."""
    err = excinfo.value
    assert isinstance(err, HttpResponseError), repr(err)
    assert err.status_code == 403, err
    assert err.error is not None and err.error.code == "AuthorizationFailed", err
    message = err.error.message
    assert f"'{principal.app_id}'" in message, message
    assert f"object id '{principal.object_id}'" in message, message
    assert f"action '{action.lower()}'" in message.lower(), message
    assert f"scope '{scope.lower()}'" in message.lower(), message


def assert_job_named_absent(ws_by_key: Workspace, name: str):
    """A refused submission created no job (checked through the access key)."""
    assert [j.details.name for j in ws_by_key.list_jobs(name_match=name)] == []


def resource_group_scope(qws) -> str:
    return f"/subscriptions/{qws.subscription_id}/resourceGroups/{qws.resource_group}"


# ---- the tests ---------------------------------------------------------------------------------


def test_data_contributor_submits_and_reads_but_cannot_touch_keys(qws, new_workspace, make_principal, mgmt_client):
    sp = make_principal(DATA_CONTRIBUTOR, new_workspace.id)

    # The way azure-quantum users connect: ARM discovery of the workspace, then the data plane.
    ws = Workspace(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=new_workspace.name,
        credential=sp.credential,
        arm_endpoint=qws.https_url + "/",
    )
    job = submit_bell(ws, "dc-submit")
    assert_bell_results(job)
    assert job.details.created_by_type == "Application"
    assert job.details.created_by == sp.app_id
    assert job.id in [j.id for j in ws.list_jobs()]
    assert ws.get_job(job.id).details.status == JobStatus.SUCCEEDED

    as_sp = mgmt_as(qws, sp)
    assert as_sp.workspaces.get(qws.resource_group, new_workspace.name).id == new_workspace.id
    with pytest.raises(HttpResponseError) as listed:
        as_sp.workspace.list_keys(qws.resource_group, new_workspace.name)
    assert_refused(listed, sp, LIST_KEYS, new_workspace.id)
    before = mgmt_client.workspace.list_keys(qws.resource_group, new_workspace.name)
    with pytest.raises(HttpResponseError) as regenerated:
        as_sp.workspace.regenerate_keys(qws.resource_group, new_workspace.name, APIKeys(keys=[KeyType.PRIMARY]))
    assert_refused(regenerated, sp, REGENERATE_KEY, new_workspace.id)
    after = mgmt_client.workspace.list_keys(qws.resource_group, new_workspace.name)
    assert after.primary_key.key == before.primary_key.key


def test_reader_at_the_resource_group_reads_the_workspace_but_cannot_submit(
    qws, new_workspace, make_principal, mgmt_client
):
    sp = make_principal("Reader", resource_group_scope(qws))

    as_sp = mgmt_as(qws, sp)
    got = as_sp.workspaces.get(qws.resource_group, new_workspace.name)
    assert got.id == new_workspace.id
    assert got.properties.endpoint_uri
    with pytest.raises(HttpResponseError) as listed:
        as_sp.workspace.list_keys(qws.resource_group, new_workspace.name)
    assert_refused(listed, sp, LIST_KEYS, new_workspace.id)

    with pytest.raises(HttpResponseError) as submitted:
        submit_bell(data_plane_as(qws, sp.credential, new_workspace.name), "reader-submit")
    assert_refused(submitted, sp, JOBS_WRITE, new_workspace.id)
    assert_job_named_absent(key_data_plane(qws, mgmt_client, new_workspace.name), "reader-submit")


def test_data_reader_reads_jobs_but_cannot_submit(qws, admin_home, new_workspace, make_principal, mgmt_client):
    assert role_known(qws, admin_home, DATA_READER)
    by_key = key_data_plane(qws, mgmt_client, new_workspace.name)
    existing = submit_bell(by_key, "for-the-reader")
    assert_bell_results(existing)
    sp = make_principal(DATA_READER, new_workspace.id)

    ws = data_plane_as(qws, sp.credential, new_workspace.name)
    assert existing.id in [j.id for j in ws.list_jobs()]
    job = ws.get_job(existing.id)
    assert job.details.status == JobStatus.SUCCEEDED
    assert set(job.get_results()["histogram"]) == {"0", "3"}

    with pytest.raises(HttpResponseError) as submitted:
        submit_bell(ws, "data-reader-submit")
    assert_refused(submitted, sp, JOBS_WRITE, new_workspace.id)
    assert_job_named_absent(by_key, "data-reader-submit")
    with pytest.raises(HttpResponseError) as listed:
        mgmt_as(qws, sp).workspace.list_keys(qws.resource_group, new_workspace.name)
    assert_refused(listed, sp, LIST_KEYS, new_workspace.id)


def test_a_principal_without_a_role_is_refused_everywhere(qws, new_workspace, make_principal, mgmt_client):
    sp = make_principal()

    as_sp = mgmt_as(qws, sp)
    with pytest.raises(HttpResponseError) as got:
        as_sp.workspaces.get(qws.resource_group, new_workspace.name)
    assert_refused(got, sp, WORKSPACE_READ, new_workspace.id)
    with pytest.raises(HttpResponseError) as listed:
        as_sp.workspace.list_keys(qws.resource_group, new_workspace.name)
    assert_refused(listed, sp, LIST_KEYS, new_workspace.id)
    with pytest.raises(HttpResponseError) as regenerated:
        as_sp.workspace.regenerate_keys(qws.resource_group, new_workspace.name, APIKeys(keys=[KeyType.PRIMARY]))
    assert_refused(regenerated, sp, REGENERATE_KEY, new_workspace.id)

    ws = data_plane_as(qws, sp.credential, new_workspace.name)
    with pytest.raises(HttpResponseError) as submitted:
        submit_bell(ws, "no-role-submit")
    assert submitted.value.status_code == 403
    assert submitted.value.error.code == "AuthorizationFailed"
    with pytest.raises(HttpResponseError) as jobs:
        list(ws.list_jobs())
    assert jobs.value.status_code == 403
    assert jobs.value.error.code == "AuthorizationFailed"
    by_key = key_data_plane(qws, mgmt_client, new_workspace.name)
    assert_job_named_absent(by_key, "no-role-submit")


def test_a_role_given_to_a_group_applies_to_its_members(qws, admin_home, new_workspace, make_principal, unique_name):
    sp = make_principal()
    ws = data_plane_as(qws, sp.credential, new_workspace.name)
    with pytest.raises(HttpResponseError) as before:
        submit_bell(ws, "before-group")
    assert_refused(before, sp, JOBS_WRITE, new_workspace.id)

    group = qws.cli("ad", "group", "create", "--display-name", unique_name("team"), "-o", "json", home=admin_home).json()
    added = qws.cli("ad", "group", "member", "add", "-g", group["id"], "--member-id", sp.object_id, home=admin_home)
    assert added.returncode == 0, added
    # Membership alone grants nothing.
    with pytest.raises(HttpResponseError) as member_only:
        submit_bell(ws, "member-only")
    assert_refused(member_only, sp, JOBS_WRITE, new_workspace.id)

    assigned = qws.cli(
        "role", "assignment", "create",
        "--assignee-object-id", group["id"],
        "--assignee-principal-type", "Group",
        "--role", DATA_CONTRIBUTOR,
        "--scope", new_workspace.id,
        "-o", "json",
        home=admin_home,
    ).json()
    assert assigned["properties"]["principalId"] == group["id"]
    assert assigned["properties"]["principalType"] == "Group"

    job = submit_bell(ws, "via-group")
    assert_bell_results(job)
    assert job.details.created_by == sp.app_id


def test_deleting_an_assignment_takes_effect_on_the_next_request(
    qws, new_workspace, make_principal, mgmt_credential, mgmt_client
):
    sp = make_principal(DATA_CONTRIBUTOR, new_workspace.id)
    ws = data_plane_as(qws, sp.credential, new_workspace.name)
    as_sp = mgmt_as(qws, sp)
    assert_bell_results(submit_bell(ws, "before-revoke"))
    assert as_sp.workspaces.get(qws.resource_group, new_workspace.name).id == new_workspace.id

    auth = AuthorizationManagementClient(mgmt_credential, qws.subscription_id, base_url=qws.https_url)
    mine = list(auth.role_assignments.list_for_scope(new_workspace.id, filter=f"principalId eq '{sp.object_id}'"))
    assert len(mine) == 1, [a.id for a in mine]
    assert mine[0].scope.lower() == new_workspace.id.lower()
    deleted = auth.role_assignments.delete(new_workspace.id, mine[0].name)
    assert deleted.name == mine[0].name
    assert list(auth.role_assignments.list_for_scope(new_workspace.id, filter=f"principalId eq '{sp.object_id}'")) == []

    # Same process, same cached access tokens, no restart: refused at once on both planes.
    with pytest.raises(HttpResponseError) as submitted:
        submit_bell(ws, "after-revoke")
    assert_refused(submitted, sp, JOBS_WRITE, new_workspace.id)
    with pytest.raises(HttpResponseError) as jobs:
        list(ws.list_jobs())
    assert jobs.value.status_code == 403
    assert jobs.value.error.code == "AuthorizationFailed"
    with pytest.raises(HttpResponseError) as got:
        as_sp.workspaces.get(qws.resource_group, new_workspace.name)
    assert_refused(got, sp, WORKSPACE_READ, new_workspace.id)
    assert_job_named_absent(key_data_plane(qws, mgmt_client, new_workspace.name), "after-revoke")


def test_a_role_on_another_workspace_grants_nothing_here(qws, new_workspace, make_principal, mgmt_client, unique_name):
    """The assignment's scope bounds it: Data Contributor on a sibling workspace."""
    from azure.mgmt.quantum.models import QuantumWorkspace, WorkspaceResourceProperties

    sibling = mgmt_client.workspaces.begin_create_or_update(
        qws.resource_group,
        unique_name("ws"),
        QuantumWorkspace(location=qws.location, properties=WorkspaceResourceProperties(api_key_enabled=True)),
    ).result()
    try:
        sp = make_principal(DATA_CONTRIBUTOR, sibling.id)
        assert_bell_results(submit_bell(data_plane_as(qws, sp.credential, sibling.name), "sibling-ok"))
        with pytest.raises(HttpResponseError) as submitted:
            submit_bell(data_plane_as(qws, sp.credential, new_workspace.name), "sibling-no")
        assert_refused(submitted, sp, JOBS_WRITE, new_workspace.id)
        with pytest.raises(HttpResponseError) as got:
            mgmt_as(qws, sp).workspaces.get(qws.resource_group, new_workspace.name)
        assert_refused(got, sp, WORKSPACE_READ, new_workspace.id)
    finally:
        mgmt_client.workspaces.begin_delete(qws.resource_group, sibling.name).result()


def test_a_custom_role_with_only_jobs_read_reads_but_cannot_submit(
    qws, new_workspace, make_principal, mgmt_credential, mgmt_client, unique_name
):
    """A custom role (azure-mgmt-authorization) whose only data action is `jobs/read`: the
    data plane must check the action of each route, not one action for all of them."""
    from azure.mgmt.authorization.models import Permission, RoleAssignmentCreateParameters, RoleDefinition

    by_key = key_data_plane(qws, mgmt_client, new_workspace.name)
    existing = submit_bell(by_key, "for-the-custom-reader")
    assert_bell_results(existing)
    sp = make_principal()

    auth = AuthorizationManagementClient(mgmt_credential, qws.subscription_id, base_url=qws.https_url)
    subscription = f"/subscriptions/{qws.subscription_id}"
    definition = auth.role_definitions.create_or_update(
        subscription,
        str(uuid.uuid4()),
        RoleDefinition(
            role_name=unique_name("jobs-reader"),
            description="reads job results only",
            role_type="CustomRole",
            permissions=[Permission(actions=[], data_actions=["Microsoft.Quantum/Workspaces/jobs/read"])],
            assignable_scopes=[new_workspace.id],
        ),
    )
    assignment = auth.role_assignments.create(
        new_workspace.id,
        str(uuid.uuid4()),
        RoleAssignmentCreateParameters(
            role_definition_id=definition.id, principal_id=sp.object_id, principal_type="ServicePrincipal"
        ),
    )
    try:
        ws = data_plane_as(qws, sp.credential, new_workspace.name)
        with pytest.raises(HttpResponseError) as submitted:
            submit_bell(ws, "custom-reader-submit")
        assert_refused(submitted, sp, JOBS_WRITE, new_workspace.id)
        assert_job_named_absent(by_key, "custom-reader-submit")

        listed = [j.id for j in ws.list_jobs()]
        assert existing.id in listed
        job = ws.get_job(existing.id)
        assert job.details.status == JobStatus.SUCCEEDED
        assert set(job.get_results()["histogram"]) == {"0", "3"}
    finally:
        auth.role_assignments.delete(new_workspace.id, assignment.name)
        auth.role_definitions.delete(subscription, definition.name)
