//! The Quil front end against known states: the standard gates, DEFGATE matrices and
//! permutations, modifiers, memory, substitutions, and clear errors for what it refuses.

use qws_sim::quil::{parse, parse_with, quil_results, substitution_runs, QuilLimits};
use qws_sim::run::{final_state, run, RunOptions};
use qws_sim::SimError;
use serde_json::{json, Value};
use std::collections::HashMap;

fn results(src: &str, shots: u64, subs: Option<Value>) -> Value {
    let p = parse(src).unwrap();
    let runs = substitution_runs(&p, subs.as_ref()).unwrap();
    let outs: Vec<_> = runs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let opts = RunOptions {
                shots,
                seed: Some(i as u64),
                ..Default::default()
            };
            run(&p.circuit(v).unwrap(), &opts).unwrap()
        })
        .collect();
    quil_results(&p, &outs)
}

/// Probabilities of the final state of a measurement-free program (qubit labels packed in
/// order of first use).
fn probs(src: &str) -> Vec<f64> {
    let c = parse(src).unwrap().circuit(&HashMap::new()).unwrap();
    final_state(&c, &RunOptions::default())
        .unwrap()
        .probabilities()
}

#[test]
fn readme_bell_example_and_result_shape() {
    let v = results(
        "DECLARE ro BIT[2]\n\nH 0\nCNOT 0 1\n\nMEASURE 0 ro[0]\nMEASURE 1 ro[1]\n",
        50,
        None,
    );
    let rows = v["ro"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    assert!(rows
        .iter()
        .all(|r| r == &json!([0, 0]) || r == &json!([1, 1])));
    assert!(rows.contains(&json!([0, 0])) && rows.contains(&json!([1, 1])));
}

#[test]
fn standard_gates_match_their_definitions() {
    // X, then controlled ops.
    assert_eq!(probs("X 0\nCNOT 0 1")[3], 1.0);
    assert!((probs("X 0\nX 1\nCCNOT 0 1 2")[7] - 1.0).abs() < 1e-12);
    assert!((probs("X 1\nSWAP 0 1")[1] - 1.0).abs() < 1e-12);
    assert!((probs("X 0\nX 2\nCSWAP 0 1 2")[3] - 1.0).abs() < 1e-12);
    // RX(π) flips; PHASE only changes phases.
    assert!((probs("RX(pi) 0")[1] - 1.0).abs() < 1e-12);
    assert!((probs("PHASE(1.2) 0\nRZ(0.3) 0")[0] - 1.0).abs() < 1e-12);
    // XY(π) on |01> swaps the excitation; PSWAP too.
    assert!((probs("X 1\nXY(pi) 0 1")[1] - 1.0).abs() < 1e-9);
    assert!((probs("X 1\nPSWAP(0.7) 0 1")[1] - 1.0).abs() < 1e-9);
    // ISWAP on |01> gives i|10>.
    assert!((probs("X 1\nISWAP 0 1")[1] - 1.0).abs() < 1e-9);
}

#[test]
fn defgate_matrix_permutation_and_modifiers() {
    // A parametric DEFGATE equal to RX(2a).
    let src =
        "DEFGATE MYRX(%a):\n    cos(%a), -i*sin(%a)\n    -i*sin(%a), cos(%a)\n\nMYRX(pi/2) 0\n";
    assert!((probs(src)[1] - 1.0).abs() < 1e-12);
    // A permutation: CNOT with the first argument as control (most significant).
    let src = "DEFGATE MYCNOT AS PERMUTATION:\n    0, 1, 3, 2\nX 4\nMYCNOT 4 9\n";
    assert!((probs(src)[3] - 1.0).abs() < 1e-12);
    // DAGGER undoes; CONTROLLED takes its control first.
    assert!((probs("RY(0.4) 0\nDAGGER RY(0.4) 0")[0] - 1.0).abs() < 1e-12);
    assert!((probs("CONTROLLED X 0 1")[0] - 1.0).abs() < 1e-12);
    assert!((probs("X 0\nCONTROLLED X 0 1")[3] - 1.0).abs() < 1e-12);
    // A non-unitary matrix is refused.
    let e = parse("DEFGATE BAD:\n    1, 1\n    0, 1\nBAD 0\n")
        .unwrap()
        .circuit(&HashMap::new())
        .unwrap_err();
    assert!(e.to_string().contains("not unitary"), "{e}");
}

#[test]
fn substitutions_are_runs_of_shots() {
    let src = "DECLARE ro BIT[2]\nDECLARE theta REAL[2]\nRX(theta[0]) 0\nRX(theta[1]) 1\nMEASURE 0 ro[0]\nMEASURE 1 ro[1]\n";
    let pi = std::f64::consts::PI;
    let v = results(src, 2, Some(json!({"theta": [[0.0, pi], [pi, 0.0]]})));
    assert_eq!(v, json!({"ro": [[0, 1], [0, 1], [1, 0], [1, 0]]}));
    let p = parse(src).unwrap();
    for (bad, want) in [
        (json!({"theta": [[0.0]]}), "2 finite numbers"),
        (json!({"ro": [[0.0, 1.0]]}), "not declared REAL"),
        (json!({"theta": []}), "1 to 10000"),
        (json!([1]), "map region names"),
    ] {
        let e = substitution_runs(&p, Some(&bad)).unwrap_err();
        assert!(e.to_string().contains(want), "{bad}: {e}");
    }
}

#[test]
fn refused_programs_say_what_and_where() {
    for (src, want) in [
        (
            "H 0\nLABEL @loop\n",
            "2:1: unsupported: classical instruction LABEL",
        ),
        ("DEFCAL X 0:\n    NOP\n", "unsupported: DEFCAL"),
        ("FOO 0\n", "unknown gate 'FOO'"),
        ("CNOT 0 0\n", "used twice"),
        ("RX(1) 0 1\n", "takes 1 parameter(s) and 1 qubit(s)"),
        ("DECLARE ro BIT[2]\nMEASURE 0 ro[5]\n", "out of range"),
        ("DECLARE ro BIT\nDECLARE ro BIT\n", "declared twice"),
        ("RX(undeclared) 0\n", "not declared"),
        ("FORKED RX(1, 2) 0 1\n", "FORKED"),
        ("RX(((((((1) 0\n", "unbalanced"),
    ] {
        let e = parse(src)
            .and_then(|p| p.circuit(&HashMap::new()).map(|_| ()))
            .unwrap_err();
        assert!(e.to_string().contains(want), "{src:?}: {e}");
    }
}

#[test]
fn bounds_hold() {
    let limits = QuilLimits {
        max_instructions: 10,
        ..Default::default()
    };
    let long = "X 0\n".repeat(20);
    assert!(matches!(
        parse_with(&long, &limits),
        Err(SimError::Limit(_))
    ));
    let deep = format!("RX({}1{}) 0", "(".repeat(500), ")".repeat(500));
    assert!(parse(&deep).is_err());
    assert!(matches!(
        parse("DECLARE big BIT[100000000]"),
        Err(SimError::Limit(_))
    ));
}
