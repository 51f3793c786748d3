//! Dense statevector: the public, step-by-step API every front end and interpreter drives.
//!
//! Gates go through the specialised kernels in [`crate::engine::kernels`]; the generic
//! [`apply_matrix`] (in [`crate::engine::reference`]) stays as the reference every kernel is tested against. Above
//! [`PARALLEL_THRESHOLD`] qubits the kernels run on the rayon pool.

use crate::engine::fusion::FusedOp;
use crate::engine::kernels;
use crate::error::{Result, SimError};
use crate::ir::GateOp;
use rand::Rng;
use rayon::prelude::*;

pub(crate) use crate::engine::reference::apply_matrix;
pub use crate::engine::reference::Amp;

/// States with at least this many qubits use multiple threads (below it, thread start-up costs
/// more than it saves).
pub const PARALLEL_THRESHOLD: usize = 14;

/// Amplitudes per parallel task in the reductions below.
const CHUNK: usize = 1 << 14;

#[derive(Clone, Debug)]
pub struct StateVector {
    num_qubits: usize,
    amps: Vec<Amp>,
    parallel: bool,
}

/// Allocates `2^num_qubits` zero amplitudes, reporting allocation failure as an error.
pub(crate) fn alloc_amps(num_qubits: usize) -> Result<Vec<Amp>> {
    let len = 1usize
        .checked_shl(num_qubits as u32)
        .filter(|_| num_qubits < usize::BITS as usize - 5)
        .ok_or_else(|| SimError::Limit(format!("{num_qubits} qubits cannot be addressed")))?;
    let mut amps: Vec<Amp> = Vec::new();
    amps.try_reserve_exact(len).map_err(|_| {
        SimError::Limit(format!(
            "could not allocate the state of {num_qubits} qubits ({} MiB)",
            (len as u64 * 16) >> 20
        ))
    })?;
    // Zero (and so fault in) the pages on all threads for large states.
    let spare = &mut amps.spare_capacity_mut()[..len];
    if num_qubits >= PARALLEL_THRESHOLD {
        spare
            .par_chunks_mut(CHUNK)
            .for_each(|c| c.fill(std::mem::MaybeUninit::new((0.0, 0.0))));
    } else {
        spare.fill(std::mem::MaybeUninit::new((0.0, 0.0)));
    }
    // SAFETY: the first `len` elements were initialised just above.
    unsafe { amps.set_len(len) };
    Ok(amps)
}

impl StateVector {
    /// |0...0> on `num_qubits` qubits. Callers check memory budgets before calling; this panics
    /// if the allocation fails (use [`StateVector::try_new`] to get an error instead).
    pub fn new(num_qubits: usize) -> Self {
        Self::try_new(num_qubits).expect("statevector allocation")
    }

    /// |0...0> on `num_qubits` qubits; an allocation failure is an error, not an abort.
    pub fn try_new(num_qubits: usize) -> Result<Self> {
        let mut amps = alloc_amps(num_qubits)?;
        amps[0] = (1.0, 0.0);
        Ok(Self::from_parts(num_qubits, amps))
    }

    /// A state from explicit amplitudes (length must be a power of two; not renormalised).
    pub fn from_amplitudes(amps: Vec<Amp>) -> Result<Self> {
        if !amps.len().is_power_of_two() {
            return Err(SimError::Invalid(
                "a statevector needs a power-of-two number of amplitudes".into(),
            ));
        }
        Ok(Self::from_parts(amps.len().trailing_zeros() as usize, amps))
    }

    fn from_parts(num_qubits: usize, amps: Vec<Amp>) -> Self {
        StateVector {
            num_qubits,
            amps,
            parallel: num_qubits >= PARALLEL_THRESHOLD,
        }
    }

    /// Forces multithreaded kernels on or off (default: on from [`PARALLEL_THRESHOLD`] qubits).
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    pub fn is_parallel(&self) -> bool {
        self.parallel
    }

    pub fn num_qubits(&self) -> usize {
        self.num_qubits
    }

    pub fn amplitudes(&self) -> &[Amp] {
        &self.amps
    }

    /// Consumes the state, returning its amplitudes.
    pub fn into_amplitudes(self) -> Vec<Amp> {
        self.amps
    }

    /// Applies a gate (with its controls) to the state using the specialised kernels.
    pub fn apply(&mut self, op: &GateOp) {
        kernels::apply_op(&mut self.amps, op, self.parallel);
    }

    /// Applies a gate through its full matrix with the naive reference kernel (for tests).
    pub fn apply_reference(&mut self, op: &GateOp) {
        let m = op.gate.matrix();
        apply_matrix(&mut self.amps, &m, &op.targets, &op.controls);
    }

    /// Applies one step of a fused program.
    pub fn apply_fused(&mut self, op: &FusedOp) {
        match op {
            FusedOp::Gate(g) => self.apply(g),
            FusedOp::Dense { qubits, matrix } => {
                kernels::dense(&mut self.amps, qubits, matrix, &[], self.parallel)
            }
            FusedOp::Diag { qubits, table } => {
                kernels::diag_table(&mut self.amps, qubits, table, self.parallel)
            }
        }
    }

    /// Probability that `qubit` measures 1.
    pub fn prob_one(&self, qubit: usize) -> f64 {
        let bit = 1usize << qubit;
        let part = |base: usize, c: &[Amp]| -> f64 {
            // Runs of 2^qubit amplitudes alternate between bit clear and bit set.
            c.iter()
                .enumerate()
                .filter(|(i, _)| (base + i) & bit != 0)
                .map(|(_, a)| a.0 * a.0 + a.1 * a.1)
                .sum()
        };
        if self.parallel {
            self.amps
                .par_chunks(CHUNK)
                .enumerate()
                .map(|(k, c)| part(k * CHUNK, c))
                .sum()
        } else {
            part(0, &self.amps)
        }
    }

    /// Projective Z measurement of one qubit; collapses and renormalises the state.
    pub fn measure<R: Rng + ?Sized>(&mut self, qubit: usize, rng: &mut R) -> bool {
        let p1 = self.prob_one(qubit);
        let outcome = rng.gen::<f64>() < p1;
        self.collapse(qubit, outcome, if outcome { p1 } else { 1.0 - p1 });
        outcome
    }

    /// Resets `qubit` to |0> (measure, then flip if it was 1).
    pub fn reset<R: Rng + ?Sized>(&mut self, qubit: usize, rng: &mut R) {
        if self.measure(qubit, rng) {
            kernels::pauli_x(&mut self.amps, qubit, &[], self.parallel);
        }
    }

    pub(crate) fn collapse(&mut self, qubit: usize, outcome: bool, prob: f64) {
        let bit = 1usize << qubit;
        let norm = if prob > 0.0 { 1.0 / prob.sqrt() } else { 0.0 };
        let part = |base: usize, c: &mut [Amp]| {
            for (i, a) in c.iter_mut().enumerate() {
                if ((base + i) & bit != 0) == outcome {
                    a.0 *= norm;
                    a.1 *= norm;
                } else {
                    *a = (0.0, 0.0);
                }
            }
        };
        if self.parallel {
            self.amps
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(k, c)| part(k * CHUNK, c));
        } else {
            part(0, &mut self.amps);
        }
    }

    /// Multiplies the amplitudes where `qubit` is 1 by `factor`, then every amplitude by
    /// `norm` (a non-unitary Kraus operator followed by renormalisation; used by noise).
    pub(crate) fn damp_one(&mut self, qubit: usize, factor: f64, norm: f64) {
        let bit = 1usize << qubit;
        let part = |base: usize, c: &mut [Amp]| {
            for (i, a) in c.iter_mut().enumerate() {
                let f = if (base + i) & bit != 0 {
                    factor * norm
                } else {
                    norm
                };
                a.0 *= f;
                a.1 *= f;
            }
        };
        if self.parallel {
            self.amps
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(k, c)| part(k * CHUNK, c));
        } else {
            part(0, &mut self.amps);
        }
    }

    /// |amplitude|^2 of every basis state.
    pub fn probabilities(&self) -> Vec<f64> {
        self.amps.iter().map(|a| a.0 * a.0 + a.1 * a.1).collect()
    }

    /// Sum of |amplitude|^2 (1 for a normalised state).
    pub fn norm_sqr(&self) -> f64 {
        if self.parallel {
            self.amps
                .par_chunks(CHUNK)
                .map(|c| c.iter().map(|a| a.0 * a.0 + a.1 * a.1).sum::<f64>())
                .sum()
        } else {
            self.amps.iter().map(|a| a.0 * a.0 + a.1 * a.1).sum()
        }
    }
}
