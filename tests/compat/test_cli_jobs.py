"""The `qws` CLI's data-plane commands (`target list`, `job submit|list|show|wait|output|cancel`,
`run`) against the shared server, with the workspace chosen by connection string (flag or
AZURE_QUANTUM_CONNECTION_STRING) or by the defaults of `qws login`."""

import json

import pytest

from conftest import assert_bell_histogram

BELL_QASM = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
BELL_IONQ = {
    "qubits": 2,
    "circuit": [{"gate": "h", "targets": [0]}, {"gate": "cnot", "control": 0, "target": 1}],
}


@pytest.fixture
def cli(qws, tmp_path):
    """Runs the CLI as a fresh user with the bootstrap connection string in the environment."""
    home = qws.new_config_home()

    def run(*args, env=None):
        full = {"AZURE_QUANTUM_CONNECTION_STRING": qws.primary_connection_string}
        full.update(env or {})
        return qws.cli(*args, home=home, env=full)

    return run


@pytest.fixture
def programs(tmp_path):
    qasm = tmp_path / "bell.qasm"
    qasm.write_text(BELL_QASM)
    ionq = tmp_path / "bell.json"
    ionq.write_text(json.dumps(BELL_IONQ))
    return qasm, ionq


def test_target_list_in_every_output_format(cli):
    targets = cli("target", "list", "-o", "json").json()
    ids = {t["id"] for t in targets}
    assert {"ionq.simulator", "quantinuum.sim.h2-1e"} <= ids
    only_ionq = cli("target", "list", "--provider", "ionq", "-o", "json").json()
    assert only_ionq and all(t["providerId"] == "ionq" for t in only_ionq)
    table = cli("target", "list")
    assert table.returncode == 0 and table.stdout.splitlines()[0].startswith("Provider")
    tsv = cli("target", "list", "-o", "tsv")
    assert any(line.split("\t")[1] == "ionq.simulator" for line in tsv.stdout.splitlines())


def test_run_prints_an_ascii_histogram(cli, programs):
    qasm, _ = programs
    # The emulator's noise model off (as `az quantum run --job-params error-model=false`), so the
    # histogram holds exactly the two Bell outcomes.
    r = cli(
        "run", "-t", "quantinuum.sim.h2-1e", "--job-input-file", qasm, "--shots", "200",
        "--job-params", "error-model=false",
    )
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Outcome", "Count", "Probability"]
    rows = [line.split() for line in lines[2:]]
    assert {row[0] for row in rows} <= {"00", "11"}
    assert sum(int(row[1]) for row in rows) == 200
    assert all(set(row[3]) == {"#"} for row in rows)
    assert "submitted job" in r.stderr


def test_submit_wait_show_output_list_cancel(cli, programs, unique_name):
    _, ionq = programs
    name = unique_name("cli-bell")
    job = cli(
        "job", "submit", "-t", "ionq.simulator", "--job-input-file", ionq, "--shots", "100",
        "--job-name", name, "--job-params", "note=hello", "count=3", "-o", "json",
    ).json()
    assert job["inputDataFormat"] == "ionq.circuit.v1"
    assert job["inputParams"] == {"note": "hello", "count": 3, "shots": 100}
    job_id = job["id"]

    waited = cli("job", "wait", "-j", job_id, "-o", "json")
    assert waited.json()["status"] == "Succeeded"
    assert "Succeeded" in waited.stderr  # progress on stderr
    assert cli("job", "show", "-j", job_id, "-o", "json").json()["id"] == job_id

    raw = cli("job", "output", "-j", job_id, "-o", "json").json()
    assert_bell_histogram(raw["histogram"], 100)
    tsv = cli("job", "output", "-j", job_id, "-o", "tsv")
    probs = {line.split("\t")[0]: float(line.split("\t")[2]) for line in tsv.stdout.splitlines()}
    assert probs.keys() == raw["histogram"].keys(), tsv.stdout
    for outcome, p in probs.items():
        assert abs(p - raw["histogram"][outcome]) < 1e-6, tsv.stdout

    listed = cli("job", "list", "--name", name, "-o", "json").json()
    assert [j["id"] for j in listed] == [job_id]
    assert job_id in cli("job", "list", "-o", "tsv").stdout

    # A finished job cannot be cancelled: the service's error, exit status 1.
    cancel = cli("job", "cancel", "-j", job_id)
    assert cancel.returncode == 1
    assert cancel.stderr.startswith("error: InvalidJobState: "), cancel.stderr
    assert "has already finished (Succeeded)" in cancel.stderr, cancel.stderr
    assert cli("job", "show", "-j", job_id, "-o", "json").json()["status"] == "Succeeded"


def test_workspace_from_login_defaults(qws, programs):
    _, ionq = programs
    home = qws.logged_in_home()
    env = {"AZURE_QUANTUM_CONNECTION_STRING": ""}
    r = qws.cli("target", "list", "-o", "json", home=home, env=env)
    assert "ionq.simulator" in {t["id"] for t in r.json()}, r
    r = qws.cli("run", "-t", "ionq.simulator", "--job-input-file", ionq, "--shots", "100", "-o", "json",
                home=home, env=env)
    assert_bell_histogram(r.json()["histogram"], 100)


def test_errors_are_clear_and_never_show_the_key(qws, cli, programs):
    qasm, _ = programs
    cs = qws.primary_connection_string
    key = next(p[len("ApiKey="):] for p in cs.split(";") if p.startswith("ApiKey="))
    wrong = cs.replace(key, key[:-2] + ("AA" if not key.endswith("AA") else "BB"))
    r = cli("target", "list", "--connection-string", wrong)
    assert r.returncode == 1 and r.stdout == "", r
    assert r.stderr.startswith("error: "), r
    assert "401" in r.stderr or "Unauthorized" in r.stderr, r
    assert key[:-2] not in r.stderr and key[:-2] not in r.stdout
    r = cli("target", "list", env={"AZURE_QUANTUM_CONNECTION_STRING": cs.rstrip(";")})
    assert r.returncode == 1 and "QuantumEndpoint" in r.stderr and key not in r.stderr
    r = cli("job", "show", "-j", "00000000-0000-0000-0000-000000000000")
    assert r.returncode == 1 and "JobNotFound" in r.stderr
    r = cli("job", "submit", "-t", "ionq.simulator", "--job-input-file", qasm, "--job-params", "oops")
    assert r.returncode == 1 and "key=value" in r.stderr
    home = qws.new_config_home()
    r = qws.cli("target", "list", home=home, env={"AZURE_QUANTUM_CONNECTION_STRING": ""})
    assert r.returncode == 1 and "connection-string" in r.stderr


def test_run_qir_from_qdk(cli, tmp_path):
    """Textual QIR as qdk compiles it: format detected as qir.v1, entry point sent, v2 results."""
    import qsharp

    qsharp.init(target_profile=qsharp.TargetProfile.Base)
    qsharp.eval(
        "operation Bell() : (Result, Result) { use (a, b) = (Qubit(), Qubit()); H(a); CNOT(a, b); (MResetZ(a), MResetZ(b)) }"
    )
    program = tmp_path / "bell.ll"
    program.write_text(str(qsharp.compile("Bell()")))
    job = cli("job", "submit", "-t", "ionq.simulator", "--job-input-file", program, "--shots", "40", "-o", "json").json()
    assert job["inputDataFormat"] == "qir.v1"
    assert job["outputDataFormat"] == "microsoft.quantum-results.v2"
    assert job["inputParams"]["entryPoint"] == "ENTRYPOINT__main"
    assert cli("job", "wait", "-j", job["id"], "-o", "json").json()["status"] == "Succeeded"
    tsv = cli("job", "output", "-j", job["id"], "-o", "tsv")
    counts = {line.split("\t")[0]: int(line.split("\t")[1]) for line in tsv.stdout.splitlines()}
    assert set(counts) <= {"(0, 0)", "(1, 1)"} and sum(counts.values()) == 40, counts
