"""pyquil-for-azure-quantum, unmodified, runs its README example against `rigetti.sim.qvm`.

The package pins an older azure-quantum, so it lives in its own virtualenv (`.venv-pyquil`, from
`tests/compat/requirements-pyquil.txt`; `scripts/test` creates it, `$QWS_PYQUIL_PYTHON` names
another interpreter). It connects as the README says: `AZURE_QUANTUM_*` variables and azure-identity
credentials from the environment, through `qws serve --azure-compat` (HTTPS proxy and the
server's CA), exactly as it would reach Azure.
"""

import os
import pathlib
import subprocess

from conftest import REPO
from test_connect_azure_compat import compat  # noqa: F401  (the module's --azure-compat server)

EXAMPLE = '''
from pyquil.gates import CNOT, MEASURE, H
from pyquil.quil import Program
from pyquil.quilbase import Declare
from pyquil_for_azure_quantum import get_qvm

qc = get_qvm()
program = Program(
    Declare("ro", "BIT", 2),
    H(0),
    CNOT(0, 1),
    MEASURE(0, ("ro", 0)),
    MEASURE(1, ("ro", 1)),
).wrap_in_numshots_loop(5)
result = qc.run(qc.compile(program))
data_per_shot = result.readout_data["ro"]
assert data_per_shot.shape == (5, 2)
for shot in data_per_shot:
    assert shot[0] == shot[1], data_per_shot
print("OK", data_per_shot.tolist())
'''


def pyquil_python() -> str:
    python = os.environ.get("QWS_PYQUIL_PYTHON") or str(REPO / ".venv-pyquil" / "bin" / "python")
    if not pathlib.Path(python).is_file():
        raise RuntimeError(f"no pyquil virtualenv at {python}: run scripts/test or set QWS_PYQUIL_PYTHON")
    return python


def test_pyquil_readme_example_on_qvm(compat):  # noqa: F811
    b = compat.b
    env = {
        **os.environ,
        "AZURE_QUANTUM_SUBSCRIPTION_ID": b["subscriptionId"],
        "AZURE_QUANTUM_WORKSPACE_RG": b["resourceGroup"],
        "AZURE_QUANTUM_WORKSPACE_NAME": b["workspaceName"],
        "AZURE_QUANTUM_WORKSPACE_LOCATION": b["location"],
        "AZURE_AUTHORITY_HOST": b["authority"],
        "AZURE_TENANT_ID": "adfs",
        "AZURE_CLIENT_ID": b["clientId"],
        "AZURE_CLIENT_SECRET": b["clientSecret"],
    }
    r = subprocess.run([pyquil_python(), "-c", EXAMPLE], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.splitlines()[-1].lstrip(".").startswith("OK"), r.stdout
