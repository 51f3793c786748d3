"""The Azure Quantum data plane through the unmodified azure-quantum 3.13.0 client (with its
qiskit and cirq integrations): targets, IonQ JSON and Quantinuum OpenQASM jobs with results,
sessions, list filters and paging, cancel, delete, update, quotas, attachments; over plain HTTP
with an access key and over HTTPS with ARM discovery and a token credential."""

import re
import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.quantum import JobStatus, Workspace

from conftest import BLOB_BACKEND, SERVER_WORKERS, key_workspace, primary_key_of

BELL_IONQ = {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]}
BELL_QASM = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'


def slow_ionq(qubits=20, layers=60):
    gates = []
    for layer in range(layers):
        gates += [{"gate": "h" if layer % 2 == 0 else "t", "target": q} for q in range(qubits)]
        gates += [{"gate": "cnot", "control": q, "target": q + 1} for q in range(qubits - 1)]
    return {"qubits": qubits, "circuit": gates}


@pytest.fixture(scope="module")
def primary_key(qws, mgmt_client):
    return primary_key_of(qws, mgmt_client)


@pytest.fixture(scope="module")
def ws(qws, primary_key):
    return key_workspace(qws, primary_key)


def test_get_targets_lists_ionq_and_quantinuum_with_client_classes(ws):
    from azure.quantum.target import IonQ, Quantinuum

    targets = {t.name: t for t in ws.get_targets()}
    for name in ("ionq.simulator", "ionq.qpu.aria-1", "quantinuum.sim.h2-1e", "quantinuum.sim.h2-1sc"):
        assert name in targets, sorted(targets)
    assert isinstance(targets["ionq.simulator"], IonQ)
    assert isinstance(targets["quantinuum.sim.h2-1e"], Quantinuum)
    assert ws.get_targets(name="no.such.target") == []


def test_ionq_json_submit_wait_results(ws):
    target = ws.get_targets(name="ionq.simulator")
    job = target.submit(BELL_IONQ, name="bell-ionq", shots=100, tags=["t1"])
    job.wait_until_completed(timeout_secs=120)
    assert job.details.status == JobStatus.SUCCEEDED
    assert job.details.created_by_type == "Key" and job.details.created_by == "PrimaryKey"
    assert job.details.input_params["shots"] == 100
    assert job.details.tags == ["t1"]
    results = job.get_results()
    assert set(results["histogram"]) == {"0", "3"}
    assert abs(results["histogram"]["0"] - 0.5) < 1e-9


def test_gzip_encoded_input_is_decompressed(ws):
    """`encoding="gzip"` marks the uploaded blob Content-Encoding: gzip (the client does not
    compress); the service must decompress it, as the offerings' acceptedContentEncodings say."""
    import gzip
    import json

    from azure.quantum import Job

    job = Job.from_input_data(
        workspace=ws,
        name="bell-gzip",
        target="ionq.simulator",
        input_data=gzip.compress(json.dumps(BELL_IONQ).encode()),
        content_type="application/json",
        encoding="gzip",
        provider_id="ionq",
        input_data_format="ionq.circuit.v1",
        output_data_format="ionq.quantum-results.v1",
        input_params={"shots": 10},
    )
    job.wait_until_completed(timeout_secs=120)
    assert job.details.status == JobStatus.SUCCEEDED, job.details.error_data
    assert set(job.get_results()["histogram"]) == {"0", "3"}


def test_ionq_qpu_is_served_by_the_simulator(ws):
    job = ws.get_targets(name="ionq.qpu.aria-1").submit(BELL_IONQ, name="qpu", shots=10)
    assert set(job.get_results()["histogram"]) == {"0", "3"}


def _assert_mostly_correlated(outcomes):
    """Bell outcomes: 00 and 11, except for the rare shot the H2 emulators' noise model spoils
    (about 0.4% with H2-1's published rates; a quarter of the shots is never reached)."""
    wrong = [o for o in outcomes if o not in ("00", "11")]
    assert len(wrong) * 4 <= len(outcomes), outcomes


def test_quantinuum_openqasm_submit_results(ws):
    job = ws.get_targets(name="quantinuum.sim.h2-1e").submit(BELL_QASM, name="bell-qtm", shots=20)
    results = job.get_results()
    assert len(results["c"]) == 20
    _assert_mostly_correlated(results["c"])


def test_format_the_target_does_not_accept_fails_with_error_data(ws):
    from azure.quantum.target import Target

    target = ws.get_targets(name="ionq.simulator")
    generic = Target(
        ws,
        "ionq.simulator",
        provider_id="ionq",
        input_data_format="honeywell.openqasm.v1",
        output_data_format="honeywell.quantum-results.v1",
        content_type="application/qasm",
    )
    assert target.name == "ionq.simulator"
    job = generic.submit(BELL_QASM, name="wrong-format")
    job.wait_until_completed(timeout_secs=60)
    assert job.details.status == JobStatus.FAILED
    assert job.details.error_data.code == "InvalidInputDataFormat"
    with pytest.raises(RuntimeError, match="does not accept input format"):
        job.get_results()


def test_cirq_ionq_and_quantinuum_targets(ws):
    import cirq
    from azure.quantum.cirq import AzureQuantumService

    service = AzureQuantumService(workspace=ws)
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q0), cirq.CNOT(q0, q1), cirq.measure(q0, q1, key="m"))
    for target in ("ionq.simulator", "quantinuum.sim.h2-1e"):
        result = service.run(program=circuit, repetitions=20, target=target, timeout_seconds=120)
        bits = result.measurements["m"]
        assert bits.shape == (20, 2)
        _assert_mostly_correlated([f"{row[0]}{row[1]}" for row in bits])


def test_qiskit_backends_using_ionq_json_and_openqasm(ws):
    from qiskit import QuantumCircuit
    from azure.quantum.qiskit import AzureQuantumProvider
    from azure.quantum.qiskit.backends import IonQSimulatorBackend, QuantinuumEmulatorBackend

    provider = AzureQuantumProvider(workspace=ws)
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    for cls, name in ((IonQSimulatorBackend, "ionq.simulator"), (QuantinuumEmulatorBackend, "quantinuum.sim.h2-1e")):
        backend = cls(name=name, provider=provider)
        job = backend.run(circuit, shots=40)
        counts = job.result().get_counts()
        _assert_mostly_correlated([k for k, n in counts.items() for _ in range(n)])
        assert sum(counts.values()) == 40, (name, counts)


def test_sessions_group_jobs_and_close(ws):
    target = ws.get_targets(name="quantinuum.sim.h2-1e")
    with target.open_session(name="my-session") as session:
        jobs = [target.submit(BELL_QASM, name=f"in-session-{i}", shots=4) for i in range(2)]
        for job in jobs:
            job.wait_until_completed(timeout_secs=120)
            assert job.details.session_id == session.id
    session.refresh()
    assert session.details.status == "Succeeded"
    assert sorted(j.details.name for j in session.list_jobs()) == ["in-session-0", "in-session-1"]
    assert session.id in [s.id for s in ws.list_sessions()]
    items = ws.list_top_level_items()
    kinds = {type(i).__name__ for i in items}
    assert {"Session", "Job"} <= kinds, kinds
    assert all(getattr(i.details, "session_id", None) is None for i in items if type(i).__name__ == "Job")


def test_session_abort_policy_stops_the_rest(ws):
    from azure.quantum import SessionJobFailurePolicy

    target = ws.get_targets(name="ionq.simulator")
    with target.open_session(name="abort", job_failure_policy=SessionJobFailurePolicy.ABORT) as session:
        bad = target.submit({"qubits": 2, "circuit": [{"gate": "nope", "target": 0}]}, name="bad")
        bad.wait_until_completed(timeout_secs=60)
        assert bad.details.status == JobStatus.FAILED
        session.refresh()
        assert session.details.status == "Failed"
        with pytest.raises(HttpResponseError, match="SessionClosed"):
            target.submit(BELL_IONQ, name="after-abort")


def test_list_jobs_filters_and_pages(ws):
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    target = ws.get_targets(name="ionq.simulator")
    ids = [target.submit(BELL_IONQ, name=f"{prefix}-{i}", shots=2).id for i in range(5)]
    for job_id in ids:
        ws.get_job(job_id).wait_until_completed(timeout_secs=120)
    listed = ws.list_jobs(name_match=prefix, provider=["ionq"], status=[JobStatus.SUCCEEDED],
                          orderby_property="Name", is_asc=False)
    assert [j.details.name for j in listed] == [f"{prefix}-{i}" for i in reversed(range(5))]
    assert ws.list_jobs(name_match=prefix, status=[JobStatus.FAILED]) == []
    # Pages of two follow nextLink, which must carry the filter.
    paged = ws.list_jobs_paginated(name_match=prefix, top=2, orderby_property="Name", is_asc=True)
    assert [j.name for j in paged] == [f"{prefix}-{i}" for i in range(5)]


def test_cancel_waiting_job_delete_and_update(ws):
    target = ws.get_targets(name="ionq.simulator")
    # The shared server runs one job of a workspace at a time (conftest.SERVER_WORKERS), so
    # the victim waits behind the busy jobs however many cores the machine has.
    assert SERVER_WORKERS == 2
    busy = [target.submit(slow_ionq(), name=f"busy-{i}", shots=1) for i in range(2)]
    victim = target.submit(slow_ionq(), name="victim", shots=1)
    victim.refresh()
    assert victim.details.status == JobStatus.WAITING, victim.details.status
    ws.cancel_job(victim)
    victim.refresh()
    assert victim.details.status == JobStatus.CANCELLED
    assert victim.details.cancellation_time is not None
    for job in busy:
        try:
            ws.cancel_job(job)
        except HttpResponseError:
            pass  # it may have finished already

    done = target.submit(BELL_IONQ, name="to-update", shots=2)
    done.wait_until_completed(timeout_secs=120)
    ws.update_job(done, name="renamed", tags=["x", "y"])
    again = ws.get_job(done.id)
    assert again.details.name == "renamed" and again.details.tags == ["x", "y"]

    ws.delete_job(done)
    with pytest.raises(ResourceNotFoundError):
        ws.get_job(done.id)


def test_quotas_report_usage(ws):
    ws.get_targets(name="ionq.simulator").submit(BELL_IONQ, name="quota", shots=1).wait_until_completed(timeout_secs=60)
    quotas = {q["providerId"]: q for q in ws.get_quotas()}
    assert quotas["ionq"]["dimension"] == "jobs"
    assert quotas["ionq"]["utilization"] >= 1
    assert quotas["ionq"]["period"] == "Monthly"


def test_exhausted_quota_is_refused_clearly(qws, mgmt_client, unique_name):
    from azure.mgmt.quantum.models import QuantumWorkspace, QuantumWorkspaceIdentity, WorkspaceResourceProperties

    name = unique_name("quota")
    body = QuantumWorkspace(
        location=qws.location,
        identity=QuantumWorkspaceIdentity(type="SystemAssigned"),
        tags={"qws.quota.jobs.ionq": "1"},
        properties=WorkspaceResourceProperties(api_key_enabled=True),
    )
    mgmt_client.workspaces.begin_create_or_update(qws.resource_group, name, body).result()
    try:
        key = mgmt_client.workspace.list_keys(qws.resource_group, name).primary_key.key
        small = key_workspace(qws, key, name)
        target = small.get_targets(name="ionq.simulator")
        target.submit(BELL_IONQ, name="first", shots=1)
        with pytest.raises(HttpResponseError, match="QuotaExceeded"):
            target.submit(BELL_IONQ, name="second", shots=1)
        ionq = [q for q in small.get_quotas() if q["providerId"] == "ionq"][0]
        assert ionq["utilization"] == 1 and ionq["limit"] == 1
    finally:
        mgmt_client.workspaces.begin_delete(qws.resource_group, name).result()


@pytest.mark.skipif(
    BLOB_BACKEND == "azure",
    reason="the emulator's URLs carry the account in the path, which the client's attachment helpers take for the container",
)
def test_attachments_round_trip(ws):
    job = ws.get_targets(name="ionq.simulator").submit(BELL_IONQ, name="attach", shots=1)
    job.upload_attachment("notes", b"hello attachments")
    assert job.download_attachment("notes") == b"hello attachments"
    names = [a["name"] for a in job.list_attachments()]
    assert "notes" in names and "inputData" in names, names


def test_token_client_over_https_with_arm_discovery(qws, mgmt_credential):
    token_ws = Workspace(
        subscription_id=qws.subscription_id,
        resource_group=qws.resource_group,
        name=qws.workspace_name,
        credential=mgmt_credential,
        arm_endpoint=qws.https_url + "/",
    )
    job = token_ws.get_targets(name="ionq.simulator").submit(BELL_IONQ, name="token", shots=10)
    job.wait_until_completed(timeout_secs=120)
    assert job.details.created_by_type == "Application"
    assert job.details.created_by == qws.client_id
    assert set(job.get_results()["histogram"]) == {"0", "3"}


def test_qir_jobs_from_qiskit_default_backends(ws):
    """qiskit's default backends submit QIR (qir.v1 → microsoft.quantum-results.v2): Base profile
    on IonQ, Adaptive_RI on Quantinuum."""
    from qiskit import QuantumCircuit
    from azure.quantum.qiskit import AzureQuantumProvider
    from azure.quantum.qiskit.backends import IonQSimulatorQirBackend, QuantinuumEmulatorQirBackend

    provider = AzureQuantumProvider(workspace=ws)
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    for cls, name in ((IonQSimulatorQirBackend, "ionq.simulator"), (QuantinuumEmulatorQirBackend, "quantinuum.sim.h2-1e")):
        backend = cls(name=name, provider=provider)
        job = backend.run(circuit, shots=30)
        counts = job.result().get_counts()
        _assert_mostly_correlated([k for k, n in counts.items() for _ in range(n)])
        assert sum(counts.values()) == 30, (name, counts)
        assert job._azure_job.details.input_data_format == "qir.v1"
