//! Specialised statevector kernels, generic over the precision ([`Real`]: `f32` or `f64`).
//!
//! Every kernel walks only the amplitude blocks it must touch: the index bits of the gate's
//! targets and controls are "holes"; we enumerate the `2^(n-h)` hole-free indices, insert zero
//! bits at the holes, set the control bits, and process one block per index. Runs of consecutive
//! indices below the lowest hole map to consecutive amplitudes, so the inner loops stream.
//!
//! Above the parallel threshold the block range is split into chunks run on rayon; the blocks
//! are disjoint, which is what makes the shared raw pointer below sound.

use super::real::{cast, Complex, Real};
use crate::engine::fusion::FusedOp;
use crate::engine::reference::Amp;
use crate::ir::{Gate, GateOp};
use crate::precision::Precision;
use rayon::prelude::*;

/// A raw pointer to the amplitude array, shared between threads that write disjoint blocks.
pub(super) struct Ptr<F>(pub(super) *mut Complex<F>);
impl<F> Clone for Ptr<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F> Copy for Ptr<F> {}
// SAFETY: every kernel hands each thread a disjoint set of amplitude indices.
unsafe impl<F> Send for Ptr<F> {}
unsafe impl<F> Sync for Ptr<F> {}

impl<F: Real> Ptr<F> {
    #[inline(always)]
    unsafe fn get(self, i: usize) -> Complex<F> {
        *self.0.add(i)
    }
    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn as_scalar<T>(self) -> *mut T {
        self.0 as *mut T
    }
    /// The address of amplitude `i`.
    #[inline(always)]
    pub(super) unsafe fn at(self, i: usize) -> *mut Complex<F> {
        self.0.add(i)
    }
    #[inline(always)]
    unsafe fn set(self, i: usize, a: Complex<F>) {
        *self.0.add(i) = a
    }
}

#[inline(always)]
pub(crate) fn cmul<F: Real>(a: Complex<F>, b: Complex<F>) -> Complex<F> {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// `x` with a zero bit inserted at each of `holes` (ascending): the `x`-th index whose hole
/// bits are all clear.
#[inline(always)]
pub(super) fn insert_zeros(mut x: usize, holes: &[usize]) -> usize {
    for &p in holes {
        x = ((x >> p) << (p + 1)) | (x & ((1usize << p) - 1));
    }
    x
}

/// Blocks per parallel task: big enough to amortise scheduling, small enough to balance.
const MIN_CHUNK: usize = 1 << 11;

/// Runs `work(lo, hi)` over the block indices `0..nb`: in chunks on the thread pool when `par`
/// and there are enough blocks, else in one call. `nb` is a power of two, so every chunk holds
/// an even number of blocks and [`for_each_pair`]'s pairs never straddle two chunks.
#[inline(always)]
fn over_blocks(nb: usize, par: bool, work: impl Fn(usize, usize) + Sync) {
    if par && nb >= 2 * MIN_CHUNK {
        let chunk = (nb / 64).max(MIN_CHUNK);
        let tasks = nb.div_ceil(chunk);
        (0..tasks)
            .into_par_iter()
            .for_each(|t| work(t * chunk, ((t + 1) * chunk).min(nb)));
    } else {
        work(0, nb);
    }
}

/// Calls `f(base, count)` for runs of `count` consecutive amplitude indices covering every
/// index whose `holes` bits are zero, with `fixed` OR'ed in. `holes` must be sorted ascending
/// and distinct; `fixed` must only use hole bits.
#[inline(always)]
fn for_each_run<F: Fn(usize, usize) + Sync>(
    len: usize,
    holes: &[usize],
    fixed: usize,
    par: bool,
    f: F,
) {
    let n = len.trailing_zeros() as usize;
    let nb = 1usize << (n - holes.len());
    let run = holes.first().map(|&p| 1usize << p).unwrap_or(nb).min(nb);
    let work = |lo: usize, hi: usize| {
        let mut b = lo;
        while b < hi {
            let base = insert_zeros(b, holes) | fixed;
            let end = hi.min((b | (run - 1)) + 1);
            f(base, end - b);
            b = end;
        }
    };
    over_blocks(nb, par, work);
}

/// Calls `f(bases)` for the blocks of block indices `G*i .. G*i + G` (the number of blocks must
/// be a multiple of `G`), with the same layout rules as [`for_each_run`]: SIMD kernels put one
/// block per vector lane when the blocks are not adjacent in memory.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn for_each_group<const G: usize, F: Fn(&[usize; G]) + Sync>(
    len: usize,
    holes: &[usize],
    fixed: usize,
    par: bool,
    f: F,
) {
    let n = len.trailing_zeros() as usize;
    let nb = 1usize << (n - holes.len());
    let work = |lo: usize, hi: usize| {
        let mut b = lo;
        while b + G <= hi {
            let mut bases = [0usize; G];
            for (k, x) in bases.iter_mut().enumerate() {
                *x = insert_zeros(b + k, holes) | fixed;
            }
            f(&bases);
            b += G;
        }
    };
    over_blocks(nb, par, work);
}

/// Calls `f(base)` for every amplitude index whose `holes` bits are zero, with `fixed` OR'ed in.
#[inline(always)]
fn for_each_base<F: Fn(usize) + Sync>(len: usize, holes: &[usize], fixed: usize, par: bool, f: F) {
    for_each_run(len, holes, fixed, par, |base, count| {
        for j in 0..count {
            f(base + j)
        }
    })
}

fn sorted_holes(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut h: Vec<usize> = a.iter().chain(b).copied().collect();
    h.sort_unstable();
    h
}

fn mask(qs: &[usize]) -> usize {
    qs.iter().fold(0, |m, &q| m | 1usize << q)
}

/// A general 2x2 unitary `m` (row-major) on target `t`, applied where all `ctrl` bits are set.
pub fn dense1<F: Real>(amps: &mut [Complex<F>], t: usize, m: &[Amp; 4], ctrl: &[usize], par: bool) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::available() {
        return dense_k::<F, 2>(amps, &[t], m, ctrl, par);
    }
    let holes = sorted_holes(&[t], ctrl);
    let p = Ptr(amps.as_mut_ptr());
    let s = 1usize << t;
    let m: [Complex<F>; 4] = [cast(m[0]), cast(m[1]), cast(m[2]), cast(m[3])];
    for_each_base(amps.len(), &holes, mask(ctrl), par, move |i| unsafe {
        let a0 = p.get(i);
        let a1 = p.get(i + s);
        p.set(
            i,
            (
                m[0].0 * a0.0 - m[0].1 * a0.1 + m[1].0 * a1.0 - m[1].1 * a1.1,
                m[0].0 * a0.1 + m[0].1 * a0.0 + m[1].0 * a1.1 + m[1].1 * a1.0,
            ),
        );
        p.set(
            i + s,
            (
                m[2].0 * a0.0 - m[2].1 * a0.1 + m[3].0 * a1.0 - m[3].1 * a1.1,
                m[2].0 * a0.1 + m[2].1 * a0.0 + m[3].0 * a1.1 + m[3].1 * a1.0,
            ),
        );
    });
}

/// Real and imaginary parts of a row-major `D x D` matrix, rounded to `T`.
fn split_matrix<T: Real, const D: usize>(m: &[Amp]) -> ([[T; D]; D], [[T; D]; D]) {
    let mut mr = [[T::ZERO; D]; D];
    let mut mi = [[T::ZERO; D]; D];
    for r in 0..D {
        for c in 0..D {
            mr[r][c] = T::from_f64(m[r * D + c].0);
            mi[r][c] = T::from_f64(m[r * D + c].1);
        }
    }
    (mr, mi)
}

/// A general `D x D` unitary (`D = 2^k`, row-major, `targets[0]` the least significant index
/// bit) on `targets`, applied where all `ctrl` bits are set.
pub fn dense_k<F: Real, const D: usize>(
    amps: &mut [Complex<F>],
    targets: &[usize],
    m: &[Amp],
    ctrl: &[usize],
    par: bool,
) {
    debug_assert_eq!(m.len(), D * D);
    debug_assert_eq!(1 << targets.len(), D);
    let holes = sorted_holes(targets, ctrl);
    let mut off = [0usize; D];
    for (j, o) in off.iter_mut().enumerate() {
        *o = targets
            .iter()
            .enumerate()
            .filter(|(b, _)| j >> b & 1 == 1)
            .fold(0, |acc, (_, &q)| acc | 1usize << q);
    }
    let p = Ptr(amps.as_mut_ptr());
    #[cfg(target_arch = "x86_64")]
    if super::simd::available() && dense_simd::<F, D>(p, amps.len(), &holes, ctrl, &off, m, par) {
        return;
    }
    // Split re/im so the inner products vectorise.
    let (mr, mi) = split_matrix::<F, D>(m);
    let scalar = move |i: usize| unsafe {
        let mut vr = [F::ZERO; D];
        let mut vi = [F::ZERO; D];
        for j in 0..D {
            let a = p.get(i + off[j]);
            vr[j] = a.0;
            vi[j] = a.1;
        }
        for r in 0..D {
            let (mut re, mut im) = (F::ZERO, F::ZERO);
            for c in 0..D {
                re += mr[r][c] * vr[c] - mi[r][c] * vi[c];
                im += mr[r][c] * vi[c] + mi[r][c] * vr[c];
            }
            p.set(i + off[r], (re, im));
        }
    };
    for_each_run(amps.len(), &holes, mask(ctrl), par, move |base, count| {
        for j in 0..count {
            scalar(base + j)
        }
    });
}

/// The SIMD version of [`dense_k`]; `false` when the state is too small for its vectors (the
/// caller then runs the portable kernel).
#[cfg(target_arch = "x86_64")]
fn dense_simd<F: Real, const D: usize>(
    p: Ptr<F>,
    len: usize,
    holes: &[usize],
    ctrl: &[usize],
    off: &[usize; D],
    m: &[Amp],
    par: bool,
) -> bool {
    use super::simd;
    let fixed = mask(ctrl);
    let blocks = len >> holes.len();
    match F::PRECISION {
        Precision::Double => {
            if blocks < 2 {
                return false;
            }
            let (mr, mi) = split_matrix::<f64, D>(m);
            let (mr, mi) = (&mr, &mi);
            if holes[0] > 1 && blocks >= 4 && simd::avx512_available() {
                // Runs are multiples of 4: four neighbouring blocks per 512-bit vector.
                for_each_run(len, holes, fixed, par, move |base, count| unsafe {
                    simd::dense_run_512::<D>(p.as_scalar(), base, count, off, mr, mi)
                });
            } else if holes[0] > 0 {
                // Runs have even length: two neighbouring blocks per 256-bit vector.
                for_each_run(len, holes, fixed, par, move |base, count| unsafe {
                    simd::dense_run::<D>(p.as_scalar(), base, count, off, mr, mi)
                });
            } else {
                // Qubit 0 is in the block: pair blocks 2i and 2i+1 (lanes from two loads).
                for_each_group::<2, _>(len, holes, fixed, par, move |b| unsafe {
                    simd::dense_pair::<D>(p.as_scalar(), b[0], b[1], off, mr, mi)
                });
            }
        }
        Precision::Single => {
            if blocks < 4 {
                return false;
            }
            let (mr, mi) = split_matrix::<f32, D>(m);
            let (mr, mi) = (&mr, &mi);
            if holes[0] > 2 && blocks >= 8 && simd::avx512_available() {
                // Runs are multiples of 8: eight neighbouring blocks per 512-bit vector.
                for_each_run(len, holes, fixed, par, move |base, count| unsafe {
                    simd::dense_run_f32_512::<D>(p.as_scalar(), base, count, off, mr, mi)
                });
            } else if holes[0] > 1 {
                // Runs are multiples of 4: four neighbouring blocks per 256-bit vector.
                for_each_run(len, holes, fixed, par, move |base, count| unsafe {
                    simd::dense_run_f32::<D>(p.as_scalar(), base, count, off, mr, mi)
                });
            } else {
                // Qubit 0 or 1 is in the block: one block per 64-bit lane.
                for_each_group::<4, _>(len, holes, fixed, par, move |b| unsafe {
                    simd::dense_quad_f32::<D>(p.as_scalar(), b, off, mr, mi)
                });
            }
        }
    }
    true
}

/// Dense unitary on any number of targets (dispatches on the dimension; falls back to the
/// reference kernel beyond 5 targets).
pub fn dense<F: Real>(
    amps: &mut [Complex<F>],
    targets: &[usize],
    m: &[Amp],
    ctrl: &[usize],
    par: bool,
) {
    match targets.len() {
        0 => {
            if m[0] != (1.0, 0.0) {
                phase_subspace(amps, ctrl, mask(ctrl), m[0], par)
            }
        }
        1 => dense1(amps, targets[0], &[m[0], m[1], m[2], m[3]], ctrl, par),
        2 => dense_k::<F, 4>(amps, targets, m, ctrl, par),
        3 => dense_k::<F, 8>(amps, targets, m, ctrl, par),
        4 => dense_k::<F, 16>(amps, targets, m, ctrl, par),
        5 => dense_k::<F, 32>(amps, targets, m, ctrl, par),
        _ => {
            let mat = crate::ir::Matrix {
                dim: 1 << targets.len(),
                data: m.to_vec(),
            };
            crate::engine::reference::apply_matrix(amps, &mat, targets, ctrl)
        }
    }
}

/// Multiplies by `phase` every amplitude whose `holes` bits equal `fixed` (a phase on a
/// subspace: CZ, CP, controlled global phase, or a diagonal with a single non-1 entry).
pub fn phase_subspace<F: Real>(
    amps: &mut [Complex<F>],
    holes: &[usize],
    fixed: usize,
    phase: Amp,
    par: bool,
) {
    let mut h = holes.to_vec();
    h.sort_unstable();
    let p = Ptr(amps.as_mut_ptr());
    if phase == (-1.0, 0.0) {
        for_each_base(amps.len(), &h, fixed, par, move |i| unsafe {
            let a = p.get(i);
            p.set(i, (-a.0, -a.1));
        });
    } else {
        let phase = cast::<F>(phase);
        for_each_base(amps.len(), &h, fixed, par, move |i| unsafe {
            p.set(i, cmul(p.get(i), phase));
        });
    }
}

/// A diagonal on `targets` (entry `j` for local index `j`, `targets[0]` least significant),
/// applied where all `ctrl` bits are set. Entries equal to 1 are skipped; a diagonal with one
/// non-trivial entry becomes a phase on a subspace (CP touches a quarter of the state).
pub fn diag_small<F: Real>(
    amps: &mut [Complex<F>],
    targets: &[usize],
    d: &[Amp],
    ctrl: &[usize],
    par: bool,
) {
    let nontrivial: Vec<usize> = (0..d.len()).filter(|&j| d[j] != (1.0, 0.0)).collect();
    let holes = sorted_holes(targets, ctrl);
    let cm = mask(ctrl);
    let spread = |j: usize| {
        targets
            .iter()
            .enumerate()
            .filter(|(b, _)| j >> b & 1 == 1)
            .fold(0usize, |acc, (_, &q)| acc | 1usize << q)
    };
    match nontrivial.len() {
        0 => {}
        1 => {
            let j = nontrivial[0];
            phase_subspace(amps, &holes, cm | spread(j), d[j], par)
        }
        _ if targets.len() == 1 => {
            let (d0, d1) = (cast::<F>(d[0]), cast::<F>(d[1]));
            let s = 1usize << targets[0];
            let p = Ptr(amps.as_mut_ptr());
            for_each_base(amps.len(), &holes, cm, par, move |i| unsafe {
                p.set(i, cmul(p.get(i), d0));
                p.set(i + s, cmul(p.get(i + s), d1));
            });
        }
        _ => {
            let entries: Vec<(usize, Complex<F>)> = nontrivial
                .iter()
                .map(|&j| (spread(j), cast(d[j])))
                .collect();
            let p = Ptr(amps.as_mut_ptr());
            let entries = &entries;
            for_each_base(amps.len(), &holes, cm, par, move |i| unsafe {
                for &(o, e) in entries {
                    p.set(i + o, cmul(p.get(i + o), e));
                }
            });
        }
    }
}

/// A fused diagonal on up to 16 qubits (`table[j]` for local index `j`, `qubits[0]` least
/// significant). One pass over the state; the local index is gathered with per-byte lookup
/// tables, once per run of amplitudes that share it.
pub fn diag_table<F: Real>(amps: &mut [Complex<F>], qubits: &[usize], table: &[Amp], par: bool) {
    debug_assert_eq!(table.len(), 1 << qubits.len());
    let n = amps.len().trailing_zeros() as usize;
    let bytes = n.div_ceil(8).max(1);
    let mut lut = vec![[0u32; 256]; bytes];
    for (byte, l) in lut.iter_mut().enumerate() {
        for (v, e) in l.iter_mut().enumerate() {
            let mut idx = 0u32;
            for (b, &q) in qubits.iter().enumerate() {
                if q / 8 == byte && v >> (q % 8) & 1 == 1 {
                    idx |= 1 << b;
                }
            }
            *e = idx;
        }
    }
    // `None` for entries equal to 1 (their runs are skipped).
    let entries: Vec<Option<Complex<F>>> = table
        .iter()
        .map(|&e| (e != (1.0, 0.0)).then(|| cast(e)))
        .collect();
    // Qubits below LOW_SPAN vary inside a short stretch of amplitudes: give every stretch of
    // 2^span amplitudes (span = 1 + the highest such qubit) a ready vector of its factors,
    // rebuilt only when the factors' high-qubit part changes.
    const LOW_SPAN: usize = 12;
    if let Some(top) = qubits
        .iter()
        .copied()
        .filter(|&q| q < LOW_SPAN.min(n))
        .max()
    {
        return diag_table_low(amps, qubits, table, top + 1, &lut, par);
    }
    let low = qubits.iter().copied().min().unwrap_or(n);
    let run = 1usize << low.min(n);
    let runs = amps.len() / run;
    let p = Ptr(amps.as_mut_ptr());
    let (lut, entries) = (&lut, &entries);
    let work = move |lo: usize, hi: usize| {
        for r in lo..hi {
            let start = r * run;
            let mut idx = 0u32;
            for (byte, l) in lut.iter().enumerate() {
                idx |= l[(start >> (8 * byte)) & 0xff];
            }
            let Some(e) = entries[idx as usize] else {
                continue;
            };
            for i in start..start + run {
                unsafe { p.set(i, cmul(p.get(i), e)) };
            }
        }
    };
    let chunk = (MIN_CHUNK / run).max(1).max(runs / 64);
    if par && amps.len() >= 2 * MIN_CHUNK && runs > 1 {
        let tasks = runs.div_ceil(chunk);
        (0..tasks)
            .into_par_iter()
            .for_each(|t| work(t * chunk, ((t + 1) * chunk).min(runs)));
    } else if par && runs == 1 {
        // The whole state shares one entry.
        let e = cast::<F>(table[0]);
        amps.par_chunks_mut(MIN_CHUNK)
            .for_each(|c| c.iter_mut().for_each(|a| *a = cmul(*a, e)));
    } else {
        work(0, runs);
    }
}

/// [`diag_table`] for diagonals with qubits below `span`: stretches of `2^span` amplitudes are
/// multiplied element by element with a factor vector that depends only on the stretch's high
/// bits (`lut` gives a start index's table bits).
fn diag_table_low<F: Real>(
    amps: &mut [Complex<F>],
    qubits: &[usize],
    table: &[Amp],
    span: usize,
    lut: &[[u32; 256]],
    par: bool,
) {
    let stretch = 1usize << span;
    // Table bits of the low index j inside a stretch.
    let low_bits: Vec<u32> = (0..stretch)
        .map(|j| {
            qubits
                .iter()
                .enumerate()
                .filter(|&(_, &q)| q < span && j >> q & 1 == 1)
                .fold(0u32, |acc, (b, _)| acc | 1 << b)
        })
        .collect();
    let high_bits = |start: usize| -> u32 {
        lut.iter()
            .enumerate()
            .fold(0, |acc, (byte, l)| acc | l[(start >> (8 * byte)) & 0xff])
    };
    let work = |first: usize, chunk: &mut [Complex<F>]| {
        let mut factors: Vec<Complex<F>> = Vec::with_capacity(stretch);
        let mut current = None;
        for (k, part) in chunk.chunks_mut(stretch).enumerate() {
            let hi = high_bits(first + k * stretch);
            if current != Some(hi) {
                factors.clear();
                factors.extend(
                    low_bits
                        .iter()
                        .map(|&lo| cast::<F>(table[(hi | lo) as usize])),
                );
                current = Some(hi);
            }
            for (a, &f) in part.iter_mut().zip(&factors) {
                *a = cmul(*a, f);
            }
        }
    };
    let chunk = stretch.max(MIN_CHUNK).max(amps.len() / 64).min(amps.len());
    if par && amps.len() >= 2 * chunk {
        amps.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| work(i * chunk, c));
    } else {
        work(0, amps);
    }
}

/// X on `t` where all `ctrl` bits are set (X, CX, CCX, multi-controlled X): swaps amplitudes.
pub fn pauli_x<F: Real>(amps: &mut [Complex<F>], t: usize, ctrl: &[usize], par: bool) {
    let holes = sorted_holes(&[t], ctrl);
    let s = 1usize << t;
    let p = Ptr(amps.as_mut_ptr());
    for_each_base(amps.len(), &holes, mask(ctrl), par, move |i| unsafe {
        let a = p.get(i);
        p.set(i, p.get(i + s));
        p.set(i + s, a);
    });
}

/// SWAP of `a` and `b` where all `ctrl` bits are set: exchanges the |01> and |10> amplitudes.
pub fn swap<F: Real>(amps: &mut [Complex<F>], a: usize, b: usize, ctrl: &[usize], par: bool) {
    let holes = sorted_holes(&[a, b], ctrl);
    let (sa, sb) = (1usize << a, 1usize << b);
    let p = Ptr(amps.as_mut_ptr());
    for_each_base(amps.len(), &holes, mask(ctrl), par, move |i| unsafe {
        let x = p.get(i + sa);
        p.set(i + sa, p.get(i + sb));
        p.set(i + sb, x);
    });
}

/// True when `m` (dim x dim, row-major) is diagonal.
pub fn is_diagonal_matrix(dim: usize, m: &[Amp]) -> bool {
    (0..dim).all(|r| (0..dim).all(|c| r == c || m[r * dim + c] == (0.0, 0.0)))
}

/// Applies one step of a fused program with its kernel.
pub fn apply_step<F: Real>(amps: &mut [Complex<F>], step: &FusedOp, par: bool) {
    match step {
        FusedOp::Gate(g) => apply_op(amps, g, par),
        FusedOp::Dense { qubits, matrix } => dense(amps, qubits, matrix, &[], par),
        FusedOp::Diag { qubits, table } => diag_table(amps, qubits, table, par),
    }
}

/// Applies one gate with the fastest kernel that fits it.
pub fn apply_op<F: Real>(amps: &mut [Complex<F>], op: &GateOp, par: bool) {
    let (t, c) = (&op.targets[..], &op.controls[..]);
    match &op.gate {
        Gate::I => {}
        Gate::X => pauli_x(amps, t[0], c, par),
        Gate::Swap => swap(amps, t[0], t[1], c, par),
        g if g.is_diagonal() => {
            let m = g.matrix();
            let d: Vec<Amp> = (0..m.dim).map(|j| m.data[j * m.dim + j]).collect();
            diag_small(amps, t, &d, c, par)
        }
        g => {
            let m = g.matrix();
            if t.len() <= 4 && is_diagonal_matrix(m.dim, &m.data) {
                let d: Vec<Amp> = (0..m.dim).map(|j| m.data[j * m.dim + j]).collect();
                diag_small(amps, t, &d, c, par)
            } else {
                dense(amps, t, &m.data, c, par)
            }
        }
    }
}
