//! Every fast kernel (portable and, where the CPU has them, SIMD: chosen explicitly per test)
//! against the reference matrix kernel, on random states; fused and
//! sparse paths against the reference on random circuits; threads against one thread.

use crate::common::*;
use proptest::prelude::*;
use qws_sim::engine::fusion::FusionConfig;
use qws_sim::ir::Circuit;
use qws_sim::precision::Precision;
use qws_sim::run::{final_state_with, EngineConfig, RunOptions, SparseMode};
use qws_sim::state::StateVector;

fn opts(fusion: bool) -> RunOptions {
    RunOptions {
        fusion,
        ..RunOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_kernel_matches_the_reference(
        (_n, op, amps) in (3usize..=7).prop_flat_map(|n| (Just(n), any_gate_op(n), random_state(n)))
    ) {
        let mut slow = StateVector::from_amplitudes(amps.clone()).unwrap();
        slow.apply_reference(&op);
        for kernels in kernel_choices() {
            let mut fast = StateVector::from_amplitudes(amps.clone()).unwrap();
            with_kernels(kernels, || fast.apply(&op));
            let d = max_diff(&fast.amplitudes(), &slow.amplitudes());
            prop_assert!(d < 1e-12, "{kernels:?} {op:?}: max diff {d}");
        }
    }

    #[test]
    fn kernels_multithreaded_equal_single_threaded(
        op in any_gate_op(15)
    ) {
        // A 15-qubit random-ish state from a few gates, then the op with and without threads,
        // with the same kernels both times: every amplitude is computed by the same code, so a
        // threading bug shows as an O(1) difference.
        let mut start = StateVector::new(15);
        for q in 0..15 {
            start.apply(&qws_sim::ir::GateOp::new(qws_sim::ir::Gate::RY(0.3 + q as f64), vec![q]));
        }
        for kernels in kernel_choices() {
            let mut a = start.clone();
            let mut b = start.clone();
            a.set_parallel(true);
            b.set_parallel(false);
            with_kernels(kernels, || {
                a.apply(&op);
                b.apply(&op);
            });
            let d = max_diff(&a.amplitudes(), &b.amplitudes());
            prop_assert!(d < 1e-12, "{kernels:?} {op:?}: max diff {d}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn fused_and_unfused_circuits_match_the_reference(c in (3usize..=7).prop_flat_map(|n| random_circuit(n, 40))) {
        let reference = reference_state(&c);
        for fusion in [false, true] {
            for k in [2usize, 3, 4, 5] {
                // Fixed-width blocks and blocks sized by the cost model, in both precisions.
                for by_cost in [false, true] {
                    for precision in [Precision::Double, Precision::Single] {
                        let mut cfg = EngineConfig { sparse: SparseMode::Off, ..EngineConfig::default() };
                        cfg.fusion = if by_cost { FusionConfig::default() } else { FusionConfig::fixed(k) };
                        cfg.fusion.max_qubits = k;
                        cfg.fusion.max_diag_qubits = k + 1;
                        let o = RunOptions { precision: Some(precision), ..opts(fusion) };
                        let s = final_state_with(&c, &o, &cfg).unwrap();
                        let d = max_diff(&s.amplitudes(), &reference);
                        let tol = if precision == Precision::Double { 1e-10 } else { 1e-5 };
                        prop_assert!(
                            d < tol,
                            "fusion={fusion} k={k} by_cost={by_cost} {precision:?}: max diff {d}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn sparse_path_matches_dense(c in (3usize..=8).prop_flat_map(|n| random_circuit(n, 30))) {
        let reference = reference_state(&c);
        let cfg = EngineConfig { sparse: SparseMode::Always, ..EngineConfig::default() };
        let s = final_state_with(&c, &opts(true), &cfg).unwrap();
        let d = max_diff(&s.amplitudes(), &reference);
        prop_assert!(d < 1e-10, "max diff {d}");
    }
}

fn bench_like(n: usize) -> Circuit {
    // QFT-, QCBM- and QV-like pieces on n qubits: H + controlled phases, rotations + CX ring,
    // and dense 2-qubit unitaries.
    use qws_sim::ir::Gate;
    let mut c = Circuit::new(n, 0);
    c.gate(Gate::X, &[0]);
    for j in (0..n).rev() {
        c.gate(Gate::H, &[j]);
        for k in 0..j {
            c.cgate(
                Gate::Phase(std::f64::consts::PI / (1u64 << (j - k)) as f64),
                &[k],
                &[j],
            );
        }
    }
    for q in 0..n / 2 {
        c.gate(Gate::Swap, &[q, n - 1 - q]);
    }
    for l in 0..3 {
        for q in 0..n {
            c.gate(Gate::RZ(0.1 * (q + l) as f64), &[q]);
            c.gate(Gate::RX(0.7 + 0.05 * q as f64), &[q]);
        }
        for q in 0..n {
            c.cgate(Gate::X, &[q], &[(q + 1) % n]);
        }
    }
    let seed: Vec<f64> = (0..40).map(|i| (i as f64 * 1.37).sin() * 3.0).collect();
    for q in (0..n - 1).step_by(2) {
        c.gate(
            Gate::Unitary(Box::new(random_unitary(2, &seed))),
            &[q, (q + 3) % n],
        );
    }
    c
}

#[test]
fn benchmark_shaped_circuits_agree_on_every_path() {
    for n in [5usize, 9, 14, 16] {
        let c = bench_like(n);
        let reference = reference_state(&c);
        for fusion in [false, true] {
            for sparse in [SparseMode::Off, SparseMode::Always] {
                for parallel in [Some(false), Some(true)] {
                    let cfg = EngineConfig {
                        sparse,
                        parallel,
                        ..EngineConfig::default()
                    };
                    let s = final_state_with(&c, &opts(fusion), &cfg).unwrap();
                    let d = max_diff(&s.amplitudes(), &reference);
                    assert!(
                        d < 1e-10,
                        "n={n} fusion={fusion} {sparse:?} {parallel:?}: {d}"
                    );
                }
            }
        }
    }
}

/// Quantum-volume-shaped circuits: `layers` layers of dense 2-qubit unitaries on the disjoint
/// pairs of a shuffled qubit order (shuffled by `seed`), every unitary different.
fn quantum_volume(n: usize, layers: usize, seed: u64) -> Circuit {
    let mut c = Circuit::new(n, 0);
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..layers {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        for pair in order.chunks_exact(2) {
            let angles: Vec<f64> = (0..40).map(|_| (next() % 6283) as f64 / 1000.0).collect();
            c.gate(
                qws_sim::ir::Gate::Unitary(Box::new(random_unitary(2, &angles))),
                pair,
            );
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Fusion by cost merges neighbouring 2-qubit unitaries that share a qubit into 3-qubit
    /// blocks; the result must still be the circuit's state, in both precisions.
    #[test]
    fn quantum_volume_circuits_fused_by_cost_match_the_reference(
        n in 4usize..=9,
        layers in 1usize..=6,
        seed in any::<u64>(),
    ) {
        let c = quantum_volume(n, layers, seed);
        let reference = reference_state(&c);
        for precision in [Precision::Double, Precision::Single] {
            for parallel in [Some(false), Some(true)] {
                let cfg = EngineConfig {
                    sparse: SparseMode::Off,
                    parallel,
                    ..EngineConfig::default()
                };
                let o = RunOptions { precision: Some(precision), ..opts(true) };
                let s = final_state_with(&c, &o, &cfg).unwrap();
                let d = max_diff(&s.amplitudes(), &reference);
                let tol = if precision == Precision::Double { 1e-10 } else { 1e-5 };
                prop_assert!(d < tol, "{precision:?} {parallel:?}: max diff {d}");
            }
        }
    }
}
