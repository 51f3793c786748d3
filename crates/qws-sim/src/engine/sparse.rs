//! Sparse statevector for states with few non-zero amplitudes (GHZ, basis-state arithmetic,
//! oracles): a hash map from basis index to amplitude. The engine starts every circuit here and
//! switches to the dense state as soon as the map grows past a budget, so the choice is
//! automatic and the fallback costs at most one scatter.

use crate::engine::kernels::cmul;
use crate::engine::real::{cast, Complex, Real};
use crate::engine::reference::Amp;
use crate::ir::GateOp;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Amplitudes with `|a|^2` at or below this are dropped (rounding residue of cancellations).
const DROP: f64 = 1e-30;

/// Multiplicative hasher for basis indices (keys are plain integers; no DoS exposure since
/// the map size is bounded and keys come from the simulation, not from the user directly).
#[derive(Default)]
pub struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, i: usize) {
        self.0 = (i as u64 ^ (i as u64 >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 ^= self.0 >> 32;
    }
}

type Map = HashMap<usize, Amp, BuildHasherDefault<IndexHasher>>;

#[derive(Clone, Debug)]
pub struct SparseState {
    num_qubits: usize,
    map: Map,
}

fn local_index(idx: usize, targets: &[usize]) -> usize {
    targets
        .iter()
        .enumerate()
        .fold(0, |acc, (b, &q)| acc | (idx >> q & 1) << b)
}

fn spread(j: usize, targets: &[usize]) -> usize {
    targets
        .iter()
        .enumerate()
        .filter(|(b, _)| j >> b & 1 == 1)
        .fold(0, |acc, (_, &q)| acc | 1usize << q)
}

fn keep(a: Amp) -> bool {
    a.0 * a.0 + a.1 * a.1 > DROP
}

impl SparseState {
    /// |0...0> on `num_qubits` qubits (at most 63).
    pub fn new(num_qubits: usize) -> Self {
        assert!(num_qubits < 64, "sparse state indices are 64-bit");
        let mut map = Map::default();
        map.insert(0, (1.0, 0.0));
        SparseState { num_qubits, map }
    }

    pub fn num_qubits(&self) -> usize {
        self.num_qubits
    }

    /// Number of stored (non-zero) amplitudes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Non-zero amplitudes sorted by basis index.
    pub fn entries(&self) -> Vec<(usize, Amp)> {
        let mut v: Vec<(usize, Amp)> = self.map.iter().map(|(&k, &a)| (k, a)).collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// Writes the state into a dense amplitude array of length `2^num_qubits` (zeroed).
    pub fn scatter_into<F: Real>(&self, amps: &mut [Complex<F>]) {
        for (&k, &a) in &self.map {
            amps[k] = cast(a);
        }
    }

    /// Applies a gate and returns `true`, or returns `false` without changing the state when
    /// the result is bound to hold far more than `max_len` amplitudes (the caller then
    /// switches to the dense engine for this gate). After `true` the caller checks [`Self::len`].
    pub fn apply(&mut self, op: &GateOp, max_len: usize) -> bool {
        let m = op.gate.matrix();
        let dim = m.dim;
        let targets = &op.targets;
        let cm = op.controls.iter().fold(0usize, |m, &q| m | 1 << q);
        let tm = spread(dim - 1, targets);
        // Monomial matrices (one non-zero per column: diagonal and permutation gates, with
        // phases) map each basis state to one basis state.
        let mut col_target = Vec::with_capacity(dim);
        for c in 0..dim {
            let nz: Vec<usize> = (0..dim)
                .filter(|&r| m.data[r * dim + c] != (0.0, 0.0))
                .collect();
            if nz.len() != 1 {
                break;
            }
            col_target.push(nz[0]);
        }
        if col_target.len() == dim {
            let old = std::mem::take(&mut self.map);
            let mut new = Map::with_capacity_and_hasher(old.len(), Default::default());
            for (k, a) in old {
                if k & cm != cm {
                    new.insert(k, a);
                    continue;
                }
                let c = local_index(k, targets);
                let r = col_target[c];
                let a = cmul(m.data[r * dim + c], a);
                new.insert((k & !tm) | spread(r, targets), a);
            }
            self.map = new;
            return true;
        }
        // General gate: every group of amplitudes sharing the non-target bits mixes.
        let mut bases: Vec<usize> = self
            .map
            .keys()
            .filter(|&&k| k & cm == cm)
            .map(|&k| k & !tm)
            .collect();
        bases.sort_unstable();
        bases.dedup();
        let untouched = self.map.len() - self.map.keys().filter(|&&k| k & cm == cm).count();
        if untouched + bases.len() * dim > max_len.saturating_mul(4) {
            // Cheap early refusal when the result is bound to be far too large.
            return false;
        }
        let mut buf = vec![(0.0, 0.0); dim];
        let mut updates = Vec::with_capacity(bases.len() * dim);
        for &b in &bases {
            for (j, v) in buf.iter_mut().enumerate() {
                *v = self
                    .map
                    .get(&(b | spread(j, targets)))
                    .copied()
                    .unwrap_or((0.0, 0.0));
            }
            for r in 0..dim {
                let mut acc = (0.0, 0.0);
                for (c, v) in buf.iter().enumerate() {
                    let p = cmul(m.data[r * dim + c], *v);
                    acc = (acc.0 + p.0, acc.1 + p.1);
                }
                updates.push((b | spread(r, targets), acc));
            }
        }
        for (k, a) in updates {
            if keep(a) {
                self.map.insert(k, a);
            } else {
                self.map.remove(&k);
            }
        }
        true
    }
}
