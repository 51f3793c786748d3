"""Aer side of the benchmark: same line protocol as crates/qws-sim/examples/bench_run.rs.

Usage: aer_worker.py CIRCUIT.qpy --fusion on|off [--shots N]
Commands on stdin: run | state PATH | rss | quit. One JSON line out per command.
"""

import json
import resource
import sys
import time

import numpy as np
from qiskit import qpy, transpile
from qiskit_aer import AerSimulator


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    path = sys.argv[1]
    args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    fusion = args.get("--fusion", "on") == "on"
    shots = int(args.get("--shots", "0"))
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        qc = qpy.load(f)[0]
    sim = AerSimulator(
        method="statevector",
        precision="double",
        max_parallel_threads=2,
        fusion_enable=fusion,
        seed_simulator=7,
    )
    state_qc = qc.copy()
    if not shots:
        state_qc.save_statevector()
    tq = transpile(state_qc, sim, optimization_level=0)
    sv_qc = transpile(_with_state(qc), sim, optimization_level=0)
    print(json.dumps({"load_transpile_s": time.perf_counter() - t0, "idle_rss_kib": peak_rss_kib()}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "run":
            t = time.perf_counter()
            r = sim.run(tq, shots=shots or 1).result()
            wall = time.perf_counter() - t
            res = r.results[0]
            print(
                json.dumps(
                    {
                        "sim_s": wall,
                        "aer_time_taken_s": res.time_taken,
                        "measure_sampling": res.metadata.get("measure_sampling"),
                    }
                ),
                flush=True,
            )
        elif words[0] == "state":
            r = sim.run(sv_qc, shots=1).result()
            np.save(words[1], np.asarray(r.get_statevector(), dtype=np.complex128))
            print(json.dumps({"ok": True}), flush=True)
        elif words[0] == "rss":
            print(json.dumps({"peak_rss_kib": peak_rss_kib()}), flush=True)


def _with_state(qc):
    c = qc.remove_final_measurements(inplace=False)
    c.save_statevector()
    return c


if __name__ == "__main__":
    main()
