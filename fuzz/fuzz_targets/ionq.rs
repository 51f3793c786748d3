//! Fuzzes the IonQ JSON front end: any input must give a circuit or an error, never a panic, and a
//! small accepted circuit must validate, run and encode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(circuit) = qws_sim::ionq::parse(text) {
        qws_sim_fuzz_run(&circuit);
    }
});

/// Runs circuits small enough to simulate quickly; rejections are fine, panics are not.
fn qws_sim_fuzz_run(circuit: &qws_sim::ir::Circuit) {
    if circuit.num_qubits > 6 || circuit.ops.len() > 500 {
        return;
    }
    let opts = qws_sim::run::RunOptions {
        shots: 2,
        seed: Some(0),
        ..Default::default()
    };
    let _ = qws_sim::run::run(circuit, &opts);
    for format in [
        qws_sim::encode::IONQ_RESULTS,
        qws_sim::encode::HONEYWELL_RESULTS,
        qws_sim::encode::MICROSOFT_RESULTS_V2,
    ] {
        let _ = qws_sim::encode::encode_results(format, circuit, &opts);
    }
}
