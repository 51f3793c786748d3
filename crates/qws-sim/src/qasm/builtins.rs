//! The built-in gate libraries: `qelib1.inc` (OpenQASM 2) and `stdgates.inc` (OpenQASM 3).
//!
//! Nothing is read from disk: an `include` of either file switches these definitions on. Gates
//! map to IR base gates plus controls with qiskit's matrices (the reference statevectors come
//! from qiskit-aer), so e.g. `rz` is `diag(e^{-iθ/2}, e^{iθ/2})` and not qelib1's `u1`, and every
//! controlled gate is the exact controlled version of its base matrix.

use crate::ir::{Gate, GateOp};
use std::f64::consts::FRAC_PI_2;

/// `(name, parameters, qubits)` of every built-in gate after an include.
const LIBRARY: &[(&str, usize, usize)] = &[
    ("u3", 3, 1),
    ("u2", 2, 1),
    ("u1", 1, 1),
    ("u0", 1, 1),
    ("u", 3, 1),
    ("p", 1, 1),
    ("phase", 1, 1),
    ("id", 0, 1),
    ("x", 0, 1),
    ("y", 0, 1),
    ("z", 0, 1),
    ("h", 0, 1),
    ("s", 0, 1),
    ("sdg", 0, 1),
    ("t", 0, 1),
    ("tdg", 0, 1),
    ("sx", 0, 1),
    ("sxdg", 0, 1),
    ("rx", 1, 1),
    ("ry", 1, 1),
    ("rz", 1, 1),
    ("cx", 0, 2),
    ("CX", 0, 2),
    ("cy", 0, 2),
    ("cz", 0, 2),
    ("ch", 0, 2),
    ("csx", 0, 2),
    ("swap", 0, 2),
    ("crx", 1, 2),
    ("cry", 1, 2),
    ("crz", 1, 2),
    ("cu1", 1, 2),
    ("cp", 1, 2),
    ("cphase", 1, 2),
    ("cu3", 3, 2),
    ("cu", 4, 2),
    ("rxx", 1, 2),
    ("rzz", 1, 2),
    ("ccx", 0, 3),
    ("cswap", 0, 3),
    ("c3x", 0, 4),
    ("c3sqrtx", 0, 4),
    ("c4x", 0, 5),
];

/// Library gates defined by decomposition (relative-phase Toffolis); lowered like user gates.
pub const PRELUDE: &str = "
gate rccx a, b, c { h c; t c; cx b, c; tdg c; cx a, c; t c; cx b, c; tdg c; h c; }
gate rc3x a, b, c, d {
  h d; t d; cx c, d; tdg d; h d; cx a, d; t d; cx b, d; tdg d; cx a, d;
  t d; cx b, d; tdg d; h d; t d; cx c, d; tdg d; h d;
}
";

/// Gates that exist without any include: `U` and `CX` in OpenQASM 2, `U` and `gphase` in 3.
pub fn core(name: &str, v3: bool) -> Option<(usize, usize)> {
    match (name, v3) {
        ("U", _) => Some((3, 1)),
        ("CX", false) => Some((0, 2)),
        ("gphase", true) => Some((1, 0)),
        _ => None,
    }
}

/// Arity of a library gate, if `name` is one.
pub fn library(name: &str) -> Option<(usize, usize)> {
    LIBRARY
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, p, q)| (*p, *q))
}

fn g(gate: Gate, t: usize) -> GateOp {
    GateOp::new(gate, vec![t])
}

fn cg(gate: Gate, controls: &[usize], targets: &[usize]) -> GateOp {
    GateOp::controlled(gate, controls.to_vec(), targets.to_vec())
}

/// Lowers a built-in (core or library) gate with checked arity to IR operations.
pub fn expand(name: &str, p: &[f64], q: &[usize]) -> Vec<GateOp> {
    let one = |gate: Gate| vec![g(gate, q[0])];
    let ctl = |gate: Gate| vec![cg(gate, &q[..q.len() - 1], &q[q.len() - 1..])];
    match name {
        "U" | "u" | "u3" => one(Gate::U(p[0], p[1], p[2])),
        "u2" => one(Gate::U(FRAC_PI_2, p[0], p[1])),
        "u1" | "p" | "phase" => one(Gate::Phase(p[0])),
        "u0" | "id" => one(Gate::I),
        "x" => one(Gate::X),
        "y" => one(Gate::Y),
        "z" => one(Gate::Z),
        "h" => one(Gate::H),
        "s" => one(Gate::S),
        "sdg" => one(Gate::Sdg),
        "t" => one(Gate::T),
        "tdg" => one(Gate::Tdg),
        "sx" => one(Gate::SX),
        "sxdg" => one(Gate::SXdg),
        "rx" => one(Gate::RX(p[0])),
        "ry" => one(Gate::RY(p[0])),
        "rz" => one(Gate::RZ(p[0])),
        "gphase" => vec![GateOp::new(Gate::GlobalPhase(p[0]), vec![])],
        "cx" | "CX" | "ccx" | "c3x" | "c4x" => ctl(Gate::X),
        "cy" => ctl(Gate::Y),
        "cz" => ctl(Gate::Z),
        "ch" => ctl(Gate::H),
        "csx" | "c3sqrtx" => ctl(Gate::SX),
        "crx" => ctl(Gate::RX(p[0])),
        "cry" => ctl(Gate::RY(p[0])),
        "crz" => ctl(Gate::RZ(p[0])),
        "cu1" | "cp" | "cphase" => ctl(Gate::Phase(p[0])),
        "cu3" => ctl(Gate::U(p[0], p[1], p[2])),
        // qiskit's CU: controlled (e^{iγ} U(θ,φ,λ)); the phase lands on the control.
        "cu" => vec![
            g(Gate::Phase(p[3]), q[0]),
            cg(Gate::U(p[0], p[1], p[2]), &q[..1], &q[1..]),
        ],
        "swap" => vec![GateOp::new(Gate::Swap, q.to_vec())],
        "cswap" => vec![cg(Gate::Swap, &q[..1], &q[1..])],
        "rxx" => vec![GateOp::new(Gate::RXX(p[0]), q.to_vec())],
        "rzz" => vec![GateOp::new(Gate::RZZ(p[0]), q.to_vec())],
        _ => unreachable!("expand called with a gate that is not built in: {name}"),
    }
}

/// The names that `expand` handles; kept in sync by a test.
#[cfg(test)]
pub(crate) fn all_names() -> Vec<&'static str> {
    LIBRARY
        .iter()
        .map(|(n, _, _)| *n)
        .chain(["U", "gphase"])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_gate_expands_with_its_arity() {
        for name in all_names() {
            let (np, nq) = library(name)
                .or_else(|| core(name, true))
                .or_else(|| core(name, false))
                .unwrap();
            let params: Vec<f64> = (0..np).map(|i| 0.1 + i as f64).collect();
            let qubits: Vec<usize> = (0..nq).collect();
            let ops = expand(name, &params, &qubits);
            assert!(!ops.is_empty(), "{name}");
            for op in ops {
                assert_eq!(op.targets.len(), op.gate.num_targets(), "{name}");
                assert!(op
                    .targets
                    .iter()
                    .chain(&op.controls)
                    .all(|q| *q < nq.max(1)));
            }
        }
    }
}
