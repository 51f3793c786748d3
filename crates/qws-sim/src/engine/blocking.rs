//! Gathered cache blocking: one pass over memory serves a run of fused steps whose qubits
//! together fit in a sub-state small enough for a core's cache.
//!
//! A pass picks a set `S` of qubits (at most [`BlockShape::qubits`]): always the lowest
//! [`BlockShape::run_qubits`] qubits, so the sub-state is made of long runs of contiguous
//! amplitudes, plus whichever higher qubits its steps need. For every assignment of the qubits
//! outside `S` the `2^|S|` amplitudes are gathered into a per-thread buffer, every step of the
//! pass is applied there with the ordinary kernels (qubit `S[i]` becomes qubit `i` of the
//! buffer), and the buffer is scattered back. When `S` is the lowest qubits the sub-states are
//! contiguous and are worked on in place, without a copy.
//!
//! Steps may be moved forward past steps they share no qubit with (they commute), so the
//! planner fills a pass from a window of the program, not only from adjacent steps.

use super::fusion::FusedOp;
use super::kernels::{apply_step, insert_zeros, Ptr};
use super::real::{Complex, Real};
use rayon::prelude::*;
use std::sync::{Mutex, PoisonError};

/// The sub-states passes are planned for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    /// Qubits of one sub-state (`2^qubits` amplitudes, sized to sit in a core's L2 cache).
    pub qubits: usize,
    /// The lowest qubits, in every sub-state: gathers copy runs of at least `2^run_qubits`
    /// contiguous amplitudes. `run_qubits == qubits` allows only contiguous sub-states.
    pub run_qubits: usize,
}

impl BlockShape {
    /// Sub-states of `qubits` qubits whose lowest `qubits - GATHERED_QUBITS` qubits are fixed
    /// (the rest chosen per pass).
    pub fn gathered(qubits: usize) -> Self {
        BlockShape {
            qubits,
            run_qubits: qubits.saturating_sub(GATHERED_QUBITS),
        }
    }
}

/// Qubits of a sub-state a pass chooses freely (the rest are the lowest ones). On quantum
/// volume at 24 qubits (CPU time, 2 threads) 6 to 8 free qubits of 14 to 17 came out within the
/// run-to-run spread; 12 free of 16 (runs of 16 amplitudes) was about 5 % slower.
pub const GATHERED_QUBITS: usize = 8;

/// A group of steps applied in one pass, or one step applied on its own.
#[derive(Debug)]
pub enum Pass<'a> {
    /// Steps whose qubits all lie in `qubits` (ascending), applied sub-state by sub-state.
    Gathered {
        qubits: Vec<usize>,
        steps: Vec<&'a FusedOp>,
    },
    /// A step applied to the whole state: alone in its pass, or too wide for a sub-state.
    Whole(&'a FusedOp),
}

/// How far ahead a pass looks for steps to pull forward (keeps planning linear in practice).
const LOOKAHEAD: usize = 512;

/// Qubits a step touches.
fn step_qubits(op: &FusedOp) -> Vec<usize> {
    match op {
        FusedOp::Gate(g) => g.targets.iter().chain(&g.controls).copied().collect(),
        FusedOp::Dense { qubits, .. } | FusedOp::Diag { qubits, .. } => qubits.clone(),
    }
}

/// Bit mask of the qubits a step touches (`None` when a qubit is beyond 127).
fn step_mask(op: &FusedOp) -> Option<u128> {
    step_qubits(op)
        .iter()
        .try_fold(0u128, |m, &q| (q < 128).then(|| m | 1u128 << q))
}

fn low_mask(qubits: usize) -> u128 {
    if qubits >= 128 {
        u128::MAX
    } else {
        (1u128 << qubits) - 1
    }
}

/// Orders `ops` (on a state of `num_qubits` qubits) into passes over sub-states of `shape`.
/// The result applies the same unitary as `ops` in order.
pub fn plan(ops: &[FusedOp], num_qubits: usize, shape: BlockShape) -> Vec<Pass<'_>> {
    let masks: Option<Vec<u128>> = ops.iter().map(step_mask).collect();
    let Some(masks) = masks else {
        return ops.iter().map(Pass::Whole).collect();
    };
    let all = low_mask(num_qubits);
    let width = shape.qubits.min(num_qubits) as u32;
    let fixed = low_mask(shape.run_qubits.min(width as usize));
    let mut done = vec![false; ops.len()];
    let mut first = 0; // every step before `first` is done
    let mut out = Vec::new();
    while first < ops.len() {
        // Grow the pass's qubits greedily with the steps that can move in front of every
        // pending step before them and still fit.
        let mut group = Vec::new();
        let mut chosen = fixed;
        let mut pinned = 0u128;
        let end = ops.len().min(first + LOOKAHEAD);
        for i in first..end {
            if done[i] {
                continue;
            }
            let m = masks[i];
            if m & pinned == 0 && (chosen | m).count_ones() <= width {
                group.push(i);
                chosen |= m;
            } else {
                // A skipped step pins its qubits: later steps on them cannot move before it.
                pinned |= m;
                let full = chosen.count_ones() == width;
                let closed = if full { pinned | !chosen } else { pinned };
                if closed & all == all {
                    break;
                }
            }
        }
        match group.len() {
            // The first pending step does not fit a sub-state.
            0 => group.push(first),
            1 => {}
            _ => {
                out.push(Pass::Gathered {
                    qubits: pad(chosen, width, all),
                    steps: group.iter().map(|&i| &ops[i]).collect(),
                });
            }
        }
        if group.len() == 1 {
            out.push(Pass::Whole(&ops[group[0]]));
        }
        for &i in &group {
            done[i] = true;
        }
        while first < ops.len() && done[first] {
            first += 1;
        }
    }
    out
}

/// The qubits of `chosen` plus the lowest others of `all`, up to `width` in all (ascending):
/// a full sub-state has the fewest, longest runs.
fn pad(mut chosen: u128, width: u32, all: u128) -> Vec<usize> {
    let mut q = 0;
    while chosen.count_ones() < width && q < 128 {
        if all >> q & 1 == 1 {
            chosen |= 1 << q;
        }
        q += 1;
    }
    (0..128).filter(|&q| chosen >> q & 1 == 1).collect()
}

/// `step` with every qubit renamed to its position in `qubits` (ascending, holding all of the
/// step's qubits): the step as it acts on a gathered sub-state.
pub fn relabel(step: &FusedOp, qubits: &[usize]) -> FusedOp {
    let pos = |q: &usize| {
        qubits
            .binary_search(q)
            .expect("a step's qubits lie in its pass")
    };
    let local = |qs: &[usize]| qs.iter().map(pos).collect::<Vec<usize>>();
    match step {
        FusedOp::Gate(g) => {
            let mut g = g.clone();
            g.targets = local(&g.targets);
            g.controls = local(&g.controls);
            FusedOp::Gate(g)
        }
        FusedOp::Dense { qubits: q, matrix } => FusedOp::Dense {
            qubits: local(q),
            matrix: matrix.clone(),
        },
        FusedOp::Diag { qubits: q, table } => FusedOp::Diag {
            qubits: local(q),
            table: table.clone(),
        },
    }
}

/// One scratch sub-state per thread of the pool, allocated on first use and kept for every
/// later pass (a program allocates them once, not once per sub-state).
pub struct Buffers<F> {
    slots: Vec<Mutex<Vec<Complex<F>>>>,
}

impl<F: Real> Buffers<F> {
    pub fn new() -> Self {
        // One per pool thread, and one for the calling thread outside the pool.
        let slots = (0..=rayon::current_num_threads())
            .map(|_| Mutex::new(Vec::new()))
            .collect();
        Buffers { slots }
    }

    /// Runs `f` on this thread's buffer of `len` amplitudes.
    fn with<R>(&self, len: usize, f: impl FnOnce(&mut [Complex<F>]) -> R) -> R {
        let last = self.slots.len() - 1;
        // A thread of some other, larger pool shares a slot (the lock keeps that correct).
        let slot = rayon::current_thread_index().map_or(last, |i| i % last.max(1));
        let mut buf = self.slots[slot]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if buf.len() < len {
            buf.resize(len, (F::ZERO, F::ZERO));
        }
        f(&mut buf[..len])
    }
}

impl<F: Real> Default for Buffers<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Applies `steps` (on global qubits, all in `qubits`, ascending) to every sub-state on
/// `qubits`: in place when `qubits` are the lowest ones, else gathered into `buffers`.
pub fn apply_gathered<F: Real>(
    amps: &mut [Complex<F>],
    qubits: &[usize],
    steps: &[&FusedOp],
    buffers: &Buffers<F>,
    par: bool,
) {
    let n = amps.len().trailing_zeros() as usize;
    let k = qubits.len();
    debug_assert!(k <= n && qubits.windows(2).all(|w| w[0] < w[1]));
    let local: Vec<FusedOp> = steps.iter().map(|s| relabel(s, qubits)).collect();
    let apply_all = |sub: &mut [Complex<F>]| local.iter().for_each(|s| apply_step(sub, s, false));
    // Qubits 0..run are all in the sub-state: it is made of runs of 2^run amplitudes.
    let run = qubits
        .iter()
        .enumerate()
        .take_while(|&(i, &q)| i == q)
        .count();
    if run == k {
        if par {
            amps.par_chunks_mut(1 << k).for_each(apply_all);
        } else {
            amps.chunks_mut(1 << k).for_each(apply_all);
        }
        return;
    }
    let run_len = 1usize << run;
    // Where each run of a sub-state starts, relative to the sub-state's first amplitude.
    let offsets: Vec<usize> = (0..1usize << (k - run))
        .map(|j| {
            qubits[run..]
                .iter()
                .enumerate()
                .filter(|&(b, _)| j >> b & 1 == 1)
                .fold(0, |acc, (_, &q)| acc | 1 << q)
        })
        .collect();
    let p = Ptr(amps.as_mut_ptr());
    let sub_states = 1usize << (n - k);
    let work = |lo: usize, hi: usize| {
        buffers.with(1 << k, |buf| {
            for s in lo..hi {
                let base = insert_zeros(s, qubits);
                for (j, &o) in offsets.iter().enumerate() {
                    // SAFETY: the runs of sub-state `s` lie inside `amps` and belong to no
                    // other sub-state, so no other thread touches them.
                    unsafe {
                        let src = p.at(base + o);
                        std::ptr::copy_nonoverlapping(
                            src,
                            buf.as_mut_ptr().add(j * run_len),
                            run_len,
                        )
                    };
                }
                apply_all(buf);
                for (j, &o) in offsets.iter().enumerate() {
                    // SAFETY: as above.
                    unsafe {
                        let dst = p.at(base + o);
                        std::ptr::copy_nonoverlapping(buf.as_ptr().add(j * run_len), dst, run_len)
                    };
                }
            }
        })
    };
    if par && sub_states > 1 {
        // A few tasks per thread, so a thread slowed by other work hands its share on.
        let tasks = sub_states.min(4 * rayon::current_num_threads());
        let per = sub_states.div_ceil(tasks);
        (0..sub_states.div_ceil(per))
            .into_par_iter()
            .for_each(|t| work(t * per, ((t + 1) * per).min(sub_states)));
    } else {
        work(0, sub_states);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Gate, GateOp};

    fn g(gate: Gate, t: &[usize]) -> FusedOp {
        FusedOp::Gate(GateOp::new(gate, t.to_vec()))
    }

    fn cx(c: usize, t: usize) -> FusedOp {
        FusedOp::Gate(GateOp::controlled(Gate::X, vec![c], vec![t]))
    }

    /// Steps per pass (0 for a whole-state pass).
    fn shape(passes: &[Pass]) -> Vec<usize> {
        passes
            .iter()
            .map(|p| match p {
                Pass::Gathered { steps, .. } => steps.len(),
                Pass::Whole(_) => 0,
            })
            .collect()
    }

    #[test]
    fn contiguous_blocks_take_low_steps_past_unrelated_high_steps() {
        // Sub-states of the 4 lowest qubits only: H(0), H(1), H(3) group; H(9) and the CX on 9
        // and 2 are high; H(2) must stay after the CX (they share qubit 2).
        let ops = vec![
            g(Gate::H, &[0]),
            g(Gate::H, &[9]),
            g(Gate::H, &[1]),
            cx(9, 2),
            g(Gate::H, &[3]),
            g(Gate::H, &[2]),
        ];
        let contiguous = BlockShape {
            qubits: 4,
            run_qubits: 4,
        };
        let passes = plan(&ops, 10, contiguous);
        assert_eq!(shape(&passes), vec![3, 0, 0, 0]);
        assert!(matches!(passes[3], Pass::Whole(FusedOp::Gate(op)) if op.targets == [2]));
    }

    #[test]
    fn a_pass_gathers_high_qubits_and_pads_with_the_lowest() {
        // Sub-states of 4 qubits, 1 of them fixed: H(9), CX(9 -> 7) and H(0) fit {0, 7, 9}, the
        // 3-qubit diagonal does not; the fourth qubit is the lowest free one, 1.
        let diag = FusedOp::Diag {
            qubits: vec![2, 3, 4],
            table: vec![(0.0, 1.0); 8],
        };
        let ops = vec![g(Gate::H, &[9]), cx(9, 7), g(Gate::H, &[0]), diag];
        let shape4 = BlockShape {
            qubits: 4,
            run_qubits: 1,
        };
        let passes = plan(&ops, 10, shape4);
        assert_eq!(shape(&passes), vec![3, 0]);
        let Pass::Gathered { qubits, .. } = &passes[0] else {
            panic!("{passes:?}")
        };
        assert_eq!(qubits, &[0, 1, 7, 9]);
    }

    #[test]
    fn a_step_wider_than_a_sub_state_runs_whole() {
        let wide = FusedOp::Diag {
            qubits: vec![0, 3, 5, 7, 9],
            table: vec![(1.0, 0.0); 32],
        };
        // The two H commute with it and move ahead, into one pass.
        let ops = vec![wide, g(Gate::H, &[1]), g(Gate::H, &[2])];
        let passes = plan(&ops, 10, BlockShape::gathered(4));
        assert_eq!(shape(&passes), vec![2, 0]);
    }

    #[test]
    fn everything_low_is_one_pass() {
        let ops: Vec<FusedOp> = (0..4).map(|q| g(Gate::H, &[q])).collect();
        assert_eq!(shape(&plan(&ops, 8, BlockShape::gathered(4))), vec![4]);
    }
}
