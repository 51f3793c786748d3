//! Gathered cache blocking (`engine/blocking.rs`): sub-states on any set of qubits, gathered,
//! worked on and scattered back, give the state of applying the steps one by one; the planner
//! keeps the program's unitary while it regroups and reorders steps, and on a quantum-volume
//! circuit it needs far fewer passes than blocks of the lowest qubits alone.

use crate::common::*;
use proptest::prelude::*;
use qws_sim::engine::blocking::{apply_gathered, plan, BlockShape, Buffers, Pass};
use qws_sim::engine::fusion::{fuse, FusedOp, FusionConfig};
use qws_sim::engine::kernels::apply_step;
use qws_sim::engine::real::{cast, Complex, Real};
use qws_sim::ir::{Circuit, Gate, GateOp, Op};
use qws_sim::state::{Amp, StateVector};
use qws_sim::Precision;

fn gates(c: &Circuit) -> Vec<GateOp> {
    c.ops
        .iter()
        .filter_map(|o| match o {
            Op::Gate(g) => Some(g.clone()),
            _ => None,
        })
        .collect()
}

/// `steps` applied one after the other to the whole state, in double precision.
fn step_by_step(amps: &[Amp], steps: &[FusedOp]) -> Vec<Amp> {
    let mut s = StateVector::from_amplitudes(amps.to_vec()).unwrap();
    s.set_parallel(false);
    for op in steps {
        s.apply_fused(op);
    }
    s.into_amplitudes()
}

/// `passes` applied in order to `amps` rounded to `F`, widened back to double.
fn run_passes<F: Real>(amps: &[Amp], passes: &[Pass], par: bool) -> Vec<Amp> {
    let mut a: Vec<Complex<F>> = amps.iter().map(|&x| cast(x)).collect();
    let buffers = Buffers::new();
    for pass in passes {
        match pass {
            Pass::Whole(op) => apply_step(&mut a, op, par),
            Pass::Gathered { qubits, steps } => {
                apply_gathered(&mut a, qubits, steps, &buffers, par)
            }
        }
    }
    a.iter().map(|x| (x.0.to_f64(), x.1.to_f64())).collect()
}

/// Both precisions with their tolerances.
fn check_both(amps: &[Amp], passes: &[Pass], par: bool, expected: &[Amp]) -> Result<(), String> {
    let d64 = max_diff(&run_passes::<f64>(amps, passes, par), expected);
    let d32 = max_diff(&run_passes::<f32>(amps, passes, par), expected);
    if d64 < 1e-12 && d32 < 1e-5 {
        Ok(())
    } else {
        Err(format!("max diff {d64} (double), {d32} (single)"))
    }
}

/// A circuit of `n` qubits, a random sub-state width `k` (below, at or above `n`) and a
/// random number of fixed low qubits.
fn circuit_and_shape() -> impl Strategy<Value = (Circuit, Vec<Amp>, BlockShape)> {
    // From 3 qubits: the random gates take up to three.
    (3usize..=9).prop_flat_map(|n| {
        (1usize..=n + 2).prop_flat_map(move |k| {
            (
                random_circuit(n, 40),
                random_state(n),
                (0..=k).prop_map(move |run_qubits| BlockShape {
                    qubits: k,
                    run_qubits,
                }),
            )
        })
    })
}

/// `k` distinct qubits of `n` in ascending order and steps on them only (`k` from 3: the
/// random gates take up to three qubits).
fn qubits_and_steps() -> impl Strategy<Value = (usize, Vec<usize>, Vec<GateOp>, Vec<Amp>)> {
    (3usize..=9).prop_flat_map(|n| {
        (3usize..=n).prop_flat_map(move |k| {
            (
                Just((0..n).collect::<Vec<usize>>())
                    .prop_shuffle()
                    .prop_map(move |q| {
                        let mut q = q[..k].to_vec();
                        q.sort_unstable();
                        q
                    }),
                proptest::collection::vec(any_gate_op(k), 1..12),
                random_state(n),
            )
                .prop_map(move |(qubits, local, amps)| {
                    // Steps drawn on 0..k, placed on the chosen qubits.
                    let steps = local
                        .into_iter()
                        .map(|g| GateOp {
                            targets: g.targets.iter().map(|&q| qubits[q]).collect(),
                            controls: g.controls.iter().map(|&q| qubits[q]).collect(),
                            gate: g.gate,
                        })
                        .collect();
                    (n, qubits, steps, amps)
                })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_gathered_pass_on_any_qubits_equals_its_steps_one_by_one(
        (_n, qubits, ops, amps) in qubits_and_steps(),
        par in any::<bool>(),
    ) {
        let fused = fuse(&ops, &FusionConfig::default());
        let expected = step_by_step(&amps, &fused);
        let passes = vec![Pass::Gathered { qubits: qubits.clone(), steps: fused.iter().collect() }];
        let r = check_both(&amps, &passes, par, &expected);
        prop_assert!(r.is_ok(), "qubits {:?}: {:?}", qubits, r);
    }

    #[test]
    fn planned_passes_equal_the_program_in_order(
        (c, amps, shape) in circuit_and_shape(),
        par in any::<bool>(),
    ) {
        let fused = fuse(&gates(&c), &FusionConfig::default());
        let expected = step_by_step(&amps, &fused);
        let passes = plan(&fused, c.num_qubits, shape);
        let steps: usize = passes.iter().map(|p| match p {
            Pass::Whole(_) => 1,
            Pass::Gathered { qubits, steps } => {
                assert!(qubits.len() <= shape.qubits.min(c.num_qubits));
                steps.len()
            }
        }).sum();
        prop_assert_eq!(steps, fused.len());
        let r = check_both(&amps, &passes, par, &expected);
        prop_assert!(r.is_ok(), "n={} {:?}: {:?}", c.num_qubits, shape, r);
    }

    #[test]
    fn state_vectors_run_gathered_passes_like_the_reference(
        c in (5usize..=8).prop_flat_map(|n| random_circuit(n, 40)),
        k in 1usize..=4,
        fixed in 0usize..=4,
    ) {
        let reference = reference_state(&c);
        let fused = fuse(&gates(&c), &FusionConfig::default());
        let shape = BlockShape { qubits: k, run_qubits: fixed.min(k) };
        for (precision, tol) in [(Precision::Double, 1e-12), (Precision::Single, 1e-5)] {
            for parallel in [false, true] {
                let mut s = StateVector::try_new_with(c.num_qubits, precision).unwrap();
                s.set_parallel(parallel);
                s.set_block_shape(Some(shape));
                s.apply_fused_ops(&fused, &mut || Ok(())).unwrap();
                let d = max_diff(&s.amplitudes(), &reference);
                prop_assert!(d < tol, "{:?} parallel={} {:?}: max diff {}", precision, parallel, shape, d);
            }
        }
    }
}

/// Quantum volume on `n` qubits: `n` layers of random two-qubit unitaries on a random pairing.
fn quantum_volume(n: usize) -> Vec<GateOp> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut ops = Vec::new();
    for _ in 0..n {
        let mut qubits: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            qubits.swap(i, next() as usize % (i + 1));
        }
        for pair in qubits.chunks(2) {
            let angles: Vec<f64> = (0..24).map(|_| (next() % 1000) as f64 / 100.0).collect();
            let gate = Gate::Unitary(Box::new(random_unitary(2, &angles)));
            ops.push(GateOp::new(gate, pair.to_vec()));
        }
    }
    ops
}

#[test]
fn gathering_high_qubits_cuts_the_passes_of_quantum_volume() {
    let n = 14;
    let ops = quantum_volume(n);
    let fused = fuse(&ops, &FusionConfig::default());
    let k = 8;
    let lowest_only = plan(
        &fused,
        n,
        BlockShape {
            qubits: k,
            run_qubits: k,
        },
    );
    let gathered = plan(
        &fused,
        n,
        BlockShape {
            qubits: k,
            run_qubits: 3,
        },
    );
    assert!(
        gathered.len() * 2 < lowest_only.len(),
        "{} fused steps: {} passes gathered, {} with the lowest qubits only",
        fused.len(),
        gathered.len(),
        lowest_only.len()
    );
    let mut start = StateVector::new(n);
    for q in 0..n {
        start.apply(&GateOp::new(Gate::RY(0.2 + 0.1 * q as f64), vec![q]));
    }
    let amps = start.into_amplitudes();
    let expected = step_by_step(&amps, &fused);
    check_both(&amps, &gathered, true, &expected).unwrap();
}
