//! Running a circuit: validation against limits, then shots.
//!
//! Public API (stable; other modules and crates build on it):
//! - [`validate`] checks indices, parameters and limits before anything is allocated;
//! - [`run`] executes `shots` shots and returns every shot's classical bits;
//! - [`final_state`] returns the final statevector of a measurement-free circuit.

use crate::cancel::{self, CancelToken};
use crate::engine::fusion::{fuse, FusedOp, FusionConfig};
use crate::engine::sample;
use crate::engine::sparse::SparseState;
use crate::error::{Result, SimError};
use crate::ir::{Circuit, Condition, GateOp, Op};
use crate::precision::Precision;
use crate::shape::{sampling_plan, Segments};
use crate::state::StateVector;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};

/// Bounds every run is checked against before any state is allocated.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_qubits: usize,
    /// Bytes of statevector memory a run may allocate (16 bytes per amplitude in double
    /// precision, 8 in single).
    pub max_memory_bytes: u64,
    pub max_shots: u64,
    /// Operations after lowering (counting the bodies of conditionals).
    pub max_ops: usize,
    /// Bytes a run's results may take: the shots [`run`] keeps for the encoders, and
    /// (separately) the encoded document (see [`crate::encode::output_bytes`]). Checked before
    /// anything is allocated, so `creg c[65536]` with 200,000 shots fails at once.
    pub max_output_bytes: u64,
}

/// Default of [`Limits::max_output_bytes`]: 64 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_qubits: 28,
            max_memory_bytes: 4 << 30,
            max_shots: 1_000_000,
            max_ops: 1_000_000,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
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
    /// When cancelled, the run stops at its next check and returns [`SimError::Cancelled`].
    pub cancel: Option<CancelToken>,
    /// Amplitude precision; `None` takes [`Precision::default_for`] the qubit count and
    /// `limits.max_memory_bytes` (double when it fits, else single).
    pub precision: Option<Precision>,
}

impl RunOptions {
    /// The precision a circuit on `num_qubits` qubits runs in.
    pub fn precision_for(&self, num_qubits: usize) -> Precision {
        self.precision
            .unwrap_or_else(|| Precision::default_for(num_qubits, self.limits.max_memory_bytes))
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            shots: 1,
            seed: None,
            fusion: true,
            limits: Limits::default(),
            cancel: None,
            precision: None,
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
    check_qubits(circuit.num_qubits, limits)?;
    let mut count = 0usize;
    validate_ops(circuit, &circuit.ops, limits, &mut count)
}

/// Checks that a state of `num_qubits` qubits fits `limits` (qubit count and memory) in the
/// precision a run gets by default ([`Precision::default_for`]: single when double does not
/// fit). Every statevector allocation for a job goes through this first.
pub fn check_qubits(num_qubits: usize, limits: &Limits) -> Result<()> {
    check_qubits_in(
        num_qubits,
        Precision::default_for(num_qubits, limits.max_memory_bytes),
        limits,
    )
}

/// [`check_qubits`] for a state kept in `precision`.
pub fn check_qubits_in(num_qubits: usize, precision: Precision, limits: &Limits) -> Result<()> {
    if num_qubits > limits.max_qubits {
        return Err(SimError::Limit(format!(
            "the program uses {num_qubits} qubits; this simulator allows at most {}",
            limits.max_qubits
        )));
    }
    // In u128: a state past 2^64 bytes must not saturate to a budget of u64::MAX.
    let bytes = (precision.amplitude_bytes() as u128)
        .checked_shl(num_qubits as u32)
        .unwrap_or(u128::MAX);
    if num_qubits >= 100 || bytes > limits.max_memory_bytes as u128 {
        return Err(SimError::Limit(format!(
            "{num_qubits} qubits need {} MiB of state in {precision} precision; the memory budget is {} MiB",
            bytes >> 20,
            limits.max_memory_bytes >> 20
        )));
    }
    Ok(())
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

/// Engine tuning knobs beyond [`RunOptions`] (tests and benchmarks force paths with them).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Budgets of the fusion pass (used when `RunOptions.fusion` is on).
    pub fusion: FusionConfig,
    /// `Some(b)` forces multithreaded kernels on or off; `None` decides by qubit count.
    pub parallel: Option<bool>,
    /// Whether circuits start on the sparse state (switching to dense when it fills up).
    pub sparse: SparseMode,
}

/// When to try the sparse state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseMode {
    /// From [`SPARSE_MIN_QUBITS`] qubits on.
    Auto,
    /// Never (dense from the first gate).
    Off,
    /// Always (for tests; still falls back to dense when the state fills up).
    Always,
}

/// Sampled shots turned into bits between two cancellation checks.
const CANCEL_CHECK_SHOTS: usize = 4096;

/// Below this many qubits the dense state is so small that the sparse path cannot pay off.
pub const SPARSE_MIN_QUBITS: usize = 12;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fusion: FusionConfig::default(),
            parallel: None,
            sparse: SparseMode::Auto,
        }
    }
}

fn check_shots(opts: &RunOptions) -> Result<()> {
    if opts.shots > opts.limits.max_shots {
        return Err(SimError::Limit(format!(
            "{} shots requested; at most {} are allowed",
            opts.shots, opts.limits.max_shots
        )));
    }
    Ok(())
}

/// Bytes the [`RunOutput`] of `shots` shots over `num_clbits` classical bits takes in memory
/// (each shot's bits are a separate allocation).
pub fn shots_bytes(num_clbits: usize, shots: u64) -> u64 {
    let per_shot = std::mem::size_of::<ShotBits>() as u64 + 8 * num_clbits.div_ceil(64) as u64;
    shots.saturating_mul(per_shot)
}

/// Fails with [`SimError::Limit`] when `bytes` of results exceed `limits.max_output_bytes`.
pub fn check_output_bytes(bytes: u64, what: &str, limits: &Limits) -> Result<()> {
    if bytes > limits.max_output_bytes {
        return Err(SimError::Limit(format!(
            "{what} would take {}; the output limit is {}",
            human_size(bytes),
            human_size(limits.max_output_bytes)
        )));
    }
    Ok(())
}

/// A size for people: bytes below a KiB, KiB below a MiB, MiB above (rounded up, so a size
/// over a limit never prints as equal to it).
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1 << 10 => format!("{b} bytes"),
        b if b < 1 << 20 => format!("{} KiB", b.div_ceil(1 << 10)),
        b => format!("{} MiB", b.div_ceil(1 << 20)),
    }
}

/// Runs `opts.shots` shots. When every measurement is terminal (nothing acts on a measured
/// qubit afterwards, no reset of a used qubit, no conditional) the circuit is simulated once
/// and all shots are sampled from the final distribution; otherwise the measurement-free
/// prefix is simulated once and the rest shot by shot.
pub fn run(circuit: &Circuit, opts: &RunOptions) -> Result<RunOutput> {
    run_with(circuit, opts, &EngineConfig::default())
}

/// [`run`] with explicit engine settings.
pub fn run_with(circuit: &Circuit, opts: &RunOptions, cfg: &EngineConfig) -> Result<RunOutput> {
    collect_shots(circuit, opts, |sink| run_into(circuit, opts, cfg, sink))
}

/// Gathers every shot a streaming run (`run`, which feeds its sink one shot at a time) produces
/// into a [`RunOutput`], after checking that the shots fit the output limit.
pub(crate) fn collect_shots(
    circuit: &Circuit,
    opts: &RunOptions,
    run: impl FnOnce(&mut dyn FnMut(ShotBits)) -> Result<()>,
) -> Result<RunOutput> {
    check_output_bytes(
        shots_bytes(circuit.num_clbits, opts.shots),
        &format!(
            "the classical bits of {} shots over {} bits",
            opts.shots, circuit.num_clbits
        ),
        &opts.limits,
    )?;
    let mut shots = Vec::with_capacity(opts.shots.min(opts.limits.max_shots) as usize);
    run(&mut |bits| shots.push(bits))?;
    Ok(RunOutput {
        num_clbits: circuit.num_clbits,
        shots,
    })
}

/// How often each outcome occurred in a run; see [`run_counts`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub num_clbits: usize,
    pub shots: u64,
    pub counts: HashMap<ShotBits, u64>,
}

impl Counts {
    /// Frequencies keyed by the outcome as an integer (bit 0 least significant), as
    /// `ionq.quantum-results.v1` wants them; at most 64 classical bits.
    pub fn distribution(&self) -> Result<BTreeMap<u64, f64>> {
        if self.num_clbits > 64 {
            return Err(SimError::Unsupported(format!(
                "an integer-keyed histogram of {} classical bits (at most 64)",
                self.num_clbits
            )));
        }
        let total = self.shots.max(1) as f64;
        let mut d = BTreeMap::new();
        for (bits, &c) in &self.counts {
            let k = bits.0.first().copied().unwrap_or(0);
            *d.entry(k).or_insert(0.0) += c as f64 / total;
        }
        Ok(d)
    }
}

/// Runs like [`run`] but only counts outcomes as the shots are produced: memory grows with the
/// number of distinct outcomes, not with the number of shots.
pub fn run_counts(circuit: &Circuit, opts: &RunOptions) -> Result<Counts> {
    let mut counts: HashMap<ShotBits, u64> = HashMap::new();
    run_into(circuit, opts, &EngineConfig::default(), &mut |bits| {
        *counts.entry(bits).or_insert(0) += 1
    })?;
    Ok(Counts {
        num_clbits: circuit.num_clbits,
        shots: opts.shots,
        counts,
    })
}

/// The shot loop: hands each shot's bits to `sink`, in shot order.
fn run_into(
    circuit: &Circuit,
    opts: &RunOptions,
    cfg: &EngineConfig,
    sink: &mut dyn FnMut(ShotBits),
) -> Result<()> {
    validate(circuit, &opts.limits)?;
    let precision = opts.precision_for(circuit.num_qubits);
    check_qubits_in(circuit.num_qubits, precision, &opts.limits)?;
    check_shots(opts)?;
    let stop = opts.cancel.as_ref();
    cancel::check(stop)?;
    let mut rng = match opts.seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::from_entropy(),
    };
    let shots = opts.shots as usize;
    let n = circuit.num_qubits;
    if let Some((segments, measures)) = sampling_plan(circuit) {
        if measures.is_empty() {
            // Nothing is observed: every shot has all-zero bits; skip the simulation.
            for i in 0..shots {
                if i.is_multiple_of(CANCEL_CHECK_SHOTS) {
                    cancel::check(stop)?;
                }
                sink(ShotBits::zeros(circuit.num_clbits));
            }
            return Ok(());
        }
        let state = simulate(n, &segments, opts.fusion, precision, cfg, stop)?;
        cancel::check(stop)?;
        let outcomes = match &state {
            Simulated::Sparse(sp) => sample::sample_sparse(&sp.entries(), shots, &mut rng),
            Simulated::Dense(sv) => sv.sample(shots, &mut rng),
        };
        for (i, x) in outcomes.into_iter().enumerate() {
            if i.is_multiple_of(CANCEL_CHECK_SHOTS) {
                cancel::check(stop)?;
            }
            let mut bits = ShotBits::zeros(circuit.num_clbits);
            for &(q, c) in &measures {
                bits.set(c, x >> q & 1 == 1);
            }
            sink(bits);
        }
        return Ok(());
    }
    // Shot by shot. The leading gates are the same for every shot: simulate them once.
    let (prefix, rest) = split_prefix(circuit);
    let fc = cfg
        .fusion
        .for_state(precision, crate::state::default_block_shape(precision));
    let program = compile(rest, opts.fusion, &fc);
    let prefix_state = || -> Result<StateVector> {
        simulate(n, &prefix, opts.fusion, precision, cfg, stop)
            .and_then(|s| s.into_dense(precision, cfg))
    };
    // Keeping a copy of the prefix state doubles memory; only do it within the budget.
    let keep_copy = precision.state_bytes(n).saturating_mul(2) <= opts.limits.max_memory_bytes;
    let initial = if keep_copy && shots > 0 {
        Some(prefix_state()?)
    } else {
        None
    };
    for _ in 0..shots {
        cancel::check(stop)?;
        let mut state = match &initial {
            Some(s) => s.clone(),
            None => prefix_state()?,
        };
        let mut bits = ShotBits::zeros(circuit.num_clbits);
        exec(&program, &mut state, &mut bits, &mut rng, stop)?;
        sink(bits);
    }
    Ok(())
}

/// The final state of a circuit without measurement, reset or conditionals.
pub fn final_state(circuit: &Circuit, opts: &RunOptions) -> Result<StateVector> {
    final_state_with(circuit, opts, &EngineConfig::default())
}

/// [`final_state`] with explicit engine settings.
pub fn final_state_with(
    circuit: &Circuit,
    opts: &RunOptions,
    cfg: &EngineConfig,
) -> Result<StateVector> {
    validate(circuit, &opts.limits)?;
    let precision = opts.precision_for(circuit.num_qubits);
    check_qubits_in(circuit.num_qubits, precision, &opts.limits)?;
    let mut segments = vec![Vec::new()];
    for op in &circuit.ops {
        match op {
            Op::Gate(g) => segments.last_mut().expect("one segment").push(g.clone()),
            Op::Barrier(_) => segments.push(Vec::new()),
            _ => return Err(SimError::Invalid(
                "a final statevector needs a circuit without measurement, reset or conditionals"
                    .into(),
            )),
        }
    }
    cancel::check(opts.cancel.as_ref())?;
    simulate(
        circuit.num_qubits,
        &segments,
        opts.fusion,
        precision,
        cfg,
        opts.cancel.as_ref(),
    )?
    .into_dense(precision, cfg)
}

/// A simulated pure state: still sparse, or dense.
enum Simulated {
    Sparse(SparseState),
    Dense(StateVector),
}

impl Simulated {
    fn into_dense(self, precision: Precision, cfg: &EngineConfig) -> Result<StateVector> {
        match self {
            Simulated::Dense(s) => Ok(s),
            Simulated::Sparse(sp) => densify(&sp, precision, cfg),
        }
    }
}

fn densify(sp: &SparseState, precision: Precision, cfg: &EngineConfig) -> Result<StateVector> {
    let mut sv = StateVector::try_new_with(sp.num_qubits(), precision)?;
    sv.scatter_sparse(sp);
    if let Some(p) = cfg.parallel {
        sv.set_parallel(p);
    }
    Ok(sv)
}

fn new_dense(n: usize, precision: Precision, cfg: &EngineConfig) -> Result<StateVector> {
    let mut sv = StateVector::try_new_with(n, precision)?;
    if let Some(p) = cfg.parallel {
        sv.set_parallel(p);
    }
    Ok(sv)
}

/// Simulates runs of gates (fusion never crosses a segment boundary), starting sparse when
/// configured and switching to dense once the sparse state exceeds 1/256 of the dense size.
fn simulate(
    n: usize,
    segments: &[Vec<GateOp>],
    fusion: bool,
    precision: Precision,
    cfg: &EngineConfig,
    stop: Option<&CancelToken>,
) -> Result<Simulated> {
    let use_sparse = n < 64
        && match cfg.sparse {
            SparseMode::Auto => n >= SPARSE_MIN_QUBITS,
            SparseMode::Off => false,
            SparseMode::Always => true,
        };
    let max_len = ((1usize << n.min(62)) >> 8).max(64);
    let mut sparse = use_sparse.then(|| SparseState::new(n));
    let mut dense: Option<StateVector> = None;
    for seg in segments {
        let mut start = 0;
        if let Some(sp) = sparse.as_mut() {
            while start < seg.len() {
                cancel::check(stop)?;
                if !sp.apply(&seg[start], max_len) {
                    break;
                }
                start += 1;
                if sp.len() > max_len {
                    break;
                }
            }
            if start == seg.len() && sp.len() <= max_len {
                continue;
            }
            dense = Some(densify(sp, precision, cfg)?);
            sparse = None;
        }
        if dense.is_none() {
            dense = Some(new_dense(n, precision, cfg)?);
        }
        let sv = dense.as_mut().expect("dense state");
        let rest = &seg[start..];
        if fusion {
            let fc = cfg.fusion.for_state(precision, sv.block_shape());
            sv.apply_fused_ops(&fuse(rest, &fc), &mut || cancel::check(stop))?;
        } else {
            for g in rest {
                cancel::check(stop)?;
                sv.apply(g);
            }
        }
    }
    match (sparse, dense) {
        (Some(sp), _) => Ok(Simulated::Sparse(sp)),
        (None, Some(d)) => Ok(Simulated::Dense(d)),
        (None, None) => Ok(Simulated::Dense(new_dense(n, precision, cfg)?)),
    }
}

/// Splits off the leading measurement-free gates (as fusion segments) from the rest.
fn split_prefix(c: &Circuit) -> (Segments, &[Op]) {
    let mut touched = vec![false; c.num_qubits];
    let mut segments = vec![Vec::new()];
    for (i, op) in c.ops.iter().enumerate() {
        match op {
            Op::Gate(g) => {
                g.targets
                    .iter()
                    .chain(&g.controls)
                    .for_each(|&q| touched[q] = true);
                segments.last_mut().expect("one segment").push(g.clone());
            }
            Op::Barrier(_) => segments.push(Vec::new()),
            Op::Reset { qubit } if !touched[*qubit] => {}
            _ => return (segments, &c.ops[i..]),
        }
    }
    (segments, &[])
}

/// A shot-by-shot program: gate runs are pre-fused once, outside the shot loop.
enum Step {
    Run(Vec<FusedOp>),
    Measure {
        qubit: usize,
        clbit: usize,
    },
    Reset {
        qubit: usize,
    },
    If {
        cond: Condition,
        then_steps: Vec<Step>,
        else_steps: Vec<Step>,
    },
}

fn compile(ops: &[Op], fusion: bool, cfg: &FusionConfig) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut run: Vec<GateOp> = Vec::new();
    let flush = |run: &mut Vec<GateOp>, steps: &mut Vec<Step>| {
        if !run.is_empty() {
            let fused = if fusion {
                fuse(run, cfg)
            } else {
                run.iter().cloned().map(FusedOp::Gate).collect()
            };
            steps.push(Step::Run(fused));
            run.clear();
        }
    };
    for op in ops {
        match op {
            Op::Gate(g) => run.push(g.clone()),
            Op::Barrier(_) => flush(&mut run, &mut steps),
            Op::Measure { qubit, clbit } => {
                flush(&mut run, &mut steps);
                steps.push(Step::Measure {
                    qubit: *qubit,
                    clbit: *clbit,
                });
            }
            Op::Reset { qubit } => {
                flush(&mut run, &mut steps);
                steps.push(Step::Reset { qubit: *qubit });
            }
            Op::If {
                cond,
                then_ops,
                else_ops,
            } => {
                flush(&mut run, &mut steps);
                steps.push(Step::If {
                    cond: cond.clone(),
                    then_steps: compile(then_ops, fusion, cfg),
                    else_steps: compile(else_ops, fusion, cfg),
                });
            }
        }
    }
    flush(&mut run, &mut steps);
    steps
}

pub(crate) fn eval(cond: &Condition, bits: &ShotBits) -> bool {
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

fn exec(
    steps: &[Step],
    state: &mut StateVector,
    bits: &mut ShotBits,
    rng: &mut ChaCha8Rng,
    stop: Option<&CancelToken>,
) -> Result<()> {
    for step in steps {
        match step {
            Step::Run(ops) => state.apply_fused_ops(ops, &mut || cancel::check(stop))?,
            Step::Measure { qubit, clbit } => {
                let r = state.measure(*qubit, rng);
                bits.set(*clbit, r);
            }
            Step::Reset { qubit } => state.reset(*qubit, rng),
            Step::If {
                cond,
                then_steps,
                else_steps,
            } => {
                if eval(cond, bits) {
                    exec(then_steps, state, bits, rng, stop)?
                } else {
                    exec(else_steps, state, bits, rng, stop)?
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Gate;

    #[test]
    fn prefix_stops_at_the_first_measurement() {
        let mut c = Circuit::new(2, 1);
        c.ops.push(Op::Reset { qubit: 1 });
        c.gate(Gate::H, &[0]).measure(0, 0);
        c.gate(Gate::X, &[0]);
        let (prefix, rest) = split_prefix(&c);
        assert_eq!(prefix.iter().map(Vec::len).sum::<usize>(), 1);
        assert_eq!(rest.len(), 2);
    }
}
