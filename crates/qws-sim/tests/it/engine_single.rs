//! Single precision: every kernel (portable and SIMD), fused circuits and threaded runs in
//! `f32` against the double-precision reference, and sampling from an `f32` state.

use crate::common::*;
use proptest::prelude::*;
use qws_sim::ir::{Circuit, Gate, GateOp};
use qws_sim::run::{final_state_with, run, EngineConfig, RunOptions, SparseMode};
use qws_sim::state::StateVector;
use qws_sim::Precision;

/// Rounding bound of a few gates in single precision on a normalised state.
const SINGLE_TOL: f64 = 2e-6;

fn single(fusion: bool) -> RunOptions {
    RunOptions {
        fusion,
        precision: Some(Precision::Single),
        ..RunOptions::default()
    }
}

/// 1 - |<a|b>|^2 for normalised states.
fn infidelity(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        re += x.0 * y.0 + x.1 * y.1;
        im += x.0 * y.1 - x.1 * y.0;
    }
    1.0 - (re * re + im * im)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_single_precision_kernel_matches_the_reference(
        (_n, op, amps) in (3usize..=7).prop_flat_map(|n| (Just(n), any_gate_op(n), random_state(n)))
    ) {
        let mut slow = StateVector::from_amplitudes(amps.clone()).unwrap();
        slow.apply_reference(&op);
        for kernels in kernel_choices() {
            let mut fast = StateVector::from_amplitudes_with(amps.clone(), Precision::Single).unwrap();
            prop_assert_eq!(fast.precision(), Precision::Single);
            with_kernels(kernels, || fast.apply(&op));
            let d = max_diff(&fast.amplitudes(), &slow.amplitudes());
            prop_assert!(d < SINGLE_TOL, "{:?} {:?}: max diff {}", kernels, op, d);
        }
    }

    #[test]
    fn single_precision_threads_equal_one_thread(op in any_gate_op(15)) {
        let mut start = StateVector::try_new_with(15, Precision::Single).unwrap();
        for q in 0..15 {
            start.apply(&GateOp::new(Gate::RY(0.3 + q as f64), vec![q]));
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
            prop_assert!(d < 1e-6, "{:?} {:?}: max diff {}", kernels, op, d);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn single_precision_circuits_keep_the_fidelity(c in (3usize..=7).prop_flat_map(|n| random_circuit(n, 40))) {
        let reference = reference_state(&c);
        for fusion in [false, true] {
            for kernels in kernel_choices() {
                let cfg = EngineConfig { sparse: SparseMode::Off, ..EngineConfig::default() };
                let s = with_kernels(kernels, || final_state_with(&c, &single(fusion), &cfg).unwrap());
                prop_assert_eq!(s.precision(), Precision::Single);
                let amps = s.amplitudes();
                let d = max_diff(&amps, &reference);
                let inf = infidelity(&amps, &reference);
                prop_assert!(d < 1e-5 && inf < 1e-5, "fusion={} {:?}: max diff {}, infidelity {}", fusion, kernels, d, inf);
            }
        }
    }
}

#[test]
fn single_precision_large_circuit_keeps_the_fidelity() {
    // 16 qubits (threaded kernels, every SIMD layout) of rotations, CX and fused blocks.
    let n = 16;
    let mut c = Circuit::new(n, 0);
    for l in 0..6 {
        for q in 0..n {
            c.gate(Gate::U(0.3 + 0.1 * q as f64, 0.2 * l as f64, 0.7), &[q]);
        }
        for q in (l % 2..n - 1).step_by(2) {
            c.cgate(Gate::X, &[q], &[q + 1]);
        }
        c.cgate(Gate::Phase(0.4), &[0], &[n - 1]);
    }
    let reference = reference_state(&c);
    for sparse in [SparseMode::Off, SparseMode::Always] {
        let cfg = EngineConfig {
            sparse,
            ..EngineConfig::default()
        };
        let s = final_state_with(&c, &single(true), &cfg).unwrap();
        let inf = infidelity(&s.amplitudes(), &reference);
        assert!(inf < 1e-5, "{sparse:?}: infidelity {inf}");
        assert!((s.norm_sqr() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn single_precision_samples_like_double() {
    // Uniform superposition on 14 qubits: every probability is exactly 2^-14 in both
    // precisions, so the same seed draws the same shots.
    let n = 14;
    let mut c = Circuit::new(n, n);
    for q in 0..n {
        c.gate(Gate::H, &[q]);
    }
    for q in 0..n {
        c.measure(q, q);
    }
    let double = RunOptions {
        shots: 500,
        seed: Some(9),
        precision: Some(Precision::Double),
        ..RunOptions::default()
    };
    let single = RunOptions {
        precision: Some(Precision::Single),
        ..double.clone()
    };
    let a = run(&c, &double).unwrap();
    let b = run(&c, &single).unwrap();
    assert_eq!(a.shots, b.shots);
    // Not all the same outcome: the draws really spread over the states.
    assert!(a.shots.iter().any(|s| *s != a.shots[0]));
}

#[test]
fn default_precision_follows_the_memory_budget() {
    let mut opts = RunOptions::default();
    opts.limits.max_memory_bytes = 1 << 20; // 1 MiB: 16 qubits fit in double, 17 only in single
    assert_eq!(opts.precision_for(16), Precision::Double);
    assert_eq!(opts.precision_for(17), Precision::Single);
    let s = final_state_with(
        &Circuit::new(17, 0),
        &opts,
        &EngineConfig {
            sparse: SparseMode::Off,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    assert_eq!(s.precision(), Precision::Single);
    // Asking for double where it does not fit is a limit error, not an allocation.
    opts.precision = Some(Precision::Double);
    assert!(matches!(
        final_state_with(&Circuit::new(17, 0), &opts, &EngineConfig::default()),
        Err(qws_sim::SimError::Limit(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Dense blocks whose qubits are all 3 or higher: on a CPU with AVX-512 the SIMD choice runs
    /// the 512-bit kernels (eight single- or four double-precision blocks per vector); checked
    /// against the portable double-precision kernel on the same random state and matrix.
    #[test]
    fn dense_blocks_above_qubit_two_match_in_both_precisions(
        (qubits, matrix, amps) in (6usize..=9, 1usize..=5).prop_flat_map(|(n, k)| (
            Just((3..n).collect::<Vec<usize>>()).prop_shuffle().prop_map(move |q| q[..k.min(n - 3)].to_vec()),
            proptest::collection::vec((-1.0f64..1.0, -1.0f64..1.0), 1 << (2 * k.min(n - 3))),
            random_state(n),
        ))
    ) {
        let dim = 1usize << qubits.len();
        let scale = 1.0 / dim as f64;
        let matrix: Vec<(f64, f64)> = matrix.iter().map(|a| (a.0 * scale, a.1 * scale)).collect();
        let op = qws_sim::engine::fusion::FusedOp::Dense { qubits: qubits.clone(), matrix };
        let mut slow = StateVector::from_amplitudes(amps.clone()).unwrap();
        with_kernels(Kernels::Portable, || slow.apply_fused(&op));
        for kernels in kernel_choices() {
            for (precision, tol) in [(Precision::Single, SINGLE_TOL), (Precision::Double, 1e-12)] {
                let mut fast = StateVector::from_amplitudes_with(amps.clone(), precision).unwrap();
                with_kernels(kernels, || fast.apply_fused(&op));
                let d = max_diff(&fast.amplitudes(), &slow.amplitudes());
                prop_assert!(d < tol, "{:?} {:?} {:?}: max diff {}", kernels, precision, qubits, d);
            }
        }
    }
}
