"""Generates the benchmark circuits ONCE (seeded) and writes each from the same transpiled
qiskit circuit: as qws-sim IR JSON (for the Rust runner), as a qpy file (for Aer) and, for the
simulator comparison (compare.py), as a plain gate list (for qsim and qulacs).

Usage: python gen.py OUTDIR SIZES...            (the qws-vs-Aer families of compare.py --mode aer)
       python gen.py --compare OUTDIR SIZES...  (brick, qftu, qv, hea in u + cx / 2-qubit unitaries)
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


def brick(n, layers=10, seed=5):
    """Random u3 on every qubit, then CX on alternating neighbour pairs; `layers` times."""
    r = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for layer in range(layers):
        for q in range(n):
            qc.u(*(r.random(3) * 2 * np.pi), q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    return qc


def qftu(n, seed=6):
    """A random product state, then the QFT compiled to u + cx."""
    r = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.u(*(r.random(3) * 2 * np.pi), q)
    qc.compose(QFT(n, do_swaps=True), inplace=True)
    return qc


def hea(n, layers=6, seed=8):
    """Hardware-efficient ansatz: RY and RZ on every qubit, then a CX chain; `layers` times."""
    r = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            qc.ry(r.random() * 2 * np.pi, q)
            qc.rz(r.random() * 2 * np.pi, q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    for q in range(n):
        qc.ry(r.random() * 2 * np.pi, q)
    return qc


COMPARE = {"brick": brick, "qftu": qftu, "qv": qv, "hea": hea}


def to_gate_list(qc):
    """The circuit as [name, qubits, params]: u (θ, φ, λ), cx, unitary (row-major matrix as
    [re, im] pairs, qubits[0] the least significant bit as in qiskit)."""
    idx = {q: i for i, q in enumerate(qc.qubits)}
    out = []
    for ins in qc.data:
        name = ins.operation.name
        qs = [idx[q] for q in ins.qubits]
        if name == "u":
            out.append(["u", qs, [float(x) for x in ins.operation.params]])
        elif name == "cx":
            out.append(["cx", qs, []])
        elif name == "unitary":
            m = np.asarray(ins.operation.to_matrix()).reshape(-1)
            out.append(["unitary", qs, [[float(v.real), float(v.imag)] for v in m]])
        else:
            raise SystemExit(f"gate {name} is not in the comparison gate set")
    return {"num_qubits": qc.num_qubits, "gates": out}


def main_compare(out, sizes):
    os.makedirs(out, exist_ok=True)
    for n in sizes:
        for fam, build in COMPARE.items():
            qc = build(n)
            if fam != "qv":
                qc = transpile(qc, basis_gates=["u", "cx"], optimization_level=0)
            name = f"{fam}-{n}"
            with open(os.path.join(out, name + ".json"), "w") as f:
                json.dump(to_ir(qc), f)
            with open(os.path.join(out, name + ".qpy"), "wb") as f:
                qpy.dump(qc, f)
            with open(os.path.join(out, name + ".gates.json"), "w") as f:
                json.dump(to_gate_list(qc), f)
            print(name, len(qc.data), "ops", file=sys.stderr)


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
        if name == "u":
            gate = {"U": p}
        elif name == "h":
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
    if sys.argv[1] == "--compare":
        return main_compare(sys.argv[2], [int(s) for s in sys.argv[3:]])
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
