//! Poison programs: input built to exhaust the stack (deep or long expressions, deep constant
//! expressions) must fail with a clean error on a small thread stack, never abort the process.
//!
//! Each case runs on a thread with a 2 MiB stack — the size of a spawned thread's default stack
//! — so a recursion that is unbounded, or bounded too generously for a debug build, overflows
//! here and aborts the test binary.

use crate::common::on_small_stack;
use qws_sim::qir::{run_qir, QirRunOptions};
use qws_sim::SimError;

/// Parses `src` as OpenQASM (version from the header) on a small stack.
fn qasm(src: String) -> Result<qws_sim::ir::Circuit, SimError> {
    on_small_stack(move || qws_sim::qasm::parse(&src))
}

fn qir(src: String) -> Result<serde_json::Value, SimError> {
    on_small_stack(move || {
        run_qir(
            src.as_bytes(),
            &QirRunOptions {
                seed: Some(1),
                ..Default::default()
            },
        )
    })
}

/// Asserts a `Parse` or `Limit` error whose message mentions `needle`.
fn assert_limit_error<T: std::fmt::Debug>(r: Result<T, SimError>, needle: &str) {
    match r {
        Err(e @ (SimError::Parse { .. } | SimError::Limit(_))) => {
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle}"
            )
        }
        other => panic!("expected a parse/limit error mentioning {needle}, got {other:?}"),
    }
}

fn qasm2_with_angle(expr: &str) -> String {
    format!("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[1];\nrx({expr}) q[0];\n")
}

fn qasm3_with_angle(expr: &str) -> String {
    format!("OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[1] q;\nrx({expr}) q[0];\n")
}

fn flat_sum(terms: usize) -> String {
    vec!["0"; terms].join("+")
}

#[test]
fn qasm2_long_flat_sum_is_refused() {
    assert_limit_error(qasm(qasm2_with_angle(&flat_sum(30_000))), "expression");
}

#[test]
fn qasm3_long_flat_sum_is_refused() {
    assert_limit_error(qasm(qasm3_with_angle(&flat_sum(30_000))), "expression");
    // Every binary level builds the same left-deep chain.
    for op in ["*", "-", "/", "**", "|", "&&", "<<", "=="] {
        let e = vec!["1"; 30_000].join(op);
        assert!(qasm(qasm3_with_angle(&e)).is_err(), "{op}");
    }
}

#[test]
fn long_flat_sum_in_a_register_size_and_index_is_refused() {
    let sum = flat_sum(30_000);
    assert_limit_error(
        qasm(format!("OPENQASM 2.0;\nqreg q[1+{sum}];\n")),
        "expression",
    );
    assert_limit_error(
        qasm(format!("OPENQASM 3;\nqubit[2] q;\nreset q[{sum}];\n")),
        "expression",
    );
    assert_limit_error(
        qasm(format!(
            "OPENQASM 3;\nqubit[1] q;\nfor int i in [0:{sum}] {{ reset q[0]; }}\n"
        )),
        "expression",
    );
}

#[test]
fn a_sum_within_the_limits_still_evaluates() {
    // 200 terms is far beyond real programs and well inside the bound.
    let c = qasm(qasm2_with_angle(&vec!["0.005"; 200].join("+"))).expect("parses");
    let qws_sim::ir::Op::Gate(g) = &c.ops[0] else {
        panic!("a gate")
    };
    assert!((g.gate.params()[0] - 1.0).abs() < 1e-9);
}

#[test]
fn deeply_nested_parentheses_are_refused() {
    let deep = format!("{}0{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_limit_error(qasm(qasm2_with_angle(&deep)), "nest");
    assert_limit_error(qasm(qasm3_with_angle(&deep)), "nest");
    // Nesting just inside the bound parses and evaluates on the small stack.
    let ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    qasm(qasm3_with_angle(&ok)).expect("moderate nesting parses");
}

#[test]
fn deep_unary_chains_are_refused() {
    for op in ["-", "+", "!", "~", "-(", "sin("] {
        let close = if op.ends_with('(') { ")" } else { "" };
        let deep = format!("{}1{}", op.repeat(100_000), close.repeat(100_000));
        assert!(qasm(qasm3_with_angle(&deep)).is_err(), "{op}");
        assert!(qasm(qasm2_with_angle(&deep)).is_err(), "{op}");
    }
}

#[test]
fn long_power_towers_are_refused() {
    // `**` is right-associative: a right-deep chain.
    assert!(qasm(qasm3_with_angle(&vec!["1"; 30_000].join("**"))).is_err());
    assert!(qasm(qasm2_with_angle(&vec!["1"; 30_000].join("^"))).is_err());
}

#[test]
fn long_gate_argument_lists_fail_cleanly() {
    let params = vec!["0"; 100_000].join(",");
    assert!(qasm(qasm2_with_angle(&params)).is_err());
    let qubits = vec!["q[0]"; 100_000].join(",");
    assert!(qasm(format!(
        "OPENQASM 2.0;\nqreg q[1];\nbarrier {qubits};\ncx {qubits};\n"
    ))
    .is_err());
    let calls = vec!["sin(0)"; 30_000].join("+");
    assert!(qasm(qasm3_with_angle(&calls)).is_err());
}

#[test]
fn deeply_nested_blocks_are_refused() {
    let ifs = "if (c[0]) { ".repeat(100_000);
    let src = format!("OPENQASM 3;\nqubit[1] q;\nbit[1] c;\n{ifs}");
    assert_limit_error(qasm(src), "nest");
    let blocks = format!(
        "OPENQASM 3;\nqubit[1] q;\n{}x q[0];{}",
        "{ ".repeat(100_000),
        "} ".repeat(100_000)
    );
    assert_limit_error(qasm(blocks), "nest");
    // Nesting inside the bound lowers and runs on the small stack.
    let src = format!(
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[1] q;\nbit[1] c;\n{}x q[0];{}\n",
        "if (c[0] == 0) { ".repeat(60),
        "} ".repeat(60)
    );
    let c = qasm(src).expect("moderate nesting parses");
    on_small_stack(move || {
        qws_sim::run::run(
            &c,
            &qws_sim::run::RunOptions {
                shots: 2,
                seed: Some(1),
                ..Default::default()
            },
        )
    })
    .expect("runs");
}

#[test]
fn deep_gate_definition_chains_fail_cleanly() {
    // g0 calls g1 calls … g199: deeper than the gate nesting limit.
    let mut src = String::from("OPENQASM 2.0;\nqreg q[1];\n");
    src.push_str("gate g199 a { U(0,0,0) a; }\n");
    for i in (0..199).rev() {
        src.push_str(&format!("gate g{i} a {{ g{} a; }}\n", i + 1));
    }
    src.push_str("g0 q[0];\n");
    assert_limit_error(qasm(src), "nest");
}

#[test]
fn ionq_json_nesting_is_bounded_by_the_json_reader() {
    let deep = format!(
        "{{\"qubits\":1,\"circuit\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = on_small_stack(move || qws_sim::ionq::parse(&deep));
    assert!(matches!(r, Err(SimError::Parse { .. })), "{r:?}");
    let deep_obj = format!(
        "{{\"qubits\":1,\"circuit\":[{{\"gate\":\"h\",\"target\":{}0{}}}]}}",
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    let r = on_small_stack(move || qws_sim::ionq::parse(&deep_obj));
    assert!(r.unwrap_err().to_string().contains("recursion"));
}

fn qir_program(qubit_operand: &str) -> String {
    format!(
        "define void @main() #0 {{\nentry:\n  call void @__quantum__qis__h__body(ptr {qubit_operand})\n  ret void\n}}\n\
         declare void @__quantum__qis__h__body(ptr)\n\
         attributes #0 = {{ \"entry_point\" \"required_num_qubits\"=\"1\" }}\n"
    )
}

#[test]
fn qir_deep_constant_expressions_are_refused() {
    let n = 20_000;
    for (open, close) in [
        ("inttoptr (ptr ", " to ptr)"),
        ("bitcast (ptr ", " to ptr)"),
        ("addrspacecast (ptr ", " to ptr)"),
        ("getelementptr (i8, ptr ", ", i64 0)"),
    ] {
        let operand = format!("{}null{}", open.repeat(n), close.repeat(n));
        assert_limit_error(qir(qir_program(&operand)), "nest");
    }
    // A few levels, as compilers write them, still work.
    let ok = "bitcast (ptr inttoptr (i64 0 to ptr) to ptr)";
    qir(qir_program(ok)).expect("shallow constant expressions run");
}

#[test]
fn qir_deep_types_are_refused() {
    let n = 20_000;
    let ty = format!("{}i8{}", "[1 x ".repeat(n), "]".repeat(n));
    let src = qir_program("null").replace("ptr null", &format!("{ty} zeroinitializer"));
    assert_limit_error(qir(src), "nest");
}

/// Runs a parsed circuit on the small stack (validation, compilation and execution recurse over
/// conditionals).
fn run_small(c: qws_sim::ir::Circuit) -> Result<qws_sim::run::RunOutput, SimError> {
    on_small_stack(move || {
        qws_sim::run::run(
            &c,
            &qws_sim::run::RunOptions {
                shots: 2,
                seed: Some(1),
                ..Default::default()
            },
        )
    })
}

#[test]
fn programs_just_inside_every_bound_parse_lower_and_run_on_a_small_stack() {
    // An operator chain just short of the expression depth bound.
    let chain = vec!["0.004"; 250].join("+");
    let c = qasm(qasm3_with_angle(&chain)).expect("a 250-term sum parses");
    run_small(c).expect("runs");
    // A condition that deep: `&&` chains lower to nested conditions.
    let cond = format!("{} && c[0] == 0", vec!["!c[0]"; 250].join(" && "));
    let src = format!(
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\nif ({cond}) {{ x q[0]; }}\nc[0] = measure q[0];\n"
    );
    let out = run_small(qasm(src).expect("a long condition parses")).expect("runs");
    assert!(out.shots.iter().all(|s| s.get(0)));
    // Blocks nested as deep as the parser allows, each a conditional.
    let depth = 126;
    let src = format!(
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[1] q;\nbit[1] c;\n{}x q[0];{}\nc[0] = measure q[0];\n",
        "if (c[0] == 0) { ".repeat(depth),
        "} ".repeat(depth)
    );
    let out = run_small(qasm(src).expect("deep blocks parse")).expect("runs");
    assert!(out.shots.iter().all(|s| s.get(0)));
    // Parentheses and unary minus together, as deep as accepted.
    let e = format!("{}1{}", "-(".repeat(60), ")".repeat(60));
    run_small(qasm(qasm2_with_angle(&e)).expect("parses")).expect("runs");
}
