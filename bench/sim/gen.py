"""Generates the benchmark circuits ONCE (seeded) and writes each twice from the same
transpiled qiskit circuit: as qws-sim IR JSON (for the Rust runner) and as a qpy file (for Aer).

Usage: python gen.py OUTDIR SIZES...   (e.g. gen.py /tmp/qws-bench 16 20 24)
"""

import json
import os
import sys
import warnings

import numpy as np
from qiskit import QuantumCircuit, qpy, transpile
from qiskit.circuit.library import QFT, QuantumVolume

warnings.filterwarnings("ignore", category=DeprecationWarning)

BASIS = ["h", "x", "cx", "cp", "swap", "rx", "rz"]


def qft(n):
    qc = QuantumCircuit(n)
    qc.x(0)
    qc.compose(QFT(n, do_swaps=True).decompose(), inplace=True)
    return qc


def qcbm(n, depth=9, seed=1):
    """The qulacs/benchmark-qulacs QCBM shape: rotation layers plus a ring of CNOTs."""
    r = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.rx(r.random(), q)
        qc.rz(r.random(), q)
    for q in range(n):
        qc.cx(q, (q + 1) % n)
    for _ in range(depth):
        for q in range(n):
            qc.rz(r.random(), q)
            qc.rx(r.random(), q)
            qc.rz(r.random(), q)
        for q in range(n):
            qc.cx(q, (q + 1) % n)
    for q in range(n):
        qc.rz(r.random(), q)
        qc.rx(r.random(), q)
    return qc


def qv(n, seed=11):
    return QuantumVolume(n, seed=seed).decompose()


def ghz(n):
    qc = QuantumCircuit(n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    return qc


FAMILIES = {"qft": qft, "qcbm": qcbm, "qv": qv, "ghz": ghz}


def to_ir(qc):
    idx = {q: i for i, q in enumerate(qc.qubits)}
    cidx = {c: i for i, c in enumerate(qc.clbits)}
    ops = []
    for ins in qc.data:
        name = ins.operation.name
        qs = [idx[q] for q in ins.qubits]
        p = [float(x) for x in ins.operation.params] if name != "unitary" else None
        if name == "measure":
            ops.append({"Measure": {"qubit": qs[0], "clbit": cidx[ins.clbits[0]]}})
            continue
        if name == "barrier":
            ops.append({"Barrier": qs})
            continue
        gate, targets, controls = None, qs, []
        if name == "h":
            gate = "H"
        elif name == "x":
            gate = "X"
        elif name == "cx":
            gate, controls, targets = "X", [qs[0]], [qs[1]]
        elif name == "cp":
            gate, controls, targets = {"Phase": p[0]}, [qs[0]], [qs[1]]
        elif name == "swap":
            gate = "Swap"
        elif name == "rx":
            gate = {"RX": p[0]}
        elif name == "rz":
            gate = {"RZ": p[0]}
        elif name == "unitary":
            m = np.asarray(ins.operation.to_matrix())
            data = [[float(v.real), float(v.imag)] for v in m.reshape(-1)]
            gate = {"Unitary": {"dim": int(m.shape[0]), "data": data}}
        else:
            raise SystemExit(f"gate {name} is not mapped to the qws IR")
        ops.append({"Gate": {"gate": gate, "targets": targets, "controls": controls}})
    return {
        "num_qubits": qc.num_qubits,
        "num_clbits": qc.num_clbits,
        "qregs": [],
        "cregs": [{"name": "meas", "bits": list(range(qc.num_clbits))}] if qc.num_clbits else [],
        "ops": ops,
    }


def main():
    out = sys.argv[1]
    sizes = [int(s) for s in sys.argv[2:]]
    os.makedirs(out, exist_ok=True)
    for n in sizes:
        for fam, build in FAMILIES.items():
            qc = build(n)
            if fam != "qv":  # QuantumVolume decomposes to 2-qubit `unitary` gates both run as is
                qc = transpile(qc, basis_gates=BASIS, optimization_level=0)
            variants = {"": qc}
            if fam in ("ghz", "qft"):
                m = qc.copy()
                m.measure_all()
                variants["-shots"] = m
            for suffix, c in variants.items():
                name = f"{fam}-{n}{suffix}"
                with open(os.path.join(out, name + ".json"), "w") as f:
                    json.dump(to_ir(c), f)
                with open(os.path.join(out, name + ".qpy"), "wb") as f:
                    qpy.dump(c, f)
                print(name, len(c.data), "ops", file=sys.stderr)


if __name__ == "__main__":
    main()
