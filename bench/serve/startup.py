"""Start-up time, idle memory and shutdown time of `qws serve`.

Usage: python3 bench/serve/startup.py [path/to/qws]   (default target/release/qws)

Five rounds, each on a fresh data directory: a first start (creates the master key, database,
bootstrap records, CA and server certificate) and a later start on the same directory. "Ready"
is the time from spawning the process to its `qws listening on` line, which is printed after
bootstrap.json is written and both listeners are bound. RSS is VmRSS after one idle second.
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

QWS = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "release", "qws")


def run(data_dir):
    t0 = time.monotonic()
    p = subprocess.Popen(
        [QWS, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in p.stdout:
        if line.startswith("qws listening on"):
            break
    ready = time.monotonic() - t0
    time.sleep(1.0)
    with open(f"/proc/{p.pid}/status") as f:
        rss_kib = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    t1 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait()
    return ready, rss_kib, time.monotonic() - t1, rc


def main():
    first, later = [], []
    for _ in range(5):
        d = os.path.join(tempfile.mkdtemp(prefix="qws-startup-"), "data")
        first.append(run(d))
        later.append(run(d))
    for name, rs in (("first start", first), ("later start", later)):
        print(
            f"{name}: ready median {statistics.median(r[0] for r in rs) * 1000:.0f} ms "
            f"(max {max(r[0] for r in rs) * 1000:.0f}), "
            f"idle RSS median {statistics.median(r[1] for r in rs) / 1024:.1f} MiB, "
            f"SIGTERM to exit median {statistics.median(r[2] for r in rs) * 1000:.0f} ms, "
            f"exit codes {sorted(set(r[3] for r in rs))}"
        )


if __name__ == "__main__":
    main()
