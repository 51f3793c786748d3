//! Fuzzes the Quil front end: any input must give a program or an error, never a panic; a small
//! accepted program must instantiate, run and encode as `rigetti.quil-results.v1`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(program) = qws_sim::quil::parse(text) else {
        return;
    };
    if program.num_qubits() > 6 {
        return;
    }
    let Ok(circuit) = program.circuit(&HashMap::new()) else {
        return;
    };
    if circuit.ops.len() > 500 {
        return;
    }
    let opts = qws_sim::run::RunOptions {
        shots: 2,
        seed: Some(0),
        ..Default::default()
    };
    if let Ok(out) = qws_sim::run::run(&circuit, &opts) {
        let _ = qws_sim::quil::quil_results(&program, &[out]);
    }
});
