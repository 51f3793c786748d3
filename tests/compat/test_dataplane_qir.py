"""QIR end to end: Q# compiled by the pinned qdk, submitted through the unmodified client
(`qdk.azure.Workspace`, plain HTTP + access key) to the real `qws serve`, and the results
decoded by the client's own `get_results`, `get_results_histogram` and `get_results_shots`.

* Base-profile Bell on `ionq.simulator`: only [0, 0]/[1, 1], balanced within a binomial bound.
* Adaptive_RI programs (teleportation with measurement-controlled corrections, repeat until
  success) on `quantinuum.sim.h2-1e`: the distribution agrees with qdk's local simulator
  (`qsharp.run`) and the job's inputParams carry `target_profile` Adaptive_RI.
* `qws.simulator` accepts both profiles.
* Programs a target cannot run (an adaptive program on Base-only `ionq.simulator`, QIR calling an
  unknown intrinsic through the generic `submit(input_data=…, input_data_format="qir.v1")`
  path) end Failed with an errorData that names the problem.
"""

import math
import os

import pytest

os.environ.setdefault("QDK_PYTHON_TELEMETRY", "none")

from qdk import qsharp  # noqa: E402
from azure.quantum import JobStatus  # noqa: E402
from qdk.azure import Workspace  # noqa: E402
from conftest import key_workspace, primary_key_of  # noqa: E402

SHOTS = 1000
WAIT_S = 120

BELL_SRC = """
operation Bell() : Result[] {
  use qs = Qubit[2];
  H(qs[0]); CNOT(qs[0], qs[1]);
  MResetEachZ(qs)
}
"""

ADAPTIVE_SRC = """
// Teleports Ry(1.2)|0> from m to b; the X/Z corrections depend on mid-circuit results.
// Without correct branching, b's statistics would depend on the two mid-circuit results.
operation Teleport() : (Result, Result, Result) {
  use (m, a, b) = (Qubit(), Qubit(), Qubit());
  Ry(1.2, m);
  H(a); CNOT(a, b);
  CNOT(m, a); H(m);
  let ra = MResetZ(a);
  let rm = MResetZ(m);
  if ra == One { X(b); }
  if rm == One { Z(b); }
  (rm, ra, MResetZ(b))
}
// The same, then undoes the rotation: b always ends in |0>.
operation TeleportUndo() : Result {
  use (m, a, b) = (Qubit(), Qubit(), Qubit());
  Ry(1.2, m);
  H(a); CNOT(a, b);
  CNOT(m, a); H(m);
  if MResetZ(a) == One { X(b); }
  if MResetZ(m) == One { Z(b); }
  Ry(-1.2, b);
  MResetZ(b)
}
// Repeat until success: the attempt count is geometric (capped at 4).
operation RepeatUntilSuccess() : (Result, Int) {
  use q = Qubit();
  mutable n = 0;
  mutable done = false;
  for _ in 1..4 { if not done { H(q); set done = M(q) == One; set n += 1; } }
  let x = MResetZ(q);
  (x, n)
}
"""


def _compile(profile, src, names):
    qsharp.init(target_profile=profile)
    qsharp.eval(src)
    return {name: (qsharp.compile(f"{name}()"), qsharp.run(f"{name}()", shots=SHOTS)) for name in names}


@pytest.fixture(scope="module")
def programs():
    """name → (QirInputData as qdk submits it, qdk simulator shots)."""
    out = _compile(qsharp.TargetProfile.Base, BELL_SRC, ["Bell"])
    adaptive = ["Teleport", "TeleportUndo", "RepeatUntilSuccess"]
    out.update(_compile(qsharp.TargetProfile.Adaptive_RI, ADAPTIVE_SRC, adaptive))
    return out


@pytest.fixture(scope="module")
def ws(qws, mgmt_client):
    return key_workspace(qws, primary_key_of(qws, mgmt_client), workspace_class=Workspace)


def _finished(job):
    job.wait_until_completed(timeout_secs=WAIT_S)
    return job


def _succeeded(job):
    _finished(job)
    assert job.details.status == JobStatus.SUCCEEDED, job.details.error_data
    assert job.details.input_data_format == "qir.v1"
    assert job.details.output_data_format == "microsoft.quantum-results.v2"
    return job


def _client_display(v) -> str:
    """A value decoded by the client (lists, tuples, ints, result strings) in the Display syntax."""
    if isinstance(v, tuple):
        return "(" + ", ".join(_client_display(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_client_display(x) for x in v) + "]"
    return str(v)


def _qdk_display(v) -> str:
    """A value from `qsharp.run` in the same syntax."""
    if isinstance(v, qsharp.Result):
        return "1" if v == qsharp.Result.One else "0"
    if isinstance(v, tuple):
        return "(" + ", ".join(_qdk_display(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_qdk_display(x) for x in v) + "]"
    return str(v)


def _counts(values, display):
    out = {}
    for v in values:
        key = display(v)
        out[key] = out.get(key, 0) + 1
    return out


def _assert_same_distribution(ours: dict, theirs: dict):
    """Two samples' frequencies agree outcome by outcome within 5 standard deviations."""
    n1, n2 = sum(ours.values()), sum(theirs.values())
    for key in set(ours) | set(theirs):
        c1, c2 = ours.get(key, 0), theirs.get(key, 0)
        p = (c1 + c2) / (n1 + n2)
        sigma = math.sqrt(max(p * (1 - p), 1e-12) * (1 / n1 + 1 / n2))
        assert abs(c1 / n1 - c2 / n2) <= 5 * sigma + 1 / n1, (key, ours, theirs)


def _client_views(job, shots):
    """The client's three decodings of one result, checked against each other; returns the
    shot counts keyed by Display text."""
    freqs = job.get_results()
    histogram = job.get_results_histogram()
    shot_list = job.get_results_shots()
    assert len(shot_list) == shots
    counts = _counts(shot_list, _client_display)
    assert set(freqs) == set(histogram) == set(counts), (freqs, histogram, counts)
    for display, entry in histogram.items():
        assert entry["count"] == counts[display]
        assert _client_display(entry["outcome"]) == display
        assert math.isclose(freqs[display], counts[display] / shots)
    return counts


# ---- Base profile on IonQ ----------------------------------------------------------------------


def test_qsharp_bell_on_ionq_simulator(ws, programs):
    qir, _ = programs["Bell"]
    target = ws.get_targets("ionq.simulator")
    job = _succeeded(target.submit(qir, name="qsharp-bell", shots=SHOTS))
    params = job.details.input_params
    assert params["target_profile"] == "Base" and params["shots"] == SHOTS
    assert params["entryPoint"] == "ENTRYPOINT__main"
    counts = _client_views(job, SHOTS)
    assert set(counts) == {"[0, 0]", "[1, 1]"}, counts
    # Fair coin: 5 standard deviations of a binomial(SHOTS, 1/2).
    assert abs(counts["[0, 0]"] - SHOTS / 2) <= 5 * math.sqrt(SHOTS / 4), counts
    assert job.get_results_shots()[0] in ([0, 0], [1, 1])


# ---- Adaptive_RI on Quantinuum -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["Teleport", "RepeatUntilSuccess"])
def test_adaptive_program_on_quantinuum_matches_qdk(ws, programs, name):
    qir, reference = programs[name]
    target = ws.get_targets("quantinuum.sim.h2-1e")
    # Compared with qdk's ideal simulator: the emulator's noise model is switched off as on Azure.
    job = _succeeded(
        target.submit(qir, name=f"adaptive-{name}", shots=SHOTS, input_params={"error-model": False})
    )
    assert job.details.input_params["target_profile"] == "Adaptive_RI"
    counts = _client_views(job, SHOTS)
    _assert_same_distribution(counts, _counts(reference, _qdk_display))
    if name == "Teleport":
        # The teleported qubit's statistics do not depend on the mid-circuit results
        # (P(1) = sin²(0.6) ≈ 0.32 for each of the four correction branches).
        expected = math.sin(0.6) ** 2
        for rm in "01":
            for ra in "01":
                ones = counts.get(f"({rm}, {ra}, 1)", 0)
                total = ones + counts.get(f"({rm}, {ra}, 0)", 0)
                assert total > 0, counts
                sigma = math.sqrt(expected * (1 - expected) / total)
                assert abs(ones / total - expected) <= 5 * sigma, (rm, ra, counts)
    else:
        # A first success ends the loop; "n attempts" only with all earlier ones failing.
        assert {k for k in counts if k.startswith("(0")} <= {"(0, 4)"}, counts


def test_teleport_with_undo_is_deterministic_on_quantinuum(ws, programs):
    qir, _ = programs["TeleportUndo"]
    target = ws.get_targets("quantinuum.sim.h2-1e")
    job = _succeeded(target.submit(qir, name="teleport-undo", shots=200, input_params={"error-model": False}))
    assert job.get_results() == {"0": 1.0}
    assert job.get_results_shots() == [0] * 200


# ---- qws.simulator runs both profiles ----------------------------------------------------------


def test_qws_simulator_accepts_base_and_adaptive(ws, programs):
    target = ws.get_targets("qws.simulator")
    bell = _succeeded(target.submit(programs["Bell"][0], name="qws-bell", shots=200))
    assert set(_client_views(bell, 200)) == {"[0, 0]", "[1, 1]"}
    undo = _succeeded(
        target.submit(programs["TeleportUndo"][0], name="qws-teleport", shots=200, target_profile="Adaptive_RI")
    )
    assert undo.details.input_params["target_profile"] == "Adaptive_RI"
    assert undo.get_results() == {"0": 1.0}


# ---- programs a target cannot run --------------------------------------------------------------


def test_adaptive_program_on_base_only_ionq_fails(ws, programs):
    target = ws.get_targets("ionq.simulator")
    job = _finished(target.submit(programs["Teleport"][0], name="adaptive-on-ionq", shots=10))
    assert job.details.status == JobStatus.FAILED
    error = job.details.error_data
    assert error.code == "UnsupportedProfile", error
    assert "ionq.simulator" in error.message and "adaptive" in error.message.lower(), error.message
    with pytest.raises(RuntimeError, match="UnsupportedProfile|Base QIR profile"):
        job.get_results()


def test_unknown_intrinsic_through_generic_submit_fails(ws, programs):
    text = str(programs["Bell"][0])
    assert "@__quantum__qis__h__body" in text
    hostile = text.replace("@__quantum__qis__h__body", "@__quantum__qis__frobnicate__body")
    target = ws.get_targets("qws.simulator")
    job = _finished(
        target.submit(
            input_data=hostile.encode(),
            name="unknown-intrinsic",
            shots=10,
            input_params={"entryPoint": "ENTRYPOINT__main", "arguments": []},
            input_data_format="qir.v1",
            output_data_format="microsoft.quantum-results.v2",
            content_type="qir.v1",
        )
    )
    assert job.details.status == JobStatus.FAILED
    error = job.details.error_data
    assert error.code in ("UnsupportedProgram", "InvalidInputData"), error
    assert "__quantum__qis__frobnicate__body" in error.message, error.message


def test_text_that_is_not_qir_fails(ws):
    job = _finished(
        ws.get_targets("qws.simulator").submit(
            input_data=b"define void @nope() {\n}\n",
            name="not-qir",
            input_data_format="qir.v1",
            output_data_format="microsoft.quantum-results.v2",
            content_type="qir.v1",
        )
    )
    assert job.details.status == JobStatus.FAILED
    assert job.details.error_data.code == "InvalidInputData"
    assert "entry_point" in job.details.error_data.message
