"""Azurite, the Azure Storage emulator, for the suites that run qws with `--blob-backend azure`.

`ensure_installed()` installs the pinned npm package into a cache directory when it is missing
(`$QWS_AZURITE_DIR`, default `~/.cache/qws/azurite-<version>`); `Azurite.start()` runs
`azurite-blob` on a free loopback port with a temporary location, and `stop()` ends it.
"""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
# The emulator's published development key (the same for every Azurite; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_TIMEOUT_S = 60


def install_dir() -> pathlib.Path:
    default = pathlib.Path.home() / ".cache" / "qws" / f"azurite-{VERSION}"
    return pathlib.Path(os.environ.get("QWS_AZURITE_DIR") or default)


def ensure_installed() -> pathlib.Path:
    """The `azurite-blob` executable, installed with npm (pinned) if it is not there yet."""
    root = install_dir()
    exe = root / "node_modules" / ".bin" / "azurite-blob"
    if exe.exists():
        return exe
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to install Azurite (apt-get install nodejs npm)")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(root), f"azurite@{VERSION}"],
        check=True,
    )
    if not exe.exists():
        raise RuntimeError(f"npm install azurite@{VERSION} did not produce {exe}")
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Azurite:
    """A running `azurite-blob`."""

    def __init__(self, proc, port, location):
        self.proc = proc
        self.port = port
        self.location = location
        self.blob_endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    @classmethod
    def start(cls) -> "Azurite":
        exe = ensure_installed()
        location = pathlib.Path(tempfile.mkdtemp(prefix="qws-azurite-"))
        port = _free_port()
        log = open(location / "azurite.log", "wb")
        proc = subprocess.Popen(
            [
                str(exe),
                "--blobHost", "127.0.0.1",
                "--blobPort", str(port),
                "--location", str(location / "data"),
                # The storage SDK of the pinned clients sends a newer x-ms-version than the
                # emulator knows.
                "--skipApiVersionCheck",
                "--silent",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        az = cls(proc, port, location)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"azurite-blob exited with {proc.returncode}: {az.log_tail()}")
            try:
                urllib.request.urlopen(f"{az.blob_endpoint}?comp=list", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # an answer (403 without a signature) means it listens
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        else:
            az.stop()
            raise RuntimeError(f"azurite-blob did not start in {STARTUP_TIMEOUT_S}s")
        return az

    def log_tail(self) -> str:
        try:
            return (self.location / "azurite.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.location, ignore_errors=True)

    def service_client(self):
        """An `azure-storage-blob` client of the emulator (to look at what qws stored)."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)
