//! Deterministic fuzzing on stable Rust: every front end gets seed programs mutated by a seeded
//! RNG (bit flips, token insertions, deletions, splices and long repetitions) for a bounded
//! time, on a 2 MiB thread stack, and must answer each input with a value or an error — no
//! panic, no stack overflow, no hang. Accepted small circuits are also run and encoded.
//!
//! `QWS_FUZZ_SECS=<n>` runs each front end for `n` seconds instead of the default one;
//! `QWS_FUZZ_SEED=<n>` changes the seed. The input being tried is kept in
//! `$TMPDIR/qws-fuzz-smoke-<front end>.last`, so an abort leaves the culprit behind.
//! The cargo-fuzz targets in `fuzz/` run the same checks under libFuzzer.

use crate::common::on_small_stack;
use qws_sim::encode::{encode_results, HONEYWELL_RESULTS, IONQ_RESULTS, MICROSOFT_RESULTS_V2};
use qws_sim::qir::{run_qir, QirRunOptions, BITCODE_MAGIC};
use qws_sim::run::{Limits, RunOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

const MAX_INPUT: usize = 64 << 10;
const CORPUS_CAP: usize = 256;

/// Fragments that make mutations reach deep into the grammars: nesting openers, operators,
/// keywords, constant expressions, extreme numbers.
const DICTIONARY: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "+",
    "-",
    "*",
    "/",
    "**",
    "^",
    "~",
    "!",
    "&&",
    "||",
    "==",
    ",",
    ";",
    ":",
    "@",
    "->",
    "pi",
    "0",
    "1",
    "2",
    "9223372036854775807",
    "18446744073709551616",
    "1e308",
    "-0.0",
    "nan",
    "inf",
    "qreg q[",
    "creg c[",
    "qubit[",
    "bit[",
    "gate g(a) x { ",
    "if (",
    "else ",
    "for int i in [0:",
    "ctrl @ ",
    "inv @ ",
    "pow(2) @ ",
    "measure ",
    "reset ",
    "barrier ",
    "sin(",
    "U(",
    "cx ",
    "h ",
    "\"gate\":",
    "\"targets\":[",
    "\"qubits\":",
    "\"rotation\":",
    "\"pauliexp\"",
    "inttoptr (i64 ",
    "bitcast (ptr ",
    " to ptr)",
    "getelementptr (i8, ptr ",
    "call void @__quantum__qis__h__body(",
    "ptr null",
    "%1",
    "br label %b",
    "phi i64 ",
    "[1 x ",
    "\n",
    "\0",
    "\u{FFFF}",
];

fn fuzz_secs() -> f64 {
    std::env::var("QWS_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn fuzz_seed() -> u64 {
    std::env::var("QWS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed)
}

/// One random edit of `input` (bytes may come from `other`, another corpus entry).
fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, other: &[u8]) {
    let at = |rng: &mut ChaCha8Rng, len: usize| rng.gen_range(0..=len);
    match rng.gen_range(0..7) {
        0 if !input.is_empty() => {
            let i = rng.gen_range(0..input.len());
            input[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => {
            let i = at(rng, input.len());
            input.insert(i, rng.gen());
        }
        2 if !input.is_empty() => {
            let a = rng.gen_range(0..input.len());
            let b = (a + rng.gen_range(1..=16)).min(input.len());
            input.drain(a..b);
        }
        3 => {
            let word = DICTIONARY[rng.gen_range(0..DICTIONARY.len())].as_bytes();
            let i = at(rng, input.len());
            input.splice(i..i, word.iter().copied());
        }
        4 if !other.is_empty() => {
            // Splice a piece of another input.
            let a = rng.gen_range(0..other.len());
            let b = (a + rng.gen_range(1..=64)).min(other.len());
            let i = at(rng, input.len());
            input.splice(i..i, other[a..b].iter().copied());
        }
        5 if !input.is_empty() => {
            // Repeat a short slice many times: long chains and deep nesting.
            let a = rng.gen_range(0..input.len());
            let b = (a + rng.gen_range(1..=8)).min(input.len());
            let piece = input[a..b].to_vec();
            let times = [2, 10, 100, 1000, 5000][rng.gen_range(0..5)];
            let mut rep = Vec::with_capacity(piece.len() * times);
            for _ in 0..times {
                rep.extend_from_slice(&piece);
            }
            input.splice(a..a, rep);
        }
        _ => {
            // Repeat a dictionary word (an opener like "(" or "inttoptr (i64 ") many times.
            let word = DICTIONARY[rng.gen_range(0..DICTIONARY.len())].as_bytes();
            let times = [10, 300, 3000][rng.gen_range(0..3)];
            let i = at(rng, input.len());
            input.splice(i..i, word.iter().copied().cycle().take(word.len() * times));
        }
    }
    input.truncate(MAX_INPUT);
}

/// Fuzzes `target` (which returns whether the input was accepted) from `seeds` for the
/// configured time on a small stack; returns the number of inputs tried.
fn fuzz(name: &'static str, seeds: Vec<Vec<u8>>, target: fn(&[u8]) -> bool) -> u64 {
    let budget = Duration::from_secs_f64(fuzz_secs());
    let seed = fuzz_seed();
    on_small_stack(move || {
        let last = std::env::temp_dir().join(format!("qws-fuzz-smoke-{name}.last"));
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name.len() as u64);
        let mut corpus = seeds;
        for s in corpus.clone() {
            assert!(target(&s), "{name}: a seed must be accepted");
        }
        let start = Instant::now();
        let mut tried = 0u64;
        while start.elapsed() < budget {
            let mut input = corpus[rng.gen_range(0..corpus.len())].clone();
            let other = corpus[rng.gen_range(0..corpus.len())].clone();
            for _ in 0..rng.gen_range(1..=4) {
                mutate(&mut rng, &mut input, &other);
            }
            let _ = std::fs::write(&last, &input);
            let accepted = std::panic::catch_unwind(|| target(&input)).unwrap_or_else(|_| {
                panic!(
                    "{name} panicked on input {:?}",
                    String::from_utf8_lossy(&input)
                )
            });
            if accepted && corpus.len() < CORPUS_CAP {
                corpus.push(input);
            }
            tried += 1;
        }
        let _ = std::fs::remove_file(&last);
        eprintln!(
            "{name}: {tried} inputs in {:.1}s, corpus {}",
            start.elapsed().as_secs_f64(),
            corpus.len()
        );
        tried
    })
}

/// Runs and encodes circuits small enough to simulate at once; rejections are fine.
fn run_small(circuit: &qws_sim::ir::Circuit) {
    if circuit.num_qubits > 6 || circuit.ops.len() > 500 {
        return;
    }
    let opts = RunOptions {
        shots: 2,
        seed: Some(0),
        ..Default::default()
    };
    let _ = qws_sim::run::run(circuit, &opts);
    for format in [IONQ_RESULTS, HONEYWELL_RESULTS, MICROSOFT_RESULTS_V2] {
        let _ = encode_results(format, circuit, &opts);
    }
}

fn qasm2_target(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match qws_sim::qasm::parse_qasm2(text) {
        Ok(c) => {
            run_small(&c);
            true
        }
        Err(_) => false,
    }
}

fn qasm3_target(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match qws_sim::qasm::parse(text) {
        Ok(c) => {
            run_small(&c);
            true
        }
        Err(_) => false,
    }
}

fn quil_target(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(program) = qws_sim::quil::parse(text) else {
        return false;
    };
    if let Ok(c) = program.circuit(&Default::default()) {
        run_small(&c);
    }
    true
}

fn ionq_target(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match qws_sim::ionq::parse(text) {
        Ok(c) => {
            run_small(&c);
            true
        }
        Err(_) => false,
    }
}

fn qir_opts() -> QirRunOptions {
    QirRunOptions {
        shots: 2,
        seed: Some(1),
        limits: Limits {
            max_qubits: 10,
            ..Limits::default()
        },
        max_steps_per_shot: 10_000,
        max_total_steps: 20_000,
        ..QirRunOptions::default()
    }
}

fn qir_target(data: &[u8]) -> bool {
    let _ = qws_sim::qir::requirements(data);
    run_qir(data, &qir_opts()).is_ok()
}

fn qir_bitcode_target(data: &[u8]) -> bool {
    // Keep the magic so mutations exercise the bitcode reader, not the text one.
    let mut input = BITCODE_MAGIC.to_vec();
    input.extend_from_slice(data.get(4..).unwrap_or_default());
    qir_target(&input)
}

fn seeds(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

const QASM2_SEEDS: &[&str] = &[
    "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n",
    "OPENQASM 2.0;\ninclude \"qelib1.inc\";\ngate my(t) a, b { rz(t/2) a; cx a, b; u3(pi, -t^2, 0.5*t) b; }\nqreg q[3];\ncreg c[3];\nmy(pi/4) q[0], q[2];\nbarrier q;\nmeasure q[0] -> c[0];\nif(c==1) x q[1];\nreset q[2];\nmeasure q -> c;\n",
    "OPENQASM 2.0;\nqreg q[1];\ncreg c[1];\nU(-(1+2)*3/4, sin(0.1)+cos(pi), exp(ln(2))) q[0];\nmeasure q[0] -> c[0];\n",
];

const QASM3_SEEDS: &[&str] = &[
    "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n",
    "OPENQASM 3;\ninclude \"stdgates.inc\";\nconst int n = 3;\nqubit[n] q;\nbit[n] c;\nfloat t = pi / 8;\nfor int i in [0:n-1] { ry(t * (i + 1)) q[i]; }\nctrl @ x q[0], q[1];\ninv @ pow(2) @ s q[2];\nc[0] = measure q[0];\nif (c[0] == 1 && !(c[0] != 1)) { x q[2]; } else { h q[2]; }\nfor int k in {1, 2} { t += k ** 2 % 3; }\nrz(t) q[1];\nc = measure q;\n",
];

const IONQ_SEEDS: &[&str] = &[
    r#"{"gateset":"qis","qubits":2,"circuit":[{"gate":"h","targets":[0]},{"gate":"x","targets":[1],"controls":[0]}]}"#,
    r#"{"gateset":"native","qubits":3,"circuit":[{"gate":"gpi2","target":0,"phase":0.25},{"gate":"ms","targets":[0,1],"phases":[0,0.5],"angle":0.25},{"gate":"zz","targets":[1,2],"angle":0.1}]}"#,
    r#"{"qubits":2,"circuit":[{"gate":"rx","targets":[0],"rotation":1.5},{"gate":"pauliexp","targets":[0,1],"terms":["ZZ","XX"],"coefficients":[0.5,0.25],"time":1}]}"#,
];

const QUIL_SEEDS: &[&str] = &[
    "DECLARE ro BIT[2]\nH 0\nCNOT 0 1\nMEASURE 0 ro[0]\nMEASURE 1 ro[1]\n",
    "DECLARE ro BIT[1]\nDECLARE theta REAL[2]\nRX(theta[0]*2 - pi/4) 3\nCONTROLLED DAGGER RZ(-theta[1]) 3 7\nCPHASE01(sin(0.5)^2) 7 3\nMEASURE 3 ro\nRESET\n",
    "DEFGATE G(%a):\n    cos(%a), -i*sin(%a)\n    -i*sin(%a), cos(%a)\nDEFGATE P AS PERMUTATION:\n    0, 1, 3, 2\nDECLARE ro BIT[2]\nG(0.3) 0\nP 0 1\nXY(pi) 0 1; PSWAP(1.0) 1 0\nMEASURE 1 ro[1]\nPRAGMA INITIAL_REWIRING \"PARTIAL\"\n",
];

const QIR_TEXT_SEEDS: &[&str] = &[
    include_str!("data/bell.ll"),
    r#"define void @main() #0 {
entry:
  call void @__quantum__qis__h__body(ptr null)
  call void @__quantum__qis__mz__body(ptr null, ptr null)
  %r = call i1 @__quantum__rt__read_result(ptr null)
  br i1 %r, label %then, label %done
then:
  %q = inttoptr i64 1 to ptr
  call void @__quantum__qis__rx__body(double 0x3FF0000000000000, ptr %q)
  br label %done
done:
  %v = phi i64 [ 1, %then ], [ 0, %entry ]
  %w = add i64 %v, 2
  call void @__quantum__qis__mz__body(ptr inttoptr (i64 1 to ptr), ptr inttoptr (i64 1 to ptr))
  call void @__quantum__rt__tuple_record_output(i64 2, ptr null)
  call void @__quantum__rt__result_record_output(ptr null, ptr null)
  call void @__quantum__rt__int_record_output(i64 %w, ptr null)
  ret void
}
declare void @__quantum__qis__h__body(ptr)
declare void @__quantum__qis__rx__body(double, ptr)
declare void @__quantum__qis__mz__body(ptr, ptr)
declare i1 @__quantum__rt__read_result(ptr)
declare void @__quantum__rt__tuple_record_output(i64, ptr)
declare void @__quantum__rt__result_record_output(ptr, ptr)
declare void @__quantum__rt__int_record_output(i64, ptr)
attributes #0 = { "entry_point" "qir_profiles"="adaptive_profile" "required_num_qubits"="2" "required_num_results"="2" }
"#,
];

#[test]
fn fuzz_smoke_qasm2() {
    let n = fuzz("qasm2", seeds(QASM2_SEEDS), qasm2_target);
    assert!(n > 0);
}

#[test]
fn fuzz_smoke_qasm3() {
    let n = fuzz("qasm3", seeds(QASM3_SEEDS), qasm3_target);
    assert!(n > 0);
}

#[test]
fn fuzz_smoke_ionq() {
    let n = fuzz("ionq", seeds(IONQ_SEEDS), ionq_target);
    assert!(n > 0);
}

#[test]
fn fuzz_smoke_quil() {
    let n = fuzz("quil", seeds(QUIL_SEEDS), quil_target);
    assert!(n > 0);
}

#[test]
fn fuzz_smoke_qir_text() {
    let n = fuzz("qir_text", seeds(QIR_TEXT_SEEDS), qir_target);
    assert!(n > 0);
}

#[test]
fn fuzz_smoke_qir_bitcode() {
    let seeds = vec![include_bytes!("data/bell.bc").to_vec()];
    let n = fuzz("qir_bitcode", seeds, qir_bitcode_target);
    assert!(n > 0);
}
