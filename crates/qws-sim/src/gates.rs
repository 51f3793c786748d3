//! Matrices of the base gates. The reference for every specialised kernel: a fast path must
//! give the same amplitudes as applying `Gate::matrix()` (tested in the engine's property tests).

use crate::ir::{Gate, Matrix};
use std::f64::consts::FRAC_1_SQRT_2;

type C = (f64, f64);

const ZERO: C = (0.0, 0.0);
const ONE: C = (1.0, 0.0);

fn cis(theta: f64) -> C {
    (theta.cos(), theta.sin())
}

fn scale(a: C, s: f64) -> C {
    (a.0 * s, a.1 * s)
}

/// -i * a
fn mul_neg_i(a: C) -> C {
    (a.1, -a.0)
}

fn m2(a: C, b: C, c: C, d: C) -> Matrix {
    Matrix {
        dim: 2,
        data: vec![a, b, c, d],
    }
}

fn diag(entries: &[C]) -> Matrix {
    let dim = entries.len();
    let mut data = vec![ZERO; dim * dim];
    for (i, e) in entries.iter().enumerate() {
        data[i * dim + i] = *e;
    }
    Matrix { dim, data }
}

impl Gate {
    /// The gate's unitary on its targets (targets[0] = least significant index bit).
    /// `GlobalPhase` gives the 1x1 matrix `[e^{iθ}]`.
    pub fn matrix(&self) -> Matrix {
        let h = FRAC_1_SQRT_2;
        match self {
            Gate::I => diag(&[ONE, ONE]),
            Gate::X => m2(ZERO, ONE, ONE, ZERO),
            Gate::Y => m2(ZERO, (0.0, -1.0), (0.0, 1.0), ZERO),
            Gate::Z => diag(&[ONE, (-1.0, 0.0)]),
            Gate::H => m2((h, 0.0), (h, 0.0), (h, 0.0), (-h, 0.0)),
            Gate::S => diag(&[ONE, (0.0, 1.0)]),
            Gate::Sdg => diag(&[ONE, (0.0, -1.0)]),
            Gate::T => diag(&[ONE, cis(std::f64::consts::FRAC_PI_4)]),
            Gate::Tdg => diag(&[ONE, cis(-std::f64::consts::FRAC_PI_4)]),
            Gate::SX => m2((0.5, 0.5), (0.5, -0.5), (0.5, -0.5), (0.5, 0.5)),
            Gate::SXdg => m2((0.5, -0.5), (0.5, 0.5), (0.5, 0.5), (0.5, -0.5)),
            Gate::RX(t) => {
                let (c, s) = ((t / 2.0).cos(), (t / 2.0).sin());
                m2((c, 0.0), (0.0, -s), (0.0, -s), (c, 0.0))
            }
            Gate::RY(t) => {
                let (c, s) = ((t / 2.0).cos(), (t / 2.0).sin());
                m2((c, 0.0), (-s, 0.0), (s, 0.0), (c, 0.0))
            }
            Gate::RZ(t) => diag(&[cis(-t / 2.0), cis(t / 2.0)]),
            Gate::Phase(t) => diag(&[ONE, cis(*t)]),
            Gate::U(theta, phi, lambda) => {
                let (c, s) = ((theta / 2.0).cos(), (theta / 2.0).sin());
                m2(
                    (c, 0.0),
                    scale(cis(*lambda), -s),
                    scale(cis(*phi), s),
                    scale(cis(phi + lambda), c),
                )
            }
            Gate::GPI(phi) => m2(ZERO, cis(-phi), cis(*phi), ZERO),
            Gate::GPI2(phi) => m2(
                (h, 0.0),
                scale(mul_neg_i(cis(-phi)), h),
                scale(mul_neg_i(cis(*phi)), h),
                (h, 0.0),
            ),
            Gate::Swap => {
                let mut d = vec![ZERO; 16];
                d[0] = ONE;
                d[4 + 2] = ONE;
                d[2 * 4 + 1] = ONE;
                d[15] = ONE;
                Matrix { dim: 4, data: d }
            }
            Gate::ISwap => {
                let mut d = vec![ZERO; 16];
                d[0] = ONE;
                d[4 + 2] = (0.0, 1.0);
                d[2 * 4 + 1] = (0.0, 1.0);
                d[15] = ONE;
                Matrix { dim: 4, data: d }
            }
            Gate::RXX(t) => {
                let (c, s) = ((t / 2.0).cos(), (t / 2.0).sin());
                let mut d = vec![ZERO; 16];
                for i in 0..4 {
                    d[i * 4 + i] = (c, 0.0);
                    d[i * 4 + (3 - i)] = (0.0, -s);
                }
                Matrix { dim: 4, data: d }
            }
            Gate::RYY(t) => {
                let (c, s) = ((t / 2.0).cos(), (t / 2.0).sin());
                let mut d = vec![ZERO; 16];
                for i in 0..4 {
                    d[i * 4 + i] = (c, 0.0);
                }
                // Y⊗Y has -1 on |00>,|11> anti-diagonal corners and +1 on |01>,|10>.
                d[3] = (0.0, s);
                d[4 + 2] = (0.0, -s);
                d[2 * 4 + 1] = (0.0, -s);
                d[3 * 4] = (0.0, s);
                Matrix { dim: 4, data: d }
            }
            Gate::RZZ(t) => diag(&[cis(-t / 2.0), cis(t / 2.0), cis(t / 2.0), cis(-t / 2.0)]),
            Gate::MS(phi0, phi1, theta) => {
                // IonQ's definition; rows/cols indexed with targets[0] as the least significant bit.
                let (c, s) = ((theta / 2.0).cos(), (theta / 2.0).sin());
                let mut d = vec![ZERO; 16];
                for i in 0..4 {
                    d[i * 4 + i] = (c, 0.0);
                }
                let sum = phi0 + phi1;
                let diff = phi0 - phi1;
                d[3] = scale(mul_neg_i(cis(-sum)), s);
                d[3 * 4] = scale(mul_neg_i(cis(sum)), s);
                // |01> (q0=1) <-> |10> (q1=1)
                d[4 + 2] = scale(mul_neg_i(cis(diff)), s);
                d[2 * 4 + 1] = scale(mul_neg_i(cis(-diff)), s);
                Matrix { dim: 4, data: d }
            }
            Gate::Unitary(m) => (**m).clone(),
            Gate::GlobalPhase(t) => Matrix {
                dim: 1,
                data: vec![cis(*t)],
            },
        }
    }

    /// True when the matrix is diagonal in the computational basis (backends scale in place).
    pub fn is_diagonal(&self) -> bool {
        matches!(
            self,
            Gate::I
                | Gate::Z
                | Gate::S
                | Gate::Sdg
                | Gate::T
                | Gate::Tdg
                | Gate::RZ(_)
                | Gate::Phase(_)
                | Gate::RZZ(_)
                | Gate::GlobalPhase(_)
        )
    }
}
