"""Job webhooks end to end: a receiver on loopback gets a real delivery from `qws serve`, and the
verification code printed in the README (run here as written) accepts it and rejects a tampered
body, signature, timestamp or secret."""

import http.server
import json
import pathlib
import re
import threading
import time

import pytest

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
BELL_IONQ = {
    "qubits": 2,
    "circuit": [{"gate": "h", "targets": [0]}, {"gate": "cnot", "control": 0, "target": 1}],
}


def readme_verifier():
    """The README's verification function, executed from the README's own text."""
    text = README.read_text()
    marker = text.index("<!-- webhook-verify")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert block, "the README has the verification snippet after its marker"
    namespace = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    return namespace["verify_qws_signature"]


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_readme_verification_accepts_deliveries_and_detects_tampering(qws, receiver, unique_name, tmp_path):
    verify = readme_verifier()
    token = qws.token()
    name = unique_name("hook")
    hook = qws.workspace_path(qws.resource_group, qws.workspace_name, f"/webhooks/{name}")
    api = "?api-version=2023-11-13-preview"
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    status, _, created = qws.request("PUT", hook + api, token, {"properties": {"url": url}})
    assert status == 201, created
    secret = created["properties"]["secret"]
    try:
        program = tmp_path / "bell.json"
        program.write_text(json.dumps(BELL_IONQ))
        home = qws.logged_in_home()
        job_name = unique_name("hooked")
        run = qws.cli("job", "submit", "-t", "ionq.simulator", "--job-input-file", program,
                      "--shots", "10", "--job-name", job_name, "-o", "json", home=home,
                      env={"AZURE_QUANTUM_CONNECTION_STRING": ""})
        assert run.returncode == 0, run
        job_id = run.json()["id"]

        deadline = time.monotonic() + 180
        delivery = None
        while delivery is None:
            for headers, body in list(receiver.seen):
                if json.loads(body)["data"]["id"] == job_id:
                    delivery = (headers, body)
            assert time.monotonic() < deadline, "no delivery for the job"
            time.sleep(0.1)
        headers, body = delivery
        headers = {k.lower(): v for k, v in headers.items()}
        event = json.loads(body)
        assert event["type"] == "job.terminal"
        assert event["data"]["status"] == "Succeeded"
        assert headers["qws-event-id"] == event["id"]
        signature = headers["qws-signature"]

        assert verify(secret, signature, body)
        assert not verify(secret, signature, body.replace(b"Succeeded", b"Failed"))
        assert not verify(secret, signature, body + b" ")
        fields = dict(p.split("=", 1) for p in signature.split(","))
        flipped = fields["v1"][:-1] + ("0" if fields["v1"][-1] != "0" else "1")
        assert not verify(secret, f"t={fields['t']},v1={flipped}", body)
        assert not verify(secret, f"t={int(fields['t']) + 1},v1={fields['v1']}", body)
        assert not verify("whsec_" + "A" * 43, signature, body)
        assert not verify(secret, "", body)
        # A replay long after the fact is refused even with a valid signature.
        assert not verify(secret, signature, body, tolerance=-1)
    finally:
        status, _, _ = qws.request("DELETE", hook + api, token)
        assert status == 200
