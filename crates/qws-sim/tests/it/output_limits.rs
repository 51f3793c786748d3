//! Result memory is bounded before it is allocated: `Limits::max_output_bytes` caps the shots a
//! run keeps and the encoded document, `encode::output_bytes` lets a caller see the size up
//! front, and the streaming encoders write documents without a JSON tree per shot.

use qws_sim::encode::{
    self, check_output, encode_results, output_bytes, HONEYWELL_RESULTS, IONQ_RESULTS,
    MICROSOFT_RESULTS_V2,
};
use qws_sim::qir::{run_qir, QirRunOptions};
use qws_sim::run::{run, run_counts, Limits, RunOptions};
use qws_sim::SimError;
use serde_json::Value;
use std::time::Instant;

fn opts(shots: u64, limits: Limits) -> RunOptions {
    RunOptions {
        shots,
        seed: Some(11),
        limits,
        ..Default::default()
    }
}

fn assert_output_limit<T: std::fmt::Debug>(r: Result<T, SimError>) {
    match r {
        Err(SimError::Limit(m)) => assert!(m.contains("the output limit is"), "{m}"),
        other => panic!("expected the output limit, got {other:?}"),
    }
}

/// The poison job: one qubit, 65,536 classical bits, 200,000 shots — 1.6 GB of shot bits and
/// far more as JSON.
fn wide_register() -> qws_sim::ir::Circuit {
    qws_sim::qasm::parse(
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[1];\ncreg c[65536];\nx q[0];\n",
    )
    .unwrap()
}

#[test]
fn a_wide_register_with_many_shots_is_refused_before_allocating() {
    let c = wide_register();
    let start = Instant::now();
    assert_output_limit(run(&c, &opts(200_000, Limits::default())));
    for format in [HONEYWELL_RESULTS, MICROSOFT_RESULTS_V2] {
        assert_output_limit(check_output(format, &c, 200_000, &Limits::default()));
        assert_output_limit(encode_results(
            format,
            &c,
            &opts(200_000, Limits::default()),
        ));
    }
    // Refused from the sizes alone: nothing was simulated or allocated.
    assert!(start.elapsed().as_secs() < 5);
    let bytes = output_bytes(MICROSOFT_RESULTS_V2, &c, 200_000).unwrap();
    assert!(bytes > 200_000 * 2 * 65_536, "{bytes}");
}

#[test]
fn the_output_limit_is_configurable() {
    let c = wide_register();
    let tight = Limits {
        max_output_bytes: 1 << 20,
        ..Limits::default()
    };
    // 200 shots of 65,536 bits are 1.6 MB of bits: over 1 MiB, under the default.
    assert_output_limit(run(&c, &opts(200, tight)));
    let out = run(&c, &opts(200, Limits::default())).unwrap();
    assert_eq!(out.shots.len(), 200);
}

#[test]
fn the_estimate_bounds_the_encoded_size() {
    let circuits = [
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg a[2];\ncreg b[1];\nh q;\nmeasure q[0] -> a[0];\nmeasure q[1] -> a[1];\nmeasure q[2] -> b[0];\n",
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[5] q;\nbit[5] c;\nh q;\nc = measure q;\n",
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[1];\ncreg c[300];\nx q[0];\nmeasure q[0] -> c[299];\n",
    ];
    for src in circuits {
        let c = qws_sim::qasm::parse(src).unwrap();
        for shots in [1, 7, 500] {
            for format in [IONQ_RESULTS, HONEYWELL_RESULTS, MICROSOFT_RESULTS_V2] {
                if format == IONQ_RESULTS && c.num_clbits > 64 {
                    continue;
                }
                let o = opts(shots, Limits::default());
                let estimate = output_bytes(format, &c, shots).unwrap();
                let bytes = if format == IONQ_RESULTS {
                    // The estimate is of the sampled histogram; an exact one is bounded by the
                    // number of outcomes (and computed only within the limit).
                    let exact = encode_results(format, &c, &o).unwrap();
                    assert!(exact.len() as u64 <= 32 + (48 << c.num_clbits.min(c.num_qubits)));
                    let sampled = run_counts(&c, &o).unwrap().distribution().unwrap();
                    serde_json::to_vec(&encode::ionq_histogram(&sampled)).unwrap()
                } else {
                    encode_results(format, &c, &o).unwrap()
                };
                assert!(
                    bytes.len() as u64 <= estimate,
                    "{format}, {shots} shots: {} > {estimate}",
                    bytes.len()
                );
            }
        }
    }
    assert!(matches!(
        output_bytes("x.y", &wide_register(), 1),
        Err(SimError::Unsupported(_))
    ));
}

#[test]
fn streamed_documents_equal_the_json_tree_encoders() {
    let c = qws_sim::qasm::parse(
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg a[2];\ncreg b[1];\nh q[0];\ncx q[0],q[1];\nh q[2];\nmeasure q[0] -> a[0];\nmeasure q[1] -> a[1];\nmeasure q[2] -> b[0];\n",
    )
    .unwrap();
    let o = opts(300, Limits::default());
    let out = run(&c, &o).unwrap();
    let parse = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).unwrap();
    assert_eq!(
        parse(encode_results(HONEYWELL_RESULTS, &c, &o).unwrap()),
        encode::honeywell_results(&c, &out)
    );
    let streamed = encode_results(MICROSOFT_RESULTS_V2, &c, &o).unwrap();
    // Same keys in the same order as the tree encoder writes them.
    assert_eq!(
        String::from_utf8(streamed).unwrap(),
        serde_json::to_string(&encode::microsoft_v2_results(&out)).unwrap()
    );
    assert_eq!(
        parse(encode_results(IONQ_RESULTS, &c, &o).unwrap()),
        encode::ionq_results(&c, &o, None).unwrap()
    );
}

#[test]
fn counting_shots_gives_the_histogram_of_the_stored_shots() {
    // Mid-circuit measurement and a conditional: shots run one by one.
    let c = qws_sim::qasm::parse(
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\nc[0] = measure q[0];\nif (c[0]) { x q[1]; }\nh q[1];\nc[1] = measure q[1];\n",
    )
    .unwrap();
    let o = opts(400, Limits::default());
    let stored = encode::shot_distribution(&run(&c, &o).unwrap()).unwrap();
    let counted = run_counts(&c, &o).unwrap();
    assert_eq!(counted.counts.values().sum::<u64>(), 400);
    assert_eq!(counted.distribution().unwrap(), stored);
}

#[test]
fn an_exact_histogram_too_large_for_the_limit_is_sampled_instead() {
    // 20 qubits in uniform superposition: 2^20 exact entries, about 50 MB of JSON.
    let c = qws_sim::qasm::parse(
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[20] q;\nbit[20] c;\nh q;\nc = measure q;\n",
    )
    .unwrap();
    let tight = Limits {
        max_output_bytes: 1 << 20,
        ..Limits::default()
    };
    assert!(encode::exact_distribution(&c, &opts(1, tight.clone()))
        .unwrap()
        .is_none());
    let doc: Value =
        serde_json::from_slice(&encode_results(IONQ_RESULTS, &c, &opts(1000, tight)).unwrap())
            .unwrap();
    let h = doc["histogram"].as_object().unwrap();
    assert!(!h.is_empty() && h.len() <= 1000);
    let total: f64 = h.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    // Within the default limit the exact histogram is still used.
    let small = qws_sim::qasm::parse(
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q;\nc = measure q;\n",
    )
    .unwrap();
    let exact = encode::exact_distribution(&small, &opts(1, Limits::default())).unwrap();
    assert_eq!(exact.unwrap().len(), 4);
}

/// Records one result per shot, through the interpreter (the branch keeps it adaptive).
const QIR_RECORDS: &str = r#"define void @main() #0 {
entry:
  call void @__quantum__qis__mz__body(ptr null, ptr null)
  %r = call i1 @__quantum__rt__read_result(ptr null)
  br i1 %r, label %a, label %b
a:
  br label %b
b:
  call void @__quantum__rt__array_record_output(i64 2, ptr null)
  call void @__quantum__rt__result_record_output(ptr null, ptr null)
  call void @__quantum__rt__result_record_output(ptr null, ptr null)
  ret void
}
declare void @__quantum__qis__mz__body(ptr, ptr)
declare i1 @__quantum__rt__read_result(ptr)
declare void @__quantum__rt__array_record_output(i64, ptr)
declare void @__quantum__rt__result_record_output(ptr, ptr)
attributes #0 = { "entry_point" "qir_profiles"="adaptive_profile" "required_num_qubits"="1" "required_num_results"="1" }
"#;

#[test]
fn qir_recorded_output_is_charged_against_the_output_limit() {
    let qopts = |shots, max_output_bytes| QirRunOptions {
        shots,
        seed: Some(2),
        limits: Limits {
            max_output_bytes,
            ..Limits::default()
        },
        ..Default::default()
    };
    let doc = run_qir(QIR_RECORDS.as_bytes(), &qopts(100, 1 << 20)).unwrap();
    assert_eq!(doc["Results"][0]["Shots"].as_array().unwrap().len(), 100);
    assert_output_limit(run_qir(QIR_RECORDS.as_bytes(), &qopts(100_000, 1 << 20)));
}
