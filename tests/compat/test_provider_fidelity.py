"""Targets that behave like Azure's, through the unmodified clients (azure-quantum with its qiskit
and cirq integrations, qdk):

* today's catalog: the current Azure target names with their real qubit counts; retired names
  absent;
* QIR by content: qdk's cirq path sends straight-line QIR labelled `adaptive_profile`, which runs
  on the Base-profile `rigetti.sim.qvm`; a program with measurement feedback still fails there;
* syntax checkers: all zeros for every shot through qiskit, cirq and qdk; an invalid program
  fails with errorData;
* a multi-circuit IonQ job returns one distribution per circuit;
* noise: the H2 emulators' error rates and their `error-model` switch, IonQ's `noise` parameter,
  and `qws.simulator`'s explicit model, measured against the models with seeded runs and bounds
  wide enough never to fail by chance.
"""

import math
import os

import pytest

os.environ.setdefault("QDK_PYTHON_TELEMETRY", "none")

from azure.quantum import JobStatus  # noqa: E402
from qdk import qsharp  # noqa: E402
from conftest import key_workspace, primary_key_of  # noqa: E402

WAIT_S = 180
BELL_QASM = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'

FEEDBACK_SRC = """
operation Feedback() : Result {
  use (a, b) = (Qubit(), Qubit());
  H(a);
  if MResetZ(a) == One { X(b); }
  MResetZ(b)
}
"""


@pytest.fixture(scope="module")
def ws(qws, mgmt_client):
    return key_workspace(qws, primary_key_of(qws, mgmt_client))


def _finished(job):
    job.wait_until_completed(timeout_secs=WAIT_S)
    return job


def _succeeded(job):
    _finished(job)
    assert job.details.status == JobStatus.SUCCEEDED, job.details.error_data
    return job


def _within(measured, expected, n, what):
    """`measured` (a fraction of n shots) agrees with the model's `expected` within six binomial
    standard deviations (the runs are seeded, so this only guards against a wrong model)."""
    sigma = math.sqrt(max(expected * (1 - expected), 1e-9) / n)
    assert abs(measured - expected) <= 6 * sigma, (what, measured, expected, sigma)


# ---- today's catalog ---------------------------------------------------------------------------


def test_todays_targets_with_their_qubit_counts_and_no_retired_ones(ws):
    targets = {t.name: t for t in ws.get_targets()}
    # numQubits as the client reads it from providerStatus (its qiskit/cirq backends use it).
    qubits_of = {status.id: status.num_qubits for _, status in ws._get_target_status()}
    expected = {
        "quantinuum.sim.h2-1sc": 56,
        "quantinuum.sim.h2-2sc": 56,
        "quantinuum.qpu.h2-1": 56,
        "quantinuum.qpu.h2-2": 56,
        "ionq.qpu.forte-1": 36,
        "ionq.qpu.forte-enterprise-1": 36,
        "rigetti.qpu.cepheus-1-108q": 108,
    }
    for name, qubits in expected.items():
        assert name in targets, sorted(targets)
        assert qubits_of[name] == qubits, name
    for retired in ("quantinuum.sim.h1-1e", "quantinuum.qpu.h1-1", "rigetti.qpu.aspen-11", "ionq.qpu"):
        assert retired not in targets
    assert type(targets["quantinuum.qpu.h2-2"]).__name__ == "Quantinuum"
    assert type(targets["rigetti.qpu.cepheus-1-108q"]).__name__ == "Rigetti"


def test_a_new_qpu_target_runs_and_an_unknown_one_is_refused(ws):
    job = _succeeded(ws.get_targets(name="ionq.qpu.forte-enterprise-1").submit(
        {"qubits": 2, "circuit": [{"gate": "h", "target": 0}, {"gate": "cnot", "control": 0, "target": 1}]},
        name="forte-enterprise", shots=10,
    ))
    assert set(job.get_results()["histogram"]) == {"0", "3"}
    from azure.quantum.target import Target

    unknown = Target(ws, "ionq.qpu.harmony", provider_id="ionq", input_data_format="ionq.circuit.v1",
                     output_data_format="ionq.quantum-results.v1", content_type="application/json")
    with pytest.raises(Exception, match="UnknownTarget"):
        unknown.submit({"qubits": 1, "circuit": []}, name="retired")


# ---- QIR profile by content --------------------------------------------------------------------


def test_cirq_circuit_through_qdk_runs_on_base_profile_rigetti(ws):
    import cirq
    from azure.quantum.cirq import AzureQuantumService

    service = AzureQuantumService(workspace=ws)
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q0), cirq.CNOT(q0, q1), cirq.measure(q0, q1, key="m"))
    result = service.run(program=circuit, repetitions=40, target="rigetti.sim.qvm", timeout_seconds=WAIT_S)
    bits = result.measurements["m"]
    assert bits.shape == (40, 2)
    assert all(row[0] == row[1] for row in bits)
    assert {int(row[0]) for row in bits} == {0, 1}


def test_feedback_still_fails_clearly_on_a_base_profile_target(ws):
    qsharp.init(target_profile=qsharp.TargetProfile.Adaptive_RI)
    qsharp.eval(FEEDBACK_SRC)
    program = qsharp.compile("Feedback()")
    job = _finished(ws.get_targets("rigetti.sim.qvm").submit(program, name="feedback-on-base", shots=10))
    assert job.details.status == JobStatus.FAILED
    error = job.details.error_data
    assert error.code == "UnsupportedProfile", error
    assert "measurement feedback" in error.message, error.message


# ---- syntax checkers ---------------------------------------------------------------------------


def test_syntax_checker_returns_zeros_through_the_quantinuum_target(ws):
    for name in ("quantinuum.sim.h2-1sc", "quantinuum.sim.h2-2sc"):
        job = _succeeded(ws.get_targets(name=name).submit(BELL_QASM, name="sc", shots=12))
        assert job.get_results() == {"c": ["00"] * 12}, name


def test_syntax_checker_refuses_what_the_real_one_would(ws):
    target = ws.get_targets(name="quantinuum.sim.h2-2sc")
    for program, hint in (
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nnot_a_gate q[0];\n', "not_a_gate"),
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[60];\nh q;\n', "60 qubits"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\n', "OpenQASM 2.0"),
    ):
        job = _finished(target.submit(program, name="sc-bad", shots=1))
        assert job.details.status == JobStatus.FAILED
        assert job.details.error_data.code == "InvalidInputData"
        assert hint in job.details.error_data.message, job.details.error_data.message


def test_syntax_checker_zeros_through_qiskit_both_backends(ws):
    from qiskit import QuantumCircuit
    from azure.quantum.qiskit import AzureQuantumProvider
    from azure.quantum.qiskit.backends import QuantinuumSyntaxCheckerBackend, QuantinuumSyntaxCheckerQirBackend

    provider = AzureQuantumProvider(workspace=ws)
    circuit = QuantumCircuit(3, 3, name="ghz")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure([0, 1, 2], [0, 1, 2])
    for cls in (QuantinuumSyntaxCheckerBackend, QuantinuumSyntaxCheckerQirBackend):
        backend = cls(name="quantinuum.sim.h2-1sc", provider=provider)
        counts = backend.run(circuit, shots=25).result().get_counts()
        assert counts == {"000": 25}, (cls.__name__, counts)


def test_syntax_checker_zeros_through_cirq(ws):
    import cirq
    from azure.quantum.cirq import AzureQuantumService

    service = AzureQuantumService(workspace=ws)
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.X(q[0]), cirq.CNOT(q[0], q[1]), cirq.measure(*q, key="m"))
    result = service.run(program=circuit, repetitions=15, target="quantinuum.sim.h2-2sc", timeout_seconds=WAIT_S)
    assert result.measurements["m"].shape == (15, 2)
    assert not result.measurements["m"].any()


def test_syntax_checker_zeros_through_qdk(ws):
    qsharp.init(target_profile=qsharp.TargetProfile.Adaptive_RI)
    qsharp.eval(FEEDBACK_SRC)
    program = qsharp.compile("Feedback()")
    job = _succeeded(ws.get_targets("quantinuum.sim.h2-1sc").submit(program, name="sc-qdk", shots=8))
    assert job.get_results_shots() == [0] * 8
    assert job.get_results() == {"0": 1.0}


# ---- IonQ multi-circuit jobs -------------------------------------------------------------------


def test_multi_circuit_ionq_job_reports_each_circuit(ws):
    job = _succeeded(ws.get_targets(name="ionq.simulator").submit(
        {"qubits": 2, "circuits": [
            {"name": "x", "circuit": [{"gate": "x", "targets": [0]}]},
            {"name": "bell", "circuit": [{"gate": "h", "targets": [0]}, {"gate": "x", "targets": [1], "controls": [0]}]},
        ]},
        name="multi", shots=100,
    ))
    results = job.get_results()
    assert len(results) == 2, results
    first, second = list(results.values())
    assert first == {"1": 1.0}
    assert set(second) == {"0", "3"} and math.isclose(sum(second.values()), 1.0)


# ---- noise -------------------------------------------------------------------------------------


def _cx_chain(pairs):
    """2·pairs CX gates that cancel: ideally always 00."""
    body = "cx q[0],q[1];\n" * (2 * pairs)
    return f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n{body}measure q -> c;\n'


def test_h2_emulator_noise_statistics_and_its_switch(ws):
    target = ws.get_targets(name="quantinuum.sim.h2-1e")
    shots = 2000
    program = _cx_chain(100)
    noisy = _succeeded(target.submit(program, name="h2-noise", shots=shots, input_params={"seed": 17}))
    wrong = sum(1 for s in noisy.get_results()["c"] if s != "00") / shots
    # H2-1: p2 = 1.36e-3 (a non-identity two-qubit Pauli); 200 gates make errors frequent. A
    # single error is visible with probability ≥ 1/2 (X/Y parts propagate through later CX
    # gates), so the rate lies between half and all of the chance of any error, plus readout.
    any_error = 1 - (1 - 1.36e-3) ** 200
    assert 0.5 * any_error - 0.03 < wrong < any_error + 2 * 5e-4 + 0.03, wrong
    again = _succeeded(target.submit(program, name="h2-noise", shots=shots, input_params={"seed": 17}))
    assert again.get_results() == noisy.get_results()
    ideal = _succeeded(target.submit(program, name="h2-ideal", shots=200, input_params={"error-model": False}))
    assert set(ideal.get_results()["c"]) == {"00"}
    # error-params override the published rates: a large readout error dominates.
    overridden = _succeeded(target.submit(
        BELL_QASM.replace("h q[0];\ncx q[0],q[1];\n", ""), name="h2-params", shots=shots,
        input_params={"seed": 3, "error-params": {"p_meas": [0.2, 0.0], "p1": 0.0, "p2": 0.0}},
    ))
    flips = [s for s in overridden.get_results()["c"]]
    # Each of the two bits reads 1 with probability 0.2.
    ones = sum(s.count("1") for s in flips) / (2 * shots)
    _within(ones, 0.2, 2 * shots, "p_meas override")


def test_ionq_noise_parameter(ws):
    target = ws.get_targets(name="ionq.simulator")
    circuit = {"qubits": 2, "circuit": [{"gate": "cnot", "control": 0, "target": 1}] * 60}
    shots = 2000
    job = _succeeded(target.submit(circuit, name="ionq-noise", shots=shots,
                                   input_params={"noise": {"model": "aria-1", "seed": 100}}))
    histogram = job.get_results()["histogram"]
    # Shot-aware: each probability is a count over the shots.
    for p in histogram.values():
        assert math.isclose(p * shots, round(p * shots), abs_tol=1e-6)
    wrong = 1 - histogram.get("0", 0)
    # Aria 1: r2 = 0.0133, a non-identity Pauli with probability 15/16·r2 after each of 60 CX.
    any_error = 1 - (1 - 15 / 16 * 0.0133) ** 60
    assert 0.5 * any_error - 0.05 < wrong < any_error + 0.05, (wrong, any_error)
    ideal = _succeeded(target.submit(circuit, name="ionq-ideal", shots=10, input_params={"noise": {"model": "ideal"}}))
    assert ideal.get_results()["histogram"] == {"0": 1.0}
    bad = _finished(target.submit(circuit, name="ionq-bad", shots=10, input_params={"noise": {"model": "harmony-9"}}))
    assert bad.details.status == JobStatus.FAILED
    assert bad.details.error_data.code == "InvalidInputParams"


def test_qws_simulator_explicit_noise_model(ws):
    from azure.quantum.target import Target

    target = Target(ws, "qws.simulator", provider_id="qws", input_data_format="honeywell.openqasm.v1",
                    output_data_format="honeywell.quantum-results.v1", content_type="application/qasm")
    shots = 4000
    program = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nx q[0];\nmeasure q -> c;\n'
    job = _succeeded(target.submit(program, name="qws-noise", shots=shots, input_params={
        "seed": 9,
        "noise": {"amplitudeDamping": 0.1, "readout": [0.0, 0.05], "gates": {"x": {"depolarizing": 0.0}}},
    }))
    zeros = job.get_results()["c"].count("0") / shots
    # Decay (0.1) or, surviving it, a 1→0 readout flip (0.05).
    _within(zeros, 0.1 + 0.9 * 0.05, shots, "damping + readout")


def test_qws_simulator_precision_parameter_matches_aer(ws):
    """`inputParams.precision` through the real server: exact probabilities in either precision
    agree with qiskit-aer's in the same precision; any other value fails the job clearly."""
    import json

    import numpy as np
    from azure.quantum.target import Target
    from qiskit import QuantumCircuit, transpile
    from qiskit_aer import AerSimulator

    rng = np.random.default_rng(17)
    n = 10
    qc = QuantumCircuit(n)
    gates = []
    for layer in range(8):
        for q in range(n):
            a, b = (float(x) for x in rng.random(2) * 2 * np.pi)
            qc.ry(a, q)
            qc.rz(b, q)
            gates += [{"gate": "ry", "target": q, "rotation": a}, {"gate": "rz", "target": q, "rotation": b}]
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
            gates.append({"gate": "cnot", "control": q, "target": q + 1})
    program = json.dumps({"qubits": n, "circuit": gates})
    target = Target(ws, "qws.simulator", provider_id="qws", input_data_format="ionq.circuit.v1",
                    output_data_format="ionq.quantum-results.v1", content_type="application/json")
    for precision, tol in (("single", 1e-5), ("double", 1e-10)):
        backend = AerSimulator(method="statevector", precision=precision)
        sv_qc = transpile(qc, backend, optimization_level=0)
        sv_qc.save_statevector()
        want = np.abs(np.asarray(backend.run(sv_qc).result().get_statevector())) ** 2
        job = _succeeded(target.submit(program, name=f"qws-{precision}", shots=100,
                                       input_params={"precision": precision}))
        got = np.zeros(1 << n)
        for k, p in job.get_results()["histogram"].items():
            got[int(k)] = p
        # Probabilities below 1e-14 are left out of exact histograms.
        assert np.abs(got - want).max() < tol, (precision, np.abs(got - want).max())
    job = _finished(target.submit(program, name="qws-half", shots=10, input_params={"precision": "half"}))
    assert job.details.status == JobStatus.FAILED
    assert job.details.error_data.code == "InvalidInputParams"
    assert "inputParams.precision" in job.details.error_data.message


# ---- Rigetti Quil ------------------------------------------------------------------------------


def test_quil_through_the_rigetti_target_with_substitutions(ws):
    from azure.quantum.target.rigetti import InputParams, Result, Rigetti, RigettiTarget

    bell = "DECLARE ro BIT[2]\n\nH 0\nCNOT 0 1\n\nMEASURE 0 ro[0]\nMEASURE 1 ro[1]\n"
    for name in (RigettiTarget.QVM, RigettiTarget.CEPHEUS_1_108Q):
        target = Rigetti(workspace=ws, name=name)
        job = _succeeded(target.submit(input_data=bell, name="bell-quil", shots=20,
                                       input_params=InputParams(skip_quilc=False)))
        ro = Result(job)["ro"]
        assert len(ro) == 20
        assert all(shot in ([0, 0], [1, 1]) for shot in ro), ro
    # The SDK docstring's example: one run per substitution set, each of `count` shots.
    program = (
        "DECLARE ro BIT[3]\nDECLARE theta REAL[2]\nDECLARE beta REAL[1]\n"
        "RX(theta[0]) 0\nRX(theta[1]) 1\nRX(beta) 2\n"
        "MEASURE 0 ro[0]\nMEASURE 1 ro[1]\nMEASURE 2 ro[2]\n"
    )
    params = InputParams(
        count=2,
        substitutions={"theta": [[0.0, math.pi], [math.pi, 0.0]], "beta": [[2 * math.pi], [2 * math.pi]]},
    )
    job = _succeeded(Rigetti(workspace=ws).submit(program, name="quil-subs", input_params=params))
    assert job.details.output_data_format == "rigetti.quil-results.v1"
    assert Result(job)["ro"] == [[0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]]
    bad = _finished(Rigetti(workspace=ws).submit("DECLARE ro BIT[1]\nLABEL @start\nJUMP @start\n", name="quil-bad"))
    assert bad.details.status == JobStatus.FAILED
    assert "LABEL" in bad.details.error_data.message
