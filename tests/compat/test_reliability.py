"""The quick version of bench/reliability/suite.py, with its invariants asserted: no old key
accepted after a regenerate returns, no valid client locked out by an attack, no acknowledged
job lost across SIGKILLs, every poison job failing alone, no secret on disk or in the logs.
(The full version, with larger counts and the figures in the README, is a benchmark command.)"""

import importlib.util
import pathlib

import pytest

from conftest import find_qws_bin

SUITE = pathlib.Path(__file__).resolve().parents[2] / "bench" / "reliability" / "suite.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("reliability_suite", SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_key_rotation_under_load_refuses_the_old_key_at_once_and_never_the_other(suite):
    r = suite.rotation(find_qws_bin(), seconds=3, threads=4)
    assert r["requests"] > 100, r
    assert r["old-key accepts after regenerate returned"] == 0, r
    assert r["secondary-key refusals"] == 0, r
    assert r["5xx answers"] == 0, r


def test_every_acknowledged_job_ends_across_sigkills(suite):
    r = suite.crash(find_qws_bin(), rounds=2, jobs_per_round=30)
    assert r["acknowledged jobs"] > 0, r
    assert r["acknowledged jobs not terminal"] == 0, r


def test_valid_clients_keep_working_through_a_credential_guessing_attack(suite):
    r = suite.lockout(find_qws_bin(), seconds=3)
    assert r["bad credentials sent"] > 200, r  # past the default limit of 60 per address
    assert r["bad credentials throttled (429)"] > 0, r
    assert r["valid requests during the attack"] > 10, r
    assert r["valid requests refused"] == 0, r


def test_poison_jobs_fail_alone_and_the_server_keeps_serving(suite):
    r = suite.poison(find_qws_bin(), full=False)
    assert r["server alive after the corpus"], r
    assert r["Bell job after the corpus succeeded"], r
    by_name = {name: (status, code) for name, status, code in r["jobs"]}
    assert len(by_name) == len(suite.poison_corpus(False)), r
    for name, (status, code) in by_name.items():
        assert status in ("Succeeded", "Failed"), (name, status)
        if status == "Failed":
            assert code in ("InvalidInputData", "ExecutionLimitExceeded"), (name, code)
    assert by_name["memory bomb: 65,536 classical bits x 200,000 shots"] == ("Failed", "ExecutionLimitExceeded")
    assert by_name["qasm: 100,000 nested parentheses"] == ("Failed", "InvalidInputData")


def test_no_key_or_secret_reaches_the_disk_or_the_logs(suite):
    r = suite.secrets_scan(find_qws_bin())
    assert r["secrets searched"] >= 7, r
    assert r["files searched"] >= 3, r
    assert r["files holding a secret"] == [], r
