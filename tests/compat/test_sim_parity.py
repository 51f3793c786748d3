"""Parity of `qws sim` with qiskit/qiskit-aer and cirq.

Random circuits over the whole standard gate set are exported with qiskit.qasm2.dumps and
qiskit.qasm3.dumps; the final statevector printed by `qws sim --statevector` must match
qiskit-aer's to fidelity 1-1e-10. IonQ JSON comes from the SDKs' own serializers (azure-quantum's
qiskit IonQ converter, cirq-ionq). Sampled results are checked against exact probabilities with
a fixed seed and a statistical bound, and the result documents' shapes against the formats the
clients decode. No server is needed: every test runs the `qws` binary on a file.
"""

import json
import subprocess

import numpy as np
import pytest

from conftest import find_qws_bin

FIDELITY_TOL = 1e-10


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Runs `qws sim` on program text; returns (returncode, stdout, stderr)."""
    binary = find_qws_bin()
    tmp = tmp_path_factory.mktemp("sim")
    counter = iter(range(1_000_000))

    def run(text: str, *args, suffix=".qasm", check=True):
        path = tmp / f"prog{next(counter)}{suffix}"
        path.write_text(text)
        p = subprocess.run(
            [str(binary), "sim", str(path), *args], capture_output=True, text=True, timeout=120
        )
        if check and p.returncode != 0:
            raise AssertionError(f"qws sim failed ({p.returncode}): {p.stderr}\n--- program:\n{text}")
        return p

    return run


def qws_state(sim, text, *args, suffix=".qasm"):
    doc = json.loads(sim(text, "--statevector", *args, suffix=suffix).stdout)
    amps = np.array([complex(re, im) for re, im in doc["amplitudes"]])
    return amps


def fidelity(a, b):
    return abs(np.vdot(a, b)) ** 2


def aer_state(circuit):
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    backend = AerSimulator(method="statevector")
    qc = circuit.remove_final_measurements(inplace=False)
    # Gates Aer lacks (cs, rcccx, …) are decomposed exactly; global phase is kept.
    qc = transpile(qc, backend, optimization_level=0)
    qc.save_statevector()
    result = backend.run(qc).result()
    return np.asarray(result.get_statevector())


# --- random circuits over qiskit's standard gates -------------------------------------------

# Gates the OpenQASM 2 exporter cannot write (zero-qubit) or that are not unitary.
_SKIP = {"measure", "reset", "delay", "barrier", "global_phase", "store"}


def random_standard_circuit(num_qubits, num_gates, seed, allow=None):
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import get_standard_gate_name_mapping

    rng = np.random.default_rng(seed)
    gates = [
        g
        for name, g in sorted(get_standard_gate_name_mapping().items())
        if name not in _SKIP and g.num_qubits <= num_qubits and (allow is None or name in allow)
    ]
    qc = QuantumCircuit(num_qubits)
    for _ in range(num_gates):
        proto = gates[rng.integers(len(gates))]
        params = [float(rng.uniform(-2 * np.pi, 2 * np.pi)) for _ in proto.params]
        gate = proto.__class__(*params) if params else proto
        qubits = [int(q) for q in rng.choice(num_qubits, size=gate.num_qubits, replace=False)]
        qc.append(gate, qubits)
    return qc


CASES = [(seed, nq) for seed, nq in enumerate([1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16])]


@pytest.mark.parametrize("seed,num_qubits", CASES)
def test_qasm2_export_matches_aer(sim, seed, num_qubits):
    import qiskit.qasm2

    qc = random_standard_circuit(num_qubits, 40 + 4 * num_qubits, seed)
    text = qiskit.qasm2.dumps(qc)
    f = fidelity(qws_state(sim, text), aer_state(qc))
    assert f > 1 - FIDELITY_TOL, f"fidelity {f}\n{text}"


def aer_state_in(circuit, precision):
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    backend = AerSimulator(method="statevector", precision=precision)
    qc = transpile(circuit.remove_final_measurements(inplace=False), backend, optimization_level=0)
    qc.save_statevector()
    return np.asarray(backend.run(qc).result().get_statevector())


# Single precision keeps about 7 digits per amplitude; 1 - 1e-5 is the bar for it.
PRECISION_TOL = {"single": 1e-5, "double": FIDELITY_TOL}


@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize("seed,num_qubits", [(40, 6), (41, 12), (42, 16)])
def test_both_precisions_match_aer_in_the_same_precision(sim, precision, seed, num_qubits):
    import qiskit.qasm2

    qc = random_standard_circuit(num_qubits, 120, seed)
    text = qiskit.qasm2.dumps(qc)
    ours = qws_state(sim, text, "--precision", precision)
    theirs = aer_state_in(qc, precision)
    f = fidelity(ours, theirs) / (np.vdot(ours, ours).real * np.vdot(theirs, theirs).real)
    assert f > 1 - PRECISION_TOL[precision], (precision, f)


@pytest.mark.parametrize("seed,num_qubits", CASES)
def test_qasm3_export_matches_aer(sim, seed, num_qubits):
    import qiskit.qasm3

    qc = random_standard_circuit(num_qubits, 40 + 4 * num_qubits, 1000 + seed)
    text = qiskit.qasm3.dumps(qc)
    f = fidelity(qws_state(sim, text), aer_state(qc))
    assert f > 1 - FIDELITY_TOL, f"fidelity {f}\n{text}"


def test_every_standard_gate_once(sim):
    """Each standard gate on its own (after a layer of random single-qubit rotations, so no
    gate acts on a trivial state), in both export formats."""
    import qiskit.qasm2
    import qiskit.qasm3
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import get_standard_gate_name_mapping

    rng = np.random.default_rng(7)
    for name, proto in sorted(get_standard_gate_name_mapping().items()):
        if name in _SKIP:
            continue
        n = max(proto.num_qubits, 1)
        qc = QuantumCircuit(n)
        for q in range(n):
            qc.u(*rng.uniform(-3, 3, size=3), q)
        params = [float(x) for x in rng.uniform(-3, 3, size=len(proto.params))]
        qc.append(proto.__class__(*params) if params else proto, list(range(n)))
        want = aer_state(qc)
        for dumps in (qiskit.qasm2.dumps, qiskit.qasm3.dumps):
            text = dumps(qc)
            f = fidelity(qws_state(sim, text), want)
            assert f > 1 - FIDELITY_TOL, f"{name} via {dumps.__module__}: fidelity {f}\n{text}"


# --- programs parsed by both qiskit and qws ------------------------------------------------

HANDWRITTEN_QASM2 = [
    """OPENQASM 2.0;
include "qelib1.inc";
gate mix(theta, phi) a, b { h a; cu1(theta/2) a, b; rx(-phi^2 + 1) b; cx b, a; u2(pi/4, -pi) a; }
qreg q[3];
qreg r[3];
h q;
cx q, r;
mix(0.3, sin(0.2) + cos(0.1)) q[0], r[2];
rzz(exp(0.5) - ln(2)) q[1], r[1];
cu3(0.1, 0.2, 0.3) r[0], q[2];
rccx q[0], q[1], q[2];
rc3x r[0], r[1], r[2], q[0];
c3sqrtx q[0], q[1], q[2], r[0];
c4x q[0], q[1], q[2], r[0], r[1];
cu(0.4, 0.5, 0.6, 0.7) q[1], r[1];
u0(1) q[0];
barrier q, r;
sxdg r;
crz(sqrt(2)) r[2], q[1];
""",
    """OPENQASM 2.0;
include "qelib1.inc";
qreg a[2];
qreg b[2];
u3(0.1, 0.2, 0.3) a[0];
cswap a[0], a[1], b[0];
ch a[1], b[1];
cy b[1], a[0];
cry(-0.7) a[0], b[0];
crx(0.7) b[0], a[1];
csx a[1], b[1];
rxx(0.9) a[0], b[1];
swap a, b;
""",
]


@pytest.mark.parametrize("index", range(len(HANDWRITTEN_QASM2)))
def test_handwritten_qasm2_parsed_by_both(sim, index):
    import qiskit.qasm2

    text = HANDWRITTEN_QASM2[index]
    # The legacy instruction set is qiskit's reading of the full qelib1 (rzz, cswap, c4x, …).
    qc = qiskit.qasm2.loads(text, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    f = fidelity(qws_state(sim, text), aer_state(qc))
    assert f > 1 - FIDELITY_TOL, f


def test_handwritten_qasm3_matches_an_equivalent_qiskit_circuit(sim):
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import PhaseGate, SXGate, XGate

    text = """OPENQASM 3.0;
include "stdgates.inc";
const int n = 4;
qubit[n] q;
gate layer(t) a, b { ry(t) a; cx a, b; }
for int i in [0:n-1] { h q[i]; }
for int i in [0:n-2] { layer(0.1 * (i + 1)) q[i], q[i+1]; }
ctrl @ pow(0.5) @ x q[0], q[3];
negctrl @ ctrl @ p(0.3) q[1], q[2], q[0];
inv @ layer(0.25) q[2], q[3];
pow(3) @ t q[1];
ctrl(2) @ gphase(0.4) q[0], q[1];
angle a = pi / 3;
rz(2 * a) q[2];
"""
    qc = QuantumCircuit(4)
    for i in range(4):
        qc.h(i)
    for i in range(3):
        qc.ry(0.1 * (i + 1), i)
        qc.cx(i, i + 1)
    qc.append(SXGate().control(1), [0, 3])
    qc.append(PhaseGate(0.3).control(2, ctrl_state="10"), [1, 2, 0])
    qc.cx(2, 3)
    qc.ry(-0.25, 2)
    qc.t(1)
    qc.t(1)
    qc.t(1)
    qc.append(PhaseGate(0.4).control(1), [0, 1])
    qc.rz(2 * np.pi / 3, 2)
    f = fidelity(qws_state(sim, text), aer_state(qc))
    assert f > 1 - FIDELITY_TOL, f
    _ = XGate


# --- sampling ------------------------------------------------------------------------------


def exact_probs(qc):
    return np.abs(aer_state(qc)) ** 2


def test_sampled_histogram_matches_exact_probabilities(sim):
    import qiskit.qasm2

    qc = random_standard_circuit(4, 30, 99)
    shots = 20_000
    qc_m = qc.copy()
    qc_m.measure_all()
    text = qiskit.qasm2.dumps(qc_m)
    doc = json.loads(
        sim(text, "--output-format", "ionq.quantum-results.v1", "--sampled", "--shots", str(shots), "--seed", "5").stdout
    )
    p = exact_probs(qc)
    got = np.zeros(16)
    for k, v in doc["histogram"].items():
        got[int(k)] = v
    tvd = 0.5 * np.abs(got - p).sum()
    # E[TVD] <= sqrt(K/N)/2 ~ 0.014 here; 0.04 is a generous, still meaningful bound.
    assert tvd < 0.04, (tvd, got, p)
    # Same seed, same shots.
    again = json.loads(
        sim(text, "--output-format", "ionq.quantum-results.v1", "--sampled", "--shots", str(shots), "--seed", "5").stdout
    )
    assert again == doc
    exact = json.loads(sim(text, "--output-format", "ionq.quantum-results.v1").stdout)
    for k, v in exact["histogram"].items():
        assert abs(v - p[int(k)]) < 1e-9
    assert abs(sum(exact["histogram"].values()) - 1) < 1e-9


def test_mid_circuit_measurement_and_conditionals_sample_correctly(sim):
    text = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[1];
creg d[1];
h q[0];
measure q[0] -> c[0];
if(c==1) x q[1];
measure q[1] -> d[0];
"""
    doc = json.loads(sim(text, "--output-format", "honeywell.quantum-results.v1", "--shots", "2000", "--seed", "11").stdout)
    assert list(doc) == ["c", "d"]
    assert doc["c"] == doc["d"]  # q[1] copies the measured q[0]
    ones = doc["c"].count("1") / 2000
    assert 0.45 < ones < 0.55


# --- result documents ----------------------------------------------------------------------


def test_honeywell_shape(sim):
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[0];\nmeasure q -> c;\n'
    doc = json.loads(sim(text, "--output-format", "honeywell.quantum-results.v1", "--shots", "3").stdout)
    assert doc == {"c": ["01", "01", "01"]}


def test_honeywell_registers_in_declaration_order(sim):
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg z[1];\ncreg a[2];\nx q[1];\nmeasure q[0] -> z[0];\nmeasure q[1] -> a[0];\nmeasure q[2] -> a[1];\n'
    out = sim(text, "--output-format", "honeywell.quantum-results.v1", "--shots", "2").stdout
    assert list(json.loads(out)) == ["z", "a"]
    assert json.loads(out) == {"z": ["0", "0"], "a": ["01", "01"]}


def test_microsoft_v2_shape_decodes_with_the_client(sim):
    from azure.quantum.job.job import Job  # noqa: F401  (import check: the decoder's module)

    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
    doc = json.loads(sim(text, "--output-format", "microsoft.quantum-results.v2", "--shots", "100", "--seed", "3").stdout)
    assert doc["DataFormat"] == "microsoft.quantum-results.v2"
    (result,) = doc["Results"]
    assert len(result["Shots"]) == 100
    assert sum(h["Count"] for h in result["Histogram"]) == 100
    for h in result["Histogram"]:
        assert h["Outcome"] in ([0, 0], [1, 1])
        assert h["Display"] == str(h["Outcome"])


def test_ionq_histogram_keys_are_decimal_little_endian(sim):
    ionq = {"qubits": 3, "circuit": [{"gate": "x", "targets": [0]}, {"gate": "x", "target": 2}]}
    doc = json.loads(sim(json.dumps(ionq), "--output-format", "ionq.quantum-results.v1", suffix=".json").stdout)
    assert doc == {"histogram": {"5": 1.0}}


# --- IonQ JSON from the SDK serializers ----------------------------------------------------

IONQ_QIS = [
    "h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz", "p", "cx", "cy",
    "cz", "ch", "cp", "crx", "cry", "crz", "csx", "ccx", "swap", "rxx", "ryy", "rzz",
]


@pytest.mark.parametrize("seed", range(6))
def test_qiskit_ionq_serializer_matches_aer(sim, seed):
    from azure.quantum.qiskit.backends._qiskit_ionq import qiskit_circ_to_ionq_circ

    n = 2 + seed
    qc = random_standard_circuit(n, 30, 500 + seed, allow=set(IONQ_QIS))
    gates, _, _ = qiskit_circ_to_ionq_circ(qc, gateset="qis")
    doc = {"gateset": "qis", "qubits": n, "circuit": gates}
    f = fidelity(qws_state(sim, json.dumps(doc), suffix=".json"), aer_state(qc))
    assert f > 1 - FIDELITY_TOL, (f, doc)


def test_qiskit_ionq_multi_controlled_gates(sim):
    from azure.quantum.qiskit.backends._qiskit_ionq import qiskit_circ_to_ionq_circ
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import MCPhaseGate, MCXGate

    qc = QuantumCircuit(4)
    qc.h(range(4))
    qc.append(MCXGate(3), [0, 1, 2, 3])
    qc.ry(0.3, 0)
    qc.append(MCPhaseGate(0.7, 2), [3, 1, 0])
    qc.ch(2, 0)
    gates, _, _ = qiskit_circ_to_ionq_circ(qc, gateset="qis")
    doc = {"gateset": "qis", "qubits": 4, "circuit": gates}
    f = fidelity(qws_state(sim, json.dumps(doc), suffix=".json"), aer_state(qc))
    assert f > 1 - FIDELITY_TOL, (f, doc)


def _cirq_state_little_endian(circuit, qubits):
    import cirq

    state = cirq.final_state_vector(circuit, qubit_order=qubits[::-1], dtype=np.complex128)
    return state  # qubit 0 is the last (least significant) in cirq's big-endian order


def test_cirq_ionq_serializer_qis_matches_cirq(sim):
    import cirq
    import cirq_ionq

    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(
        cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.rx(0.3)(q[2]), cirq.ry(1.1)(q[1]), cirq.rz(-0.4)(q[0]),
        cirq.S(q[2]), cirq.T(q[1]), (cirq.S**-1)(q[0]), (cirq.T**-1)(q[2]), (cirq.X**0.5)(q[1]),
        (cirq.X**-0.5)(q[0]), cirq.XX(q[0], q[2]) ** 0.3, cirq.YY(q[1], q[2]) ** 0.7,
        cirq.ZZ(q[0], q[1]) ** 0.2, cirq.SWAP(q[0], q[2]), cirq.Y(q[1]), cirq.Z(q[0]),
    )
    serialized = cirq_ionq.Serializer().serialize_single_circuit(circuit)
    doc = serialized.body
    want = _cirq_state_little_endian(circuit, q)
    f = fidelity(qws_state(sim, json.dumps(doc), suffix=".json"), want)
    assert f > 1 - FIDELITY_TOL, (f, doc)


def test_cirq_ionq_native_gates_match_cirq(sim):
    import cirq
    from cirq_ionq import Serializer
    from cirq_ionq.ionq_native_gates import GPI2Gate, GPIGate, MSGate, ZZGate

    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(
        GPI2Gate(phi=0.1)(q[0]), GPIGate(phi=0.37)(q[1]), GPI2Gate(phi=0.8)(q[2]),
        MSGate(phi0=0.1, phi1=0.25)(q[0], q[1]), MSGate(phi0=0.7, phi1=0.05, theta=0.12)(q[2], q[0]),
        ZZGate(theta=0.3)(q[1], q[2]), GPI2Gate(phi=0.33)(q[1]),
    )
    doc = Serializer().serialize_single_circuit(circuit).body
    assert doc["gateset"] == "native"
    want = _cirq_state_little_endian(circuit, q)
    f = fidelity(qws_state(sim, json.dumps(doc), suffix=".json"), want)
    assert f > 1 - FIDELITY_TOL, (f, doc)


# --- errors --------------------------------------------------------------------------------


def test_errors_are_positioned_and_exit_nonzero(sim):
    p = sim('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nhh q[0];\n', check=False)
    assert p.returncode != 0
    assert ":4:1: unknown gate 'hh'" in p.stderr
    p = sim('{"qubits": 2, "circuit": [{"gate": "h", "targets": [0]}, {"gate": "warp", "targets": [1]}]}', suffix=".json", check=False)
    assert p.returncode != 0 and "gate 1" in p.stderr and "warp" in p.stderr
    p = sim('{"qubits": 2, "circuit": [', suffix=".json", check=False)
    assert p.returncode != 0 and "malformed JSON" in p.stderr


# --- cirq's OpenQASM output ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.0", "3.0"])
@pytest.mark.parametrize("seed", range(4))
def test_cirq_qasm_export_matches_cirq(sim, version, seed):
    import warnings

    import cirq

    n = 3 + seed
    q = cirq.LineQubit.range(n)
    circuit = cirq.testing.random_circuit(q, n_moments=12, op_density=0.9, random_state=seed)
    rng = np.random.default_rng(seed)
    extra = [
        cirq.rx(float(rng.uniform(-3, 3)))(q[0]),
        cirq.XX(q[0], q[1]) ** float(rng.uniform()),
        cirq.ISWAP(q[1], q[2]) ** float(rng.uniform()),
        cirq.FSimGate(float(rng.uniform()), float(rng.uniform()))(q[0], q[2]),
        cirq.PhasedXPowGate(phase_exponent=float(rng.uniform()), exponent=float(rng.uniform()))(q[1]),
        cirq.CCZ(q[0], q[1], q[2]),
        cirq.MatrixGate(cirq.testing.random_unitary(4, random_state=seed))(q[2], q[0]),
    ]
    circuit.append(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = cirq.qasm(circuit, args=cirq.QasmArgs(version=version))
    want = _cirq_state_little_endian(circuit, q)
    f = fidelity(qws_state(sim, text), want)
    assert f > 1 - FIDELITY_TOL, (f, text)


# --- dynamic circuits (mid-circuit measurement, if/else, loops) ----------------------------


def _dynamic_circuit(seed):
    from qiskit import QuantumCircuit
    from qiskit.circuit import ClassicalRegister, QuantumRegister

    rng = np.random.default_rng(seed)
    qr, c, d = QuantumRegister(3, "q"), ClassicalRegister(2, "c"), ClassicalRegister(1, "d")
    qc = QuantumCircuit(qr, c, d)
    qc.ry(float(rng.uniform(0.3, 2.8)), 0)
    qc.measure(0, c[0])
    with qc.if_test((c[0], 1)) as else_:
        qc.rx(float(rng.uniform(0.3, 2.8)), 1)
    with else_:
        qc.h(2)
    qc.measure(1, c[1])
    with qc.if_test((c, 3)):
        qc.x(2)
    with qc.for_loop(range(3)):
        qc.ry(0.3, 2)
    qc.reset(0)
    qc.cx(2, 0)
    qc.measure(2, d[0])
    return qc


@pytest.mark.parametrize("seed", range(2))
def test_dynamic_circuits_sample_like_aer(sim, seed):
    import qiskit.qasm3
    from qiskit_aer import AerSimulator

    qc = _dynamic_circuit(seed)
    shots = 8000
    aer = AerSimulator().run(qc, shots=shots, seed_simulator=seed).result().get_counts()
    text = qiskit.qasm3.dumps(qc)
    doc = json.loads(
        sim(text, "--output-format", "honeywell.quantum-results.v1", "--shots", str(shots), "--seed", str(seed)).stdout
    )
    ours = {}
    for dbits, cbits in zip(doc["d"], doc["c"]):
        key = f"{dbits} {cbits}"  # qiskit prints the last register first
        ours[key] = ours.get(key, 0) + 1
    keys = set(aer) | set(ours)
    tvd = 0.5 * sum(abs(aer.get(k, 0) - ours.get(k, 0)) for k in keys) / shots
    # Two independent samples of <= 8 outcomes: E[TVD] ~ 0.02; 0.05 still catches a wrong branch.
    assert tvd < 0.05, (tvd, aer, ours, text)
