//! The engine's amplitude type and the naive matrix kernel every specialised kernel is
//! tested against. It lives here, not in `state.rs`, so the engine depends only on the IR's
//! leaf types and nothing above it depends on in both directions.

use super::real::{cast, Complex, Real};
use crate::ir::Matrix;

/// A complex amplitude.
pub type Amp = (f64, f64);

/// Applies `m` (on `targets`, targets[0] least significant) to every amplitude block whose
/// `controls` are all set, in either precision. Generic reference kernel.
pub fn apply_matrix<F: Real>(
    amps: &mut [Complex<F>],
    m: &Matrix,
    targets: &[usize],
    controls: &[usize],
) {
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
    let mut buf = vec![(F::ZERO, F::ZERO); dim];
    let data: Vec<Complex<F>> = m.data.iter().map(|&e| cast(e)).collect();
    for base in 0..amps.len() {
        if base & tgt_mask != 0 || base & ctrl_mask != ctrl_mask {
            continue;
        }
        for (j, off) in offsets.iter().enumerate() {
            buf[j] = amps[base | off];
        }
        for (r, off) in offsets.iter().enumerate() {
            let mut acc = (F::ZERO, F::ZERO);
            for (c, b) in buf.iter().enumerate() {
                let e = data[r * dim + c];
                acc.0 += e.0 * b.0 - e.1 * b.1;
                acc.1 += e.0 * b.1 + e.1 * b.0;
            }
            amps[base | off] = acc;
        }
    }
}
