//! The `Program` façade: one entry point from bytes to a result document.

use qws_sim::encode::{self, HONEYWELL_RESULTS, IONQ_RESULTS, MICROSOFT_RESULTS_V2};
use qws_sim::program::{Histogram, InputFormat, ParseLimits, Program, ProgramOptions};
use qws_sim::run::{Limits, RunOptions};
use qws_sim::{Precision, SimError};
use serde_json::Value;

const BELL: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n";
const MID: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\nc[0] = measure q[0];\nif (c[0]) x q[1];\nc[1] = measure q[1];\n";

fn parse(format: InputFormat, text: &str) -> Program {
    Program::parse(format, text.as_bytes(), &ParseLimits::default()).unwrap()
}

fn opts(seed: u64, histogram: Histogram) -> ProgramOptions<'static> {
    ProgramOptions {
        run: RunOptions {
            shots: 200,
            seed: Some(seed),
            ..RunOptions::default()
        },
        histogram,
        ..ProgramOptions::default()
    }
}

fn doc(bytes: Vec<u8>) -> Value {
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_circuit_runs_to_the_same_documents_as_the_encoders() {
    let p = parse(InputFormat::Qasm, BELL);
    let Program::Circuits(cs) = &p else {
        panic!("one circuit")
    };
    for format in [IONQ_RESULTS, HONEYWELL_RESULTS, MICROSOFT_RESULTS_V2] {
        let o = opts(4, Histogram::ExactOrSampled);
        let ours = p.run(format, &o).unwrap();
        let mut run = o.run.clone();
        run.precision = Some(Precision::Double);
        assert_eq!(
            ours,
            encode::encode_results(format, &cs[0], &run).unwrap(),
            "{format}"
        );
    }
    let h = doc(p.run(IONQ_RESULTS, &opts(1, Histogram::Exact)).unwrap());
    assert!(
        (h["histogram"]["0"].as_f64().unwrap() - 0.5).abs() < 1e-6,
        "{h}"
    );
    let needs = p.check(HONEYWELL_RESULTS, 200, &Limits::default()).unwrap();
    assert_eq!(needs.qubits, 2);
    assert!(needs.output_bytes >= 200 * 4, "{needs:?}");
}

#[test]
fn ionq_histograms_are_exact_sampled_or_refused_as_asked() {
    let p = parse(InputFormat::Qasm3, MID);
    // Mid-circuit measurement: no exact probabilities.
    let e = p.run(IONQ_RESULTS, &opts(2, Histogram::Exact)).unwrap_err();
    assert!(matches!(e, SimError::Unsupported(_)), "{e}");
    let auto = doc(p
        .run(IONQ_RESULTS, &opts(2, Histogram::ExactOrSampled))
        .unwrap());
    let sampled = doc(p.run(IONQ_RESULTS, &opts(2, Histogram::Sampled)).unwrap());
    assert_eq!(auto, sampled);
    // Outcomes 00 and 11 (bit 1 follows bit 0), each a multiple of 1/200.
    let h = sampled["histogram"].as_object().unwrap();
    assert!(h.keys().all(|k| k == "0" || k == "3"), "{sampled}");
    for v in h.values() {
        let k = v.as_f64().unwrap() * 200.0;
        assert!((k - k.round()).abs() < 1e-9, "{v}");
    }
}

#[test]
fn formats_are_dispatched_and_bad_input_is_refused_clearly() {
    assert_eq!(
        InputFormat::from_data_format("honeywell.openqasm.v1"),
        Some(InputFormat::Qasm)
    );
    assert_eq!(InputFormat::from_data_format("cirq.v1"), None);
    assert!(InputFormat::Qir.produces(MICROSOFT_RESULTS_V2));
    assert!(!InputFormat::Qir.produces(IONQ_RESULTS));
    assert_eq!(
        InputFormat::detect("// x\nOPENQASM 2.0;"),
        Ok(InputFormat::Qasm2)
    );
    assert_eq!(
        InputFormat::detect(" {\"qubits\":1}"),
        Ok(InputFormat::Ionq)
    );
    assert!(InputFormat::detect("hello").is_err());

    let e = Program::parse(
        InputFormat::Qasm,
        b"OPENQASM 2.0;\xff",
        &ParseLimits::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The input is not UTF-8 text (invalid byte at offset 13)."
    );
    let e = Program::parse(
        InputFormat::Qir,
        b"define void @f()",
        &ParseLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, SimError::Input(_)), "{e}");
    let small = ParseLimits { max_input_bytes: 8 };
    let e = Program::parse(InputFormat::Qasm, BELL.as_bytes(), &small).unwrap_err();
    assert!(matches!(e, SimError::Limit(_)), "{e}");

    // IonQ multi-circuit jobs produce IonQ histograms only.
    let multi =
        r#"{"qubits":1,"circuits":[{"circuit":[{"gate":"x","targets":[0]}]},{"circuit":[]}]}"#;
    let p = parse(InputFormat::Ionq, multi);
    let e = p
        .check(MICROSOFT_RESULTS_V2, 10, &Limits::default())
        .unwrap_err();
    assert!(matches!(e, SimError::Unsupported(_)), "{e}");
    let out = doc(p.run(IONQ_RESULTS, &opts(3, Histogram::default())).unwrap());
    let children: Vec<&Value> = out.as_object().unwrap().values().collect();
    assert_eq!(
        children,
        [
            &serde_json::json!({"1": 1.0}),
            &serde_json::json!({"0": 1.0})
        ]
    );
}

#[test]
fn qir_and_quil_run_through_the_same_entry_point() {
    let ll = include_str!("data/bell.ll");
    let p = parse(InputFormat::Qir, ll);
    let needs = p
        .check(MICROSOFT_RESULTS_V2, 10, &Limits::default())
        .unwrap();
    assert_eq!(needs.qubits, 2);
    let out = doc(p
        .run(MICROSOFT_RESULTS_V2, &opts(5, Histogram::default()))
        .unwrap());
    assert_eq!(out["Results"][0]["Shots"].as_array().unwrap().len(), 200);

    let quil = "DECLARE ro BIT[1]\nDECLARE theta REAL[1]\nRX(theta[0]) 0\nMEASURE 0 ro[0]\n";
    let subs = serde_json::json!({"theta": [[0.0], [std::f64::consts::PI]]});
    let p = parse(InputFormat::Quil, quil)
        .with_substitutions(Some(&subs))
        .unwrap();
    let mut o = opts(6, Histogram::default());
    o.run.shots = 2;
    let out = doc(p.run("rigetti.quil-results.v1", &o).unwrap());
    assert_eq!(out, serde_json::json!({"ro": [[0], [0], [1], [1]]}));
}
