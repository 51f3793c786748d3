//! Running a circuit: validation against limits, then shots.
//!
//! Public API (stable; other modules and crates build on it):
//! - [`validate`] checks indices, parameters and limits before anything is allocated;
//! - [`run`] executes `shots` shots and returns every shot's classical bits;
//! - [`final_state`] returns the final statevector of a measurement-free circuit.

use crate::error::{Result, SimError};
use crate::ir::{Circuit, Condition, Op};
use crate::state::StateVector;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Bounds every run is checked against before any state is allocated.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_qubits: usize,
    /// Bytes of statevector memory a run may allocate (16 bytes per amplitude).
    pub max_memory_bytes: u64,
    pub max_shots: u64,
    /// Operations after lowering (counting the bodies of conditionals).
    pub max_ops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_qubits: 28,
            max_memory_bytes: 4 << 30,
            max_shots: 1_000_000,
            max_ops: 1_000_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub shots: u64,
    /// Same seed, same shots. `None` draws a seed from the OS.
    pub seed: Option<u64>,
    /// Gate fusion on/off (results are identical up to rounding either way).
    pub fusion: bool,
    pub limits: Limits,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            shots: 1,
            seed: None,
            fusion: true,
            limits: Limits::default(),
        }
    }
}

/// The classical bits of one shot, packed; bit `i` is classical bit `i` of the circuit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShotBits(pub Vec<u64>);

impl ShotBits {
    pub fn zeros(num_clbits: usize) -> Self {
        ShotBits(vec![0; num_clbits.div_ceil(64)])
    }
    pub fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
    pub fn set(&mut self, i: usize, v: bool) {
        if v {
            self.0[i / 64] |= 1 << (i % 64);
        } else {
            self.0[i / 64] &= !(1 << (i % 64));
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunOutput {
    pub num_clbits: usize,
    /// One entry per shot, in shot order.
    pub shots: Vec<ShotBits>,
}

/// Checks the circuit against `limits` and for well-formedness (indices in range, distinct
/// operands, finite parameters, matrix sizes). Cheap; allocates no state.
pub fn validate(circuit: &Circuit, limits: &Limits) -> Result<()> {
    if circuit.num_qubits > limits.max_qubits {
        return Err(SimError::Limit(format!(
            "the circuit uses {} qubits; this simulator allows at most {}",
            circuit.num_qubits, limits.max_qubits
        )));
    }
    let bytes = 16u128 << circuit.num_qubits;
    if bytes > limits.max_memory_bytes as u128 {
        return Err(SimError::Limit(format!(
            "{} qubits need {} MiB of state; the memory budget is {} MiB",
            circuit.num_qubits,
            bytes >> 20,
            limits.max_memory_bytes >> 20
        )));
    }
    let mut count = 0usize;
    validate_ops(circuit, &circuit.ops, limits, &mut count)
}

fn validate_ops(c: &Circuit, ops: &[Op], limits: &Limits, count: &mut usize) -> Result<()> {
    for op in ops {
        *count += 1;
        if *count > limits.max_ops {
            return Err(SimError::Limit(format!(
                "the circuit has more than {} operations",
                limits.max_ops
            )));
        }
        match op {
            Op::Gate(g) => {
                if g.targets.len() != g.gate.num_targets() {
                    return Err(SimError::Invalid(format!(
                        "gate {:?} takes {} target(s), got {}",
                        g.gate,
                        g.gate.num_targets(),
                        g.targets.len()
                    )));
                }
                if let crate::ir::Gate::Unitary(m) = &g.gate {
                    if !m.dim.is_power_of_two() || m.data.len() != m.dim * m.dim {
                        return Err(SimError::Invalid("malformed unitary matrix".into()));
                    }
                }
                let mut seen = std::collections::HashSet::new();
                for &q in g.targets.iter().chain(&g.controls) {
                    check_qubit(c, q)?;
                    if !seen.insert(q) {
                        return Err(SimError::Invalid(format!(
                            "qubit {q} is used twice in one gate"
                        )));
                    }
                }
                if g.gate.params().iter().any(|p| !p.is_finite()) {
                    return Err(SimError::Invalid(format!(
                        "gate {:?} has a non-finite angle",
                        g.gate
                    )));
                }
            }
            Op::Measure { qubit, clbit } => {
                check_qubit(c, *qubit)?;
                check_clbit(c, *clbit)?;
            }
            Op::Reset { qubit } => check_qubit(c, *qubit)?,
            Op::Barrier(qs) => {
                for &q in qs {
                    check_qubit(c, q)?;
                }
            }
            Op::If {
                cond,
                then_ops,
                else_ops,
            } => {
                check_condition(c, cond)?;
                validate_ops(c, then_ops, limits, count)?;
                validate_ops(c, else_ops, limits, count)?;
            }
        }
    }
    Ok(())
}

fn check_qubit(c: &Circuit, q: usize) -> Result<()> {
    if q >= c.num_qubits {
        return Err(SimError::Invalid(format!(
            "qubit {q} is out of range (the circuit has {})",
            c.num_qubits
        )));
    }
    Ok(())
}

fn check_clbit(c: &Circuit, b: usize) -> Result<()> {
    if b >= c.num_clbits {
        return Err(SimError::Invalid(format!(
            "classical bit {b} is out of range (the circuit has {})",
            c.num_clbits
        )));
    }
    Ok(())
}

fn check_condition(c: &Circuit, cond: &Condition) -> Result<()> {
    match cond {
        Condition::Equals { bits, .. } => bits.iter().try_for_each(|&b| check_clbit(c, b)),
        Condition::Not(a) => check_condition(c, a),
        Condition::And(a, b) | Condition::Or(a, b) => {
            check_condition(c, a)?;
            check_condition(c, b)
        }
    }
}

/// Runs `opts.shots` shots. This first version simulates shot by shot; the engine work adds
/// sampling from the final state when every measurement is terminal.
pub fn run(circuit: &Circuit, opts: &RunOptions) -> Result<RunOutput> {
    validate(circuit, &opts.limits)?;
    if opts.shots > opts.limits.max_shots {
        return Err(SimError::Limit(format!(
            "{} shots requested; at most {} are allowed",
            opts.shots, opts.limits.max_shots
        )));
    }
    let mut rng = match opts.seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::from_entropy(),
    };
    let mut shots = Vec::with_capacity(opts.shots as usize);
    for _ in 0..opts.shots {
        let mut state = StateVector::new(circuit.num_qubits);
        let mut bits = ShotBits::zeros(circuit.num_clbits);
        exec(&circuit.ops, &mut state, &mut bits, &mut rng);
        shots.push(bits);
    }
    Ok(RunOutput {
        num_clbits: circuit.num_clbits,
        shots,
    })
}

/// The final state of a circuit without measurement, reset or conditionals.
pub fn final_state(circuit: &Circuit, opts: &RunOptions) -> Result<StateVector> {
    validate(circuit, &opts.limits)?;
    let mut state = StateVector::new(circuit.num_qubits);
    for op in &circuit.ops {
        match op {
            Op::Gate(g) => state.apply(g),
            Op::Barrier(_) => {}
            _ => return Err(SimError::Invalid(
                "a final statevector needs a circuit without measurement, reset or conditionals"
                    .into(),
            )),
        }
    }
    Ok(state)
}

fn eval(cond: &Condition, bits: &ShotBits) -> bool {
    match cond {
        Condition::Equals { bits: idx, value } => {
            let v = idx
                .iter()
                .enumerate()
                .fold(0u128, |acc, (i, &b)| acc | (bits.get(b) as u128) << i);
            v == *value as u128
        }
        Condition::Not(a) => !eval(a, bits),
        Condition::And(a, b) => eval(a, bits) && eval(b, bits),
        Condition::Or(a, b) => eval(a, bits) || eval(b, bits),
    }
}

fn exec(ops: &[Op], state: &mut StateVector, bits: &mut ShotBits, rng: &mut ChaCha8Rng) {
    for op in ops {
        match op {
            Op::Gate(g) => state.apply(g),
            Op::Measure { qubit, clbit } => {
                let r = state.measure(*qubit, rng);
                bits.set(*clbit, r);
            }
            Op::Reset { qubit } => state.reset(*qubit, rng),
            Op::Barrier(_) => {}
            Op::If {
                cond,
                then_ops,
                else_ops,
            } => {
                if eval(cond, bits) {
                    exec(then_ops, state, bits, rng)
                } else {
                    exec(else_ops, state, bits, rng)
                }
            }
        }
    }
}
