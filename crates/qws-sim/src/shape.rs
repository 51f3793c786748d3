//! What a circuit's measurements allow, decided in one place for every caller:
//!
//! - [`final_measurements`]: every measurement comes after the last gate, so the outcome
//!   probabilities (and the final statevector) follow from one measurement-free simulation —
//!   exact `ionq.quantum-results.v1` histograms and `qws sim --statevector` use it;
//! - [`sampling_plan`]: no gate acts on a qubit after it is measured (gates on other qubits
//!   may follow), no reset of a used qubit, no conditional — so all shots can be sampled from
//!   one final state; otherwise [`crate::run`] runs shot by shot.

use crate::ir::{Circuit, GateOp, Op};

/// A circuit split at its final measurements.
#[derive(Clone, Debug)]
pub struct FinalMeasurements {
    /// The circuit up to its first measurement: gates and barriers only, no classical bits.
    pub gates: Circuit,
    /// `(qubit, clbit)` pairs; when a bit is measured twice the last measurement wins, as
    /// when the shots are run.
    pub measures: Vec<(usize, usize)>,
}

/// `Some` when the circuit is gates (and barriers) followed only by measurements (and
/// barriers); `None` when it measures mid-way, resets or branches on results.
pub fn final_measurements(c: &Circuit) -> Option<FinalMeasurements> {
    let first = c
        .ops
        .iter()
        .position(|op| matches!(op, Op::Measure { .. }))
        .unwrap_or(c.ops.len());
    let (prefix, tail) = c.ops.split_at(first);
    if prefix
        .iter()
        .any(|op| !matches!(op, Op::Gate(_) | Op::Barrier(_)))
        || tail
            .iter()
            .any(|op| !matches!(op, Op::Measure { .. } | Op::Barrier(_)))
    {
        return None;
    }
    let mut measures: Vec<(usize, usize)> = Vec::new();
    for op in tail {
        if let Op::Measure { qubit, clbit } = op {
            measures.retain(|(_, b)| b != clbit);
            measures.push((*qubit, *clbit));
        }
    }
    Some(FinalMeasurements {
        gates: Circuit {
            num_qubits: c.num_qubits,
            num_clbits: 0,
            qregs: vec![],
            cregs: vec![],
            ops: prefix.to_vec(),
        },
        measures,
    })
}

/// Runs of gates that fusion may merge (split at barriers and measurements).
pub type Segments = Vec<Vec<GateOp>>;

/// If all shots can be sampled from one final state: the gate segments to simulate once and
/// the `(qubit, clbit)` measurements in program order; `None` if shots must run one by one.
pub fn sampling_plan(c: &Circuit) -> Option<(Segments, Vec<(usize, usize)>)> {
    let mut touched = vec![false; c.num_qubits];
    let mut measured = vec![false; c.num_qubits];
    let mut segments = vec![Vec::new()];
    let mut measures = Vec::new();
    for op in &c.ops {
        match op {
            Op::Gate(g) => {
                let qs = g.targets.iter().chain(&g.controls);
                if qs.clone().any(|&q| measured[q]) {
                    return None;
                }
                qs.for_each(|&q| touched[q] = true);
                segments.last_mut()?.push(g.clone());
            }
            Op::Measure { qubit, clbit } => {
                measured[*qubit] = true;
                measures.push((*qubit, *clbit));
                segments.push(Vec::new());
            }
            // A reset of a qubit no gate has touched yet leaves it in |0>: a no-op.
            Op::Reset { qubit } if !touched[*qubit] => {}
            Op::Reset { .. } | Op::If { .. } => return None,
            Op::Barrier(_) => segments.push(Vec::new()),
        }
    }
    segments.retain(|s| !s.is_empty());
    Some((segments, measures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Condition, Gate};

    #[test]
    fn sampling_plan_allows_gates_on_other_qubits_after_a_measurement() {
        let mut c = Circuit::new(2, 2);
        c.gate(Gate::H, &[0]).measure(0, 0);
        c.gate(Gate::H, &[1]).measure(1, 1);
        // Gates on other qubits after a measurement keep sampling valid.
        let (segments, measures) = sampling_plan(&c).expect("terminal");
        assert_eq!(measures, vec![(0, 0), (1, 1)]);
        assert_eq!(segments.len(), 2);
        // ... but not exact final probabilities.
        assert!(final_measurements(&c).is_none());
        // A gate on a measured qubit does not.
        c.gate(Gate::X, &[0]);
        assert!(sampling_plan(&c).is_none());
        // Nor a reset of a used qubit, nor a conditional.
        let mut c = Circuit::new(1, 1);
        c.gate(Gate::H, &[0]);
        c.ops.push(Op::Reset { qubit: 0 });
        assert!(sampling_plan(&c).is_none());
        let mut c = Circuit::new(1, 1);
        c.ops.push(Op::If {
            cond: Condition::Equals {
                bits: vec![0],
                value: 1,
            },
            then_ops: vec![],
            else_ops: vec![],
        });
        assert!(sampling_plan(&c).is_none());
    }

    #[test]
    fn final_measurements_keep_the_last_measurement_of_a_bit() {
        let mut c = Circuit::new(2, 1);
        c.gate(Gate::H, &[0]).gate(Gate::X, &[1]);
        c.ops.push(Op::Barrier(vec![0, 1]));
        c.measure(0, 0).measure(1, 0);
        let f = final_measurements(&c).expect("final");
        assert_eq!(f.measures, vec![(1, 0)]);
        assert_eq!(f.gates.ops.len(), 3);
        assert_eq!(f.gates.num_clbits, 0);
        // A gate after a measurement: not final.
        c.gate(Gate::H, &[1]);
        assert!(final_measurements(&c).is_none());
    }
}
