//! Cache blocking: consecutive steps of a fused program that touch only "low" qubits (index
//! bits below the block size) are applied block by block, so one pass over memory serves many
//! gates while each block sits in cache. Steps on high qubits run as ordinary full passes.
//!
//! Steps may be moved forward past steps they share no qubit with (they commute), so low
//! steps separated by an unrelated high step still land in one group.

use super::fusion::FusedOp;
use crate::ir::GateOp;

/// A group of steps applied in one pass, or one step applied on its own.
#[derive(Debug)]
pub enum Pass<'a> {
    /// Steps whose qubits all lie below the block size, applied block by block.
    Blocked(Vec<&'a FusedOp>),
    /// A step with a high qubit: a full pass of its own.
    Whole(&'a FusedOp),
}

/// How far ahead a group looks for steps to pull forward (keeps planning linear in practice).
const LOOKAHEAD: usize = 512;

fn gate_mask(g: &GateOp) -> u128 {
    g.targets
        .iter()
        .chain(&g.controls)
        .fold(0, |m, &q| m | 1u128.checked_shl(q as u32).unwrap_or(0))
}

/// Bit mask of the qubits a step touches (`None` when a qubit is beyond 127).
fn step_mask(op: &FusedOp) -> Option<u128> {
    let qubits: Vec<usize> = match op {
        FusedOp::Gate(g) => g.targets.iter().chain(&g.controls).copied().collect(),
        FusedOp::Dense { qubits, .. } | FusedOp::Diag { qubits, .. } => qubits.clone(),
    };
    if qubits.iter().any(|&q| q >= 128) {
        return None;
    }
    Some(match op {
        FusedOp::Gate(g) => gate_mask(g),
        _ => qubits.iter().fold(0, |m, &q| m | 1u128 << q),
    })
}

/// Orders `ops` into passes for blocks of `2^block_qubits` amplitudes. The result applies the
/// same unitary as `ops` in order.
pub fn plan(ops: &[FusedOp], block_qubits: usize) -> Vec<Pass<'_>> {
    let masks: Option<Vec<u128>> = ops.iter().map(step_mask).collect();
    let Some(masks) = masks else {
        return ops.iter().map(Pass::Whole).collect();
    };
    let low = if block_qubits >= 128 {
        u128::MAX
    } else {
        (1u128 << block_qubits) - 1
    };
    let is_low = |i: usize| masks[i] & !low == 0;
    let mut done = vec![false; ops.len()];
    let mut first = 0; // every step before `first` is done
    let mut out = Vec::new();
    while first < ops.len() {
        // Gather the low steps that can move in front of every pending step before them.
        let mut group = Vec::new();
        let mut blocked = 0u128;
        let end = ops.len().min(first + LOOKAHEAD);
        for i in first..end {
            if done[i] {
                continue;
            }
            if is_low(i) && masks[i] & blocked == 0 {
                group.push(i);
            } else {
                blocked |= masks[i];
                if blocked & low == low {
                    break;
                }
            }
        }
        for &i in &group {
            done[i] = true;
        }
        match group.len() {
            0 => {}
            1 => out.push(Pass::Whole(&ops[group[0]])),
            _ => out.push(Pass::Blocked(group.iter().map(|&i| &ops[i]).collect())),
        }
        while first < ops.len() && done[first] {
            first += 1;
        }
        // The first pending step now has nothing pending before it: run it on its own.
        if first < ops.len() {
            done[first] = true;
            out.push(Pass::Whole(&ops[first]));
            while first < ops.len() && done[first] {
                first += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Gate;

    fn g(gate: Gate, t: &[usize]) -> FusedOp {
        FusedOp::Gate(GateOp::new(gate, t.to_vec()))
    }

    fn shape(passes: &[Pass]) -> Vec<usize> {
        passes
            .iter()
            .map(|p| match p {
                Pass::Blocked(v) => v.len(),
                Pass::Whole(_) => 0,
            })
            .collect()
    }

    #[test]
    fn low_steps_move_past_unrelated_high_steps() {
        // H(0), H(9), H(1), CX(9 -> 2)... with blocks of 4 qubits: H(0), H(1) group; H(9) alone;
        // the CX on 9 and 2 is high and stays after H(9).
        let ops = vec![
            g(Gate::H, &[0]),
            g(Gate::H, &[9]),
            g(Gate::H, &[1]),
            FusedOp::Gate(GateOp::controlled(Gate::X, vec![9], vec![2])),
            g(Gate::H, &[3]),
            g(Gate::H, &[2]),
        ];
        let passes = plan(&ops, 4);
        assert_eq!(shape(&passes), vec![3, 0, 0, 0]);
        // H(2) must stay after the CX (they share qubit 2): it is the last pass.
        assert!(matches!(passes[3], Pass::Whole(FusedOp::Gate(op)) if op.targets == [2]));
    }

    #[test]
    fn everything_low_is_one_group() {
        let ops: Vec<FusedOp> = (0..4).map(|q| g(Gate::H, &[q])).collect();
        assert_eq!(shape(&plan(&ops, 4)), vec![4]);
    }
}
