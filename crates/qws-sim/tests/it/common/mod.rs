//! Shared helpers of the simulator's integration tests: random states, random gates, random
//! circuits, a reference simulation that applies every gate through its full matrix, and a
//! small thread stack for the tests that hunt stack overflows.
#![allow(dead_code)]

use proptest::prelude::*;
use qws_sim::ir::{Circuit, Gate, GateOp, Matrix, Op};
use qws_sim::state::{Amp, StateVector};

pub fn angle() -> impl Strategy<Value = f64> {
    -7.0f64..7.0
}

/// A random 2^k x 2^k unitary (QR-free: product of random 1- and 2-qubit rotations applied
/// to the identity's columns through the reference kernel).
pub fn random_unitary(k: usize, seed: &[f64]) -> Matrix {
    let dim = 1 << k;
    let mut data = vec![(0.0, 0.0); dim * dim];
    for c in 0..dim {
        let mut col = vec![(0.0, 0.0); dim];
        col[c] = (1.0, 0.0);
        let mut sv = StateVector::from_amplitudes(col).unwrap();
        let mut s = seed.iter().cycle();
        for _ in 0..3 {
            for q in 0..k {
                let (a, b, c2) = (*s.next().unwrap(), *s.next().unwrap(), *s.next().unwrap());
                sv.apply_reference(&GateOp::new(Gate::U(a, b, c2), vec![q]));
            }
            for q in 0..k.saturating_sub(1) {
                sv.apply_reference(&GateOp::new(Gate::RXX(*s.next().unwrap()), vec![q, q + 1]));
                sv.apply_reference(&GateOp::new(Gate::RZZ(*s.next().unwrap()), vec![q, q + 1]));
            }
        }
        for (r, a) in sv.amplitudes().iter().enumerate() {
            data[r * dim + c] = *a;
        }
    }
    Matrix { dim, data }
}

/// Every base gate kind, with random parameters.
pub fn any_gate() -> impl Strategy<Value = Gate> {
    let one = prop_oneof![
        Just(Gate::I),
        Just(Gate::X),
        Just(Gate::Y),
        Just(Gate::Z),
        Just(Gate::H),
        Just(Gate::S),
        Just(Gate::Sdg),
        Just(Gate::T),
        Just(Gate::Tdg),
        Just(Gate::SX),
        Just(Gate::SXdg),
        angle().prop_map(Gate::RX),
        angle().prop_map(Gate::RY),
        angle().prop_map(Gate::RZ),
        angle().prop_map(Gate::Phase),
        (angle(), angle(), angle()).prop_map(|(a, b, c)| Gate::U(a, b, c)),
        angle().prop_map(Gate::GPI),
        angle().prop_map(Gate::GPI2),
    ];
    let two = prop_oneof![
        Just(Gate::Swap),
        Just(Gate::ISwap),
        angle().prop_map(Gate::RXX),
        angle().prop_map(Gate::RYY),
        angle().prop_map(Gate::RZZ),
        (angle(), angle(), angle()).prop_map(|(a, b, c)| Gate::MS(a, b, c)),
    ];
    let many = prop_oneof![
        (1usize..=3, proptest::collection::vec(angle(), 24))
            .prop_map(|(k, s)| Gate::Unitary(Box::new(random_unitary(k, &s)))),
        (1usize..=2, proptest::collection::vec(angle(), 4)).prop_map(|(k, s)| {
            // A random diagonal unitary given as an explicit matrix.
            let dim = 1 << k;
            let mut data = vec![(0.0, 0.0); dim * dim];
            for j in 0..dim {
                data[j * dim + j] = (s[j].cos(), s[j].sin());
            }
            Gate::Unitary(Box::new(Matrix { dim, data }))
        }),
        angle().prop_map(Gate::GlobalPhase),
    ];
    prop_oneof![4 => one, 2 => two, 1 => many]
}

/// A gate with random distinct targets and 0..=2 controls on an `n`-qubit register.
pub fn any_gate_op(n: usize) -> impl Strategy<Value = GateOp> {
    (
        any_gate(),
        (
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            0..=2usize,
        ),
    )
        .prop_map(move |(gate, (qs, nc))| {
            let k = gate.num_targets();
            let nc = nc.min(n - k);
            GateOp {
                targets: qs[..k].to_vec(),
                controls: qs[k..k + nc].to_vec(),
                gate,
            }
        })
}

/// A normalised random state on `n` qubits.
pub fn random_state(n: usize) -> impl Strategy<Value = Vec<Amp>> {
    proptest::collection::vec((-1.0f64..1.0, -1.0f64..1.0), 1 << n).prop_map(|mut v| {
        let norm: f64 = v.iter().map(|a| a.0 * a.0 + a.1 * a.1).sum::<f64>().sqrt();
        for a in &mut v {
            a.0 /= norm;
            a.1 /= norm;
        }
        v
    })
}

/// A random measurement-free circuit.
pub fn random_circuit(n: usize, max_len: usize) -> impl Strategy<Value = Circuit> {
    proptest::collection::vec(
        prop_oneof![20 => any_gate_op(n).prop_map(Op::Gate), 1 => Just(Op::Barrier(vec![]))],
        0..max_len,
    )
    .prop_map(move |ops| Circuit {
        num_qubits: n,
        ops,
        ..Default::default()
    })
}

/// The final state through the naive reference kernel only.
pub fn reference_state(c: &Circuit) -> Vec<Amp> {
    let mut sv = StateVector::new(c.num_qubits);
    for op in &c.ops {
        if let Op::Gate(g) = op {
            sv.apply_reference(g);
        }
    }
    sv.amplitudes().to_vec()
}

pub fn max_diff(a: &[Amp], b: &[Amp]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x.0 - y.0).powi(2) + (x.1 - y.1).powi(2)).sqrt())
        .fold(0.0, f64::max)
}

/// Which gate kernels a test exercises. Tests name their choice explicitly: the choice is
/// per thread, so tests running in parallel cannot change each other's kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    Portable,
    Simd,
}

/// Every kernel family this machine can run: the portable kernels always, the SIMD kernels
/// when the CPU has AVX2 and FMA.
pub fn kernel_choices() -> Vec<Kernels> {
    let mut all = vec![Kernels::Portable];
    #[cfg(target_arch = "x86_64")]
    if qws_sim::engine::simd::cpu_has_simd() {
        all.push(Kernels::Simd);
    }
    all
}

/// Runs `f` on the calling thread with the chosen kernels.
pub fn with_kernels<R>(kernels: Kernels, f: impl FnOnce() -> R) -> R {
    match kernels {
        #[cfg(target_arch = "x86_64")]
        Kernels::Portable => qws_sim::engine::simd::with_portable_kernels(f),
        #[cfg(not(target_arch = "x86_64"))]
        Kernels::Portable => f(),
        Kernels::Simd => {
            #[cfg(target_arch = "x86_64")]
            assert!(
                qws_sim::engine::simd::available(),
                "SIMD kernels asked for but not available on this thread"
            );
            f()
        }
    }
}

/// The stack of the threads poison programs and fuzz inputs run on: 2 MiB, the default stack
/// of a spawned thread, so a recursion that is unbounded, or bounded too generously for a debug
/// build, overflows here (and aborts the test binary) instead of passing by luck.
pub const STACK: usize = 2 << 20;

/// Runs `f` on a thread with a [`STACK`]-byte stack and returns its result.
pub fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}
