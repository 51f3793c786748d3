"""qws-sim vs qiskit-aer, the fair protocol of the engines reference (§3.5).

Same circuits (generated once by gen.py, same transpiled circuit for both), same resources
(2 threads each, double precision), fusion on and off for both, one warm-up each, then
interleaved timed repetitions (qws, Aer, qws, Aer, …), medians and minima, peak RSS, and a
statevector fidelity check against Aer for every circuit.

Usage: bench.py --circuits DIR --bin PATH/bench_run [--sizes 16 20 24] [--reps 5] [--reps-large 3]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


class Worker:
    def __init__(self, argv, env):
        self.p = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.hello = self._read()

    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.p.args} died")
        return json.loads(line)

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait()


def fidelity(qws_path, aer_path):
    a = np.fromfile(qws_path, dtype="<f8").view(np.complex128)
    b = np.load(aer_path)
    return float(abs(np.vdot(a, b)) ** 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--circuits", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, default=[16, 20, 24])
    ap.add_argument("--families", nargs="+", default=["qft", "qcbm", "qv", "ghz", "ghz-shots", "qft-shots"])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--reps-large", type=int, default=3, help="timed reps from 24 qubits on")
    ap.add_argument("--fusion", nargs="+", default=["on", "off"])
    ap.add_argument("--json-out")
    a = ap.parse_args()

    env = dict(os.environ, RAYON_NUM_THREADS="2", OMP_NUM_THREADS="2")
    rows = []
    tmp = tempfile.mkdtemp(prefix="qws-bench-")
    for n in a.sizes:
        for fam in a.families:
            base = fam.replace("-shots", "")
            shots = 1024 if fam.endswith("-shots") else 0
            name = f"{base}-{n}" + ("-shots" if shots else "")
            js = os.path.join(a.circuits, name + ".json")
            qp = os.path.join(a.circuits, name + ".qpy")
            if not os.path.exists(js):
                continue
            fid = None
            for fusion in a.fusion:
                extra = ["--shots", str(shots)] if shots else []
                q = Worker([a.bin, js, "--fusion", fusion] + extra, env)
                w = Worker([sys.executable, os.path.join(HERE, "aer_worker.py"), qp, "--fusion", fusion] + extra, env)
                q.cmd("run")  # warm-up (page faults, thread pools)
                w.cmd("run")
                reps = a.reps_large if n >= 24 else a.reps
                tq, ta, tat = [], [], []
                for _ in range(reps):
                    tq.append(q.cmd("run")["sim_s"])
                    r = w.cmd("run")
                    ta.append(r["sim_s"])
                    tat.append(r["aer_time_taken_s"])
                rss_q = q.cmd("rss")["peak_rss_kib"]
                rss_a = w.cmd("rss")["peak_rss_kib"]
                if fid is None and not shots:
                    qs, as_ = os.path.join(tmp, "q.bin"), os.path.join(tmp, "a.npy")
                    q.cmd(f"state {qs}")
                    w.cmd(f"state {as_}")
                    fid = fidelity(qs, as_)
                    os.remove(qs)
                    os.remove(as_)
                q.close()
                w.close()
                row = {
                    "circuit": name,
                    "qubits": n,
                    "ops": q.hello["ops"],
                    "fusion": fusion,
                    "qws_parse_s": q.hello["parse_s"],
                    "qws_median_s": statistics.median(tq),
                    "qws_min_s": min(tq),
                    "aer_median_s": statistics.median(ta),
                    "aer_min_s": min(ta),
                    "aer_internal_median_s": statistics.median(tat),
                    "qws_rss_mib": rss_q / 1024,
                    "aer_rss_mib": rss_a / 1024,
                    "aer_idle_rss_mib": w.hello["idle_rss_kib"] / 1024,
                    "fidelity": fid,
                    "reps": reps,
                }
                row["ratio"] = row["qws_median_s"] / row["aer_median_s"]
                rows.append(row)
                print(fmt(row), flush=True)
    print()
    print(table(rows))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=1)


def machine():
    import qiskit
    import qiskit_aer

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "qiskit": qiskit.__version__,
        "qiskit_aer": qiskit_aer.__version__,
    }


def fmt(r):
    return (
        f"{r['circuit']:<14} fusion={r['fusion']:<3} qws {r['qws_median_s']:.4f}s (min {r['qws_min_s']:.4f})"
        f"  aer {r['aer_median_s']:.4f}s (internal {r['aer_internal_median_s']:.4f})  ratio {r['ratio']:.2f}"
        f"  rss {r['qws_rss_mib']:.0f}/{r['aer_rss_mib']:.0f} MiB  fid {r['fidelity']}"
    )


def table(rows):
    out = [
        "| circuit | ops | fusion | qws median (min) s | Aer median (min) s | Aer internal s | qws/Aer | peak RSS qws / Aer (Aer idle) MiB | fidelity |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fid = "—" if r["fidelity"] is None else f"{r['fidelity']:.12f}"
        out.append(
            f"| {r['circuit']} | {r['ops']} | {r['fusion']} | {r['qws_median_s']:.4f} ({r['qws_min_s']:.4f}) "
            f"| {r['aer_median_s']:.4f} ({r['aer_min_s']:.4f}) | {r['aer_internal_median_s']:.4f} "
            f"| **{r['ratio']:.2f}×** | {r['qws_rss_mib']:.0f} / {r['aer_rss_mib']:.0f} ({r['aer_idle_rss_mib']:.0f}) | {fid} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()
