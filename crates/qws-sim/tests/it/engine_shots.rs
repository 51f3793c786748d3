//! Shots: sampled histograms against exact probabilities (fixed seed, total-variation bound),
//! determinism, the shot-by-shot path (mid-circuit measurement, reset, conditionals,
//! teleportation), and limits refused before anything is allocated.

use crate::common::*;
use proptest::prelude::*;
use qws_sim::ir::{Circuit, Condition, Gate, Op};
use qws_sim::run::{run, run_with, validate, EngineConfig, Limits, RunOptions, SparseMode};
use qws_sim::state::StateVector;
use qws_sim::SimError;
use std::collections::HashMap;

fn opts(shots: u64, seed: u64) -> RunOptions {
    RunOptions {
        shots,
        seed: Some(seed),
        ..RunOptions::default()
    }
}

fn histogram(out: &qws_sim::run::RunOutput, bits: usize) -> HashMap<usize, usize> {
    let mut h = HashMap::new();
    for s in &out.shots {
        let v = (0..bits).fold(0, |acc, b| acc | (s.get(b) as usize) << b);
        *h.entry(v).or_insert(0) += 1;
    }
    h
}

fn tv_distance(h: &HashMap<usize, usize>, probs: &[f64], shots: usize) -> f64 {
    0.5 * probs
        .iter()
        .enumerate()
        .map(|(i, p)| (*h.get(&i).unwrap_or(&0) as f64 / shots as f64 - p).abs())
        .sum::<f64>()
}

/// An always-true condition on no bits: forces the shot-by-shot path without changing the
/// circuit's meaning.
fn force_shot_by_shot(c: &mut Circuit) {
    c.ops.insert(
        0,
        Op::If {
            cond: Condition::Equals {
                bits: vec![],
                value: 0,
            },
            then_ops: vec![],
            else_ops: vec![],
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn sampled_histograms_match_exact_probabilities(mut c in random_circuit(5, 30), seed in 0u64..1000) {
        let probs: Vec<f64> = reference_state(&c).iter().map(|a| a.0 * a.0 + a.1 * a.1).collect();
        c.num_clbits = 5;
        for q in 0..5 {
            c.measure(q, q);
        }
        let shots = 20_000;
        // Expected TV distance for 32 outcomes and 20k shots is about 0.015; 0.05 is > 5 sigma.
        for sparse in [SparseMode::Off, SparseMode::Always] {
            let cfg = EngineConfig { sparse, ..EngineConfig::default() };
            let out = run_with(&c, &opts(shots, seed), &cfg).unwrap();
            prop_assert_eq!(out.shots.len(), shots as usize);
            let tv = tv_distance(&histogram(&out, 5), &probs, shots as usize);
            prop_assert!(tv < 0.05, "sampling ({sparse:?}) TV distance {tv}");
        }
        let mut slow = c.clone();
        force_shot_by_shot(&mut slow);
        let out = run(&slow, &opts(4_000, seed)).unwrap();
        let tv = tv_distance(&histogram(&out, 5), &probs, 4_000);
        prop_assert!(tv < 0.1, "shot by shot TV distance {tv}");
    }
}

#[test]
fn large_state_sampling_matches_exact_probabilities() {
    // 16 qubits: multithreaded dense sampling across many chunks.
    let n = 16;
    let mut c = Circuit::new(n, n);
    for q in 0..n {
        c.gate(Gate::RY(0.3 + 0.17 * q as f64), &[q]);
    }
    for q in 0..n - 1 {
        c.cgate(Gate::X, &[q], &[q + 1]);
    }
    let probs: Vec<f64> = reference_state(&c)
        .iter()
        .map(|a| a.0 * a.0 + a.1 * a.1)
        .collect();
    for q in 0..n {
        c.measure(q, q);
    }
    // Compare the marginal of every qubit (the full histogram is too sparse to test).
    let shots = 50_000usize;
    let out = run(&c, &opts(shots as u64, 3)).unwrap();
    for q in 0..n {
        let exact: f64 = probs
            .iter()
            .enumerate()
            .filter(|(i, _)| i >> q & 1 == 1)
            .map(|(_, p)| p)
            .sum();
        let seen = out.shots.iter().filter(|s| s.get(q)).count() as f64 / shots as f64;
        let sigma = (exact * (1.0 - exact) / shots as f64).sqrt();
        assert!(
            (seen - exact).abs() < 6.0 * sigma + 1e-9,
            "qubit {q}: {seen} vs {exact}"
        );
    }
}

#[test]
fn same_seed_same_shots_different_seed_different_shots() {
    let mut c = Circuit::new(6, 6);
    for q in 0..6 {
        c.gate(Gate::H, &[q]);
        c.measure(q, q);
    }
    let a = run(&c, &opts(200, 42)).unwrap();
    let b = run(&c, &opts(200, 42)).unwrap();
    let d = run(&c, &opts(200, 43)).unwrap();
    assert_eq!(a.shots, b.shots);
    assert_ne!(a.shots, d.shots);
    let mut slow = c.clone();
    force_shot_by_shot(&mut slow);
    let a = run(&slow, &opts(200, 42)).unwrap();
    let b = run(&slow, &opts(200, 42)).unwrap();
    assert_eq!(a.shots, b.shots);
}

#[test]
fn ghz_shots_are_all_zeros_or_all_ones() {
    for n in [3usize, 12, 24] {
        let mut c = Circuit::new(n, n);
        c.gate(Gate::H, &[0]);
        for q in 0..n - 1 {
            c.cgate(Gate::X, &[q], &[q + 1]);
        }
        for q in 0..n {
            c.measure(q, q);
        }
        let out = run(&c, &opts(1024, 9)).unwrap();
        let ones = out
            .shots
            .iter()
            .filter(|s| {
                let all = (0..n).all(|q| s.get(q));
                let none = (0..n).all(|q| !s.get(q));
                assert!(all || none, "GHZ shot with mixed bits");
                all
            })
            .count();
        // Binomial(1024, 1/2): 6 sigma = 96.
        assert!((ones as i64 - 512).abs() < 96, "{ones} ones of 1024");
    }
}

#[test]
fn mid_circuit_measurement_feeds_later_gates() {
    // H q0; measure q0 -> c0; CX q0 q1; measure q1 -> c1: c1 always equals c0.
    let mut c = Circuit::new(2, 2);
    c.gate(Gate::H, &[0]).measure(0, 0);
    c.cgate(Gate::X, &[0], &[1]).measure(1, 1);
    let out = run(&c, &opts(2000, 5)).unwrap();
    let ones = out.shots.iter().filter(|s| s.get(0)).count();
    assert!(out.shots.iter().all(|s| s.get(0) == s.get(1)));
    assert!((ones as i64 - 1000).abs() < 150);
}

#[test]
fn reset_returns_a_qubit_to_zero() {
    // X q0; measure -> c0 (always 1); reset q0; measure -> c1 (always 0).
    let mut c = Circuit::new(1, 2);
    c.gate(Gate::X, &[0]).measure(0, 0);
    c.ops.push(Op::Reset { qubit: 0 });
    c.measure(0, 1);
    let out = run(&c, &opts(100, 1)).unwrap();
    assert!(out.shots.iter().all(|s| s.get(0) && !s.get(1)));
    // H; reset; measure: always 0 (a reset of a used qubit is not a no-op).
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::H, &[0]);
    c.ops.push(Op::Reset { qubit: 0 });
    c.measure(0, 0);
    let out = run(&c, &opts(200, 2)).unwrap();
    assert!(out.shots.iter().all(|s| !s.get(0)));
    // A leading reset of a fresh qubit keeps the sampling path valid.
    let mut c = Circuit::new(1, 1);
    c.ops.push(Op::Reset { qubit: 0 });
    c.gate(Gate::X, &[0]).measure(0, 0);
    let out = run(&c, &opts(50, 2)).unwrap();
    assert!(out.shots.iter().all(|s| s.get(0)));
}

#[test]
fn teleportation_gives_the_teleported_distribution() {
    let theta: f64 = 1.1;
    let mut c = Circuit::new(3, 3);
    c.gate(Gate::RY(theta), &[0]);
    c.gate(Gate::H, &[1]).cgate(Gate::X, &[1], &[2]);
    c.cgate(Gate::X, &[0], &[1]).gate(Gate::H, &[0]);
    c.measure(0, 0).measure(1, 1);
    let if_bit = |bit: usize, gate: Gate| Op::If {
        cond: Condition::Equals {
            bits: vec![bit],
            value: 1,
        },
        then_ops: vec![Op::Gate(qws_sim::ir::GateOp::new(gate, vec![2]))],
        else_ops: vec![],
    };
    c.ops.push(if_bit(1, Gate::X));
    c.ops.push(if_bit(0, Gate::Z));
    c.measure(2, 2);
    let shots = 8000;
    let out = run(&c, &opts(shots, 11)).unwrap();
    let p1 = (theta / 2.0).sin().powi(2);
    let seen = out.shots.iter().filter(|s| s.get(2)).count() as f64 / shots as f64;
    let sigma = (p1 * (1.0 - p1) / shots as f64).sqrt();
    assert!((seen - p1).abs() < 5.0 * sigma, "{seen} vs {p1}");
    // The two Bell-measurement bits are uniform and independent of the teleported bit.
    let c0 = out.shots.iter().filter(|s| s.get(0)).count() as f64 / shots as f64;
    assert!((c0 - 0.5).abs() < 0.03);
    // Without the corrections the outcome is wrong (the test can fail).
    let mut broken = c.clone();
    broken.ops.retain(|op| !matches!(op, Op::If { .. }));
    let out = run(&broken, &opts(shots, 11)).unwrap();
    let seen_broken = out.shots.iter().filter(|s| s.get(2)).count() as f64 / shots as f64;
    assert!((seen_broken - 0.5).abs() < 0.03);
}

#[test]
fn else_branches_and_compound_conditions_run() {
    // c0 = 1 always; if (c0 == 0) X q1 else X q2; if (c0 == 1 && !(c0 == 0)) X q3.
    let mut c = Circuit::new(4, 4);
    c.gate(Gate::X, &[0]).measure(0, 0);
    let eq = |v| Condition::Equals {
        bits: vec![0],
        value: v,
    };
    let x = |q| Op::Gate(qws_sim::ir::GateOp::new(Gate::X, vec![q]));
    c.ops.push(Op::If {
        cond: eq(0),
        then_ops: vec![x(1)],
        else_ops: vec![x(2)],
    });
    c.ops.push(Op::If {
        cond: Condition::And(Box::new(eq(1)), Box::new(Condition::Not(Box::new(eq(0))))),
        then_ops: vec![x(3)],
        else_ops: vec![],
    });
    for q in 1..4 {
        c.measure(q, q);
    }
    let out = run(&c, &opts(20, 0)).unwrap();
    assert!(out
        .shots
        .iter()
        .all(|s| s.get(0) && !s.get(1) && s.get(2) && s.get(3)));
}

#[test]
fn limits_are_refused_before_allocating() {
    // 62 qubits with an unbounded qubit limit: the memory check must refuse it (allocating
    // 2^66 bytes would abort the process, so reaching the assertion proves nothing was tried).
    let limits = Limits {
        max_qubits: 64,
        max_memory_bytes: u64::MAX,
        ..Limits::default()
    };
    let mut c = Circuit::new(62, 1);
    c.gate(Gate::H, &[0]).measure(0, 0);
    assert!(matches!(validate(&c, &limits), Err(SimError::Limit(_))));
    let o = RunOptions {
        limits: limits.clone(),
        ..opts(1, 1)
    };
    assert!(matches!(run(&c, &o), Err(SimError::Limit(_))));
    assert!(matches!(
        qws_sim::run::final_state(&Circuit::new(62, 0), &o),
        Err(SimError::Limit(_))
    ));
    // Default limits: 29 qubits exceed max_qubits; 27 qubits in double precision exceed a
    // 1 GiB budget, and 28 qubits exceed it in either precision.
    assert!(matches!(
        run(&Circuit::new(29, 0), &opts(1, 1)),
        Err(SimError::Limit(_))
    ));
    let small = RunOptions {
        limits: Limits {
            max_memory_bytes: 1 << 30,
            ..Limits::default()
        },
        precision: Some(qws_sim::Precision::Double),
        ..opts(1, 1)
    };
    assert!(matches!(
        run(&Circuit::new(27, 0), &small),
        Err(SimError::Limit(_))
    ));
    let default_precision = RunOptions {
        precision: None,
        ..small.clone()
    };
    assert!(matches!(
        run(&Circuit::new(28, 0), &default_precision),
        Err(SimError::Limit(_))
    ));
    // Too many shots.
    assert!(matches!(
        run(&Circuit::new(1, 0), &opts(10_000_000, 1)),
        Err(SimError::Limit(_))
    ));
    // A failed allocation is an error, not an abort.
    assert!(matches!(StateVector::try_new(60), Err(SimError::Limit(_))));
}

#[test]
fn zero_shots_and_measurement_free_circuits() {
    let mut c = Circuit::new(2, 0);
    c.gate(Gate::H, &[0]);
    assert_eq!(run(&c, &opts(0, 1)).unwrap().shots.len(), 0);
    let out = run(&c, &opts(3, 1)).unwrap();
    assert_eq!(out.shots.len(), 3);
    assert!(out.shots.iter().all(|s| s.0.is_empty()));
}
