"""qws against qsim, qulacs and qiskit-aer on the same gate lists (bench/README.md,
"Simulator comparison"). For each circuit every simulator runs in its own worker process
(2 threads each), warms up once, then all run in turn (interleaved) `--reps` times; the table
shows medians. Each final state is checked against a double-precision reference (Aer f64 unless --reference says otherwise)
by fidelity |<ref|psi>|^2. For qws the table also shows the memory bandwidth its passes use:
bytes moved (each fused pass reads and writes the whole state) per second, as a fraction of
what a plain streaming copy (numpy, two threads) achieves on this machine.

With `--mode aer` it is instead the qws-vs-Aer protocol of the engines reference (§3.5,
bench/README.md "Simulator"): the qft/qcbm/qv/ghz families of `gen.py` (without --compare), qws
and Aer only, both in double precision with gate fusion on and off, interleaved timed runs
(fewer from 24 qubits on), medians and minima, peak RSS of each worker, and the fidelity of
qws's state against Aer's.

Usage: compare.py --circuits DIR --bin PATH/bench_run --sizes 20 24 [--reps 3] [--json-out F]
       compare.py --mode aer --circuits DIR --bin PATH/bench_run [--sizes 16 20 24] [--reps 5]
                  [--reps-large 3] [--fusion on off] [--json-out F]
"""

import argparse
import concurrent.futures
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = ["brick", "qftu", "qv", "hea"]
# --mode aer: gen.py's qws-vs-Aer families; "-shots" runs 1024 shots instead of keeping the state.
AER_FAMILIES = ["qft", "qcbm", "qv", "ghz", "ghz-shots", "qft-shots"]
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


def interleaved(workers, reps, warm_up=True):
    """One warm-up `run` per worker (page faults, thread pools), then `reps` rounds in which
    every worker runs once in turn, so that all share the same machine load. Returns each
    worker's `run` answers, by key."""
    if warm_up:
        for w in workers.values():
            w.cmd("run")
    answers = {key: [] for key in workers}
    for _ in range(reps):
        for key, w in workers.items():
            answers[key].append(w.cmd("run"))
    return answers


def fidelity(ref, psi):
    """|<ref|psi>|^2 of the two states, normalised."""
    return float(abs(np.vdot(ref, psi)) ** 2 / (np.vdot(psi, psi).real * np.vdot(ref, ref).real))


def copy_bandwidth(mib=1024, reps=5, threads=2):
    """Bytes per second of np.copyto over a large array (read + write counted once each), the
    array split between `threads` threads (numpy releases the GIL while it copies), as many as
    the simulators use."""
    a = np.ones(mib << 17)  # float64: mib MiB
    b = np.empty_like(a)
    step = len(a) // threads
    parts = [(a[i * step:(i + 1) * step], b[i * step:(i + 1) * step]) for i in range(threads)]
    best = float("inf")
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for _ in range(reps):
            t = time.perf_counter()
            list(pool.map(lambda ab: np.copyto(ab[1], ab[0]), parts))
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
    ap.add_argument("--mode", choices=["sims", "aer"], default="sims",
                    help="sims: qws against every simulator (default); aer: qws against Aer, fusion on and off")
    ap.add_argument("--circuits", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", nargs="+", type=int, help="default 20 24 26 (aer: 16 20 24)")
    ap.add_argument("--families", nargs="+")
    ap.add_argument("--reps", type=int, help="timed runs per circuit, default 3 (aer: 5)")
    ap.add_argument("--json-out")
    sims_only = ap.add_argument_group("--mode sims")
    sims_only.add_argument("--sims", nargs="+", help="a subset of the simulators, by label (e.g. 'qws f64')")
    sims_only.add_argument("--reference", default=REFERENCE, help="the double-precision state fidelities are taken against")
    sims_only.add_argument("--readme", help="write the table into this file between its markers")
    sims_only.add_argument("--machine", default="")
    sims_only.add_argument("--command", default="bench/sim/compare.sh")
    ap.add_argument("--reps-large", type=int,
                    help="timed runs for the large sizes (sims: from 26 qubits on, default --reps; aer: from 24 on, default 3); "
                         "1 also skips the warm-up there, where one run of the slower simulators takes minutes")
    aer_only = ap.add_argument_group("--mode aer")
    aer_only.add_argument("--fusion", nargs="+", default=["on", "off"])
    a = ap.parse_args()
    aer = a.mode == "aer"
    a.sizes = a.sizes or ([16, 20, 24] if aer else [20, 24, 26])
    a.families = a.families or (AER_FAMILIES if aer else FAMILIES)
    a.reps = a.reps or (5 if aer else 3)
    a.reps_large = a.reps_large or (3 if aer else a.reps)
    env = dict(os.environ, RAYON_NUM_THREADS="2", OMP_NUM_THREADS="2", QULACS_NUM_THREADS="2")
    (main_aer if aer else main_sims)(a, env)


def main_sims(a, env):
    sims = [s for s in SIMS if not a.sims or s[0] in a.sims or s[0] == a.reference]
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
            reps = a.reps_large if n >= 26 else a.reps
            runs = interleaved(workers, reps, warm_up=reps > 1)
            times = {label: [r["sim_s"] for r in answers] for label, answers in runs.items()}
            plan = workers["qws f64"].cmd("plan")
            passes = plan_passes(plan)
            states = {}
            for label, w in workers.items():
                path = os.path.join(tmp, label.replace(" ", "_") + ".bin")
                w.cmd(f"state {path}")
                states[label] = path
            ref = load_state(states[a.reference])
            row = {"circuit": name, "qubits": n, "ops": workers["qws f64"].hello["ops"], "passes": passes,
                   "runs": reps, "sims": {}}
            for label, kind, prec in sims:
                psi = load_state(states[label])
                fid = fidelity(ref, psi)
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


def main_aer(a, env):
    rows = []
    tmp = tempfile.mkdtemp(prefix="qws-bench-")
    for n in a.sizes:
        for fam in a.families:
            shots = 1024 if fam.endswith("-shots") else 0
            name = f"{fam.removesuffix('-shots')}-{n}" + ("-shots" if shots else "")
            js = os.path.join(a.circuits, name + ".json")
            qp = os.path.join(a.circuits, name + ".qpy")
            if not os.path.exists(js):
                continue
            fid = None
            for fusion in a.fusion:
                extra = ["--shots", str(shots)] if shots else []
                q = Worker([a.bin, js, "--fusion", fusion] + extra, env)
                w = Worker([sys.executable, os.path.join(HERE, "aer_worker.py"), qp, "--fusion", fusion] + extra, env)
                reps = a.reps_large if n >= 24 else a.reps
                runs = interleaved({"qws": q, "aer": w}, reps)
                tq = [r["sim_s"] for r in runs["qws"]]
                ta = [r["sim_s"] for r in runs["aer"]]
                tat = [r["aer_time_taken_s"] for r in runs["aer"]]
                rss_q = q.cmd("rss")["peak_rss_kib"]
                rss_a = w.cmd("rss")["peak_rss_kib"]
                if fid is None and not shots:
                    qs, as_ = os.path.join(tmp, "q.bin"), os.path.join(tmp, "a.npy")
                    q.cmd(f"state {qs}")
                    w.cmd(f"state {as_}")
                    fid = fidelity(np.load(as_), load_state(qs))
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
                print(fmt_aer(row), flush=True)
    print()
    print(table_aer(rows))
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


def fmt_aer(r):
    return (
        f"{r['circuit']:<14} fusion={r['fusion']:<3} qws {r['qws_median_s']:.4f}s (min {r['qws_min_s']:.4f})"
        f"  aer {r['aer_median_s']:.4f}s (internal {r['aer_internal_median_s']:.4f})  ratio {r['ratio']:.2f}"
        f"  rss {r['qws_rss_mib']:.0f}/{r['aer_rss_mib']:.0f} MiB  fid {r['fidelity']}"
    )


def table_aer(rows):
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
        f"{' '.join(load)}. Medians of {a.reps} interleaved runs after a warm-up, 2 threads each"
        + (f" (from 26 qubits on: {a.reps_large} run{'s after a warm-up' if a.reps_large > 1 else ', no warm-up'})"
           if a.reps_large != a.reps and any(r["qubits"] >= 26 for r in rows) else "")
        + ". Reproduce with "
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
    """Passes over memory from bench_run's `plan` answer ({"gates": G, "passes": {...},
    "memory_passes": P}): a cache-blocked group of fused steps counts once; older builds
    report only the fused steps."""
    if isinstance(plan.get("memory_passes"), int):
        return plan["memory_passes"]
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
    out.append(f"Streaming copy on this machine: {bw / 1e9:.2f} GB/s (numpy, two threads).")
    return "\n".join(out)


if __name__ == "__main__":
    main()
