//! IonQ JSON circuits (`ionq.circuit.v1`): `{"gateset": "qis"|"native", "qubits": N,
//! "circuit": [{"gate": …}, …]}`.
//!
//! Accepted is everything the SDK serializers emit (azure-quantum's qiskit IonQ backend and
//! cirq-ionq): `target`/`targets`, `control`/`controls`, `rotation` in radians for the `qis`
//! gates, `phase`/`phases`/`angle` in turns for the native gates, and qiskit's aliases (`z` with a
//! `rotation` is its phase gate `p`, `v`/`vi` are √X and its inverse). The circuit has no
//! measurements: every qubit is measured at the end, qubit `i` into bit `i` of register `c`.

use crate::error::{Result, SimError};
use crate::ir::{Circuit, ClassicalRegister, Gate, GateOp, Op, QuantumRegister};
use serde_json::{Map, Value};
use std::f64::consts::TAU;

/// Bounds on IonQ input (the run limits apply after this).
#[derive(Clone, Debug)]
pub struct IonqLimits {
    pub max_bytes: usize,
    pub max_qubits: usize,
    pub max_gates: usize,
}

impl Default for IonqLimits {
    fn default() -> Self {
        IonqLimits {
            max_bytes: 64 << 20,
            max_qubits: 1024,
            max_gates: 1_000_000,
        }
    }
}

/// Parses an IonQ JSON circuit with default limits.
pub fn parse(src: &str) -> Result<Circuit> {
    parse_with(src, &IonqLimits::default())
}

pub fn parse_with(src: &str, limits: &IonqLimits) -> Result<Circuit> {
    let doc = read_json(src, limits, "circuit")?;
    from_value(&doc, limits)
}

/// The JSON document `src` (the `what` of a job), once its size is within the limit.
fn read_json(src: &str, limits: &IonqLimits, what: &str) -> Result<Value> {
    if src.len() > limits.max_bytes {
        return Err(SimError::Limit(format!(
            "the {what} is {} bytes; at most {} are accepted",
            src.len(),
            limits.max_bytes
        )));
    }
    serde_json::from_str(src).map_err(|e| {
        SimError::parse(
            e.line().max(1) as u32,
            e.column().max(1) as u32,
            format!("malformed JSON: {e}"),
        )
    })
}

fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(SimError::Invalid(msg.into()))
}

/// Most circuits one multi-circuit job may hold.
pub const MAX_CIRCUITS: usize = 1000;

/// Parses an IonQ job input that is one circuit (`"circuit"`) or several (`"circuits": [{"name",
/// "circuit", …}, …]`, IonQ's multi-circuit job): one [`Circuit`] per circuit, in order. An
/// entry inherits `qubits` and `gateset` from the top level unless it sets its own; the gate
/// limit counts all circuits together.
pub fn parse_multi(src: &str, limits: &IonqLimits) -> Result<Vec<Circuit>> {
    let doc = read_json(src, limits, "input")?;
    let Some(obj) = doc.as_object() else {
        return invalid("an IonQ circuit must be a JSON object");
    };
    let entries = match obj.get("circuits") {
        None => return Ok(vec![from_value(&doc, limits)?]),
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(_) => return invalid("\"circuits\" must be a non-empty array of circuits"),
    };
    if obj.contains_key("circuit") {
        return invalid("an IonQ job has \"circuit\" or \"circuits\", not both");
    }
    if entries.len() > MAX_CIRCUITS {
        return Err(SimError::Limit(format!(
            "the job has {} circuits; at most {MAX_CIRCUITS} are accepted",
            entries.len()
        )));
    }
    let mut gates_left = limits.max_gates;
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let Some(entry) = e.as_object() else {
            return invalid(format!("circuits[{i}] must be an object"));
        };
        let mut merged = entry.clone();
        for key in ["qubits", "gateset"] {
            if let (false, Some(v)) = (merged.contains_key(key), obj.get(key)) {
                merged.insert(key.into(), v.clone());
            }
        }
        let this = IonqLimits {
            max_gates: gates_left,
            ..limits.clone()
        };
        let c = from_value(&Value::Object(merged), &this).map_err(|e| match e {
            SimError::Invalid(m) => SimError::Invalid(format!("circuits[{i}]: {m}")),
            SimError::Unsupported(m) => SimError::Unsupported(format!("circuits[{i}]: {m}")),
            SimError::Limit(m) => SimError::Limit(format!("circuits[{i}]: {m}")),
            other => other,
        })?;
        let used = entry
            .get("circuit")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        gates_left = gates_left.saturating_sub(used);
        out.push(c);
    }
    Ok(out)
}

/// Lowers an already-decoded IonQ circuit document.
pub fn from_value(doc: &Value, limits: &IonqLimits) -> Result<Circuit> {
    let Some(obj) = doc.as_object() else {
        return invalid("an IonQ circuit must be a JSON object");
    };
    let native = match obj.get("gateset") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "qis" => false,
        Some(Value::String(s)) if s == "native" => true,
        Some(other) => {
            return invalid(format!(
                "unknown gateset {other}; expected \"qis\" or \"native\""
            ))
        }
    };
    if obj.contains_key("circuits") && !obj.contains_key("circuit") {
        return Err(SimError::Unsupported(
            "multi-circuit IonQ jobs (\"circuits\") in a single-circuit parse; use parse_multi"
                .into(),
        ));
    }
    let n = match obj.get("qubits") {
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => return invalid(format!("\"qubits\" must be a positive integer, got {v}")),
        },
        None => return invalid("missing \"qubits\""),
    };
    if n > limits.max_qubits as u64 {
        return Err(SimError::Limit(format!(
            "the circuit declares {n} qubits; at most {} are accepted",
            limits.max_qubits
        )));
    }
    let n = n as usize;
    let gates = match obj.get("circuit") {
        Some(Value::Array(a)) => a,
        Some(_) => return invalid("\"circuit\" must be an array of gates"),
        None => return invalid("missing \"circuit\""),
    };
    if gates.len() > limits.max_gates {
        return Err(SimError::Limit(format!(
            "the circuit has {} gates; at most {} are accepted",
            gates.len(),
            limits.max_gates
        )));
    }
    let mut c = Circuit::new(n, n);
    c.qregs.push(QuantumRegister {
        name: "q".into(),
        qubits: (0..n).collect(),
    });
    c.cregs.push(ClassicalRegister {
        name: "c".into(),
        bits: (0..n).collect(),
    });
    for (i, g) in gates.iter().enumerate() {
        let ops = gate(g, native, n).map_err(|e| match e {
            SimError::Invalid(m) => SimError::Invalid(format!("gate {i}: {m}")),
            SimError::Unsupported(m) => SimError::Unsupported(format!("gate {i}: {m}")),
            other => other,
        })?;
        if c.ops.len() + ops.len() > limits.max_gates.saturating_mul(4) {
            return Err(SimError::Limit(
                "the circuit expands to too many operations".into(),
            ));
        }
        c.ops.extend(ops.into_iter().map(Op::Gate));
    }
    for q in 0..n {
        c.ops.push(Op::Measure { qubit: q, clbit: q });
    }
    Ok(c)
}

const FIELDS: &[&str] = &[
    "gate",
    "target",
    "targets",
    "control",
    "controls",
    "rotation",
    "phase",
    "phases",
    "angle",
    "terms",
    "coefficients",
    "time",
];

fn qubit(v: &Value, n: usize, what: &str) -> Result<usize> {
    match v.as_u64() {
        Some(q) if (q as usize) < n && q <= usize::MAX as u64 => Ok(q as usize),
        Some(q) => invalid(format!(
            "{what} {q} is out of range (the circuit has {n} qubits)"
        )),
        None => invalid(format!("{what} must be a non-negative integer, got {v}")),
    }
}

/// Reads `single` (an integer) or `plural` (an array of integers).
fn qubit_list(g: &Map<String, Value>, single: &str, plural: &str, n: usize) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    if let Some(v) = g.get(single) {
        out.push(qubit(v, n, single)?);
    }
    if let Some(v) = g.get(plural) {
        let Some(a) = v.as_array() else {
            return invalid(format!("\"{plural}\" must be an array, got {v}"));
        };
        for q in a {
            out.push(qubit(q, n, plural)?);
        }
    }
    Ok(out)
}

fn number(g: &Map<String, Value>, key: &str) -> Result<Option<f64>> {
    match g.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => invalid(format!("\"{key}\" must be a finite number, got {v}")),
        },
    }
}

fn required(g: &Map<String, Value>, key: &str, name: &str) -> Result<f64> {
    number(g, key)?.ok_or_else(|| SimError::Invalid(format!("'{name}' needs \"{key}\"")))
}

fn gate(v: &Value, native: bool, n: usize) -> Result<Vec<GateOp>> {
    let Some(g) = v.as_object() else {
        return invalid(format!("expected a gate object, got {v}"));
    };
    if let Some(k) = g.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return invalid(format!("unknown field \"{k}\""));
    }
    let name = match g.get("gate") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return invalid(format!("\"gate\" must be a string, got {other}")),
        None => return invalid("missing \"gate\""),
    };
    let targets = qubit_list(g, "target", "targets", n)?;
    let controls = qubit_list(g, "control", "controls", n)?;
    let rotation = number(g, "rotation")?;
    let one_qubit = |gate: Gate| -> Result<Vec<GateOp>> {
        if targets.is_empty() {
            return invalid(format!("'{name}' needs a target"));
        }
        // Several targets apply the gate to each of them.
        Ok(targets
            .iter()
            .map(|&t| GateOp::controlled(gate.clone(), controls.clone(), vec![t]))
            .collect())
    };
    let two_qubit = |gate: Gate| -> Result<Vec<GateOp>> {
        if targets.len() != 2 {
            return invalid(format!(
                "'{name}' needs exactly 2 targets, got {}",
                targets.len()
            ));
        }
        Ok(vec![GateOp::controlled(
            gate,
            controls.clone(),
            targets.clone(),
        )])
    };
    let rot = || required(g, "rotation", name);
    let turns = |key: &str| -> Result<f64> { Ok(required(g, key, name)? * TAU) };
    let ops = match (name, native) {
        ("x", _) | ("not", _) | ("cnot", _) | ("cx", _) if rotation.is_none() => {
            one_qubit(Gate::X)?
        }
        ("y", _) if rotation.is_none() => one_qubit(Gate::Y)?,
        // qiskit sends its phase gate `p` (and `cp`, `mcphase`) as `z` with a rotation.
        ("z", _) => one_qubit(match rotation {
            Some(t) => Gate::Phase(t),
            None => Gate::Z,
        })?,
        ("h", _) => one_qubit(Gate::H)?,
        ("s", _) => one_qubit(Gate::S)?,
        ("si", _) => one_qubit(Gate::Sdg)?,
        ("t", _) => one_qubit(Gate::T)?,
        ("ti", _) => one_qubit(Gate::Tdg)?,
        ("v", _) => one_qubit(Gate::SX)?,
        ("vi", _) => one_qubit(Gate::SXdg)?,
        ("i" | "id", _) => one_qubit(Gate::I)?,
        ("rx", _) => one_qubit(Gate::RX(rot()?))?,
        ("ry", _) => one_qubit(Gate::RY(rot()?))?,
        ("rz", _) => one_qubit(Gate::RZ(rot()?))?,
        ("swap", _) => two_qubit(Gate::Swap)?,
        ("xx", _) => two_qubit(Gate::RXX(rot()?))?,
        ("yy", _) => two_qubit(Gate::RYY(rot()?))?,
        ("zz", false) => two_qubit(Gate::RZZ(rot()?))?,
        // Native gates: angles in turns.
        ("zz", true) => {
            let t = match (number(g, "angle")?, number(g, "phase")?) {
                (Some(a), _) | (None, Some(a)) => a,
                (None, None) => return invalid("'zz' needs \"angle\""),
            };
            two_qubit(Gate::RZZ(t * TAU))?
        }
        ("gpi", _) => one_qubit(Gate::GPI(turns("phase")?))?,
        ("gpi2", _) => one_qubit(Gate::GPI2(turns("phase")?))?,
        ("ms", _) => {
            let phases = match g.get("phases") {
                Some(Value::Array(a)) if a.len() == 2 => {
                    let mut p = [0.0; 2];
                    for (i, x) in a.iter().enumerate() {
                        p[i] = match x.as_f64() {
                            Some(v) if v.is_finite() => v * TAU,
                            _ => return invalid(format!("\"phases\" must hold numbers, got {x}")),
                        };
                    }
                    p
                }
                Some(other) => {
                    return invalid(format!("\"phases\" must be 2 numbers, got {other}"))
                }
                None => return invalid("'ms' needs \"phases\""),
            };
            // A fully entangling MS (a quarter turn) unless "angle" says otherwise.
            let angle = number(g, "angle")?.unwrap_or(0.25) * TAU;
            two_qubit(Gate::MS(phases[0], phases[1], angle))?
        }
        ("pauliexp", _) => pauliexp(g, &targets, &controls)?,
        ("x" | "y" | "not" | "cnot" | "cx", _) => {
            return invalid(format!("'{name}' takes no \"rotation\""))
        }
        _ => return Err(SimError::Unsupported(format!("unknown gate '{name}'"))),
    };
    for op in &ops {
        if op.controls.iter().any(|c| op.targets.contains(c)) {
            return invalid(format!("'{name}' uses a qubit as both control and target"));
        }
        let mut t = op.targets.clone();
        t.sort_unstable();
        t.dedup();
        if t.len() != op.targets.len() {
            return invalid(format!("'{name}' names a target twice"));
        }
    }
    Ok(ops)
}

/// `exp(-i·time·Σ c_k P_k)` for commuting Pauli strings (little-endian: the last character acts
/// on `targets[0]`), as `basis change · CNOT ladder · RZ · undo` per term.
fn pauliexp(g: &Map<String, Value>, targets: &[usize], controls: &[usize]) -> Result<Vec<GateOp>> {
    if !controls.is_empty() {
        return Err(SimError::Unsupported("controlled 'pauliexp'".into()));
    }
    let time = required(g, "time", "pauliexp")?;
    let (Some(Value::Array(terms)), Some(Value::Array(coeffs))) =
        (g.get("terms"), g.get("coefficients"))
    else {
        return invalid("'pauliexp' needs \"terms\" and \"coefficients\" arrays");
    };
    if terms.len() != coeffs.len() {
        return invalid("'pauliexp' has different numbers of terms and coefficients");
    }
    let mut strings = Vec::new();
    for t in terms {
        let Some(s) = t.as_str() else {
            return invalid(format!("a pauliexp term must be a string, got {t}"));
        };
        if s.chars().count() != targets.len() || !s.chars().all(|c| "IXYZ".contains(c)) {
            return invalid(format!(
                "pauliexp term \"{s}\" must be {} of I, X, Y, Z",
                targets.len()
            ));
        }
        strings.push(s.chars().rev().collect::<Vec<char>>());
    }
    for (i, a) in strings.iter().enumerate() {
        for b in &strings[i + 1..] {
            let anti = a
                .iter()
                .zip(b)
                .filter(|(x, y)| **x != 'I' && **y != 'I' && x != y)
                .count();
            if anti % 2 == 1 {
                return Err(SimError::Unsupported(
                    "pauliexp with non-commuting terms".into(),
                ));
            }
        }
    }
    let mut ops = Vec::new();
    for (s, c) in strings.iter().zip(coeffs) {
        let Some(c) = c.as_f64().filter(|c| c.is_finite()) else {
            return invalid(format!("a pauliexp coefficient must be a number, got {c}"));
        };
        let active: Vec<(usize, char)> = s
            .iter()
            .enumerate()
            .filter(|(_, p)| **p != 'I')
            .map(|(i, p)| (targets[i], *p))
            .collect();
        let Some(&(last, _)) = active.last() else {
            continue;
        };
        let to_z = |q: usize, p: char| -> Vec<GateOp> {
            match p {
                'X' => vec![GateOp::new(Gate::H, vec![q])],
                'Y' => vec![
                    GateOp::new(Gate::Sdg, vec![q]),
                    GateOp::new(Gate::H, vec![q]),
                ],
                _ => vec![],
            }
        };
        let from_z = |q: usize, p: char| -> Vec<GateOp> {
            match p {
                'X' => vec![GateOp::new(Gate::H, vec![q])],
                'Y' => vec![GateOp::new(Gate::H, vec![q]), GateOp::new(Gate::S, vec![q])],
                _ => vec![],
            }
        };
        for &(q, p) in &active {
            ops.extend(to_z(q, p));
        }
        for w in active.windows(2) {
            ops.push(GateOp::controlled(Gate::X, vec![w[0].0], vec![w[1].0]));
        }
        ops.push(GateOp::new(Gate::RZ(2.0 * time * c), vec![last]));
        for w in active.windows(2).rev() {
            ops.push(GateOp::controlled(Gate::X, vec![w[0].0], vec![w[1].0]));
        }
        for &(q, p) in &active {
            ops.extend(from_z(q, p));
        }
    }
    Ok(ops)
}
