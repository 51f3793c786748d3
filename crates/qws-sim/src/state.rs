//! Dense statevector: the public, step-by-step API every front end and interpreter drives.
//!
//! This first version applies every gate through its matrix (correct, not fast). The engine work
//! replaces the internals with specialised kernels; this API stays.

use crate::ir::{GateOp, Matrix};
use rand::Rng;

/// A complex amplitude.
pub type Amp = (f64, f64);

#[derive(Clone, Debug)]
pub struct StateVector {
    num_qubits: usize,
    amps: Vec<Amp>,
}

impl StateVector {
    /// |0...0> on `num_qubits` qubits. Callers check memory budgets before calling.
    pub fn new(num_qubits: usize) -> Self {
        let mut amps = vec![(0.0, 0.0); 1usize << num_qubits];
        amps[0] = (1.0, 0.0);
        StateVector { num_qubits, amps }
    }

    pub fn num_qubits(&self) -> usize {
        self.num_qubits
    }

    pub fn amplitudes(&self) -> &[Amp] {
        &self.amps
    }

    /// Applies a gate (with its controls) to the state.
    pub fn apply(&mut self, op: &GateOp) {
        let m = op.gate.matrix();
        apply_matrix(&mut self.amps, &m, &op.targets, &op.controls);
    }

    /// Probability that `qubit` measures 1.
    pub fn prob_one(&self, qubit: usize) -> f64 {
        let bit = 1usize << qubit;
        self.amps
            .iter()
            .enumerate()
            .filter(|(i, _)| i & bit != 0)
            .map(|(_, a)| a.0 * a.0 + a.1 * a.1)
            .sum()
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
            let bit = 1usize << qubit;
            for i in 0..self.amps.len() {
                if i & bit == 0 {
                    self.amps.swap(i, i | bit);
                }
            }
        }
    }

    fn collapse(&mut self, qubit: usize, outcome: bool, prob: f64) {
        let bit = 1usize << qubit;
        let norm = if prob > 0.0 { 1.0 / prob.sqrt() } else { 0.0 };
        for (i, a) in self.amps.iter_mut().enumerate() {
            if ((i & bit) != 0) == outcome {
                a.0 *= norm;
                a.1 *= norm;
            } else {
                *a = (0.0, 0.0);
            }
        }
    }

    /// |amplitude|^2 of every basis state.
    pub fn probabilities(&self) -> Vec<f64> {
        self.amps.iter().map(|a| a.0 * a.0 + a.1 * a.1).collect()
    }
}

/// Applies `m` (on `targets`, targets[0] least significant) to every amplitude block whose
/// `controls` are all set. Generic reference kernel.
pub(crate) fn apply_matrix(amps: &mut [Amp], m: &Matrix, targets: &[usize], controls: &[usize]) {
    let k = targets.len();
    let dim = 1usize << k;
    debug_assert_eq!(m.dim, dim);
    let ctrl_mask: usize = controls.iter().map(|c| 1usize << c).sum();
    let tgt_mask: usize = targets.iter().map(|t| 1usize << t).sum();
    let offsets: Vec<usize> = (0..dim)
        .map(|j| {
            (0..k)
                .filter(|b| j >> b & 1 == 1)
                .map(|b| 1usize << targets[b])
                .sum()
        })
        .collect();
    let mut buf = vec![(0.0, 0.0); dim];
    for base in 0..amps.len() {
        if base & tgt_mask != 0 || base & ctrl_mask != ctrl_mask {
            continue;
        }
        for (j, off) in offsets.iter().enumerate() {
            buf[j] = amps[base | off];
        }
        for (r, off) in offsets.iter().enumerate() {
            let mut acc = (0.0, 0.0);
            for (c, b) in buf.iter().enumerate() {
                let e = m.data[r * dim + c];
                acc.0 += e.0 * b.0 - e.1 * b.1;
                acc.1 += e.0 * b.1 + e.1 * b.0;
            }
            amps[base | off] = acc;
        }
    }
}
