"""qsim, qulacs and Aer sides of the simulator comparison: the line protocol of
crates/qws-sim/examples/bench_run.rs (run | state PATH | rss | quit, one JSON line each).

Usage: py_worker.py qsim|qulacs|aer NAME.gates.json NAME.qpy --precision single|double
Each simulator runs the same gate list to its final state with 2 threads and its own fusion.
States are written as complex128 little-endian with qubit 0 the least significant bit.
"""

import json
import sys
import time

import numpy as np

THREADS = 2


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def u_matrix(theta, phi, lam):
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array(
        [[c, -np.exp(1j * lam) * s], [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]]
    )


def unitary(params):
    m = np.array([complex(re, im) for re, im in params])
    d = int(round(len(m) ** 0.5))
    return m.reshape(d, d)


def qsim_runner(doc, precision):
    import cirq
    import qsimcirq

    if precision != "single":
        raise SystemExit("qsim runs in single precision only")
    n = doc["num_qubits"]
    q = cirq.LineQubit.range(n)
    ops = []
    for name, qs, p in doc["gates"]:
        if name == "u":
            ops.append(cirq.MatrixGate(u_matrix(*p)).on(q[qs[0]]))
        elif name == "cx":
            ops.append(cirq.CNOT(q[qs[0]], q[qs[1]]))
        else:
            # cirq's first qubit is the most significant; the list's first is the least.
            ops.append(cirq.MatrixGate(unitary(p)).on(*[q[i] for i in reversed(qs)]))
    circuit = cirq.Circuit(ops)
    sim = qsimcirq.QSimSimulator(qsim_options=qsimcirq.QSimOptions(cpu_threads=THREADS, max_fused_gate_size=4))
    order = list(reversed(q))  # qubit 0 least significant, as in qiskit and qws

    def run():
        return sim.simulate(circuit, qubit_order=order).final_state_vector

    return run


def qulacs_runner(doc, precision):
    from qulacs import QuantumCircuit, QuantumState
    from qulacs.gate import DenseMatrix

    if precision != "double":
        raise SystemExit("qulacs runs in double precision only")
    n = doc["num_qubits"]
    c = QuantumCircuit(n)
    for name, qs, p in doc["gates"]:
        if name == "u":
            c.add_gate(DenseMatrix(qs[0], u_matrix(*p)))
        elif name == "cx":
            c.add_CNOT_gate(qs[0], qs[1])
        else:
            c.add_gate(DenseMatrix(qs, unitary(p)))  # qs[0] is the least significant bit

    def run():
        s = QuantumState(n)
        c.update_quantum_state(s)
        return s

    return run


def aer_runner(qpy_path, precision):
    from qiskit import qpy, transpile
    from qiskit_aer import AerSimulator

    with open(qpy_path, "rb") as f:
        qc = qpy.load(f)[0]
    sim = AerSimulator(method="statevector", precision=precision, max_parallel_threads=THREADS)
    qc = qc.copy()
    qc.save_statevector()
    tq = transpile(qc, sim, optimization_level=0)

    def run():
        return sim.run(tq, shots=1).result().get_statevector()

    return run


def as_array(state):
    if hasattr(state, "get_vector"):  # qulacs
        return state.get_vector()
    return np.asarray(state)


def main():
    which, gates_path, qpy_path = sys.argv[1:4]
    precision = dict(zip(sys.argv[4::2], sys.argv[5::2])).get("--precision", "double")
    with open(gates_path) as f:
        doc = json.load(f)
    if which == "qsim":
        run = qsim_runner(doc, precision)
    elif which == "qulacs":
        run = qulacs_runner(doc, precision)
    else:
        run = aer_runner(qpy_path, precision)
    print(json.dumps({"qubits": doc["num_qubits"], "ops": len(doc["gates"])}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "run":
            t = time.perf_counter()
            st = run()
            s = time.perf_counter() - t
            del st
            print(json.dumps({"sim_s": s}), flush=True)
        elif words[0] == "state":
            a = np.ascontiguousarray(as_array(run()), dtype="<c16")
            a.tofile(words[1])
            print(json.dumps({"ok": True}), flush=True)
        elif words[0] == "rss":
            print(json.dumps({"peak_rss_kib": peak_rss_kib()}), flush=True)


if __name__ == "__main__":
    main()
