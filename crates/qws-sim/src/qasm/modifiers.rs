//! Gate inversion and powers, used by OpenQASM 3's `inv @` and `pow(k) @`.

use crate::ir::{Gate, GateOp, Matrix};

type C = (f64, f64);

fn cmul(a: C, b: C) -> C {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn conj(a: C) -> C {
    (a.0, -a.1)
}

/// The conjugate transpose of a matrix.
pub fn adjoint(m: &Matrix) -> Matrix {
    let n = m.dim;
    let mut data = vec![(0.0, 0.0); n * n];
    for r in 0..n {
        for c in 0..n {
            data[c * n + r] = conj(m.data[r * n + c]);
        }
    }
    Matrix { dim: n, data }
}

impl Gate {
    /// The inverse gate (exactly, including global phase).
    pub fn inverse(&self) -> Gate {
        use std::f64::consts::PI;
        match self {
            Gate::I | Gate::X | Gate::Y | Gate::Z | Gate::H | Gate::Swap | Gate::GPI(_) => {
                self.clone()
            }
            Gate::S => Gate::Sdg,
            Gate::Sdg => Gate::S,
            Gate::T => Gate::Tdg,
            Gate::Tdg => Gate::T,
            Gate::SX => Gate::SXdg,
            Gate::SXdg => Gate::SX,
            Gate::RX(t) => Gate::RX(-t),
            Gate::RY(t) => Gate::RY(-t),
            Gate::RZ(t) => Gate::RZ(-t),
            Gate::Phase(t) => Gate::Phase(-t),
            Gate::U(a, b, c) => Gate::U(-a, -c, -b),
            Gate::GPI2(p) => Gate::GPI2(p + PI),
            Gate::RXX(t) => Gate::RXX(-t),
            Gate::RYY(t) => Gate::RYY(-t),
            Gate::RZZ(t) => Gate::RZZ(-t),
            Gate::MS(a, b, t) => Gate::MS(*a, *b, -t),
            Gate::GlobalPhase(t) => Gate::GlobalPhase(-t),
            Gate::ISwap => Gate::Unitary(Box::new(adjoint(&self.matrix()))),
            Gate::Unitary(m) => Gate::Unitary(Box::new(adjoint(m))),
        }
    }
}

pub fn invert(op: GateOp) -> GateOp {
    GateOp {
        gate: op.gate.inverse(),
        targets: op.targets,
        controls: op.controls,
    }
}

/// The 2x2 matrix of a sequence of uncontrolled gates on qubit 0 (global phases included),
/// or `None` if anything in it is controlled or acts elsewhere.
pub fn single_qubit_matrix(ops: &[GateOp]) -> Option<Matrix> {
    let mut acc = [(1.0, 0.0), (0.0, 0.0), (0.0, 0.0), (1.0, 0.0)];
    for op in ops {
        if !op.controls.is_empty() {
            return None;
        }
        let m = op.gate.matrix();
        if m.dim == 1 && op.targets.is_empty() {
            for a in acc.iter_mut() {
                *a = cmul(m.data[0], *a);
            }
            continue;
        }
        if m.dim != 2 || op.targets != [0] {
            return None;
        }
        let d = &m.data;
        acc = [
            add(cmul(d[0], acc[0]), cmul(d[1], acc[2])),
            add(cmul(d[0], acc[1]), cmul(d[1], acc[3])),
            add(cmul(d[2], acc[0]), cmul(d[3], acc[2])),
            add(cmul(d[2], acc[1]), cmul(d[3], acc[3])),
        ];
    }
    Some(Matrix {
        dim: 2,
        data: acc.to_vec(),
    })
}

fn add(a: C, b: C) -> C {
    (a.0 + b.0, a.1 + b.1)
}

/// `m^k` for a 2x2 unitary, on the principal branch of each eigenvalue (as qiskit does).
pub fn power_2x2(m: &Matrix, k: f64) -> Matrix {
    let [a, b, c, d] = [m.data[0], m.data[1], m.data[2], m.data[3]];
    let powc = |z: C| -> C {
        let r = (z.0 * z.0 + z.1 * z.1).sqrt().powf(k);
        let th = z.1.atan2(z.0) * k;
        (r * th.cos(), r * th.sin())
    };
    let off = (b.0 * b.0 + b.1 * b.1 + c.0 * c.0 + c.1 * c.1).sqrt();
    if off < 1e-14 {
        return Matrix {
            dim: 2,
            data: vec![powc(a), (0.0, 0.0), (0.0, 0.0), powc(d)],
        };
    }
    // Eigenvalues from the characteristic polynomial; eigenvectors (b, λ - a), orthonormal
    // because a unitary is normal.
    let tr = add(a, d);
    let det = add(cmul(a, d), cmul((-1.0, 0.0), cmul(b, c)));
    let disc = add(cmul(tr, tr), cmul((-4.0, 0.0), det));
    let sq = {
        let r = (disc.0 * disc.0 + disc.1 * disc.1).sqrt().sqrt();
        let th = disc.1.atan2(disc.0) / 2.0;
        (r * th.cos(), r * th.sin())
    };
    let l1 = ((tr.0 + sq.0) / 2.0, (tr.1 + sq.1) / 2.0);
    let l2 = ((tr.0 - sq.0) / 2.0, (tr.1 - sq.1) / 2.0);
    let vec_for = |l: C| -> [C; 2] {
        let v1 = [b, (l.0 - a.0, l.1 - a.1)];
        let v2 = [(l.0 - d.0, l.1 - d.1), c];
        let n1 = v1.iter().map(|z| z.0 * z.0 + z.1 * z.1).sum::<f64>();
        let n2 = v2.iter().map(|z| z.0 * z.0 + z.1 * z.1).sum::<f64>();
        let (v, n) = if n1 >= n2 { (v1, n1) } else { (v2, n2) };
        let s = 1.0 / n.sqrt();
        [(v[0].0 * s, v[0].1 * s), (v[1].0 * s, v[1].1 * s)]
    };
    let (v1, v2) = (vec_for(l1), vec_for(l2));
    let (p1, p2) = (powc(l1), powc(l2));
    let mut data = vec![(0.0, 0.0); 4];
    for r in 0..2 {
        for col in 0..2 {
            data[r * 2 + col] = add(
                cmul(p1, cmul(v1[r], conj(v1[col]))),
                cmul(p2, cmul(v2[r], conj(v2[col]))),
            );
        }
    }
    Matrix { dim: 2, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Matrix, b: &Matrix) -> bool {
        a.data
            .iter()
            .zip(&b.data)
            .all(|(x, y)| (x.0 - y.0).abs() < 1e-12 && (x.1 - y.1).abs() < 1e-12)
    }

    fn product(a: &Matrix, b: &Matrix) -> Matrix {
        let n = a.dim;
        let mut data = vec![(0.0, 0.0); n * n];
        for r in 0..n {
            for c in 0..n {
                for k in 0..n {
                    data[r * n + c] =
                        add(data[r * n + c], cmul(a.data[r * n + k], b.data[k * n + c]));
                }
            }
        }
        Matrix { dim: n, data }
    }

    #[test]
    fn inverse_times_gate_is_identity() {
        let gates = [
            Gate::S,
            Gate::T,
            Gate::SX,
            Gate::RX(0.3),
            Gate::U(0.1, 0.2, 0.3),
            Gate::GPI2(0.4),
            Gate::GPI(0.7),
            Gate::MS(0.1, 0.2, 0.3),
            Gate::ISwap,
            Gate::RYY(0.5),
            Gate::Phase(1.1),
        ];
        for g in gates {
            let m = product(&g.matrix(), &g.inverse().matrix());
            let id = Gate::Unitary(Box::new(Matrix {
                dim: m.dim,
                data: (0..m.dim * m.dim)
                    .map(|i| {
                        if i % (m.dim + 1) == 0 {
                            (1.0, 0.0)
                        } else {
                            (0.0, 0.0)
                        }
                    })
                    .collect(),
            }))
            .matrix();
            assert!(close(&m, &id), "{g:?}");
        }
    }

    #[test]
    fn square_root_of_x_is_sx_and_powers_compose() {
        let half = power_2x2(&Gate::X.matrix(), 0.5);
        assert!(close(&half, &Gate::SX.matrix()));
        let t = power_2x2(&Gate::S.matrix(), 0.5);
        assert!(close(&t, &Gate::T.matrix()));
        let u = Gate::U(0.7, 0.3, -0.4).matrix();
        let r = power_2x2(&u, 1.0 / 3.0);
        assert!(close(&product(&product(&r, &r), &r), &u));
    }
}
