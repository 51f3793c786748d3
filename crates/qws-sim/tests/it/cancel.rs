//! Cooperative cancellation: a cancelled token stops run, run_with, final_state and QIR runs
//! with `SimError::Cancelled`, both before they start and while they execute on another thread.

use qws_sim::ir::{Circuit, Gate};
use qws_sim::qir::{run_qir, QirRunOptions};
use qws_sim::run::{final_state, run, run_with, EngineConfig, Limits, RunOptions, SparseMode};
use qws_sim::{CancelToken, SimError};
use std::sync::mpsc;
use std::time::Duration;

const BELL_QIR: &str = r#"%Result = type opaque
%Qubit = type opaque

define void @main() #0 {
entry:
  call void @__quantum__qis__h__body(%Qubit* inttoptr (i64 0 to %Qubit*))
  call void @__quantum__qis__cx__body(%Qubit* inttoptr (i64 0 to %Qubit*), %Qubit* inttoptr (i64 1 to %Qubit*))
  call void @__quantum__qis__mz__body(%Qubit* inttoptr (i64 0 to %Qubit*), %Result* inttoptr (i64 0 to %Result*))
  call void @__quantum__qis__mz__body(%Qubit* inttoptr (i64 1 to %Qubit*), %Result* inttoptr (i64 1 to %Result*))
  ret void
}

declare void @__quantum__qis__h__body(%Qubit*)
declare void @__quantum__qis__cx__body(%Qubit*, %Qubit*)
declare void @__quantum__qis__mz__body(%Qubit*, %Result*) #1

attributes #0 = { "entry_point" "required_num_qubits"="2" "required_num_results"="2" }
attributes #1 = { "irreversible" }
"#;

/// An adaptive program that never ends on its own (a loop around a gate).
const SPIN_QIR: &str = "%Qubit = type opaque\ndefine void @m() #0 {\nentry:\n  br label %spin\nspin:\n  call void @__quantum__qis__h__body(%Qubit* inttoptr (i64 0 to %Qubit*))\n  br label %spin\n}\ndeclare void @__quantum__qis__h__body(%Qubit*)\nattributes #0 = { \"entry_point\" \"required_num_qubits\"=\"1\" }\n";

fn bell() -> Circuit {
    let mut c = Circuit::new(2, 2);
    c.gate(Gate::H, &[0]);
    c.ops
        .push(qws_sim::ir::Op::Gate(qws_sim::ir::GateOp::controlled(
            Gate::X,
            vec![0],
            vec![1],
        )));
    c.measure(0, 0).measure(1, 1);
    c
}

fn cancelled() -> CancelToken {
    let t = CancelToken::new();
    t.cancel();
    t
}

fn opts(shots: u64, cancel: Option<CancelToken>) -> RunOptions {
    RunOptions {
        shots,
        seed: Some(3),
        cancel,
        ..RunOptions::default()
    }
}

#[test]
fn a_token_starts_uncancelled_and_clones_share_it() {
    let t = CancelToken::new();
    let u = t.clone();
    assert!(!t.is_cancelled());
    u.cancel();
    assert!(t.is_cancelled());
    assert_eq!(SimError::Cancelled.to_string(), "the run was cancelled");
}

#[test]
fn an_uncancelled_token_changes_nothing() {
    let with = run(&bell(), &opts(50, Some(CancelToken::new()))).unwrap();
    let without = run(&bell(), &opts(50, None)).unwrap();
    assert_eq!(with.shots, without.shots);
}

#[test]
fn a_pre_cancelled_token_stops_every_entry_point() {
    let o = opts(10, Some(cancelled()));
    assert!(matches!(run(&bell(), &o), Err(SimError::Cancelled)));
    for sparse in [SparseMode::Off, SparseMode::Always] {
        let cfg = EngineConfig {
            sparse,
            ..EngineConfig::default()
        };
        assert!(matches!(
            run_with(&bell(), &o, &cfg),
            Err(SimError::Cancelled)
        ));
    }
    let mut unmeasured = Circuit::new(2, 0);
    unmeasured.gate(Gate::H, &[0]);
    assert!(matches!(
        final_state(&unmeasured, &o),
        Err(SimError::Cancelled)
    ));
    // Shot by shot (a gate after a measurement).
    let mut mid = bell();
    mid.gate(Gate::X, &[0]).measure(0, 0);
    assert!(matches!(run(&mid, &o), Err(SimError::Cancelled)));
    // QIR: the lowered (base profile) path and the interpreter.
    let q = QirRunOptions {
        shots: 10,
        seed: Some(1),
        cancel: Some(cancelled()),
        ..QirRunOptions::default()
    };
    assert!(run_qir(
        BELL_QIR.as_bytes(),
        &QirRunOptions {
            cancel: None,
            ..q.clone()
        }
    )
    .is_ok());
    assert!(matches!(
        run_qir(BELL_QIR.as_bytes(), &q),
        Err(SimError::Cancelled)
    ));
    assert!(matches!(
        run_qir(SPIN_QIR.as_bytes(), &q),
        Err(SimError::Cancelled)
    ));
}

/// Runs `f` on another thread, cancels its token shortly after, and returns its result
/// (bounded: a run that ignores the token fails the test instead of hanging it).
fn cancel_while_running<T: Send + 'static>(
    f: impl FnOnce(CancelToken) -> Result<T, SimError> + Send + 'static,
) -> Result<T, SimError> {
    let token = CancelToken::new();
    let (tx, rx) = mpsc::channel();
    let t = token.clone();
    std::thread::spawn(move || {
        let _ = tx.send(f(t));
    });
    // Give the run time to get going; the outcome does not depend on this delay.
    std::thread::sleep(Duration::from_millis(200));
    token.cancel();
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the run stopped after cancellation")
}

#[test]
fn cancelling_a_long_dense_run_stops_it() {
    // 20 qubits and 200k unfused gates on the dense state: far longer than the test allows.
    let mut c = Circuit::new(20, 1);
    for layer in 0..10_000 {
        for q in 0..20 {
            c.gate(Gate::RY(0.1 + layer as f64 * 1e-3), &[q]);
        }
    }
    c.measure(0, 0);
    let e = cancel_while_running(move |t| {
        let o = RunOptions {
            fusion: false,
            ..opts(1, Some(t))
        };
        let cfg = EngineConfig {
            sparse: SparseMode::Off,
            ..EngineConfig::default()
        };
        run_with(&c, &o, &cfg).map(|_| ())
    })
    .unwrap_err();
    assert!(matches!(e, SimError::Cancelled), "{e}");
}

#[test]
fn cancelling_a_long_shot_by_shot_run_stops_it() {
    // A mid-circuit measurement forces shot-by-shot execution; a million shots on 16 qubits.
    let mut c = Circuit::new(16, 2);
    for q in 0..16 {
        c.gate(Gate::H, &[q]);
    }
    c.measure(0, 0);
    for q in 0..16 {
        c.gate(Gate::RX(0.3), &[q]);
    }
    c.measure(0, 1);
    let e = cancel_while_running(move |t| {
        let o = RunOptions {
            limits: Limits::default(),
            ..opts(1_000_000, Some(t))
        };
        run(&c, &o).map(|_| ())
    })
    .unwrap_err();
    assert!(matches!(e, SimError::Cancelled), "{e}");
}

#[test]
fn cancelling_a_looping_qir_program_stops_it() {
    let e = cancel_while_running(|t| {
        let q = QirRunOptions {
            shots: 1,
            seed: Some(1),
            max_steps_per_shot: u64::MAX,
            max_total_steps: u64::MAX,
            cancel: Some(t),
            ..QirRunOptions::default()
        };
        run_qir(SPIN_QIR.as_bytes(), &q).map(|_| ())
    })
    .unwrap_err();
    assert!(matches!(e, SimError::Cancelled), "{e}");
}
