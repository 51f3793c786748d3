"""Where the Python suites (tests/compat, tests/portal) and bench/reliability find the `qws`
binary under test: one rule for all of them. Standard library only."""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]


def find_qws_bin() -> pathlib.Path:
    """$QWS_BIN when set, else the most recently built of target/release/qws and
    target/debug/qws. Raises when there is none, so a missing build fails every test that needs
    it instead of skipping them."""
    env = os.environ.get("QWS_BIN")
    if env:
        path = pathlib.Path(env).resolve()
        if not path.is_file():
            raise RuntimeError(f"QWS_BIN={env} is not a file")
        return path
    built = [REPO / "target" / profile / "qws" for profile in ("release", "debug")]
    built = [p for p in built if p.is_file()]
    if not built:
        raise RuntimeError("no qws binary: set QWS_BIN or run `cargo build -p qws`")
    return max(built, key=lambda p: p.stat().st_mtime)
