//! Gate matrices are unitary (also in controlled form), known identities hold through the
//! fast kernels, and random circuits preserve the norm.

use crate::common::*;
use proptest::prelude::*;
use qws_sim::ir::{Gate, GateOp};
use qws_sim::state::{Amp, StateVector};
use std::f64::consts::PI;

/// The `2^n x 2^n` matrix (column-major as a list of columns) of a gate sequence, built by
/// running each basis state through the fast kernels.
fn sequence_matrix(n: usize, ops: &[GateOp]) -> Vec<Vec<Amp>> {
    (0..1usize << n)
        .map(|c| {
            let mut col = vec![(0.0, 0.0); 1 << n];
            col[c] = (1.0, 0.0);
            let mut sv = StateVector::from_amplitudes(col).unwrap();
            for op in ops {
                sv.apply(op);
            }
            sv.amplitudes().to_vec()
        })
        .collect()
}

fn assert_unitary(cols: &[Vec<Amp>]) {
    for (i, a) in cols.iter().enumerate() {
        for (j, b) in cols.iter().enumerate() {
            let dot = a.iter().zip(b).fold((0.0, 0.0), |acc, (x, y)| {
                (acc.0 + x.0 * y.0 + x.1 * y.1, acc.1 + x.0 * y.1 - x.1 * y.0)
            });
            let want = if i == j { 1.0 } else { 0.0 };
            assert!(
                (dot.0 - want).abs() < 1e-12 && dot.1.abs() < 1e-12,
                "columns {i},{j}: {dot:?}"
            );
        }
    }
}

/// Equal up to a global phase when `up_to_phase`, else exactly (within rounding).
fn assert_same(a: &[Vec<Amp>], b: &[Vec<Amp>], up_to_phase: bool) {
    let flat_a: Vec<Amp> = a.iter().flatten().copied().collect();
    let flat_b: Vec<Amp> = b.iter().flatten().copied().collect();
    let phase = if up_to_phase {
        let k = flat_b
            .iter()
            .position(|x| x.0.hypot(x.1) > 1e-6)
            .expect("non-zero");
        let (x, y) = (flat_a[k], flat_b[k]);
        let d = y.0 * y.0 + y.1 * y.1;
        ((x.0 * y.0 + x.1 * y.1) / d, (x.1 * y.0 - x.0 * y.1) / d)
    } else {
        (1.0, 0.0)
    };
    for (x, y) in flat_a.iter().zip(&flat_b) {
        let z = (y.0 * phase.0 - y.1 * phase.1, y.0 * phase.1 + y.1 * phase.0);
        assert!(
            (x.0 - z.0).abs() < 1e-12 && (x.1 - z.1).abs() < 1e-12,
            "{x:?} != {z:?}"
        );
    }
}

fn g(gate: Gate, t: &[usize]) -> GateOp {
    GateOp::new(gate, t.to_vec())
}

fn cg(gate: Gate, c: &[usize], t: &[usize]) -> GateOp {
    GateOp::controlled(gate, c.to_vec(), t.to_vec())
}

proptest! {
    #[test]
    fn every_gate_is_unitary_also_controlled(op in any_gate_op(4)) {
        assert_unitary(&sequence_matrix(4, std::slice::from_ref(&op)));
        // Its bare matrix, too.
        let m = op.gate.matrix();
        let cols: Vec<Vec<Amp>> = (0..m.dim)
            .map(|c| (0..m.dim).map(|r| m.data[r * m.dim + c]).collect())
            .collect();
        assert_unitary(&cols);
    }

    #[test]
    fn random_circuits_preserve_the_norm(c in random_circuit(6, 60)) {
        let mut sv = StateVector::new(6);
        for op in &c.ops {
            if let qws_sim::ir::Op::Gate(g) = op {
                sv.apply(g);
            }
        }
        prop_assert!((sv.norm_sqr() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rotations_compose(a in angle(), b in angle()) {
        for (ga, gb, gab) in [
            (Gate::RX(a), Gate::RX(b), Gate::RX(a + b)),
            (Gate::RY(a), Gate::RY(b), Gate::RY(a + b)),
            (Gate::RZ(a), Gate::RZ(b), Gate::RZ(a + b)),
            (Gate::Phase(a), Gate::Phase(b), Gate::Phase(a + b)),
        ] {
            assert_same(
                &sequence_matrix(1, &[g(ga, &[0]), g(gb, &[0])]),
                &sequence_matrix(1, &[g(gab, &[0])]),
                false,
            );
        }
    }
}

#[test]
fn known_identities_hold() {
    let h = |q| g(Gate::H, &[q]);
    // HZH = X
    assert_same(
        &sequence_matrix(1, &[h(0), g(Gate::Z, &[0]), h(0)]),
        &sequence_matrix(1, &[g(Gate::X, &[0])]),
        false,
    );
    // HXH = Z
    assert_same(
        &sequence_matrix(1, &[h(0), g(Gate::X, &[0]), h(0)]),
        &sequence_matrix(1, &[g(Gate::Z, &[0])]),
        false,
    );
    // CX = (I⊗H) CZ (I⊗H)
    assert_same(
        &sequence_matrix(2, &[h(1), cg(Gate::Z, &[0], &[1]), h(1)]),
        &sequence_matrix(2, &[cg(Gate::X, &[0], &[1])]),
        false,
    );
    // SWAP = CX CX CX
    assert_same(
        &sequence_matrix(
            2,
            &[
                cg(Gate::X, &[0], &[1]),
                cg(Gate::X, &[1], &[0]),
                cg(Gate::X, &[0], &[1]),
            ],
        ),
        &sequence_matrix(2, &[g(Gate::Swap, &[0, 1])]),
        false,
    );
    // S^2 = Z, T^2 = S, SX^2 = X, S Sdg = I, T Tdg = I
    let one = |gs: &[Gate]| -> Vec<Vec<Amp>> {
        let ops: Vec<GateOp> = gs.iter().cloned().map(|x| g(x, &[0])).collect();
        sequence_matrix(1, &ops)
    };
    assert_same(&one(&[Gate::S, Gate::S]), &one(&[Gate::Z]), false);
    assert_same(&one(&[Gate::T, Gate::T]), &one(&[Gate::S]), false);
    assert_same(&one(&[Gate::SX, Gate::SX]), &one(&[Gate::X]), false);
    assert_same(&one(&[Gate::S, Gate::Sdg]), &one(&[Gate::I]), false);
    assert_same(&one(&[Gate::T, Gate::Tdg]), &one(&[Gate::I]), false);
    assert_same(&one(&[Gate::SX, Gate::SXdg]), &one(&[Gate::I]), false);
    // RX(2π) = −I exactly (not just up to phase).
    let minus_i: Vec<Vec<Amp>> = one(&[Gate::I])
        .into_iter()
        .map(|c| c.into_iter().map(|a| (-a.0, -a.1)).collect())
        .collect();
    assert_same(&one(&[Gate::RX(2.0 * PI)]), &minus_i, false);
    assert_same(&one(&[Gate::RY(2.0 * PI)]), &minus_i, false);
    // Y = iXZ
    assert_same(&one(&[Gate::Z, Gate::X]), &one(&[Gate::Y]), true);
    // U(π/2, 0, π) = H
    assert_same(&one(&[Gate::U(PI / 2.0, 0.0, PI)]), &one(&[Gate::H]), false);
    // CCX applied twice is the identity; CCX flips only |11x>.
    let ccx = cg(Gate::X, &[0, 1], &[2]);
    assert_same(
        &sequence_matrix(3, &[ccx.clone(), ccx.clone()]),
        &sequence_matrix(3, &[]),
        false,
    );
    let m = sequence_matrix(3, &[ccx]);
    assert_eq!(m[0b011][0b111], (1.0, 0.0));
    assert_eq!(m[0b111][0b011], (1.0, 0.0));
    assert_eq!(m[0b001][0b001], (1.0, 0.0));
    // A controlled global phase is a phase on the control subspace: ctrl@gphase(θ) = P(θ).
    assert_same(
        &sequence_matrix(1, &[cg(Gate::GlobalPhase(0.7), &[0], &[])]),
        &sequence_matrix(1, &[g(Gate::Phase(0.7), &[0])]),
        false,
    );
    // RZZ(θ) = CX RZ(θ) CX
    assert_same(
        &sequence_matrix(2, &[g(Gate::RZZ(0.9), &[0, 1])]),
        &sequence_matrix(
            2,
            &[
                cg(Gate::X, &[0], &[1]),
                g(Gate::RZ(0.9), &[1]),
                cg(Gate::X, &[0], &[1]),
            ],
        ),
        false,
    );
}
