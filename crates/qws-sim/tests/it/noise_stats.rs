//! Noisy trajectories reproduce the error rates of their model: each test isolates one channel
//! in a circuit whose ideal outcome is certain, runs many seeded shots and checks the measured
//! error rate against the model's prediction within six binomial standard deviations (the seeds
//! are fixed, so a run never flakes; the bound only has to hold for these seeds, and six sigma
//! leaves room for any future change of the sampling order).

use qws_sim::ir::{Circuit, Gate};
use qws_sim::noise::{run_noisy, NoiseModel};
use qws_sim::run::RunOptions;

const SHOTS: u64 = 20_000;

fn opts(seed: u64) -> RunOptions {
    RunOptions {
        shots: SHOTS,
        seed: Some(seed),
        ..RunOptions::default()
    }
}

/// Fraction of shots whose outcome (all bits as an integer) is not `ideal`.
fn error_rate(c: &Circuit, m: &NoiseModel, seed: u64, ideal: u64) -> f64 {
    let out = run_noisy(c, &opts(seed), m).unwrap();
    assert_eq!(out.shots.len() as u64, SHOTS);
    out.shots.iter().filter(|s| s.0[0] != ideal).count() as f64 / SHOTS as f64
}

fn assert_close(measured: f64, expected: f64, what: &str) {
    let sigma = (expected * (1.0 - expected) / SHOTS as f64).sqrt();
    assert!(
        (measured - expected).abs() <= 6.0 * sigma + 1e-12,
        "{what}: measured {measured}, model {expected} (σ {sigma})"
    );
}

#[test]
fn one_qubit_depolarizing_flips_two_thirds_of_its_errors() {
    // X then a random non-identity Pauli with probability p: X and Y undo the flip, Z does not.
    let p = 0.09;
    let m = NoiseModel {
        depolarizing_1q: p,
        ..NoiseModel::default()
    };
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::X, &[0]).measure(0, 0);
    assert_close(error_rate(&c, &m, 1, 1), 2.0 / 3.0 * p, "depolarizing 1q");
}

#[test]
fn two_qubit_depolarizing_flips_twelve_of_fifteen_paulis() {
    let p = 0.15;
    let m = NoiseModel {
        depolarizing_2q: p,
        ..NoiseModel::default()
    };
    let mut c = Circuit::new(2, 2);
    c.cgate(Gate::X, &[0], &[1]).measure(0, 0).measure(1, 1);
    assert_close(error_rate(&c, &m, 2, 0), 12.0 / 15.0 * p, "depolarizing 2q");
}

#[test]
fn per_gate_overrides_replace_the_global_rate() {
    let mut m = NoiseModel {
        depolarizing_1q: 0.5,
        ..NoiseModel::default()
    };
    m.gates.insert(
        "x".into(),
        qws_sim::noise::GateNoise {
            depolarizing: Some(0.03),
            ..Default::default()
        },
    );
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::X, &[0]).measure(0, 0);
    assert_close(error_rate(&c, &m, 3, 1), 0.02, "override on x");
    // An override names only what it changes: the global damping still applies to x.
    let mut m = NoiseModel {
        depolarizing_1q: 0.5,
        amplitude_damping: 0.1,
        ..NoiseModel::default()
    };
    m.gates.insert(
        "x".into(),
        qws_sim::noise::GateNoise {
            depolarizing: Some(0.0),
            ..Default::default()
        },
    );
    assert_close(error_rate(&c, &m, 14, 1), 0.1, "override keeps damping");
}

#[test]
fn amplitude_damping_decays_one_to_zero() {
    let gamma = 0.2;
    let m = NoiseModel {
        amplitude_damping: gamma,
        ..NoiseModel::default()
    };
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::X, &[0]).measure(0, 0);
    assert_close(error_rate(&c, &m, 4, 1), gamma, "amplitude damping");
    // A superposition decays by γ·P(1): H then damping gives P(1) = (1−γ)/2.
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::H, &[0]).measure(0, 0);
    let ones = run_noisy(&c, &opts(5), &m)
        .unwrap()
        .shots
        .iter()
        .filter(|s| s.0[0] == 1)
        .count() as f64
        / SHOTS as f64;
    assert_close(ones, (1.0 - gamma) / 2.0, "damped superposition");
}

#[test]
fn phase_damping_dephases_a_superposition() {
    // H, damping (on the H), H: the coherence left is √(1−λ), so P(1) = (1 − √(1−λ))/2 —
    // counting the damping of both H gates: two phase flips of p each.
    let lambda: f64 = 0.3;
    let m = NoiseModel {
        phase_damping: lambda,
        ..NoiseModel::default()
    };
    let p = (1.0 - (1.0 - lambda).sqrt()) / 2.0;
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::H, &[0]).gate(Gate::H, &[0]).measure(0, 0);
    // The second H's flip comes after it and does not change a Z measurement; only the first's.
    assert_close(error_rate(&c, &m, 6, 0), p, "phase damping");
}

#[test]
fn readout_and_preparation_errors() {
    let m = NoiseModel {
        readout_0to1: 0.04,
        readout_1to0: 0.11,
        ..NoiseModel::default()
    };
    let mut c = Circuit::new(1, 1);
    c.measure(0, 0);
    assert_close(error_rate(&c, &m, 7, 0), 0.04, "readout 0→1");
    let mut c = Circuit::new(1, 1);
    c.gate(Gate::X, &[0]).measure(0, 0);
    assert_close(error_rate(&c, &m, 8, 1), 0.11, "readout 1→0");
    let m = NoiseModel {
        init: 0.07,
        ..NoiseModel::default()
    };
    let mut c = Circuit::new(1, 1);
    c.measure(0, 0);
    assert_close(error_rate(&c, &m, 9, 0), 0.07, "preparation");
}

#[test]
fn memory_error_dephases_idle_qubits() {
    // Four qubits; qubit 3 stays in |+> while 20 CX gates act on 0 and 1. Each leaves it idle:
    // a Z with probability memory·2/4 each; H maps an odd number of them to outcome 1.
    let memory = 0.05;
    let m = NoiseModel {
        memory,
        ..NoiseModel::default()
    };
    let mut c = Circuit::new(4, 1);
    c.gate(Gate::H, &[3]);
    for _ in 0..20 {
        c.cgate(Gate::X, &[0], &[1]);
    }
    c.gate(Gate::H, &[3]).measure(3, 0);
    let q = memory * 2.0 / 4.0;
    let odd = (1.0 - (1.0 - 2.0 * q).powi(20)) / 2.0;
    assert_close(error_rate(&c, &m, 10, 0), odd, "memory");
}

#[test]
fn seeded_runs_repeat_and_the_ideal_model_is_exact() {
    let m = NoiseModel::quantinuum("H2-1").unwrap();
    let mut c = Circuit::new(2, 2);
    c.gate(Gate::H, &[0])
        .cgate(Gate::X, &[0], &[1])
        .measure(0, 0)
        .measure(1, 1);
    let a = run_noisy(&c, &opts(11), &m).unwrap();
    let b = run_noisy(&c, &opts(11), &m).unwrap();
    assert_eq!(a.shots, b.shots);
    let ideal = run_noisy(&c, &opts(12), &NoiseModel::default()).unwrap();
    assert!(ideal.shots.iter().all(|s| s.0[0] == 0 || s.0[0] == 3));
}

#[test]
fn h2_model_error_rate_on_a_long_circuit() {
    // 100 CX pairs (identity overall) on |00>: with H2-1's rates the chance of an error is
    // about 200·p2·12/15 plus readout; the measured rate sits there, far above zero.
    let m = NoiseModel::quantinuum("H2-1").unwrap();
    let mut c = Circuit::new(2, 2);
    for _ in 0..200 {
        c.cgate(Gate::X, &[0], &[1]);
    }
    c.measure(0, 0).measure(1, 1);
    let rate = error_rate(&c, &m, 13, 0);
    // Each depolarizing event flips the final outcome with probability 12/15 only to first
    // order (later CX gates propagate flips); bound the model loosely from both sides.
    let lower = 200.0 * m.depolarizing_2q * 0.5;
    let upper = 200.0 * m.depolarizing_2q + 2.0 * m.readout_0to1 + 0.01;
    assert!(
        rate > lower && rate < upper,
        "{rate} not in ({lower}, {upper})"
    );
}
