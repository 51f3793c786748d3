//! Every gate against its textbook matrix, written out here rather than taken from
//! `Gate::matrix()` or the reference kernel (both product code): a wrong sign or a swapped
//! entry in a gate definition fails this test, through both kernel families, also when the gate
//! sits on non-adjacent, out-of-order qubits and under a control.

use crate::common::*;
use qws_sim::ir::{Gate, GateOp};
use qws_sim::state::{Amp, StateVector};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

type M = Vec<Vec<Amp>>; // rows

fn c(re: f64, im: f64) -> Amp {
    (re, im)
}

/// e^{iθ}
fn e(theta: f64) -> Amp {
    (theta.cos(), theta.sin())
}

fn mul(a: Amp, b: Amp) -> Amp {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn s(k: f64, a: Amp) -> Amp {
    (k * a.0, k * a.1)
}

const O: Amp = (0.0, 0.0);
const I1: Amp = (1.0, 0.0);
const NEG_I: Amp = (0.0, -1.0);

/// Converts a two-qubit matrix written in the textbook big-endian basis |q0 q1> (q0 the most
/// significant) to the engine's order, where targets[0] is the least significant bit.
fn from_big_endian(m: [[Amp; 4]; 4]) -> M {
    let rev = |i: usize| ((i & 1) << 1) | (i >> 1);
    (0..4)
        .map(|r| (0..4).map(|col| m[rev(r)][rev(col)]).collect())
        .collect()
}

/// The textbook matrix of `gate` (rows, targets[0] the least significant bit).
fn textbook(gate: &Gate) -> M {
    let h = FRAC_1_SQRT_2;
    let one = |m: [[Amp; 2]; 2]| m.iter().map(|r| r.to_vec()).collect::<M>();
    match *gate {
        Gate::I => one([[I1, O], [O, I1]]),
        Gate::X => one([[O, I1], [I1, O]]),
        Gate::Y => one([[O, c(0.0, -1.0)], [c(0.0, 1.0), O]]),
        Gate::Z => one([[I1, O], [O, c(-1.0, 0.0)]]),
        Gate::H => one([[c(h, 0.0), c(h, 0.0)], [c(h, 0.0), c(-h, 0.0)]]),
        Gate::S => one([[I1, O], [O, c(0.0, 1.0)]]),
        Gate::Sdg => one([[I1, O], [O, c(0.0, -1.0)]]),
        Gate::T => one([[I1, O], [O, c(h, h)]]),
        Gate::Tdg => one([[I1, O], [O, c(h, -h)]]),
        // √X = ½[[1+i, 1−i], [1−i, 1+i]]
        Gate::SX => one([[c(0.5, 0.5), c(0.5, -0.5)], [c(0.5, -0.5), c(0.5, 0.5)]]),
        Gate::SXdg => one([[c(0.5, -0.5), c(0.5, 0.5)], [c(0.5, 0.5), c(0.5, -0.5)]]),
        Gate::RX(t) => {
            let (co, si) = ((t / 2.0).cos(), (t / 2.0).sin());
            one([[c(co, 0.0), c(0.0, -si)], [c(0.0, -si), c(co, 0.0)]])
        }
        Gate::RY(t) => {
            let (co, si) = ((t / 2.0).cos(), (t / 2.0).sin());
            one([[c(co, 0.0), c(-si, 0.0)], [c(si, 0.0), c(co, 0.0)]])
        }
        Gate::RZ(t) => one([[e(-t / 2.0), O], [O, e(t / 2.0)]]),
        Gate::Phase(t) => one([[I1, O], [O, e(t)]]),
        // qiskit / OpenQASM 3 U(θ, φ, λ)
        Gate::U(t, p, l) => {
            let (co, si) = ((t / 2.0).cos(), (t / 2.0).sin());
            one([[c(co, 0.0), s(-si, e(l))], [s(si, e(p)), s(co, e(p + l))]])
        }
        // IonQ native gates
        Gate::GPI(p) => one([[O, e(-p)], [e(p), O]]),
        Gate::GPI2(p) => one([
            [c(h, 0.0), s(h, mul(NEG_I, e(-p)))],
            [s(h, mul(NEG_I, e(p))), c(h, 0.0)],
        ]),
        Gate::Swap => from_big_endian([[I1, O, O, O], [O, O, I1, O], [O, I1, O, O], [O, O, O, I1]]),
        Gate::ISwap => {
            let i = c(0.0, 1.0);
            from_big_endian([[I1, O, O, O], [O, O, i, O], [O, i, O, O], [O, O, O, I1]])
        }
        // exp(−iθ/2 P⊗P)
        Gate::RXX(t) => {
            let (co, mi) = (c((t / 2.0).cos(), 0.0), c(0.0, -(t / 2.0).sin()));
            from_big_endian([
                [co, O, O, mi],
                [O, co, mi, O],
                [O, mi, co, O],
                [mi, O, O, co],
            ])
        }
        Gate::RYY(t) => {
            let (co, si) = ((t / 2.0).cos(), (t / 2.0).sin());
            let (co, p, m) = (c(co, 0.0), c(0.0, si), c(0.0, -si));
            from_big_endian([[co, O, O, p], [O, co, m, O], [O, m, co, O], [p, O, O, co]])
        }
        Gate::RZZ(t) => {
            let (a, b) = (e(-t / 2.0), e(t / 2.0));
            from_big_endian([[a, O, O, O], [O, b, O, O], [O, O, b, O], [O, O, O, a]])
        }
        // IonQ's MS(φ0, φ1, θ), as IonQ writes it (big-endian, q0 first).
        Gate::MS(p0, p1, t) => {
            let (co, si) = (c((t / 2.0).cos(), 0.0), (t / 2.0).sin());
            let off = |phase: f64| s(si, mul(NEG_I, e(phase)));
            from_big_endian([
                [co, O, O, off(-(p0 + p1))],
                [O, co, off(-(p0 - p1)), O],
                [O, off(p0 - p1), co, O],
                [off(p0 + p1), O, O, co],
            ])
        }
        ref other => panic!("no textbook matrix for {other:?}"),
    }
}

fn all_gates() -> Vec<Gate> {
    let mut gates = vec![
        Gate::I,
        Gate::X,
        Gate::Y,
        Gate::Z,
        Gate::H,
        Gate::S,
        Gate::Sdg,
        Gate::T,
        Gate::Tdg,
        Gate::SX,
        Gate::SXdg,
        Gate::Swap,
        Gate::ISwap,
    ];
    // Angles that are not symmetric under sign or swap, so a swapped argument shows.
    for &a in &[0.37, -1.9, PI / 3.0] {
        gates.extend([
            Gate::RX(a),
            Gate::RY(a),
            Gate::RZ(a),
            Gate::Phase(a),
            Gate::U(a, 0.61, -1.23),
            Gate::U(1.1, a, 0.4),
            Gate::GPI(a),
            Gate::GPI2(a),
            Gate::RXX(a),
            Gate::RYY(a),
            Gate::RZZ(a),
            Gate::MS(a, 0.29, 1.3),
            Gate::MS(0.8, a, PI / 2.0),
        ]);
    }
    gates
}

/// The matrix (rows) of `m` on `targets` of an `n`-qubit register, identity unless every
/// `controls` bit is set, built here by bit arithmetic.
fn embed(m: &M, targets: &[usize], controls: &[usize], n: usize) -> M {
    let dim = 1usize << n;
    let sub = |x: usize| -> usize {
        targets
            .iter()
            .enumerate()
            .fold(0, |acc, (i, &q)| acc | ((x >> q) & 1) << i)
    };
    let tmask = targets.iter().fold(0, |a, &q| a | 1 << q);
    let cmask = controls.iter().fold(0, |a, &q| a | 1 << q);
    (0..dim)
        .map(|r| {
            (0..dim)
                .map(|col| {
                    if r & !tmask != col & !tmask {
                        O
                    } else if col & cmask != cmask {
                        if r == col {
                            I1
                        } else {
                            O
                        }
                    } else {
                        m[sub(r)][sub(col)]
                    }
                })
                .collect()
        })
        .collect()
}

/// The matrix (rows) the engine applies for `op` on `n` qubits, one basis state at a time.
fn engine_matrix(n: usize, op: &GateOp, kernels: Kernels) -> M {
    let dim = 1usize << n;
    let cols: Vec<Vec<Amp>> = (0..dim)
        .map(|col| {
            let mut amps = vec![O; dim];
            amps[col] = I1;
            let mut sv = StateVector::from_amplitudes(amps).unwrap();
            with_kernels(kernels, || sv.apply(op));
            sv.amplitudes().to_vec()
        })
        .collect();
    (0..dim)
        .map(|r| (0..dim).map(|col| cols[col][r]).collect())
        .collect()
}

fn assert_close(got: &M, want: &M, what: &str) {
    for (r, (gr, wr)) in got.iter().zip(want).enumerate() {
        for (col, (g, w)) in gr.iter().zip(wr).enumerate() {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && (g.1 - w.1).abs() < 1e-12,
                "{what}: entry ({r},{col}) is {g:?}, textbook says {w:?}"
            );
        }
    }
}

#[test]
fn gate_definitions_are_the_textbook_matrices() {
    for gate in all_gates() {
        let want = textbook(&gate);
        let m = gate.matrix();
        let got: M = (0..m.dim)
            .map(|r| m.data[r * m.dim..(r + 1) * m.dim].to_vec())
            .collect();
        assert_close(&got, &want, &format!("{gate:?}.matrix()"));
    }
}

#[test]
fn kernels_apply_the_textbook_matrices() {
    for kernels in kernel_choices() {
        for gate in all_gates() {
            let want = textbook(&gate);
            let k = gate.num_targets();
            // On the lowest qubits, then on spread-out, reversed qubits of a 4-qubit register.
            let placements: Vec<Vec<usize>> = if k == 1 {
                vec![vec![0], vec![2]]
            } else {
                vec![vec![0, 1], vec![3, 1], vec![0, 2]]
            };
            for targets in placements {
                let op = GateOp::new(gate.clone(), targets.clone());
                let got = engine_matrix(4, &op, kernels);
                let what = format!("{kernels:?} {gate:?} on {targets:?}");
                assert_close(&got, &embed(&want, &targets, &[], 4), &what);
            }
        }
    }
}

#[test]
fn controlled_gates_apply_the_textbook_matrix_only_where_controls_are_set() {
    for kernels in kernel_choices() {
        for gate in all_gates() {
            let want = textbook(&gate);
            let (targets, controls) = if gate.num_targets() == 1 {
                (vec![1], vec![3, 0])
            } else {
                (vec![2, 0], vec![3])
            };
            let op = GateOp::controlled(gate.clone(), controls.clone(), targets.clone());
            let got = engine_matrix(4, &op, kernels);
            let what = format!("{kernels:?} ctrl{controls:?} {gate:?} on {targets:?}");
            assert_close(&got, &embed(&want, &targets, &controls, 4), &what);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn portable_kernel_choice_is_per_thread() {
    use qws_sim::engine::simd;
    use std::sync::mpsc;
    // While another thread is inside `with_portable_kernels`, this thread keeps its choice.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            simd::with_portable_kernels(|| {
                assert!(!simd::available());
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        });
        entered_rx.recv().unwrap();
        assert_eq!(simd::available(), simd::cpu_has_simd());
        release_tx.send(()).unwrap();
    });
    // And the choice is restored when the closure ends.
    simd::with_portable_kernels(|| assert!(!simd::available()));
    assert_eq!(simd::available(), simd::cpu_has_simd());
}
