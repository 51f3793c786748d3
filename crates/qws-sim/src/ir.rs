//! The one circuit IR every front end lowers to and every backend runs.
//!
//! Design notes:
//! - A gate is a *base* operation on one or two target qubits plus an optional list of control
//!   qubits. `CX` is `X` controlled on one qubit, `CCX` is `X` with two controls, `CP(θ)` is
//!   `Phase(θ)` with one control. Backends exploit this: a controlled gate touches only the
//!   amplitudes whose controls are all set.
//! - `GlobalPhase` has no targets. Uncontrolled it changes nothing observable; controlled
//!   (OpenQASM 3 `ctrl @ gphase`, or a controlled user gate whose body carries a phase) it becomes a
//!   phase on the control subspace, so front ends must keep it.
//! - Qubit and classical-bit indices are flat (`0..num_qubits`, `0..num_clbits`); named registers
//!   are kept for the result encoders, which report per register.
//! - Bit order: qubit 0 is the least significant bit of a basis-state index (as qiskit and IonQ).

use serde::{Deserialize, Serialize};

/// A 2x2 or 4x4 (or larger) complex matrix, row-major, as `(re, im)` pairs.
/// `dim * dim == data.len()`, `dim == 2^k` for a gate on `k` targets. Target `targets[0]` is the
/// least significant bit of the row/column index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub dim: usize,
    pub data: Vec<(f64, f64)>,
}

/// Base gates. Angles in radians. Conventions follow OpenQASM 3 `stdgates.inc` / qiskit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Gate {
    // One target.
    I,
    X,
    Y,
    Z,
    H,
    S,
    Sdg,
    T,
    Tdg,
    /// sqrt(X)
    SX,
    SXdg,
    RX(f64),
    RY(f64),
    RZ(f64),
    /// diag(1, e^{iθ}) (qiskit `p`, qelib1 `u1`)
    Phase(f64),
    /// U(θ, φ, λ) as OpenQASM 3 / qiskit `u` (= qelib1 `u3`).
    U(f64, f64, f64),
    /// IonQ native GPI(φ) with φ in radians (IonQ JSON uses turns; the front end converts).
    GPI(f64),
    /// IonQ native GPI2(φ), radians.
    GPI2(f64),
    // Two targets.
    Swap,
    ISwap,
    RXX(f64),
    RYY(f64),
    RZZ(f64),
    /// IonQ native Mølmer–Sørensen MS(φ0, φ1, θ), radians (θ = π/2 is fully entangling).
    MS(f64, f64, f64),
    // Any number of targets.
    /// An explicit unitary on `targets` (used for fusion, `pow @`, user matrices).
    Unitary(Box<Matrix>),
    // No targets.
    /// Multiplies the state by e^{iθ}; only observable under control.
    GlobalPhase(f64),
}

impl Gate {
    /// Number of target qubits this gate acts on (`Unitary` is decided by its matrix).
    pub fn num_targets(&self) -> usize {
        match self {
            Gate::GlobalPhase(_) => 0,
            Gate::Swap
            | Gate::ISwap
            | Gate::RXX(_)
            | Gate::RYY(_)
            | Gate::RZZ(_)
            | Gate::MS(..) => 2,
            Gate::Unitary(m) => m.dim.trailing_zeros() as usize,
            _ => 1,
        }
    }

    /// The parameters, in declaration order (for validation of NaN/inf and for display).
    pub fn params(&self) -> Vec<f64> {
        match self {
            Gate::RX(a)
            | Gate::RY(a)
            | Gate::RZ(a)
            | Gate::Phase(a)
            | Gate::GPI(a)
            | Gate::GPI2(a)
            | Gate::RXX(a)
            | Gate::RYY(a)
            | Gate::RZZ(a)
            | Gate::GlobalPhase(a) => vec![*a],
            Gate::U(a, b, c) | Gate::MS(a, b, c) => vec![*a, *b, *c],
            _ => vec![],
        }
    }
}

/// A gate applied to concrete qubits, optionally controlled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateOp {
    pub gate: Gate,
    /// Target qubits; length = `gate.num_targets()`.
    pub targets: Vec<usize>,
    /// Control qubits (all must be |1> for the gate to act). Disjoint from `targets`.
    pub controls: Vec<usize>,
}

impl GateOp {
    pub fn new(gate: Gate, targets: Vec<usize>) -> Self {
        GateOp {
            gate,
            targets,
            controls: Vec::new(),
        }
    }
    pub fn controlled(gate: Gate, controls: Vec<usize>, targets: Vec<usize>) -> Self {
        GateOp {
            gate,
            targets,
            controls,
        }
    }
}

/// A classical condition on measured bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    /// The integer formed by `bits` (bits[0] least significant) equals `value`
    /// (OpenQASM 2 `if(c==n)`, OpenQASM 3 `if (c == n)` / `if (c[i])`).
    Equals {
        bits: Vec<usize>,
        value: u64,
    },
    Not(Box<Condition>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

/// One step of a circuit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Gate(GateOp),
    /// Measure `qubit` in the Z basis into classical bit `clbit`.
    Measure {
        qubit: usize,
        clbit: usize,
    },
    /// Reset `qubit` to |0>.
    Reset {
        qubit: usize,
    },
    /// A scheduling hint; no effect on the state, but it stops gate fusion across it.
    Barrier(Vec<usize>),
    /// Run `then_ops` if `cond` holds, else `else_ops`.
    If {
        cond: Condition,
        then_ops: Vec<Op>,
        else_ops: Vec<Op>,
    },
}

/// A named classical register, as the result encoders report it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassicalRegister {
    pub name: String,
    /// Flat classical-bit indices; `bits[0]` is the register's bit 0.
    pub bits: Vec<usize>,
}

/// A named quantum register (for diagnostics and encoders that report per register).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantumRegister {
    pub name: String,
    pub qubits: Vec<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Circuit {
    pub num_qubits: usize,
    pub num_clbits: usize,
    pub qregs: Vec<QuantumRegister>,
    pub cregs: Vec<ClassicalRegister>,
    pub ops: Vec<Op>,
}

impl Circuit {
    pub fn new(num_qubits: usize, num_clbits: usize) -> Self {
        Circuit {
            num_qubits,
            num_clbits,
            ..Default::default()
        }
    }

    /// Appends a gate; a convenience for tests and generated circuits.
    pub fn gate(&mut self, gate: Gate, targets: &[usize]) -> &mut Self {
        self.ops.push(Op::Gate(GateOp::new(gate, targets.to_vec())));
        self
    }

    /// Appends a controlled gate.
    pub fn cgate(&mut self, gate: Gate, controls: &[usize], targets: &[usize]) -> &mut Self {
        self.ops.push(Op::Gate(GateOp::controlled(
            gate,
            controls.to_vec(),
            targets.to_vec(),
        )));
        self
    }

    pub fn measure(&mut self, qubit: usize, clbit: usize) -> &mut Self {
        self.ops.push(Op::Measure { qubit, clbit });
        self
    }
}
