//! Sampling many shots from one final distribution, without a cumulative array over the state.
//!
//! Draw all uniforms first, sort them, then walk the probabilities once: the sorted draws fall
//! into consecutive basis states. Parallel: per-chunk probability sums give each chunk its range
//! of the cumulative distribution, and each chunk resolves the draws inside its range. Memory is
//! O(shots + chunks), not O(2^n); the result is deterministic for a given RNG state.

use super::real::{norm_sqr_f64, Complex, Real};
use crate::engine::reference::Amp;
use rand::Rng;
use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

/// Samples `shots` basis-state indices from the (normalised or not) `|amp|^2` of `amps`.
/// Shot `s` gets the outcome of the `s`-th uniform draw from `rng`.
/// Probabilities are summed in double precision also for a single-precision state.
pub fn sample_dense<F: Real, R: Rng + ?Sized>(
    amps: &[Complex<F>],
    shots: usize,
    parallel: bool,
    rng: &mut R,
) -> Vec<usize> {
    let draws: Vec<f64> = (0..shots).map(|_| rng.gen::<f64>()).collect();
    let p = norm_sqr_f64::<F>;
    let sums: Vec<f64> = if parallel {
        amps.par_chunks(CHUNK)
            .map(|c| c.iter().map(p).sum())
            .collect()
    } else {
        amps.chunks(CHUNK).map(|c| c.iter().map(p).sum()).collect()
    };
    let total: f64 = sums.iter().sum();
    let mut order: Vec<usize> = (0..shots).collect();
    order.sort_unstable_by(|&a, &b| draws[a].total_cmp(&draws[b]));
    let targets: Vec<f64> = order.iter().map(|&s| draws[s] * total).collect();
    // Chunk k covers cumulative range [start_k, start_k + sums[k]).
    let mut starts = Vec::with_capacity(sums.len());
    let mut acc = 0.0;
    for s in &sums {
        starts.push(acc);
        acc += s;
    }
    // Partition the sorted targets among chunks.
    let mut bounds = Vec::with_capacity(sums.len() + 1);
    let mut t = 0;
    for k in 0..sums.len() {
        bounds.push(t);
        let end = starts[k] + sums[k];
        while t < targets.len() && (targets[t] < end || k + 1 == sums.len()) {
            t += 1;
        }
    }
    bounds.push(targets.len());
    let resolve = |k: usize| -> Vec<usize> {
        let chunk = &amps[k * CHUNK..((k + 1) * CHUNK).min(amps.len())];
        let mut out = Vec::with_capacity(bounds[k + 1] - bounds[k]);
        let mut cum = starts[k];
        let mut i = 0;
        let mut last_nonzero = None;
        for &x in &targets[bounds[k]..bounds[k + 1]] {
            while i < chunk.len() {
                let pi = p(&chunk[i]);
                if pi > 0.0 {
                    last_nonzero = Some(i);
                    if x < cum + pi {
                        break;
                    }
                }
                cum += pi;
                i += 1;
            }
            // Rounding can push a draw past the chunk's end: use its last non-zero state.
            let idx = if i < chunk.len() {
                i
            } else {
                last_nonzero
                    .or_else(|| chunk.iter().rposition(|a| p(a) > 0.0))
                    .unwrap_or(chunk.len() - 1)
            };
            out.push(k * CHUNK + idx);
        }
        out
    };
    let per_chunk: Vec<Vec<usize>> = if parallel {
        (0..sums.len()).into_par_iter().map(resolve).collect()
    } else {
        (0..sums.len()).map(resolve).collect()
    };
    let mut result = vec![0usize; shots];
    for (slot, outcome) in order.iter().zip(per_chunk.into_iter().flatten()) {
        result[*slot] = outcome;
    }
    result
}

/// Samples `shots` outcomes from a sparse distribution given as `(index, amplitude)` pairs
/// sorted by index.
pub fn sample_sparse<R: Rng + ?Sized>(
    entries: &[(usize, Amp)],
    shots: usize,
    rng: &mut R,
) -> Vec<usize> {
    let mut cum = Vec::with_capacity(entries.len());
    let mut acc = 0.0;
    for (_, a) in entries {
        acc += a.0 * a.0 + a.1 * a.1;
        cum.push(acc);
    }
    (0..shots)
        .map(|_| {
            let x = rng.gen::<f64>() * acc;
            let k = cum.partition_point(|&c| c <= x).min(entries.len() - 1);
            entries[k].0
        })
        .collect()
}
