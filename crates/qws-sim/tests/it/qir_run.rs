//! QIR end to end through the public API: text programs in the shapes qdk, pyqir and qiskit
//! emit (typed and opaque pointers, base and adaptive profiles), the results v2 document, and
//! hostile input that must fail cleanly.

use proptest::prelude::*;
use qws_sim::qir::{looks_like_qir, run_qir, run_qir_items, QirRunOptions};
use qws_sim::SimError;
use serde_json::{json, Value};

fn opts(shots: u64) -> QirRunOptions {
    QirRunOptions {
        shots,
        seed: Some(7),
        ..Default::default()
    }
}

fn counts(doc: &Value, i: usize) -> Vec<(String, u64)> {
    doc["Results"][i]["Histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["Display"].as_str().unwrap().to_string(),
                h["Count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The Bell program as qdk 1.33 writes it (typed pointers, labelled tuple output).
const BELL_TYPED: &str = include_str!("data/bell.ll");

/// pyqir's SimpleModule shape: opaque pointers, no output recording.
const BELL_OPAQUE: &str = r#"; ModuleID = 'bell'
source_filename = "bell"

define void @main() #0 {
entry:
  call void @__quantum__qis__h__body(ptr null)
  call void @__quantum__qis__cnot__body(ptr null, ptr inttoptr (i64 1 to ptr))
  call void @__quantum__qis__mz__body(ptr null, ptr null)
  call void @__quantum__qis__mz__body(ptr inttoptr (i64 1 to ptr), ptr inttoptr (i64 1 to ptr))
  ret void
}

declare void @__quantum__qis__h__body(ptr)
declare void @__quantum__qis__cnot__body(ptr, ptr)
declare void @__quantum__qis__mz__body(ptr, ptr writeonly) #1

attributes #0 = { "entry_point" "output_labeling_schema" "qir_profiles"="custom" "required_num_qubits"="2" "required_num_results"="2" }
attributes #1 = { "irreversible" }
"#;

#[test]
fn bell_typed_pointers_gives_correlated_tuples() {
    let doc = run_qir(BELL_TYPED.as_bytes(), &opts(2000)).unwrap();
    assert_eq!(doc["DataFormat"], "microsoft.quantum-results.v2");
    let c = counts(&doc, 0);
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0].0, "(0, 0)");
    assert_eq!(c[1].0, "(1, 1)");
    assert!((850..=1150).contains(&c[0].1), "{c:?}");
    assert_eq!(c[0].1 + c[1].1, 2000);
    assert_eq!(
        doc["Results"][0]["Histogram"][1]["Outcome"],
        json!({"Item1": 1, "Item2": 1})
    );
    let shots = doc["Results"][0]["Shots"].as_array().unwrap();
    assert_eq!(shots.len(), 2000);
    assert!(shots.iter().all(|s| s["Item1"] == s["Item2"]));
}

#[test]
fn program_without_output_recording_reports_all_results() {
    let doc = run_qir(BELL_OPAQUE.as_bytes(), &opts(500)).unwrap();
    let c = counts(&doc, 0);
    assert_eq!(
        c.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["[0, 0]", "[1, 1]"]
    );
    assert_eq!(doc["Results"][0]["Histogram"][0]["Outcome"], json!([0, 0]));
}

#[test]
fn same_seed_same_shots() {
    let a = run_qir(BELL_TYPED.as_bytes(), &opts(50)).unwrap();
    let b = run_qir(BELL_TYPED.as_bytes(), &opts(50)).unwrap();
    assert_eq!(a, b);
}

/// Adaptive_RI: conditional corrections (teleportation of Ry(1.2)|0>, undone afterwards).
const TELEPORT: &str = r#"
define i64 @ENTRYPOINT__main() #0 {
block_0:
  call void @__quantum__qis__ry__body(double 1.2, ptr null)
  call void @__quantum__qis__h__body(ptr inttoptr (i64 1 to ptr))
  call void @__quantum__qis__cx__body(ptr inttoptr (i64 1 to ptr), ptr inttoptr (i64 2 to ptr))
  call void @__quantum__qis__cx__body(ptr null, ptr inttoptr (i64 1 to ptr))
  call void @__quantum__qis__h__body(ptr null)
  call void @__quantum__qis__mresetz__body(ptr inttoptr (i64 1 to ptr), ptr null)
  %var_0 = call zeroext i1 @__quantum__rt__read_result(ptr null)
  br i1 %var_0, label %block_1, label %block_2
block_1:
  call void @__quantum__qis__x__body(ptr inttoptr (i64 2 to ptr))
  br label %block_2
block_2:
  call void @__quantum__qis__mresetz__body(ptr null, ptr inttoptr (i64 1 to ptr))
  %var_3 = call i1 @__quantum__qis__read_result__body(ptr inttoptr (i64 1 to ptr))
  br i1 %var_3, label %block_3, label %block_4
block_3:
  call void @__quantum__qis__z__body(ptr inttoptr (i64 2 to ptr))
  br label %block_4
block_4:
  call void @__quantum__qis__ry__body(double -1.2, ptr inttoptr (i64 2 to ptr))
  call void @__quantum__qis__m__body(ptr inttoptr (i64 2 to ptr), ptr inttoptr (i64 2 to ptr))
  call void @__quantum__rt__result_record_output(ptr inttoptr (i64 2 to ptr), ptr null)
  ret i64 0
}
declare void @__quantum__qis__ry__body(double, ptr)
declare void @__quantum__qis__h__body(ptr)
declare void @__quantum__qis__x__body(ptr)
declare void @__quantum__qis__z__body(ptr)
declare void @__quantum__qis__cx__body(ptr, ptr)
declare void @__quantum__qis__m__body(ptr, ptr)
declare void @__quantum__qis__mresetz__body(ptr, ptr)
declare i1 @__quantum__rt__read_result(ptr)
declare i1 @__quantum__qis__read_result__body(ptr)
declare void @__quantum__rt__result_record_output(ptr, ptr)
attributes #0 = { "entry_point" "qir_profiles"="adaptive_profile" "required_num_qubits"="3" "required_num_results"="3" }
"#;

#[test]
fn teleportation_with_feed_forward_is_exact() {
    let doc = run_qir(TELEPORT.as_bytes(), &opts(300)).unwrap();
    assert_eq!(counts(&doc, 0), vec![("0".to_string(), 300)]);
    assert_eq!(doc["Results"][0]["Histogram"][0]["Outcome"], json!(0));
}

/// A loop with phi, integer arithmetic, select, switch and RIF doubles: flip a coin until heads
/// (at most 8 times), record (count, count*2.5, parity-as-bool).
const LOOP: &str = r#"
@lbl = internal constant [2 x i8] c"t\00"
define void @main() #0 {
entry:
  br label %loop
loop:
  %n = phi i64 [ 0, %entry ], [ %n1, %again ]
  call void @__quantum__qis__h__body(ptr null)
  call void @__quantum__qis__mresetz__body(ptr null, ptr null)
  %r = call i1 @__quantum__rt__read_result(ptr null)
  %n1 = add nsw i64 %n, 1
  %lim = icmp sge i64 %n1, 8
  %stop = or i1 %r, %lim
  br i1 %stop, label %done, label %again
again:
  br label %loop
done:
  %f = sitofp i64 %n1 to double
  %g = fmul double %f, 2.5
  %odd = trunc i64 %n1 to i1
  %sel = select i1 %odd, i64 1, i64 0
  switch i64 %sel, label %out [
    i64 1, label %out
  ]
out:
  call void @__quantum__rt__tuple_record_output(i64 3, ptr @lbl)
  call void @__quantum__rt__int_record_output(i64 %n1, ptr null)
  call void @__quantum__rt__double_record_output(double %g, ptr null)
  call void @__quantum__rt__bool_record_output(i1 %odd, ptr null)
  ret void
}
declare void @__quantum__qis__h__body(ptr)
declare void @__quantum__qis__mresetz__body(ptr, ptr)
declare i1 @__quantum__rt__read_result(ptr)
declare void @__quantum__rt__tuple_record_output(i64, ptr)
declare void @__quantum__rt__int_record_output(i64, ptr)
declare void @__quantum__rt__double_record_output(double, ptr)
declare void @__quantum__rt__bool_record_output(i1, ptr)
attributes #0 = { "entry_point" "qir_profiles"="adaptive_profile" "required_num_qubits"="1" "required_num_results"="1" }
"#;

#[test]
fn loops_phi_and_classical_outputs() {
    let doc = run_qir(LOOP.as_bytes(), &opts(4000)).unwrap();
    let c = counts(&doc, 0);
    let get = |d: &str| c.iter().find(|x| x.0 == d).map_or(0, |x| x.1);
    // P(n) = 2^-n for n < 8.
    let one = get("(1, 2.5, true)");
    let two = get("(2, 5.0, false)");
    assert!((1800..=2200).contains(&one), "{c:?}");
    assert!((850..=1150).contains(&two), "{c:?}");
    assert!(c.iter().all(|x| x.0.starts_with('(')));
    let h = &doc["Results"][0]["Histogram"];
    let first = h
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["Display"] == "(2, 5.0, false)")
        .unwrap();
    assert_eq!(
        first["Outcome"],
        json!({"Item1": 2, "Item2": 5.0, "Item3": false})
    );
}

#[test]
fn several_entry_points_give_several_results() {
    let two = BELL_TYPED.replace("@ENTRYPOINT__main", "@first")
        + &BELL_TYPED
            .replace("@ENTRYPOINT__main", "@second")
            .lines()
            .filter(|l| !l.starts_with('%') && !l.starts_with("declare") && !l.starts_with('@'))
            .filter(|l| !l.starts_with("attributes") && !l.starts_with('!'))
            .collect::<Vec<_>>()
            .join("\n");
    let doc = run_qir_items(
        two.as_bytes(),
        &[Some("first".into()), Some("second".into())],
        &opts(10),
    )
    .unwrap();
    assert_eq!(doc["Results"].as_array().unwrap().len(), 2);
    // Without a name, two entry points are ambiguous.
    let err = run_qir(two.as_bytes(), &opts(1)).unwrap_err();
    assert!(err.to_string().contains("several entry points"), "{err}");
}

fn err_of(src: &str) -> SimError {
    run_qir(src.as_bytes(), &opts(3)).unwrap_err()
}

#[test]
fn hostile_programs_fail_cleanly() {
    // Huge qubit count.
    let e = err_of(&BELL_TYPED.replace(
        "\"required_num_qubits\"=\"2\"",
        "\"required_num_qubits\"=\"100000\"",
    ));
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    // Qubit id beyond the declared count.
    let e = err_of(&BELL_TYPED.replace("i64 1 to %Qubit*", "i64 99999999999 to %Qubit*"));
    assert!(
        matches!(e, SimError::Limit(_) | SimError::Invalid(_)),
        "{e}"
    );
    // Infinite loop.
    let e = err_of(
        "define void @m() #0 {\nentry:\n  br label %spin\nspin:\n  br label %spin\n}\nattributes #0 = { \"entry_point\" }\n",
    );
    assert!(
        matches!(&e, SimError::Limit(m) if m.contains("%spin")),
        "{e}"
    );
    // Unknown intrinsic, named with its line.
    let e = err_of(&BELL_TYPED.replace("__quantum__qis__h__body", "__quantum__qis__frob__body"));
    assert!(
        matches!(&e, SimError::Unsupported(m) if m.contains("__quantum__qis__frob__body") && m.contains("line 11")),
        "{e}"
    );
    // Calls to defined functions (and so recursion) are refused.
    let e = err_of(
        "define void @m() #0 {\nentry:\n  call void @m()\n  ret void\n}\nattributes #0 = { \"entry_point\" }\n",
    );
    assert!(
        matches!(&e, SimError::Unsupported(m) if m.contains("@m")),
        "{e}"
    );
    // Dynamic allocation / memory.
    let e = err_of(
        "define void @m() #0 {\nentry:\n  %q = call ptr @__quantum__rt__qubit_allocate()\n  ret void\n}\ndeclare ptr @__quantum__rt__qubit_allocate()\nattributes #0 = { \"entry_point\" }\n",
    );
    assert!(
        matches!(&e, SimError::Unsupported(m) if m.contains("qubit_allocate")),
        "{e}"
    );
    let e = err_of(
        "define void @m() #0 {\nentry:\n  %p = alloca i64\n  ret void\n}\nattributes #0 = { \"entry_point\" }\n",
    );
    assert!(
        matches!(&e, SimError::Unsupported(m) if m.contains("alloca")),
        "{e}"
    );
    // Malformed text, with a position.
    let e = err_of("define void @m() #0 {\nentry:\n  call void @f(ptr null\n}\n");
    assert!(
        matches!(e, SimError::Parse { pos, .. } if pos.line == 3),
        "{e}"
    );
    // Unsupported profile.
    let e = err_of(&BELL_TYPED.replace("base_profile", "full_profile"));
    assert!(
        matches!(&e, SimError::Unsupported(m) if m.contains("full_profile")),
        "{e}"
    );
    // Division by zero at run time.
    let e = err_of(
        "define void @m() #0 {\nentry:\n  %a = sdiv i64 1, 0\n  ret void\n}\nattributes #0 = { \"entry_point\" }\n",
    );
    assert!(
        matches!(&e, SimError::Invalid(m) if m.contains("division")),
        "{e}"
    );
    // Output recording that promises more items than it records.
    let e = err_of(&BELL_TYPED.replace("tuple_record_output(i64 2", "tuple_record_output(i64 3"));
    assert!(
        matches!(&e, SimError::Invalid(m) if m.contains("output")),
        "{e}"
    );
    // Truncated and garbage bitcode.
    for input in [
        &b"BC\xC0\xDE"[..],
        b"BC\xC0\xDE\x35\x14\x00\x00\x05\x00\x00\x00\x62\x0c",
    ] {
        assert!(run_qir(input, &opts(1)).is_err());
    }
    // Too many shots.
    let mut o = opts(1);
    o.shots = o.limits.max_shots + 1;
    assert!(matches!(
        run_qir(BELL_TYPED.as_bytes(), &o),
        Err(SimError::Limit(_))
    ));
}

#[test]
fn detection() {
    assert!(looks_like_qir(BELL_TYPED.as_bytes()));
    assert!(looks_like_qir(b"BC\xC0\xDE...."));
    assert!(!looks_like_qir(b"OPENQASM 2.0;\nqreg q[1];"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bitcode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut input = b"BC\xC0\xDE".to_vec();
        input.extend(body);
        let _ = run_qir(&input, &opts(1));
    }

    #[test]
    fn mangled_text_never_panics(cut in 0usize..2000, junk in "[ -~\n]{0,16}") {
        let mut s = LOOP.to_string();
        let cut = cut.min(s.len());
        s.insert_str(cut, &junk);
        let _ = run_qir(s.as_bytes(), &opts(2));
        let _ = run_qir(&s.as_bytes()[..cut], &opts(2));
    }
}
