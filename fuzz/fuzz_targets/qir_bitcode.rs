//! LLVM bitcode QIR: any bytes after the magic must decode and run (or fail) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qws_sim::qir::{run_qir, QirRunOptions, BITCODE_MAGIC};
use qws_sim::run::Limits;

fuzz_target!(|data: &[u8]| {
    let mut input = BITCODE_MAGIC.to_vec();
    input.extend_from_slice(data);
    let opts = QirRunOptions {
        shots: 2,
        seed: Some(1),
        limits: Limits {
            max_qubits: 10,
            ..Limits::default()
        },
        max_steps_per_shot: 10_000,
        max_total_steps: 20_000,
        ..QirRunOptions::default()
    };
    let _ = qws_sim::qir::requirements(&input);
    let _ = run_qir(&input, &opts);
});
