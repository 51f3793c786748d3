//! `qir::requirements` reads what a program really addresses, not what its attributes claim, and
//! a run never allocates past the limits even when ids are only known at run time.

use qws_sim::qir::{requirements, run_qir, QirRequirements, QirRunOptions};
use qws_sim::run::Limits;
use qws_sim::SimError;

/// Declares `required_num_qubits`="1" but addresses qubit 26 (see the `.ll` next to it; the
/// `.bc` is its LLVM 14 bitcode).
const LYING_TEXT: &str = include_str!("data/lying_qubits.ll");
const LYING_BITCODE: &[u8] = include_bytes!("data/lying_qubits.bc");

fn opts(limits: Limits) -> QirRunOptions {
    QirRunOptions {
        seed: Some(3),
        limits,
        ..Default::default()
    }
}

#[test]
fn a_lying_qubit_attribute_does_not_hide_the_real_qubit_count() {
    let want = QirRequirements {
        qubits: 27,
        results: 3,
        dynamic_qubits: false,
    };
    assert_eq!(requirements(LYING_TEXT.as_bytes()).unwrap(), want);
    assert_eq!(requirements(LYING_BITCODE).unwrap(), want);
    assert_eq!(want.state_bytes(), 16 << 27);
}

#[test]
fn a_lying_qubit_attribute_fails_the_memory_budget_before_allocating() {
    let limits = Limits {
        max_memory_bytes: 64 << 20,
        ..Limits::default()
    };
    for input in [LYING_TEXT.as_bytes(), LYING_BITCODE] {
        match run_qir(input, &opts(limits.clone())) {
            Err(SimError::Limit(m)) => assert!(m.contains("27 qubits"), "{m}"),
            other => panic!("expected a memory limit error, got {other:?}"),
        }
    }
    // Within the budget the lie is still refused, as invalid.
    let small = Limits {
        max_memory_bytes: 4 << 30,
        ..Limits::default()
    };
    let e = run_qir(LYING_TEXT.as_bytes(), &opts(small)).unwrap_err();
    assert!(matches!(e, SimError::Invalid(_)), "{e:?}");
}

/// An adaptive program whose qubit id is computed: 20 + 6.
const DYNAMIC: &str = r#"define void @main() #0 {
entry:
  %x = add i64 20, 6
  %q = inttoptr i64 %x to ptr
  call void @__quantum__qis__h__body(ptr %q)
  ret void
}
declare void @__quantum__qis__h__body(ptr)
attributes #0 = { "entry_point" "qir_profiles"="adaptive_profile" "required_num_qubits"="1" "required_num_results"="0" }
"#;

#[test]
fn runtime_qubit_ids_past_the_declared_count_fail_cleanly() {
    let r = requirements(DYNAMIC.as_bytes()).unwrap();
    assert_eq!(
        r,
        QirRequirements {
            qubits: 1,
            results: 0,
            dynamic_qubits: true
        }
    );
    match run_qir(DYNAMIC.as_bytes(), &opts(Limits::default())) {
        Err(SimError::Invalid(m)) => assert!(m.contains("qubit 26 is out of range"), "{m}"),
        other => panic!("expected a clean out-of-range error, got {other:?}"),
    }
}

#[test]
fn a_declared_count_larger_than_used_is_what_a_run_allocates() {
    let src = DYNAMIC
        .replace("%x = add i64 20, 6", "%x = add i64 0, 0")
        .replace(
            "\"required_num_qubits\"=\"1\"",
            "\"required_num_qubits\"=\"30\"",
        );
    assert_eq!(requirements(src.as_bytes()).unwrap().qubits, 30);
    // 30 qubits are past the default qubit limit: refused before any allocation.
    let e = run_qir(src.as_bytes(), &opts(Limits::default())).unwrap_err();
    assert!(matches!(e, SimError::Limit(_)), "{e:?}");
}

#[test]
fn requirements_of_malformed_input_is_an_error() {
    assert!(requirements(b"define").is_err());
    assert!(requirements(&[b'B', b'C', 0xC0, 0xDE, 1, 2, 3]).is_err());
}
