"""qws against qsim, qulacs and qiskit-aer on the same gate lists (bench/README.md,
"Simulator comparison"). For each circuit every simulator runs in its own worker process
(2 threads each), warms up once, then all run in turn (interleaved) `--reps` times; the table
shows medians. Each final state is checked against a double-precision reference (Aer f64 unless --reference says otherwise)
by fidelity |<ref|psi>|^2. For qws the table also shows the memory bandwidth its passes use:
bytes moved (each fused pass reads and writes the whole state) per second, as a fraction of
what a plain streaming copy (numpy, one thread) achieves on this machine.

Usage: compare.py --circuits DIR --bin PATH/bench_run --sizes 20 24 [--reps 3] [--json-out F]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = ["brick", "qftu", "qv", "hea"]
# (label, kind, precision); Aer f64 is the default fidelity reference (--reference).
SIMS = [
    ("qws f64", "qws", "double"),
    ("qws f32", "qws", "single"),
    ("qsim f32", "qsim", "single"),
    ("qulacs f64", "qulacs", "double"),
    ("aer f64", "aer", "double"),
    ("aer f32", "aer", "single"),
]
REFERENCE = "aer f64"


class Worker:
    def __init__(self, argv, env):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
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


def copy_bandwidth(mib=1024, reps=5):
    """Bytes per second of np.copyto over a large array (read + write counted once each)."""
    a = np.ones(mib << 17)  # float64: mib MiB
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def load_state(path):
    return np.fromfile(path, dtype="<c16")


def worker_argv(kind, precision, base, binary):
    if kind == "qws":
        return [binary, base + ".json", "--precision", precision]
    return [sys.executable, os.path.join(HERE, "py_worker.py"), kind, base + ".gates.json", base + ".qpy",
            "--precision", precision]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--circuits", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, default=[20, 24, 26])
    ap.add_argument("--families", nargs="+", default=FAMILIES)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sims", nargs="+", help="a subset of the simulators, by label (e.g. 'qws f64')")
    ap.add_argument("--reference", default=REFERENCE, help="the double-precision state fidelities are taken against")
    ap.add_argument("--json-out")
    ap.add_argument("--readme", help="write the table into this file between its markers")
    ap.add_argument("--machine", default="")
    ap.add_argument("--command", default="bench/sim/compare.sh")
    a = ap.parse_args()

    sims = [s for s in SIMS if not a.sims or s[0] in a.sims or s[0] == a.reference]
    env = dict(os.environ, RAYON_NUM_THREADS="2", OMP_NUM_THREADS="2", QULACS_NUM_THREADS="2")
    bw = copy_bandwidth()
    print(f"streaming copy: {bw / 1e9:.2f} GB/s", flush=True)
    tmp = tempfile.mkdtemp(prefix="qws-compare-")
    rows = []
    for n in a.sizes:
        for fam in a.families:
            name = f"{fam}-{n}"
            base = os.path.join(a.circuits, name)
            if not os.path.exists(base + ".json"):
                continue
            workers = {label: Worker(worker_argv(kind, prec, base, a.bin), env) for label, kind, prec in sims}
            for w in workers.values():
                w.cmd("run")  # warm-up: page faults, thread pools, JIT-free but cache-cold
            times = {label: [] for label in workers}
            for _ in range(a.reps):
                for label, w in workers.items():
                    times[label].append(w.cmd("run")["sim_s"])
            plan = workers["qws f64"].cmd("plan")
            passes = plan_passes(plan)
            states = {}
            for label, w in workers.items():
                path = os.path.join(tmp, label.replace(" ", "_") + ".bin")
                w.cmd(f"state {path}")
                states[label] = path
            ref = load_state(states[a.reference])
            row = {"circuit": name, "qubits": n, "ops": workers["qws f64"].hello["ops"], "passes": passes, "sims": {}}
            for label, kind, prec in sims:
                psi = load_state(states[label])
                fid = float(abs(np.vdot(ref, psi)) ** 2 / (np.vdot(psi, psi).real * np.vdot(ref, ref).real))
                med = statistics.median(times[label])
                entry = {"median_s": med, "times": times[label], "fidelity": fid, "precision": prec}
                if kind == "qws" and passes:
                    amp = 8 if prec == "single" else 16
                    entry["bandwidth_fraction"] = passes * 2 * amp * (1 << n) / med / bw
                row["sims"][label] = entry
                os.remove(states[label])
            for w in workers.values():
                w.close()
            rows.append(row)
            print(fmt(row), flush=True)
    print()
    print(table(rows, bw, a.reference))
    if a.readme:
        write_readme(a.readme, rows, bw, a)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"copy_bytes_per_s": bw, "rows": rows}, f, indent=1)


BEGIN = "<!-- sim-compare:begin (written by bench/sim/compare.py) -->"
END = "<!-- sim-compare:end -->"


def write_readme(path, rows, bw, a):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers")
    load = open("/proc/loadavg").read().split()[:3]
    body = "\n".join([
        BEGIN,
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {a.machine}; load after "
        f"{' '.join(load)}. Medians of {a.reps} interleaved runs, 2 threads each. Reproduce with "
        f"`{a.command}`.",
        "",
        table(rows, bw, a.reference),
        END,
    ])
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(head + body + tail)


def plan_passes(plan):
    """Number of fused passes from bench_run's `plan` answer ({"gates": G, "passes": {...}})."""
    p = plan.get("passes")
    if isinstance(p, dict):
        return sum(p.values())
    return None


def fmt(r):
    parts = [f"{r['circuit']:<10}"]
    for label, e in r["sims"].items():
        parts.append(f"{label} {e['median_s']:.3f}s (F {1 - e['fidelity']:.1e})")
    return "  ".join(parts)


def table(rows, bw, reference=REFERENCE):
    labels = [s[0] for s in SIMS if all(s[0] in r["sims"] for r in rows)]
    out = [
        "| circuit | gates / qws passes | " + " | ".join(labels) + " | qws f32 / qsim | qws f64 / qsim | qws bandwidth f64 / f32 |",
        "|---|---|" + "---|" * len(labels) + "---|---|---|",
    ]
    for r in rows:
        s = r["sims"]
        cells = [f"{s[l]['median_s']:.3f} s" for l in labels]
        q = s["qsim f32"]["median_s"] if "qsim f32" in s else float("nan")
        bwf = " / ".join(f"{s[l].get('bandwidth_fraction', 0):.0%}" for l in ("qws f64", "qws f32") if l in s)
        out.append(
            f"| {r['circuit']} | {r['ops']} / {r['passes']} | " + " | ".join(cells)
            + f" | {s.get('qws f32', {}).get('median_s', float('nan')) / q:.2f}× | {s['qws f64']['median_s'] / q:.2f}× | {bwf} |"
        )
    out.append("")
    out.append(f"Infidelity 1 − F against {reference} (worst over circuits): "
               + ", ".join(f"{l} {max(1 - r['sims'][l]['fidelity'] for r in rows):.1e}" for l in labels))
    out.append(f"Streaming copy on this machine: {bw / 1e9:.2f} GB/s (numpy, one thread).")
    return "\n".join(out)


if __name__ == "__main__":
    main()
