"""QIR through `qws sim`, checked against qdk's own simulator and decoded by the real clients.

Fixtures are generated at test time:
  * Q# programs compiled with the pinned qdk (`qsharp.compile`) for the Base and Adaptive_RI
    profiles (textual LLVM IR with typed pointers, exactly what qdk submits);
  * the same programs converted to LLVM bitcode by pyqir (opaque pointers), and a
    pyqir SimpleModule built directly as bitcode;
  * qiskit circuits turned into QIR by azure-quantum's own IonQ QIR backend
    (`_translate_input`, offline).
Each program runs with `qws sim --format qir --output-format microsoft.quantum-results.v2`; its
histogram is compared statistically with `qsharp.run` on the same program, and the document is
decoded by azure-quantum's `Job.get_results*` and qiskit's `AzureQuantumJob.result()`.
No server is needed.
"""

import json
import math
import os
import subprocess
from types import SimpleNamespace

import pytest

from conftest import find_qws_bin

os.environ.setdefault("QDK_PYTHON_TELEMETRY", "none")

from qdk import qsharp  # noqa: E402

SHOTS = 2000

BASE_SRC = """
operation Bell() : (Result, Result) {
  use (a, b) = (Qubit(), Qubit());
  H(a); CNOT(a, b);
  let r = (M(a), M(b)); ResetAll([a, b]); r
}
operation Ghz() : Result[] {
  use qs = Qubit[3];
  H(qs[0]); for i in 1..2 { CNOT(qs[0], qs[i]); }
  MResetEachZ(qs)
}
operation Rot() : (Result[], Result) {
  use qs = Qubit[2]; use q = Qubit();
  Rx(0.7, qs[0]); Ry(1.1, qs[1]); Rzz(0.3, qs[0], qs[1]); Rxx(0.2, qs[0], qs[1]);
  Ryy(0.4, qs[0], qs[1]); S(qs[0]); Adjoint T(qs[1]); H(q); Adjoint S(q); Y(q); Z(q);
  Rz(0.2, q); SWAP(qs[0], qs[1]); CZ(qs[0], qs[1]); CCNOT(qs[0], qs[1], q);
  (MResetEachZ(qs), MResetZ(q))
}
"""

ADAPTIVE_SRC = """
operation Teleport() : Result {
  use (m, a, b) = (Qubit(), Qubit(), Qubit());
  Ry(1.2, m);
  H(a); CNOT(a, b);
  CNOT(m, a); H(m);
  if M(a) == One { X(b); }
  if M(m) == One { Z(b); }
  Ry(-1.2, b);
  let r = M(b); ResetAll([m, a, b]); r
}
operation RepeatUntilSuccess() : (Result, Int) {
  use q = Qubit();
  mutable n = 0;
  mutable done = false;
  for _ in 1..5 { if not done { H(q); set done = M(q) == One; set n += 1; } }
  let x = M(q); Reset(q);
  (x, n)
}
operation Arithmetic() : (Int, Bool) {
  use qs = Qubit[3];
  ApplyToEach(H, qs);
  mutable v = 0;
  for i in 0..2 { if MResetZ(qs[i]) == One { set v += 1 <<< i; } }
  (v * 3 - 1, v > 3)
}
"""

BASE_PROGRAMS = ["Bell", "Ghz", "Rot"]
ADAPTIVE_PROGRAMS = ["Teleport", "RepeatUntilSuccess", "Arithmetic"]


@pytest.fixture(scope="module")
def qws_sim(tmp_path_factory):
    """Runs `qws sim` on QIR bytes; returns the parsed results document."""
    binary = find_qws_bin()
    tmp = tmp_path_factory.mktemp("qir")
    counter = iter(range(1_000_000))

    def run(program: bytes, shots=SHOTS, seed=11, extra=(), expect_ok=True):
        path = tmp / f"p{next(counter)}.qir"
        path.write_bytes(program)
        args = [str(binary), "sim", str(path), "--format", "qir", "--shots", str(shots),
                "--seed", str(seed), "--output-format", "microsoft.quantum-results.v2", *extra]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if not expect_ok:
            return done
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def _compile(src: str, profile, names):
    qsharp.init(target_profile=profile)
    qsharp.eval(src)
    out = {}
    for name in names:
        qir = str(qsharp.compile(f"{name}()"))
        reference = qsharp.run(f"{name}()", shots=SHOTS)
        out[name] = (qir, reference)
    return out


@pytest.fixture(scope="module")
def qdk_programs():
    """name → (textual QIR as qdk submits it, qdk simulator shots)."""
    programs = {}
    programs.update(_compile(BASE_SRC, qsharp.TargetProfile.Base, BASE_PROGRAMS))
    programs.update(_compile(ADAPTIVE_SRC, qsharp.TargetProfile.Adaptive_RI, ADAPTIVE_PROGRAMS))
    return programs


def _display(v) -> str:
    """qdk's Python values → the Display strings qws writes."""
    if isinstance(v, qsharp.Result):
        return "1" if v == qsharp.Result.One else "0"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_display(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_display(x) for x in v) + "]"
    raise AssertionError(f"unexpected qdk value {v!r}")


def _assert_same_distribution(doc, reference_shots):
    """Every outcome's frequency agrees within 5 standard deviations (+1 count of slack)."""
    ours = {h["Display"]: h["Count"] for h in doc["Results"][0]["Histogram"]}
    n_ours = len(doc["Results"][0]["Shots"])
    theirs = {}
    for s in reference_shots:
        d = _display(s)
        theirs[d] = theirs.get(d, 0) + 1
    n_ref = len(reference_shots)
    for key in set(ours) | set(theirs):
        p1, p2 = ours.get(key, 0) / n_ours, theirs.get(key, 0) / n_ref
        p = (ours.get(key, 0) + theirs.get(key, 0)) / (n_ours + n_ref)
        sigma = math.sqrt(max(p * (1 - p), 1e-12) * (1 / n_ours + 1 / n_ref))
        assert abs(p1 - p2) <= 5 * sigma + 1 / n_ours, (key, ours, theirs)


class LocalJob:
    """An azure-quantum `Job` whose output blob is a local document: the client's own
    `get_results`, `get_results_histogram` and `get_results_shots` decode it."""

    def __new__(cls, doc: dict, input_params=None, metadata=None):
        from azure.quantum.job import Job, JobDetails

        class _Job(Job):
            def download_data(self, blob_uri):
                return json.dumps(doc).encode()

            def refresh(self):
                return None

        job = Job.__new__(_Job)
        job.details = JobDetails(
            id="local", name="local", provider_id="microsoft", target="local",
            container_uri="local://c", input_data_format="qir.v1",
            output_data_format="microsoft.quantum-results.v2",
            input_params=input_params or {}, metadata=metadata,
        )
        job.details.status = "Succeeded"
        job.details.output_data_uri = "local://out"
        job.results = None
        return job


@pytest.mark.parametrize("name", BASE_PROGRAMS + ADAPTIVE_PROGRAMS)
def test_qdk_text_matches_qdk_simulator(qws_sim, qdk_programs, name):
    qir, reference = qdk_programs[name]
    doc = qws_sim(qir.encode())
    assert doc["DataFormat"] == "microsoft.quantum-results.v2"
    assert len(doc["Results"]) == 1
    assert len(doc["Results"][0]["Shots"]) == SHOTS
    _assert_same_distribution(doc, reference)
    # The client decodes it; Display keys map to the converted outcomes and frequencies.
    job = LocalJob(doc)
    freqs = job.get_results()
    assert math.isclose(sum(freqs.values()), 1.0)
    histogram = job.get_results_histogram()
    assert set(histogram) == set(freqs)
    shots = job.get_results_shots()
    assert len(shots) == SHOTS
    # Outcome and shots agree with the Display text (Python literal syntax).
    for display, entry in histogram.items():
        assert _display_of_client_value(entry["outcome"]) == display
    assert {_display_of_client_value(s) for s in shots} == set(histogram)


def _display_of_client_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "(" + ", ".join(_display_of_client_value(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_display_of_client_value(x) for x in v) + "]"
    return str(v)


def test_teleport_is_deterministic(qws_sim, qdk_programs):
    doc = qws_sim(qdk_programs["Teleport"][0].encode(), shots=200)
    assert LocalJob(doc).get_results() == {"0": 1.0}


@pytest.mark.parametrize("name", BASE_PROGRAMS + ADAPTIVE_PROGRAMS)
def test_pyqir_bitcode_matches_text(qws_sim, qdk_programs, name):
    import pyqir

    qir, reference = qdk_programs[name]
    module = pyqir.Module.from_ir(pyqir.Context(), qir, name)
    bitcode = module.bitcode
    assert bitcode[:4] == b"BC\xc0\xde"
    from_bits = qws_sim(bitcode, seed=5)
    from_text = qws_sim(qir.encode(), seed=5)
    # Same program, same seed: identical documents; and the distribution matches qdk's.
    assert from_bits == from_text
    _assert_same_distribution(from_bits, reference)
    # The opaque-pointer text pyqir prints is accepted too.
    assert qws_sim(str(module).encode(), seed=5) == from_text


def test_pyqir_simple_module_bitcode(qws_sim):
    import pyqir

    sm = pyqir.SimpleModule("bell", 2, 2)
    qis = pyqir.BasicQisBuilder(sm.builder)
    qis.h(sm.qubits[0])
    qis.cx(sm.qubits[0], sm.qubits[1])
    qis.mz(sm.qubits[0], sm.results[0])
    qis.mz(sm.qubits[1], sm.results[1])
    doc = qws_sim(sm.bitcode())
    freqs = LocalJob(doc).get_results()
    assert set(freqs) == {"[0, 0]", "[1, 1]"}
    assert abs(freqs["[0, 0]"] - 0.5) < 0.05


def test_pyqir_dynamic_branching_bitcode(qws_sim):
    """pyqir-built adaptive program: measure, branch on the result with `if_result`."""
    import pyqir

    sm = pyqir.SimpleModule("fix", 1, 2)
    qis = pyqir.BasicQisBuilder(sm.builder)
    qis.h(sm.qubits[0])
    qis.mz(sm.qubits[0], sm.results[0])
    qis.if_result(sm.results[0], one=lambda: qis.x(sm.qubits[0]))
    qis.mz(sm.qubits[0], sm.results[1])
    doc = qws_sim(sm.bitcode(), shots=400)
    # The correction always leaves the qubit in |0>: results[1] is 0 in every shot.
    freqs = LocalJob(doc).get_results()
    assert set(freqs) <= {"[0, 0]", "[1, 0]"}
    assert len(freqs) == 2


def _qiskit_backend():
    from azure.quantum.qiskit.backends.ionq import IonQSimulatorQirBackend

    return IonQSimulatorQirBackend("ionq.simulator", provider=None)


def _qiskit_result(backend, doc, input_params, metadata):
    from azure.quantum.qiskit.job import AzureQuantumJob

    job = AzureQuantumJob.__new__(AzureQuantumJob)
    job._azure_job = LocalJob(doc, input_params=input_params, metadata=metadata)
    job._backend = backend
    job._job_id = "local"
    return job.result()


def test_qiskit_circuit_through_azure_quantum_qir_backend(qws_sim):
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    q = QuantumRegister(3)
    a = ClassicalRegister(2, "a")
    b = ClassicalRegister(1, "b")
    circuit = QuantumCircuit(q, a, b, name="bell_plus")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.x(2)
    circuit.measure(0, a[0])
    circuit.measure(1, a[1])
    circuit.measure(2, b[0])
    backend = _qiskit_backend()
    input_params = backend._get_input_params({}, shots=1000)
    qir = backend._translate_input(circuit, input_params)  # what the client uploads
    items = input_params["items"]
    assert [i["entryPoint"] for i in items] == ["ENTRYPOINT__main"]
    doc = qws_sim(qir, shots=1000, extra=["--entry-point", items[0]["entryPoint"]])
    metadata = backend._prepare_job_metadata(circuit)
    result = _qiskit_result(backend, doc, input_params, metadata)
    counts = result.get_counts()
    # qiskit's convention: registers space-separated, last register first.
    assert set(counts) == {"1 00", "1 11"}, counts
    assert sum(counts.values()) == 1000
    assert abs(counts["1 00"] - 500) < 100
    assert len(result.get_memory()) == 1000


def test_hostile_qir_fails_cleanly(qws_sim, qdk_programs):
    import pyqir

    qir = qdk_programs["Bell"][0]
    huge = qir.replace('"required_num_qubits"="4"', '"required_num_qubits"="4000000"')
    done = qws_sim(huge.encode(), expect_ok=False)
    assert done.returncode != 0 and "qubits" in done.stderr
    spin = (
        "define void @m() #0 {\nentry:\n  br label %spin\nspin:\n  br label %spin\n}\n"
        'attributes #0 = { "entry_point" }\n'
    )
    done = qws_sim(spin.encode(), shots=3, expect_ok=False)
    assert done.returncode != 0 and "steps" in done.stderr and "%spin" in done.stderr
    line = qir[: qir.index("call void")].count("\n") + 1
    done = qws_sim(qir.replace("call void", "call voyd", 1).encode(), expect_ok=False)
    assert done.returncode != 0 and f".qir:{line}:" in done.stderr, done.stderr
    bitcode = pyqir.Module.from_ir(pyqir.Context(), qir, "b").bitcode
    for cut in (4, 8, 40, len(bitcode) // 2, len(bitcode) - 3):
        done = qws_sim(bitcode[:cut], shots=1, expect_ok=False)
        assert done.returncode != 0, cut
        assert "panicked" not in done.stderr, done.stderr
    flipped = bytearray(bitcode)
    for i in range(8, len(flipped), 37):
        flipped[i] ^= 0x5A
    done = qws_sim(bytes(flipped), shots=1, expect_ok=False)
    assert "panicked" not in done.stderr, done.stderr
