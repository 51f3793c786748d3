//! Noisy simulation by quantum trajectories on the statevector.
//!
//! Every shot runs the circuit on its own pure state; after each gate the [`NoiseModel`]'s
//! channels are *sampled*: a Pauli error is applied with its probability, amplitude damping
//! jumps to |0> with probability γ·P(1) (else the no-jump Kraus operator is applied and the
//! state renormalised), phase damping is the equivalent phase-flip channel. Averaged over shots
//! this reproduces the density-matrix evolution of the same channels exactly; a seeded run is
//! reproducible shot for shot.
//!
//! Channels (all probabilities in `[0, 1]`):
//! - depolarizing after each 1-qubit gate: a uniformly random non-identity Pauli with
//!   probability `depolarizing_1q`; after each 2-qubit gate one of the 15 non-identity two-qubit
//!   Paulis with probability `depolarizing_2q` (gates on three or more qubits get the
//!   1-qubit channel with the 2-qubit rate on each qubit);
//! - amplitude damping γ and phase damping λ on every qubit a gate touches;
//! - memory (idle dephasing): each qubit a 2-qubit gate leaves idle gets a Z error with
//!   probability `memory · 2 / n` (a depth-1 layer of n qubits holds n/2 such gates, so each
//!   qubit sees about `memory` per layer, as Quantinuum specifies its memory error);
//! - preparation: each qubit starts (and is reset) in |1> with probability `init`;
//! - readout: a measured 0 is reported as 1 with probability `readout_0to1`, a 1 as 0 with
//!   `readout_1to0` (the state collapses to the true outcome).
//!
//! Per-gate overrides (`gates`, keyed by gate name such as `h`, `x`, `cx`, `rz`) replace the
//! depolarizing or damping rates they set for that gate; the rates they leave out stay global.

use crate::cancel::{self, CancelToken};
use crate::error::{Result, SimError};
use crate::ir::{Circuit, Gate, GateOp, Op};
use crate::run::{validate, RunOptions, RunOutput, ShotBits};
use crate::state::StateVector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A per-gate override: the rates it sets replace the model's for that gate; the others stay.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GateNoise {
    /// Depolarizing probability (the 1- or 2-qubit channel by the gate's width).
    pub depolarizing: Option<f64>,
    pub amplitude_damping: Option<f64>,
    pub phase_damping: Option<f64>,
}

/// The rates one gate applies.
struct Rates {
    depolarizing: f64,
    amplitude_damping: f64,
    phase_damping: f64,
}

/// A noise model; see the module documentation for what each rate means.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NoiseModel {
    pub depolarizing_1q: f64,
    pub depolarizing_2q: f64,
    pub amplitude_damping: f64,
    pub phase_damping: f64,
    pub memory: f64,
    pub init: f64,
    pub readout_0to1: f64,
    pub readout_1to0: f64,
    /// Overrides by lower-case gate name.
    pub gates: BTreeMap<String, GateNoise>,
}

/// Quantinuum's published H2 emulator parameters (Quantinuum's hardware specification
/// repository, `notebooks/Emulator parameters.csv`: H2-1 measured 2024-05-20, H2-2 2024-12-06).
const H2_1: (f64, f64, f64, f64, f64) = (3.4e-5, 1.36e-3, 5.0e-4, 5e-4, 2.5e-3);
const H2_2: (f64, f64, f64, f64, f64) = (8e-5, 1.4e-3, 5.3e-4, 9e-4, 1.8e-3);

/// IonQ's published noise-model gate error rates r₁, r₂ (IonQ's "Simulation with noise models"
/// guide), in IonQ's Kraus form where the identity is among the four (sixteen) equally likely
/// Paulis: a non-identity error happens with probability 3r₁/4 (15r₂/16).
const IONQ_MODELS: &[(&str, f64, f64)] = &[
    ("aria-1", 0.0005, 0.0133),
    ("aria-2", 0.000_657_333_333_333_333_2, 0.01856),
    (
        "forte-1",
        0.000_266_666_666_666_666_7,
        0.004_949_333_333_333_333,
    ),
    // IonQ has not published a separate Forte Enterprise model; it shares Forte's hardware
    // and specifications, so Forte 1's rates stand in.
    (
        "forte-enterprise-1",
        0.000_266_666_666_666_666_7,
        0.004_949_333_333_333_333,
    ),
];

/// The IonQ noise model names qws accepts (besides `ideal`).
pub fn ionq_model_names() -> Vec<&'static str> {
    IONQ_MODELS.iter().map(|m| m.0).collect()
}

impl NoiseModel {
    /// True when the model changes nothing.
    pub fn is_ideal(&self) -> bool {
        *self == NoiseModel::default()
    }

    /// The published model of a Quantinuum H2 machine (`H2-1`, `H2-2`).
    pub fn quantinuum(machine: &str) -> Option<NoiseModel> {
        let (p1, p2, memory, m0, m1) = match machine.to_ascii_uppercase().as_str() {
            "H2-1" => H2_1,
            "H2-2" => H2_2,
            _ => return None,
        };
        Some(NoiseModel {
            depolarizing_1q: p1,
            depolarizing_2q: p2,
            memory,
            readout_0to1: m0,
            readout_1to0: m1,
            ..NoiseModel::default()
        })
    }

    /// IonQ's noise model by name (`aria-1`, `forte-1`, …); `ideal` is the empty model.
    pub fn ionq(name: &str) -> Result<NoiseModel> {
        if name == "ideal" {
            return Ok(NoiseModel::default());
        }
        let (_, r1, r2) = IONQ_MODELS.iter().find(|m| m.0 == name).ok_or_else(|| {
            SimError::Invalid(format!(
                "unknown IonQ noise model '{name}'; use ideal, {}",
                ionq_model_names().join(", ")
            ))
        })?;
        Ok(NoiseModel {
            depolarizing_1q: 0.75 * r1,
            depolarizing_2q: 15.0 / 16.0 * r2,
            ..NoiseModel::default()
        })
    }

    /// Applies Quantinuum's `error-params` overrides (`p1`, `p2`, `p_meas` as one number or
    /// `[p0→1, p1→0]`, `p_init`, and the `scale` factor on all of them). Other Quantinuum
    /// parameters (crosstalk, emission, leakage) have no counterpart here and are ignored.
    pub fn with_quantinuum_params(mut self, params: &Map<String, Value>) -> Result<NoiseModel> {
        if let Some(v) = params.get("p1") {
            self.depolarizing_1q = prob(v, "error-params.p1")?;
        }
        if let Some(v) = params.get("p2") {
            self.depolarizing_2q = prob(v, "error-params.p2")?;
        }
        if let Some(v) = params.get("p_init") {
            self.init = prob(v, "error-params.p_init")?;
        }
        if let Some(v) = params.get("p_meas") {
            (self.readout_0to1, self.readout_1to0) = prob_pair(v, "error-params.p_meas")?;
        }
        if let Some(v) = params.get("scale") {
            let s = v
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| {
                    SimError::Invalid("error-params.scale must be a number ≥ 0".into())
                })?;
            for p in [
                &mut self.depolarizing_1q,
                &mut self.depolarizing_2q,
                &mut self.memory,
                &mut self.init,
                &mut self.readout_0to1,
                &mut self.readout_1to0,
            ] {
                *p = (*p * s).min(1.0);
            }
        }
        Ok(self)
    }

    /// Reads qws's own JSON form (the `noise` object of `qws.simulator`'s `inputParams`):
    ///
    /// ```json
    /// {"depolarizing1q": 0.001, "depolarizing2q": 0.01, "amplitudeDamping": 0.0005,
    ///  "phaseDamping": 0.001, "memory": 0.0, "init": 0.0, "readout": [0.01, 0.02],
    ///  "gates": {"cx": {"depolarizing": 0.02}}}
    /// ```
    ///
    /// Every key is optional; `readout` is one probability or `[p0→1, p1→0]`. Unknown keys are
    /// refused, so a misspelt rate is not silently ignored.
    pub fn from_json(v: &Value) -> Result<NoiseModel> {
        let obj = v
            .as_object()
            .ok_or_else(|| SimError::Invalid("noise must be a JSON object".into()))?;
        let mut m = NoiseModel::default();
        for (k, v) in obj {
            let what = format!("noise.{k}");
            match k.as_str() {
                "depolarizing1q" => m.depolarizing_1q = prob(v, &what)?,
                "depolarizing2q" => m.depolarizing_2q = prob(v, &what)?,
                "amplitudeDamping" => m.amplitude_damping = prob(v, &what)?,
                "phaseDamping" => m.phase_damping = prob(v, &what)?,
                "memory" => m.memory = prob(v, &what)?,
                "init" => m.init = prob(v, &what)?,
                "readout" => (m.readout_0to1, m.readout_1to0) = prob_pair(v, &what)?,
                "gates" => {
                    let gates = v.as_object().ok_or_else(|| {
                        SimError::Invalid("noise.gates must map gate names to objects".into())
                    })?;
                    if gates.len() > 64 {
                        return Err(SimError::Invalid(
                            "noise.gates names at most 64 gates".into(),
                        ));
                    }
                    for (name, g) in gates {
                        m.gates
                            .insert(name.to_ascii_lowercase(), gate_noise(name, g)?);
                    }
                }
                other => {
                    return Err(SimError::Invalid(format!(
                        "noise has no setting '{other}' (depolarizing1q, depolarizing2q, amplitudeDamping, phaseDamping, memory, init, readout, gates)"
                    )))
                }
            }
        }
        Ok(m)
    }

    fn for_gate(&self, g: &GateOp) -> Rates {
        let width = g.targets.len() + g.controls.len();
        let depolarizing = if width >= 2 {
            self.depolarizing_2q
        } else {
            self.depolarizing_1q
        };
        let o = self.gates.get(gate_name(g));
        Rates {
            depolarizing: o.and_then(|o| o.depolarizing).unwrap_or(depolarizing),
            amplitude_damping: o
                .and_then(|o| o.amplitude_damping)
                .unwrap_or(self.amplitude_damping),
            phase_damping: o
                .and_then(|o| o.phase_damping)
                .unwrap_or(self.phase_damping),
        }
    }
}

fn prob(v: &Value, what: &str) -> Result<f64> {
    v.as_f64()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| SimError::Invalid(format!("{what} must be a probability in [0, 1]")))
}

fn prob_pair(v: &Value, what: &str) -> Result<(f64, f64)> {
    match v {
        Value::Array(a) if a.len() == 2 => Ok((prob(&a[0], what)?, prob(&a[1], what)?)),
        _ => {
            let p = prob(v, what)?;
            Ok((p, p))
        }
    }
}

fn gate_noise(name: &str, v: &Value) -> Result<GateNoise> {
    let obj = v
        .as_object()
        .ok_or_else(|| SimError::Invalid(format!("noise.gates.{name} must be an object")))?;
    let mut g = GateNoise::default();
    for (k, v) in obj {
        let what = format!("noise.gates.{name}.{k}");
        match k.as_str() {
            "depolarizing" => g.depolarizing = Some(prob(v, &what)?),
            "amplitudeDamping" => g.amplitude_damping = Some(prob(v, &what)?),
            "phaseDamping" => g.phase_damping = Some(prob(v, &what)?),
            other => {
                return Err(SimError::Invalid(format!(
                    "noise.gates.{name} has no setting '{other}' (depolarizing, amplitudeDamping, phaseDamping)"
                )))
            }
        }
    }
    Ok(g)
}

/// The name a per-gate override is looked up by: the OpenQASM name, with `c`s for controls
/// (`x` with one control is `cx`).
fn gate_name(g: &GateOp) -> &'static str {
    let base = match &g.gate {
        Gate::I => "id",
        Gate::X => "x",
        Gate::Y => "y",
        Gate::Z => "z",
        Gate::H => "h",
        Gate::S => "s",
        Gate::Sdg => "sdg",
        Gate::T => "t",
        Gate::Tdg => "tdg",
        Gate::SX => "sx",
        Gate::SXdg => "sxdg",
        Gate::RX(_) => "rx",
        Gate::RY(_) => "ry",
        Gate::RZ(_) => "rz",
        Gate::Phase(_) => "p",
        Gate::U(..) => "u",
        Gate::GPI(_) => "gpi",
        Gate::GPI2(_) => "gpi2",
        Gate::Swap => "swap",
        Gate::ISwap => "iswap",
        Gate::RXX(_) => "rxx",
        Gate::RYY(_) => "ryy",
        Gate::RZZ(_) => "rzz",
        Gate::MS(..) => "ms",
        Gate::Unitary(_) => "unitary",
        Gate::GlobalPhase(_) => "gphase",
    };
    match (g.controls.len(), base) {
        (0, b) => b,
        (1, "x") => "cx",
        (1, "y") => "cy",
        (1, "z") => "cz",
        (1, "h") => "ch",
        (1, "p") => "cp",
        (1, "rx") => "crx",
        (1, "ry") => "cry",
        (1, "rz") => "crz",
        (1, "swap") => "cswap",
        (2, "x") => "ccx",
        _ => "controlled",
    }
}

/// Runs `opts.shots` noisy trajectories of `circuit` and returns every shot's (reported)
/// classical bits. Validates first, checks cancellation between shots.
pub fn run_noisy(circuit: &Circuit, opts: &RunOptions, model: &NoiseModel) -> Result<RunOutput> {
    crate::run::collect_shots(circuit, opts, |sink| {
        run_noisy_into(circuit, opts, model, sink)
    })
}

/// [`run_noisy`], handing each shot to `sink` instead of keeping them.
pub fn run_noisy_into(
    circuit: &Circuit,
    opts: &RunOptions,
    model: &NoiseModel,
    sink: &mut dyn FnMut(ShotBits),
) -> Result<()> {
    validate(circuit, &opts.limits)?;
    if opts.shots > opts.limits.max_shots {
        return Err(SimError::Limit(format!(
            "{} shots requested; at most {} are allowed",
            opts.shots, opts.limits.max_shots
        )));
    }
    let stop = opts.cancel.as_ref();
    cancel::check(stop)?;
    let mut rng = match opts.seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::from_entropy(),
    };
    let precision = opts.precision_for(circuit.num_qubits);
    crate::run::check_qubits_in(circuit.num_qubits, precision, &opts.limits)?;
    let fresh = StateVector::try_new_with(circuit.num_qubits, precision)?;
    let mut t = Trajectory {
        model,
        n: circuit.num_qubits,
        stop,
    };
    for _ in 0..opts.shots {
        cancel::check(stop)?;
        let mut state = fresh.clone();
        for q in 0..circuit.num_qubits {
            t.prepare(&mut state, q, &mut rng);
        }
        let mut bits = ShotBits::zeros(circuit.num_clbits);
        t.exec(&circuit.ops, &mut state, &mut bits, &mut rng)?;
        sink(bits);
    }
    Ok(())
}

struct Trajectory<'a> {
    model: &'a NoiseModel,
    n: usize,
    stop: Option<&'a CancelToken>,
}

const PAULIS: [Gate; 3] = [Gate::X, Gate::Y, Gate::Z];

fn pauli(state: &mut StateVector, which: usize, q: usize) {
    // 0 = I, 1 = X, 2 = Y, 3 = Z.
    if which > 0 {
        state.apply(&GateOp::new(PAULIS[which - 1].clone(), vec![q]));
    }
}

/// Prepares `q` (at the start or after a reset): |1> instead of |0> with probability `init`.
pub(crate) fn prepare<R: Rng + ?Sized>(
    model: &NoiseModel,
    state: &mut StateVector,
    q: usize,
    rng: &mut R,
) {
    if model.init > 0.0 && rng.gen::<f64>() < model.init {
        state.apply(&GateOp::new(Gate::X, vec![q]));
    }
}

/// The reported value of a measurement whose true outcome is `r`.
pub(crate) fn readout<R: Rng + ?Sized>(model: &NoiseModel, r: bool, rng: &mut R) -> bool {
    let flip = if r {
        model.readout_1to0
    } else {
        model.readout_0to1
    };
    if flip > 0.0 && rng.gen::<f64>() < flip {
        !r
    } else {
        r
    }
}

impl Trajectory<'_> {
    fn prepare(&self, state: &mut StateVector, q: usize, rng: &mut ChaCha8Rng) {
        prepare(self.model, state, q, rng)
    }

    fn exec(
        &mut self,
        ops: &[Op],
        state: &mut StateVector,
        bits: &mut ShotBits,
        rng: &mut ChaCha8Rng,
    ) -> Result<()> {
        for op in ops {
            match op {
                Op::Gate(g) => {
                    cancel::check(self.stop)?;
                    state.apply(g);
                    after_gate(self.model, self.n, g, state, rng);
                }
                Op::Measure { qubit, clbit } => {
                    let r = state.measure(*qubit, rng);
                    bits.set(*clbit, readout(self.model, r, rng));
                }
                Op::Reset { qubit } => {
                    state.reset(*qubit, rng);
                    self.prepare(state, *qubit, rng);
                }
                Op::Barrier(_) => {}
                Op::If {
                    cond,
                    then_ops,
                    else_ops,
                } => {
                    if crate::run::eval(cond, bits) {
                        self.exec(then_ops, state, bits, rng)?
                    } else {
                        self.exec(else_ops, state, bits, rng)?
                    }
                }
            }
        }
        Ok(())
    }
}

/// Samples the noise of one applied gate (on an `n`-qubit state).
pub(crate) fn after_gate<R: Rng + ?Sized>(
    model: &NoiseModel,
    n: usize,
    g: &GateOp,
    state: &mut StateVector,
    rng: &mut R,
) {
    let qubits: Vec<usize> = g.controls.iter().chain(&g.targets).copied().collect();
    if qubits.is_empty() {
        return; // a global phase touches no qubit
    }
    let noise = model.for_gate(g);
    if noise.depolarizing > 0.0 && rng.gen::<f64>() < noise.depolarizing {
        if qubits.len() == 2 {
            // One of the 15 non-identity two-qubit Paulis, uniformly.
            let k = rng.gen_range(1..16usize);
            pauli(state, k & 3, qubits[0]);
            pauli(state, k >> 2, qubits[1]);
        } else {
            pauli(state, rng.gen_range(1..4usize), qubits[0]);
        }
    }
    if qubits.len() > 2 {
        // The other qubits of a wide gate: each its own 1-qubit channel at the same rate.
        for &q in &qubits[1..] {
            if noise.depolarizing > 0.0 && rng.gen::<f64>() < noise.depolarizing {
                pauli(state, rng.gen_range(1..4usize), q);
            }
        }
    }
    for &q in &qubits {
        if noise.amplitude_damping > 0.0 {
            amplitude_damp(state, q, noise.amplitude_damping, rng);
        }
        if noise.phase_damping > 0.0 {
            // Phase damping λ equals a phase flip with probability (1 − √(1−λ))/2.
            let p = (1.0 - (1.0 - noise.phase_damping).sqrt()) / 2.0;
            if rng.gen::<f64>() < p {
                pauli(state, 3, q);
            }
        }
    }
    if model.memory > 0.0 && qubits.len() == 2 && n > 2 {
        let p = (model.memory * 2.0 / n as f64).min(1.0);
        for q in (0..n).filter(|q| !qubits.contains(q)) {
            if rng.gen::<f64>() < p {
                pauli(state, 3, q);
            }
        }
    }
}

/// One sampled step of the amplitude-damping channel with rate γ on `q`.
fn amplitude_damp<R: Rng + ?Sized>(state: &mut StateVector, q: usize, gamma: f64, rng: &mut R) {
    let p1 = state.prob_one(q);
    let jump = gamma * p1;
    if rng.gen::<f64>() < jump {
        // K1 = √γ |0⟩⟨1|: the qubit decays; collapse onto |1⟩ and flip it to |0⟩.
        state.collapse(q, true, p1);
        state.apply(&GateOp::new(Gate::X, vec![q]));
    } else {
        // K0 = |0⟩⟨0| + √(1−γ) |1⟩⟨1|, renormalised by the no-jump probability.
        state.damp_one(q, (1.0 - gamma).sqrt(), 1.0 / (1.0 - jump).sqrt());
    }
}

/// The per-shot outcome counts of a noisy run as the distribution `ionq.quantum-results.v1`
/// reports (frequencies; bit 0 least significant; at most 64 classical bits).
pub fn noisy_distribution(
    circuit: &Circuit,
    opts: &RunOptions,
    model: &NoiseModel,
) -> Result<BTreeMap<u64, f64>> {
    if circuit.num_clbits > 64 {
        return Err(SimError::Unsupported(format!(
            "an integer-keyed histogram of {} classical bits (at most 64)",
            circuit.num_clbits
        )));
    }
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    run_noisy_into(circuit, opts, model, &mut |b| {
        *counts.entry(b.0.first().copied().unwrap_or(0)).or_insert(0) += 1
    })?;
    let total = opts.shots.max(1) as f64;
    Ok(counts
        .into_iter()
        .map(|(k, c)| (k, c as f64 / total))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn published_models_are_what_the_sources_say() {
        let h2 = NoiseModel::quantinuum("H2-1").unwrap();
        assert_eq!(
            (h2.depolarizing_1q, h2.depolarizing_2q, h2.memory),
            (3.4e-5, 1.36e-3, 5.0e-4)
        );
        assert_eq!((h2.readout_0to1, h2.readout_1to0), (5e-4, 2.5e-3));
        assert!(NoiseModel::quantinuum("H1-1").is_none());
        let aria = NoiseModel::ionq("aria-1").unwrap();
        assert!((aria.depolarizing_1q - 0.000375).abs() < 1e-12);
        assert!((aria.depolarizing_2q - 0.0133 * 15.0 / 16.0).abs() < 1e-12);
        assert!(NoiseModel::ionq("ideal").unwrap().is_ideal());
        let e = NoiseModel::ionq("harmony").unwrap_err();
        assert!(e.to_string().contains("aria-1"), "{e}");
    }

    #[test]
    fn json_form_is_checked() {
        let m = NoiseModel::from_json(&json!({
            "depolarizing1q": 0.1, "readout": [0.01, 0.02],
            "gates": {"CX": {"depolarizing": 0.5}}
        }))
        .unwrap();
        assert_eq!(m.depolarizing_1q, 0.1);
        assert_eq!((m.readout_0to1, m.readout_1to0), (0.01, 0.02));
        assert_eq!(m.gates["cx"].depolarizing, Some(0.5));
        assert_eq!(m.gates["cx"].amplitude_damping, None);
        for bad in [
            json!({"depolarising1q": 0.1}),
            json!({"depolarizing1q": 1.5}),
            json!({"readout": "x"}),
            json!({"gates": {"h": {"depol": 0.1}}}),
            json!([1]),
        ] {
            assert!(NoiseModel::from_json(&bad).is_err(), "{bad}");
        }
        let q = NoiseModel::quantinuum("H2-2")
            .unwrap()
            .with_quantinuum_params(
                json!({"p1": 0.01, "p_meas": 0.02, "scale": 2.0})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(q.depolarizing_1q, 0.02);
        assert_eq!((q.readout_0to1, q.readout_1to0), (0.04, 0.04));
    }
}
