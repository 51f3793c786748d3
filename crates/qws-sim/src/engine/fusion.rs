//! Gate fusion: merges runs of gates on few qubits into one pass over the state.
//!
//! Greedy with lookahead: a block starts at the first unfused gate and absorbs later gates whose
//! qubits fit the block's budget, as long as they can legally move in front of every gate skipped
//! so far (they share no qubit with a skipped gate). Two kinds of blocks:
//! - dense: up to `max_qubits` qubits, one `2^k x 2^k` matrix;
//! - diagonal: only diagonal gates, up to `max_diag_qubits` qubits, one table of phases. Diagonal
//!   gates commute with each other, so skipped diagonal gates do not block later ones, and a fused
//!   diagonal stays a cheap in-place scaling (QFT's controlled phases).
//!
//! Two-qubit diagonal gates and SWAPs are only absorbed into a dense block when they add no new
//! qubit: growing a dense block with them costs more arithmetic than their own cheap kernels.
//!
//! The width of a dense block is chosen by a [`CostModel`] when one is set: for each width up to
//! `max_qubits` the block the greedy pass would build is priced (one pass of the fused dense
//! kernel) against the passes its gates would cost on their own, and the width that saves the
//! most wins. Without a model every block grows to `max_qubits`.

use crate::engine::blocking::BlockShape;
use crate::engine::kernels::is_diagonal_matrix;
use crate::engine::reference::{apply_matrix, Amp};
use crate::ir::{Gate, GateOp, Matrix};
use crate::precision::Precision;

/// One step of a fused program.
#[derive(Clone, Debug, PartialEq)]
pub enum FusedOp {
    /// A gate left as it is (its own specialised kernel is best).
    Gate(GateOp),
    /// A dense unitary on `qubits` (`qubits[0]` least significant index bit), row-major.
    Dense {
        qubits: Vec<usize>,
        matrix: Vec<Amp>,
    },
    /// A diagonal on `qubits`: amplitude with local index `j` is multiplied by `table[j]`.
    Diag { qubits: Vec<usize>, table: Vec<Amp> },
}

/// Fusion budgets.
#[derive(Clone, Copy, Debug)]
pub struct FusionConfig {
    /// The widest dense block (at most 5, the widest dense kernel).
    pub max_qubits: usize,
    pub max_diag_qubits: usize,
    /// How far ahead a block looks for gates to absorb.
    pub lookahead: usize,
    /// Chooses each dense block's width by cost; `None`: always grow to `max_qubits`.
    pub cost: Option<CostModel>,
}

impl Default for FusionConfig {
    fn default() -> Self {
        FusionConfig {
            max_qubits: 4,
            max_diag_qubits: 12,
            lookahead: 256,
            cost: Some(CostModel::default()),
        }
    }
}

impl FusionConfig {
    /// This configuration for a state of `precision` cache-blocked in sub-states of `block`:
    /// a cost model, if any, is replaced by the measured one for them.
    pub fn for_state(&self, precision: Precision, block: BlockShape) -> Self {
        FusionConfig {
            cost: self.cost.map(|_| CostModel::measured(precision, block)),
            ..*self
        }
    }

    /// Fixed-width fusion: every dense block grows to `k` qubits when it can.
    pub fn fixed(k: usize) -> Self {
        FusionConfig {
            max_qubits: k,
            cost: None,
            ..FusionConfig::default()
        }
    }
}

/// Cost of one pass of each kernel over a whole state, in one regime (streaming from memory, or
/// inside a cache block). Only ratios matter.
#[derive(Clone, Copy, Debug)]
pub struct KernelCosts {
    /// `dense[k - 1]`: a dense `k`-qubit kernel, as `[touching a low qubit, high qubits only]`.
    pub dense: [[f64; 2]; 5],
    /// A permutation gate (X, CX, Toffoli, SWAP): moves amplitudes, no arithmetic.
    pub permutation: f64,
    /// A diagonal gate or fused diagonal: one in-place scaling.
    pub diagonal: f64,
}

/// What fusion decisions are priced with. A block whose qubits fit one sub-state of `block` is
/// applied inside a cache block (see [`crate::engine::blocking`]) where arithmetic dominates; any
/// other block streams the state through memory once. With gathered sub-states that is any
/// block on few enough qubits above the sub-state's fixed low ones, wherever they lie.
#[derive(Clone, Copy, Debug)]
pub struct CostModel {
    pub streamed: KernelCosts,
    pub cached: KernelCosts,
    pub block: BlockShape,
    /// Qubits below this are "low": their SIMD kernels shuffle inside vectors and cost more.
    pub low_qubits: usize,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel::measured(Precision::Single, BlockShape::gathered(16))
    }
}

impl CostModel {
    /// Timings of the AVX2 kernels on this project's benchmark machine (the `kernel_cost`
    /// example): seconds per pass over a 24-qubit state with 2 threads when streamed; a
    /// 16-qubit state on one thread, scaled to the same units, when cached.
    pub fn measured(precision: Precision, block: BlockShape) -> Self {
        let (streamed, cached) = match precision {
            Precision::Single => (
                KernelCosts {
                    dense: [
                        [0.028, 0.0106],
                        [0.0257, 0.0143],
                        [0.0375, 0.0272],
                        [0.0653, 0.0677],
                        [0.136, 0.143],
                    ],
                    permutation: 0.0107,
                    diagonal: 0.0122,
                },
                KernelCosts {
                    dense: [
                        [0.0111, 0.0029],
                        [0.0099, 0.0050],
                        [0.0136, 0.0096],
                        [0.0237, 0.0230],
                        [0.046, 0.047],
                    ],
                    permutation: 0.0036,
                    diagonal: 0.0069,
                },
            ),
            Precision::Double => (
                KernelCosts {
                    dense: [
                        [0.032, 0.0198],
                        [0.036, 0.0283],
                        [0.0638, 0.045],
                        [0.122, 0.142],
                        [0.289, 0.34],
                    ],
                    permutation: 0.0128,
                    diagonal: 0.0285,
                },
                KernelCosts {
                    dense: [
                        [0.0115, 0.0044],
                        [0.0120, 0.0083],
                        [0.0210, 0.0129],
                        [0.0415, 0.0439],
                        [0.090, 0.095],
                    ],
                    permutation: 0.0041,
                    diagonal: 0.0097,
                },
            ),
        };
        CostModel {
            streamed,
            cached,
            block,
            low_qubits: 2,
        }
    }

    fn regime(&self, mask: u64) -> &KernelCosts {
        let free = self.block.qubits.saturating_sub(self.block.run_qubits) as u32;
        let above = mask.checked_shr(self.block.run_qubits as u32).unwrap_or(0);
        if above.count_ones() > free {
            &self.streamed
        } else {
            &self.cached
        }
    }

    /// One pass of a dense kernel on the qubits of `mask`.
    fn dense_cost(&self, mask: u64) -> f64 {
        let k = (mask.count_ones() as usize).clamp(1, 5);
        let low = mask.trailing_zeros() < self.low_qubits as u32;
        self.regime(mask).dense[k - 1][usize::from(!low)]
    }

    /// One pass of `op`'s own kernel.
    fn gate_cost(&self, op: &GateOp) -> f64 {
        let costs = self.regime(qmask(op));
        if is_diag(op) {
            costs.diagonal
        } else if matches!(op.gate, Gate::X | Gate::Swap) {
            costs.permutation
        } else {
            let targets = qmask(op) & !control_mask(op);
            let k = (targets.count_ones() as usize).clamp(1, 5);
            let low = targets.trailing_zeros() < self.low_qubits as u32;
            costs.dense[k - 1][usize::from(!low)]
        }
    }
}

fn control_mask(op: &GateOp) -> u64 {
    op.controls.iter().fold(0, |m, &q| m | 1u64 << q)
}

fn qmask(op: &GateOp) -> u64 {
    op.targets
        .iter()
        .chain(&op.controls)
        .fold(0, |m, &q| m | 1u64 << q)
}

fn is_diag(op: &GateOp) -> bool {
    op.gate.is_diagonal()
        || matches!(&op.gate, Gate::Unitary(m) if m.dim <= 16 && is_diagonal_matrix(m.dim, &m.data))
}

/// Gates that should not widen a dense block (their own kernels touch little memory).
fn no_grow(op: &GateOp) -> bool {
    let width = op.targets.len() + op.controls.len();
    matches!(op.gate, Gate::Swap) || (width >= 2 && is_diag(op))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dense,
    Diag,
}

/// Gate indices absorbed into a block that starts at `start`, and the block's qubit mask.
fn collect(
    ops: &[GateOp],
    done: &[bool],
    start: usize,
    kind: Kind,
    limit: u32,
    lookahead: usize,
) -> (Vec<usize>, u64) {
    let mut members = vec![start];
    let mut s = qmask(&ops[start]);
    if s.count_ones() > limit {
        return (members, s);
    }
    let mut blocked = 0u64;
    let end = ops.len().min(start + 1 + lookahead);
    for j in start + 1..end {
        if done[j] {
            continue;
        }
        let q = qmask(&ops[j]);
        let diag = is_diag(&ops[j]);
        let fits = (s | q).count_ones() <= limit;
        let ok = q & blocked == 0
            && fits
            && match kind {
                Kind::Diag => diag,
                Kind::Dense => q & !s == 0 || !no_grow(&ops[j]),
            };
        if ok {
            members.push(j);
            s |= q;
        } else if !(kind == Kind::Diag && diag) {
            // A skipped gate pins its qubits: later gates on them cannot move before it.
            // (Diagonal gates commute, so a skipped diagonal does not pin a diagonal block.)
            blocked |= q;
            if blocked & s == s && kind == Kind::Dense && s.count_ones() >= limit {
                break;
            }
        }
    }
    (members, s)
}

fn mask_qubits(m: u64) -> Vec<usize> {
    (0..64).filter(|q| m >> q & 1 == 1).collect()
}

/// Position of each global qubit inside the block (`qubits` ascending).
fn local(op: &GateOp, qubits: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let pos = |q: &usize| qubits.iter().position(|x| x == q).expect("qubit in block");
    (
        op.targets.iter().map(pos).collect(),
        op.controls.iter().map(pos).collect(),
    )
}

/// A gate's matrix and where it acts inside a block: (matrix, local targets, local controls).
type Placed = (Matrix, Vec<usize>, Vec<usize>);

fn dense_matrix(gates: &[&GateOp], qubits: &[usize]) -> Vec<Amp> {
    let parts: Vec<Placed> = gates
        .iter()
        .map(|g| {
            let (t, c) = local(g, qubits);
            (g.gate.matrix(), t, c)
        })
        .collect();
    block_matrix(&parts, qubits.len())
}

/// The matrix of applying `parts` in order on a block of `n` qubits, built column by column.
fn block_matrix(parts: &[Placed], n: usize) -> Vec<Amp> {
    let dim = 1usize << n;
    let mut out = vec![(0.0, 0.0); dim * dim];
    let mut col = vec![(0.0, 0.0); dim];
    for c in 0..dim {
        col.iter_mut().for_each(|a| *a = (0.0, 0.0));
        col[c] = (1.0, 0.0);
        for (m, t, ctl) in parts {
            apply_matrix(&mut col, m, t, ctl);
        }
        for r in 0..dim {
            out[r * dim + c] = col[r];
        }
    }
    out
}

fn diag_table(gates: &[&GateOp], qubits: &[usize]) -> Vec<Amp> {
    let mut table = vec![(1.0, 0.0); 1usize << qubits.len()];
    for g in gates {
        let m = g.gate.matrix();
        let (t, c) = local(g, qubits);
        let cm = c.iter().fold(0usize, |m, &b| m | 1 << b);
        for (j, e) in table.iter_mut().enumerate() {
            if j & cm != cm {
                continue;
            }
            let li = t
                .iter()
                .enumerate()
                .fold(0usize, |acc, (b, &p)| acc | (j >> p & 1) << b);
            *e = crate::engine::kernels::cmul(*e, m.data[li * m.dim + li]);
        }
    }
    table
}

/// The dense block starting at `start`: the widest the budget allows, or with a cost model the
/// width whose block saves the most against running its gates one by one.
fn dense_block(
    ops: &[GateOp],
    done: &[bool],
    start: usize,
    cfg: &FusionConfig,
) -> (Vec<usize>, u64) {
    let max = cfg.max_qubits.min(5) as u32;
    let Some(cost) = &cfg.cost else {
        return collect(ops, done, start, Kind::Dense, max, cfg.lookahead);
    };
    let own = qmask(&ops[start]).count_ones();
    let mut best = (vec![start], qmask(&ops[start]));
    let mut best_saving = 0.0;
    // A gate wider than the budget stays alone (as without a model).
    for width in own.max(1)..=max {
        let (members, mask) = collect(ops, done, start, Kind::Dense, width, cfg.lookahead);
        if members.len() < 2 {
            continue;
        }
        let separate: f64 = members.iter().map(|&j| cost.gate_cost(&ops[j])).sum();
        let saving = separate - cost.dense_cost(mask);
        if saving > best_saving {
            best_saving = saving;
            best = (members, mask);
        }
    }
    best
}

/// Fuses a straight run of gates (no measurement, reset, barrier or conditional inside).
pub fn fuse(ops: &[GateOp], cfg: &FusionConfig) -> Vec<FusedOp> {
    let too_wide = ops
        .iter()
        .any(|g| g.targets.iter().chain(&g.controls).any(|&q| q >= 64));
    if too_wide {
        return ops.iter().cloned().map(FusedOp::Gate).collect();
    }
    let mut done = vec![false; ops.len()];
    let mut out = Vec::new();
    for i in 0..ops.len() {
        if done[i] {
            continue;
        }
        let dense = dense_block(ops, &done, i, cfg);
        let diag = if is_diag(&ops[i]) {
            Some(collect(
                ops,
                &done,
                i,
                Kind::Diag,
                cfg.max_diag_qubits.min(16) as u32,
                cfg.lookahead,
            ))
        } else {
            None
        };
        let (members, s, kind) = match diag {
            Some((m, s)) if m.len() >= dense.0.len() => (m, s, Kind::Diag),
            _ => (dense.0, dense.1, Kind::Dense),
        };
        for &j in &members {
            done[j] = true;
        }
        if members.len() == 1 {
            out.push(FusedOp::Gate(ops[i].clone()));
            continue;
        }
        let qubits = mask_qubits(s);
        let gates: Vec<&GateOp> = members.iter().map(|&j| &ops[j]).collect();
        out.push(match kind {
            Kind::Diag => FusedOp::Diag {
                table: diag_table(&gates, &qubits),
                qubits,
            },
            Kind::Dense => {
                let matrix = dense_matrix(&gates, &qubits);
                if is_diagonal_matrix(1 << qubits.len(), &matrix) {
                    let dim = 1 << qubits.len();
                    FusedOp::Diag {
                        table: (0..dim).map(|j| matrix[j * dim + j]).collect(),
                        qubits,
                    }
                } else {
                    FusedOp::Dense { qubits, matrix }
                }
            }
        });
    }
    match &cfg.cost {
        Some(cost) => merge_neighbours(out, cost, cfg.max_qubits.min(MERGE_MAX_QUBITS)),
        None => out,
    }
}

/// The widest block [`merge_neighbours`] builds: two 2-qubit unitaries sharing a qubit make a
/// 3-qubit block with the same arithmetic as the two and one pass less.
const MERGE_MAX_QUBITS: usize = 3;

/// Qubits of a fused step (ascending for dense and diagonal steps).
fn op_mask(op: &FusedOp) -> u64 {
    match op {
        FusedOp::Gate(g) => qmask(g),
        FusedOp::Dense { qubits, .. } | FusedOp::Diag { qubits, .. } => {
            qubits.iter().fold(0, |m, &q| m | 1u64 << q)
        }
    }
}

/// What one pass of a fused step costs on its own.
fn op_cost(cost: &CostModel, op: &FusedOp) -> f64 {
    match op {
        FusedOp::Gate(g) => cost.gate_cost(g),
        FusedOp::Dense { .. } => cost.dense_cost(op_mask(op)),
        FusedOp::Diag { .. } => cost.regime(op_mask(op)).diagonal,
    }
}

/// True for steps worth merging: dense work (diagonals and permutations have cheap kernels of
/// their own that a dense block would only slow down).
fn mergeable(op: &FusedOp) -> bool {
    match op {
        FusedOp::Gate(g) => !is_diag(g) && !matches!(g.gate, Gate::X | Gate::Swap),
        FusedOp::Dense { .. } => true,
        FusedOp::Diag { .. } => false,
    }
}

/// A mergeable step as a matrix placed inside a block on `qubits` (ascending, a superset of the
/// step's qubits).
fn placed(op: &FusedOp, qubits: &[usize]) -> Placed {
    match op {
        FusedOp::Gate(g) => {
            let (t, c) = local(g, qubits);
            (g.gate.matrix(), t, c)
        }
        FusedOp::Dense {
            qubits: own,
            matrix,
        } => {
            let pos = |q: &usize| qubits.iter().position(|x| x == q).expect("qubit in block");
            let m = Matrix {
                dim: 1 << own.len(),
                data: matrix.clone(),
            };
            (m, own.iter().map(pos).collect(), Vec::new())
        }
        FusedOp::Diag { .. } => unreachable!("diagonal steps are never merged (see `mergeable`)"),
    }
}

/// `second · first` as one dense step on the union of their qubits, if both are dense work,
/// the union fits in `max` qubits and one pass of it costs less than the two passes.
fn try_merge(first: &FusedOp, second: &FusedOp, cost: &CostModel, max: usize) -> Option<FusedOp> {
    let union = op_mask(first) | op_mask(second);
    if !mergeable(first) || !mergeable(second) || union.count_ones() as usize > max {
        return None;
    }
    let saving = op_cost(cost, first) + op_cost(cost, second) - cost.dense_cost(union);
    if saving <= 0.0 {
        return None;
    }
    let qubits = mask_qubits(union);
    let parts = [placed(first, &qubits), placed(second, &qubits)];
    let matrix = block_matrix(&parts, qubits.len());
    Some(FusedOp::Dense { qubits, matrix })
}

/// Merges each dense step into the next step that shares a qubit with it, when the two fit in
/// `max` qubits and one pass of the merged block costs less than the two passes.
///
/// Always legal: no step between the two touches the first one's qubits, so the first commutes
/// with all of them and can move up to the second. This finds what the greedy pass misses when
/// gates on other qubits in between pin the second step's new qubit (quantum volume: every
/// layer touches every qubit, so a block from one layer cannot pull in the next layer's gate).
fn merge_neighbours(ops: Vec<FusedOp>, cost: &CostModel, max: usize) -> Vec<FusedOp> {
    let mut ops: Vec<Option<FusedOp>> = ops.into_iter().map(Some).collect();
    for i in 0..ops.len() {
        let Some(first) = &ops[i] else { continue };
        if !mergeable(first) {
            continue;
        }
        let m = op_mask(first);
        let Some(j) = (i + 1..ops.len().min(i + 1 + MERGE_LOOKAHEAD))
            .find(|&j| ops[j].as_ref().is_some_and(|o| op_mask(o) & m != 0))
        else {
            continue;
        };
        let second = ops[j].as_ref().expect("found above");
        if let Some(merged) = try_merge(first, second, cost, max) {
            ops[j] = Some(merged);
            ops[i] = None;
        }
    }
    // Then each step still alone into the previous step sharing a qubit with it (no step
    // between touches its qubits, so it can move back): catches the pairs the forward sweep
    // left because the step after was already full.
    for j in (0..ops.len()).rev() {
        let Some(second) = &ops[j] else { continue };
        if !mergeable(second) {
            continue;
        }
        let m = op_mask(second);
        let Some(i) = (j.saturating_sub(MERGE_LOOKAHEAD)..j)
            .rev()
            .find(|&i| ops[i].as_ref().is_some_and(|o| op_mask(o) & m != 0))
        else {
            continue;
        };
        let first = ops[i].as_ref().expect("found above");
        if let Some(merged) = try_merge(first, second, cost, max) {
            ops[i] = Some(merged);
            ops[j] = None;
        }
    }
    ops.into_iter().flatten().collect()
}

/// How far [`merge_neighbours`] looks for the next step on a shared qubit.
const MERGE_LOOKAHEAD: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    fn g(gate: Gate, t: &[usize]) -> GateOp {
        GateOp::new(gate, t.to_vec())
    }

    #[test]
    fn rotation_layers_and_cx_fuse_into_few_dense_blocks() {
        let mut ops = Vec::new();
        for q in 0..3 {
            ops.push(g(Gate::RZ(0.1), &[q]));
            ops.push(g(Gate::RX(0.2), &[q]));
        }
        ops.push(GateOp::controlled(Gate::X, vec![0], vec![1]));
        ops.push(GateOp::controlled(Gate::X, vec![1], vec![2]));
        let fused = fuse(&ops, &FusionConfig::default());
        assert_eq!(fused.len(), 1, "{fused:?}");
        assert!(matches!(&fused[0], FusedOp::Dense { qubits, .. } if qubits == &[0, 1, 2]));
    }

    #[test]
    fn diagonal_runs_stay_diagonal_and_span_more_qubits() {
        // H then controlled phases from qubit 0 to 1..=6 (a QFT row): H alone, one diagonal.
        let mut ops = vec![g(Gate::H, &[0])];
        for k in 1..=6 {
            ops.push(GateOp::controlled(
                Gate::Phase(0.3 * k as f64),
                vec![k],
                vec![0],
            ));
        }
        let fused = fuse(&ops, &FusionConfig::default());
        assert_eq!(fused.len(), 2, "{fused:?}");
        assert!(matches!(&fused[0], FusedOp::Gate(op) if op.gate == Gate::H));
        assert!(matches!(&fused[1], FusedOp::Diag { qubits, .. } if qubits.len() == 7));
    }

    #[test]
    fn gates_never_move_across_a_dependent_gate() {
        // X(0); CX(0->3); RZ(0): the RZ on qubit 0 must stay after the CX even if a block on
        // {0} could otherwise absorb it; with max 1 qubit nothing merges across the CX.
        let ops = vec![
            g(Gate::X, &[0]),
            GateOp::controlled(Gate::X, vec![0], vec![3]),
            g(Gate::H, &[0]),
        ];
        let cfg = FusionConfig {
            max_qubits: 1,
            ..FusionConfig::default()
        };
        let fused = fuse(&ops, &cfg);
        assert_eq!(fused.len(), 3, "{fused:?}");
    }

    /// Rotations on qubits 10..=12 tied by CXs, then one more rotation on qubit 13 tied in.
    fn three_qubit_block_plus_one() -> Vec<GateOp> {
        let mut ops = Vec::new();
        for q in 10..13 {
            ops.push(g(Gate::RY(0.3), &[q]));
        }
        ops.push(GateOp::controlled(Gate::X, vec![10], vec![11]));
        ops.push(GateOp::controlled(Gate::X, vec![11], vec![12]));
        for q in 10..13 {
            ops.push(g(Gate::RX(0.2), &[q]));
        }
        ops.push(g(Gate::RY(0.5), &[13]));
        ops
    }

    #[test]
    fn the_cost_model_does_not_widen_a_block_for_one_cheap_gate() {
        let ops = three_qubit_block_plus_one();
        // A 4-qubit kernel costs more than a 3-qubit one plus a lone rotation.
        let fused = fuse(&ops, &FusionConfig::default());
        assert_eq!(fused.len(), 2, "{fused:?}");
        assert!(matches!(&fused[0], FusedOp::Dense { qubits, .. } if qubits == &[10, 11, 12]));
        // Fixed width 4 grows the block anyway.
        let fused = fuse(&ops, &FusionConfig::fixed(4));
        assert_eq!(fused.len(), 1, "{fused:?}");
    }

    #[test]
    fn the_cost_model_builds_four_qubit_blocks_when_they_absorb_enough() {
        // Three brickwork layers on qubits 10..=13: one 4-qubit pass replaces 21 passes.
        let mut ops = Vec::new();
        for layer in 0..3 {
            for q in 10..14 {
                ops.push(g(Gate::U(0.1 * layer as f64, 0.2, 0.3), &[q]));
            }
            for (c, t) in [(10, 11), (12, 13), (11, 12)] {
                ops.push(GateOp::controlled(Gate::X, vec![c], vec![t]));
            }
        }
        let fused = fuse(&ops, &FusionConfig::default());
        assert_eq!(fused.len(), 1, "{fused:?}");
        assert!(matches!(&fused[0], FusedOp::Dense { qubits, .. } if qubits.len() == 4));
    }

    fn unitary2(seed: f64) -> Gate {
        // A dense 2-qubit unitary: U on each qubit, then an entangling XX rotation.
        let ops = [
            g(Gate::U(seed, 0.3, 0.7), &[0]),
            g(Gate::U(0.2, seed, 0.1), &[1]),
            g(Gate::RXX(seed * 0.5), &[0, 1]),
        ];
        let refs: Vec<&GateOp> = ops.iter().collect();
        Gate::Unitary(Box::new(Matrix {
            dim: 4,
            data: dense_matrix(&refs, &[0, 1]),
        }))
    }

    fn max_diff(a: &[Amp], b: &[Amp]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x.0 - y.0).hypot(x.1 - y.1))
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_two_qubit_unitary_merges_into_the_next_one_sharing_a_qubit() {
        // U(0,1), X(3), U(1,2): the X is on another qubit, so the first unitary moves up to
        // the second and the two become one 3-qubit block.
        let (u, v) = (
            GateOp::new(unitary2(0.4), vec![0, 1]),
            GateOp::new(unitary2(1.1), vec![1, 2]),
        );
        let x = GateOp::new(Gate::X, vec![3]);
        let steps = vec![
            FusedOp::Gate(u.clone()),
            FusedOp::Gate(x.clone()),
            FusedOp::Gate(v.clone()),
        ];
        let merged = merge_neighbours(steps, &CostModel::default(), 3);
        assert_eq!(merged.len(), 2, "{merged:?}");
        assert_eq!(merged[0], FusedOp::Gate(x));
        let FusedOp::Dense { qubits, matrix } = &merged[1] else {
            panic!("expected a dense block: {merged:?}");
        };
        assert_eq!(qubits, &[0, 1, 2]);
        let expected = dense_matrix(&[&u, &v], &[0, 1, 2]);
        assert!(max_diff(matrix, &expected) < 1e-12);
    }

    #[test]
    fn merging_never_moves_a_step_across_one_on_its_qubits() {
        // U(0,1), CZ(1,5), U(1,2): the CZ shares qubit 1 with both unitaries and is not dense
        // work, so neither unitary may move past it and nothing merges.
        let steps = vec![
            FusedOp::Gate(GateOp::new(unitary2(0.4), vec![0, 1])),
            FusedOp::Gate(GateOp::controlled(Gate::Z, vec![1], vec![5])),
            FusedOp::Gate(GateOp::new(unitary2(1.1), vec![1, 2])),
        ];
        let merged = merge_neighbours(steps.clone(), &CostModel::default(), 3);
        assert_eq!(merged, steps);
    }

    #[test]
    fn quantum_volume_layers_fuse_pairs_sharing_a_qubit() {
        // Two layers of 2-qubit unitaries on disjoint pairs of 8 high qubits. In double
        // precision one 3-qubit pass costs less than two 2-qubit passes, so three unitaries of
        // the second layer join one of the first: 5 passes instead of 8.
        let layers = [
            [(16, 17), (18, 19), (20, 21), (22, 23)],
            [(17, 18), (19, 20), (21, 22), (23, 16)],
        ];
        let ops: Vec<GateOp> = layers
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, &(a, b))| GateOp::new(unitary2(0.1 + i as f64), vec![a, b]))
            .collect();
        // Sub-states of the lowest 15 qubits only: these qubits stream.
        let lowest = BlockShape {
            qubits: 15,
            run_qubits: 15,
        };
        let cfg = FusionConfig::default().for_state(Precision::Double, lowest);
        let fused = fuse(&ops, &cfg);
        let three = fused
            .iter()
            .filter(|f| matches!(f, FusedOp::Dense { qubits, .. } if qubits.len() == 3))
            .count();
        assert_eq!((fused.len(), three), (5, 3), "{fused:?}");
    }

    #[test]
    fn single_gates_pass_through_unchanged() {
        let ops = vec![g(Gate::H, &[0]), g(Gate::H, &[5])];
        let cfg = FusionConfig {
            max_qubits: 1,
            ..FusionConfig::default()
        };
        assert_eq!(
            fuse(&ops, &cfg),
            vec![FusedOp::Gate(ops[0].clone()), FusedOp::Gate(ops[1].clone())]
        );
    }
}
