//! Measures what one pass of each kernel costs on this machine (not part of the product): a
//! dense k-qubit unitary for k = 1..5 on low and on high qubits, CX and a diagonal, in single
//! and double precision. Prints CPU-independent wall seconds per pass (median of `reps`).
//!
//! Usage: kernel_cost [qubits (24)] [reps (5)]

use qws_sim::engine::fusion::FusedOp;
use qws_sim::ir::{Gate, GateOp};
use qws_sim::state::StateVector;
use qws_sim::Precision;
use std::time::Instant;

fn unitary(k: usize) -> Vec<(f64, f64)> {
    // Any dense matrix costs the same; a unitary keeps the state finite over many passes.
    let dim = 1usize << k;
    let mut col = vec![(0.0, 0.0); dim * dim];
    let mut s = StateVector::new(k);
    for q in 0..k {
        s.apply(&GateOp::new(Gate::U(0.3, 0.5, 0.7), vec![q]));
    }
    let _ = &mut col;
    (0..dim * dim)
        .map(|i| {
            let a = s.amplitudes()[i % dim];
            if i / dim == i % dim {
                a
            } else {
                (a.0 * 0.1, a.1 * 0.1)
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(24);
    let reps: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(5);
    for precision in [Precision::Single, Precision::Double] {
        let mut sv = StateVector::try_new_with(n, precision).unwrap();
        let mut time = |label: String, op: FusedOp| {
            let mut t = Vec::new();
            for _ in 0..reps {
                let s = Instant::now();
                sv.apply_fused(&op);
                t.push(s.elapsed().as_secs_f64());
            }
            t.sort_by(f64::total_cmp);
            println!("{precision} {label}: {:.6} s", t[reps / 2]);
        };
        for k in 1..=5 {
            for (place, qubits) in [
                ("low", (0..k).collect::<Vec<_>>()),
                ("high", (n - k..n).collect()),
            ] {
                time(
                    format!("dense{k} {place}"),
                    FusedOp::Dense {
                        qubits,
                        matrix: unitary(k),
                    },
                );
            }
        }
        time(
            "cx".into(),
            FusedOp::Gate(GateOp::controlled(Gate::X, vec![3], vec![n - 2])),
        );
        time(
            "diag4".into(),
            FusedOp::Diag {
                qubits: vec![0, 5, 9, n - 1],
                table: (0..16)
                    .map(|j| ((j as f64).cos(), (j as f64).sin()))
                    .collect(),
            },
        );
    }
}
