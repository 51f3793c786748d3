//! OpenQASM 2 and 3 front end: every construct lowers to the expected IR or state, and every
//! error path gives a positioned error (never a panic).

use qws_sim::ir::{Circuit, Condition, Gate, GateOp, Op};
use qws_sim::qasm::{parse, parse_qasm2, parse_qasm3, parse_with, FrontendLimits};
use qws_sim::run::{final_state, run, RunOptions};
use qws_sim::SimError;

const H2: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";
const H3: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n";

fn q2(body: &str) -> Circuit {
    parse_qasm2(&format!("{H2}{body}")).unwrap_or_else(|e| panic!("{body}: {e}"))
}
fn q3(body: &str) -> Circuit {
    parse_qasm3(&format!("{H3}{body}")).unwrap_or_else(|e| panic!("{body}: {e}"))
}
fn e2(body: &str) -> SimError {
    parse_qasm2(&format!("{H2}{body}")).expect_err(body)
}
fn e3(body: &str) -> SimError {
    parse_qasm3(&format!("{H3}{body}")).expect_err(body)
}

fn gates(c: &Circuit) -> Vec<GateOp> {
    c.ops
        .iter()
        .filter_map(|o| match o {
            Op::Gate(g) => Some(g.clone()),
            _ => None,
        })
        .collect()
}

fn state(c: &Circuit) -> Vec<(f64, f64)> {
    final_state(c, &RunOptions::default())
        .unwrap()
        .amplitudes()
        .to_vec()
}

/// |<a|b>|^2
fn fidelity(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        re += x.0 * y.0 + x.1 * y.1;
        im += x.0 * y.1 - x.1 * y.0;
    }
    re * re + im * im
}

fn same_state(a: &Circuit, b: &Circuit) {
    let f = fidelity(&state(a), &state(b));
    assert!((f - 1.0).abs() < 1e-10, "fidelity {f}");
}

fn pos(e: &SimError) -> (u32, u32) {
    match e {
        SimError::Parse { pos, .. } => (pos.line, pos.col),
        other => panic!("not a parse error: {other}"),
    }
}

#[test]
fn bell_in_both_versions() {
    let c = q2("qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n");
    assert_eq!((c.num_qubits, c.num_clbits), (2, 2));
    assert_eq!(c.cregs[0].name, "c");
    assert_eq!(
        gates(&c),
        vec![
            GateOp::new(Gate::H, vec![0]),
            GateOp::controlled(Gate::X, vec![0], vec![1])
        ]
    );
    assert!(c.ops.ends_with(&[
        Op::Measure { qubit: 0, clbit: 0 },
        Op::Measure { qubit: 1, clbit: 1 }
    ]));
    let c3 = q3("qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n");
    assert_eq!(c3.ops, c.ops);
    let c3b = q3("qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n");
    assert_eq!(c3b.ops, c.ops);
}

#[test]
fn qelib1_gates_map_to_base_gates_with_controls() {
    let c = q2("qreg q[5];\nu1(0.5) q[0];\ncu1(0.5) q[0],q[1];\ncp(0.5) q[0],q[1];\nccx q[0],q[1],q[2];\nu2(0.1,0.2) q[0];\nu3(0.1,0.2,0.3) q[0];\nc4x q[0],q[1],q[2],q[3],q[4];\nc3sqrtx q[0],q[1],q[2],q[3];\ncrz(0.3) q[1],q[0];\ncswap q[0],q[1],q[2];\n");
    let g = gates(&c);
    assert_eq!(g[0], GateOp::new(Gate::Phase(0.5), vec![0]));
    assert_eq!(g[1], GateOp::controlled(Gate::Phase(0.5), vec![0], vec![1]));
    assert_eq!(g[2], g[1]);
    assert_eq!(g[3], GateOp::controlled(Gate::X, vec![0, 1], vec![2]));
    assert_eq!(
        g[4],
        GateOp::new(Gate::U(std::f64::consts::FRAC_PI_2, 0.1, 0.2), vec![0])
    );
    assert_eq!(g[5], GateOp::new(Gate::U(0.1, 0.2, 0.3), vec![0]));
    assert_eq!(g[6], GateOp::controlled(Gate::X, vec![0, 1, 2, 3], vec![4]));
    assert_eq!(g[7], GateOp::controlled(Gate::SX, vec![0, 1, 2], vec![3]));
    assert_eq!(g[8], GateOp::controlled(Gate::RZ(0.3), vec![1], vec![0]));
    assert_eq!(g[9], GateOp::controlled(Gate::Swap, vec![0], vec![1, 2]));
}

#[test]
fn every_qelib1_gate_is_accepted() {
    let src = "qreg q[5];\nu3(1,2,3) q[0]; u2(1,2) q[0]; u1(1) q[0]; cx q[0],q[1]; id q[0]; u0(1) q[0];\
        u(1,2,3) q[0]; p(1) q[0]; x q[0]; y q[0]; z q[0]; h q[0]; s q[0]; sdg q[0]; t q[0]; tdg q[0];\
        rx(1) q[0]; ry(1) q[0]; rz(1) q[0]; sx q[0]; sxdg q[0]; cz q[0],q[1]; cy q[0],q[1];\
        swap q[0],q[1]; ch q[0],q[1]; ccx q[0],q[1],q[2]; cswap q[0],q[1],q[2]; crx(1) q[0],q[1];\
        cry(1) q[0],q[1]; crz(1) q[0],q[1]; cu1(1) q[0],q[1]; cp(1) q[0],q[1]; cu3(1,2,3) q[0],q[1];\
        csx q[0],q[1]; cu(1,2,3,4) q[0],q[1]; rxx(1) q[0],q[1]; rzz(1) q[0],q[1];\
        rccx q[0],q[1],q[2]; rc3x q[0],q[1],q[2],q[3]; c3x q[0],q[1],q[2],q[3];\
        c3sqrtx q[0],q[1],q[2],q[3]; c4x q[0],q[1],q[2],q[3],q[4]; CX q[0],q[1]; U(1,2,3) q[0];";
    let c = q2(src);
    let s = state(&c);
    let norm: f64 = s.iter().map(|a| a.0 * a.0 + a.1 * a.1).sum();
    assert!((norm - 1.0).abs() < 1e-12);
}

#[test]
fn cu_carries_its_phase_on_the_control() {
    // cu(θ,φ,λ,γ) with the control in |1>: the target sees e^{iγ} U.
    let c = q2("qreg q[2];\nx q[0];\ncu(0,0,0,0.7) q[0],q[1];\n");
    let s = state(&c);
    assert!((s[1].0 - 0.7f64.cos()).abs() < 1e-12 && (s[1].1 - 0.7f64.sin()).abs() < 1e-12);
}

#[test]
fn user_gates_with_parameters_and_expressions() {
    let c = q2("gate g(a,b) x,y { rx(a*2 - b/2 + -pi^2/pi) x; cx x,y; u1(sin(a)+cos(b)+tan(0)+exp(0)+ln(1)+sqrt(4)) y; }\nqreg q[2];\ng(0.5, 1.0) q[1], q[0];\n");
    let g = gates(&c);
    let want = 0.5 * 2.0 - 1.0 / 2.0 - std::f64::consts::PI;
    assert_eq!(g[0].targets, vec![1]);
    match g[0].gate {
        Gate::RX(a) => assert!((a - want).abs() < 1e-12),
        ref o => panic!("{o:?}"),
    }
    assert_eq!(g[1], GateOp::controlled(Gate::X, vec![1], vec![0]));
    match g[2].gate {
        Gate::Phase(a) => assert!((a - (0.5f64.sin() + 1f64.cos() + 1.0 + 2.0)).abs() < 1e-12),
        ref o => panic!("{o:?}"),
    }
}

#[test]
fn power_binds_tighter_than_unary_minus_in_qasm2() {
    let c = q2("qreg q[1];\nrz(-2^2) q[0];\nrz(2^-1) q[0];\nrz(2^3^2 / 256) q[0];\n");
    let g = gates(&c);
    assert_eq!(g[0].gate, Gate::RZ(-4.0));
    assert_eq!(g[1].gate, Gate::RZ(0.5));
    assert_eq!(g[2].gate, Gate::RZ(2.0));
}

#[test]
fn broadcasting_registers() {
    let c = q2("qreg a[3];\nqreg b[3];\ncreg c[3];\nh a;\ncx a, b;\ncx a[0], b;\nmeasure b -> c;\nreset a;\nbarrier a, b[1];\n");
    let g = gates(&c);
    assert_eq!(g.len(), 9);
    assert_eq!(g[3], GateOp::controlled(Gate::X, vec![0], vec![3]));
    assert_eq!(g[5], GateOp::controlled(Gate::X, vec![2], vec![5]));
    assert_eq!(g[8], GateOp::controlled(Gate::X, vec![0], vec![5]));
    assert!(c.ops.contains(&Op::Measure { qubit: 5, clbit: 2 }));
    assert!(c.ops.contains(&Op::Reset { qubit: 2 }));
    assert!(c.ops.contains(&Op::Barrier(vec![0, 1, 2, 4])));
}

#[test]
fn qasm2_if_on_a_register() {
    let c = q2("qreg q[1];\ncreg c[2];\nif(c==2) x q[0];\n");
    assert_eq!(
        c.ops[0],
        Op::If {
            cond: Condition::Equals {
                bits: vec![0, 1],
                value: 2
            },
            then_ops: vec![Op::Gate(GateOp::new(Gate::X, vec![0]))],
            else_ops: vec![],
        }
    );
    // Conditional execution: x, measure into c[0], then flip back if c==1.
    let c = q2("qreg q[1];\ncreg c[1];\nx q[0];\nmeasure q[0] -> c[0];\nif(c==1) x q[0];\nmeasure q[0] -> c[0];\n");
    let out = run(
        &c,
        &RunOptions {
            shots: 5,
            seed: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(out.shots.iter().all(|s| !s.get(0)));
}

#[test]
fn opaque_is_unsupported_when_used() {
    let c = parse_qasm2(&format!("{H2}opaque magic(a) x;\nqreg q[1];\n"));
    assert!(c.is_ok());
    let e = e2("opaque magic(a) x;\nqreg q[1];\nmagic(1) q[0];\n");
    assert!(
        matches!(e, SimError::Unsupported(ref m) if m.contains("magic")),
        "{e}"
    );
}

#[test]
fn qasm2_errors_are_positioned() {
    let e = e2("qreg q[2];\nhh q[0];\n");
    assert_eq!(pos(&e), (4, 1));
    assert!(e.to_string().contains("unknown gate 'hh'"));
    let e = e2("qreg q[2];\ncx q[0];\n");
    assert!(e.to_string().contains("acts on 2 qubit(s), got 1"), "{e}");
    let e = e2("qreg q[2];\nrx q[0];\n");
    assert!(e.to_string().contains("takes 1 parameter(s), got 0"), "{e}");
    let e = e2("qreg q[2];\nh r[0];\n");
    assert!(
        e.to_string().contains("unknown quantum register 'r'"),
        "{e}"
    );
    let e = e2("qreg q[2];\nh q[2];\n");
    assert!(e.to_string().contains("out of range"), "{e}");
    assert_eq!(pos(&e), (4, 3));
    let e = e2("qreg q[2];\ncx q[0], q[0];\n");
    assert!(e.to_string().contains("used twice"), "{e}");
    let e = e2("qreg q[2];\ncreg c[1];\nmeasure q -> c;\n");
    assert!(e.to_string().contains("2 qubit(s) into 1 bit(s)"), "{e}");
    let e = e2("qreg q[2];\nqreg q[1];\n");
    assert!(e.to_string().contains("already declared"), "{e}");
    let e = e2("qreg q[2]\nh q[0];\n");
    assert_eq!(pos(&e), (4, 1));
    let e = e2("qreg q[2];\nh q[0]");
    assert!(matches!(e, SimError::Parse { .. }));
    let e = parse_qasm2("qreg q[1];").unwrap_err();
    assert!(e.to_string().contains("OPENQASM 2.0"), "{e}");
    let e = e2("include \"other.inc\";\n");
    assert!(e.to_string().contains("never reads files"), "{e}");
    let e = parse_qasm2("OPENQASM 2.0;\nqreg q[1];\nh q[0];\n").unwrap_err();
    assert!(e.to_string().contains("include \"qelib1.inc\""), "{e}");
    let e = e2("qreg q[1];\nrx(nothing) q[0];\n");
    assert!(e.to_string().contains("unknown name 'nothing'"), "{e}");
    let e = e2("qubit[2] q;\n");
    assert!(e.to_string().contains("OpenQASM 3 syntax"), "{e}");
    let e = e2("qreg q[0];\n");
    assert!(e.to_string().contains("positive size"), "{e}");
}

#[test]
fn nan_and_infinite_angles_are_rejected() {
    for p in ["0/0", "1/0", "-1/0", "ln(0)", "sqrt(-1)", "1e308*10"] {
        let e = e2(&format!("qreg q[1];\nrx({p}) q[0];\n"));
        assert!(e.to_string().contains("not a finite number"), "{p}: {e}");
    }
}

#[test]
fn huge_registers_hit_the_limit_before_allocation() {
    let e = e2("qreg q[100000000000];\n");
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    let e = e2("creg c[18446744073709551615];\n");
    assert!(
        matches!(e, SimError::Limit(_) | SimError::Parse { .. }),
        "{e}"
    );
    let e = e3("qubit[1000] a; qubit[1000] b;\n");
    assert!(matches!(e, SimError::Limit(_)), "{e}");
}

#[test]
fn gate_recursion_and_expansion_are_bounded() {
    let e = e2("gate g a { g a; }\nqreg q[1];\ng q[0];\n");
    assert!(e.to_string().contains("cannot call itself"), "{e}");
    let e = e2("gate g a { f a; }\n");
    assert!(e.to_string().contains("unknown gate 'f'"), "{e}");
    let e = e2("gate g a { h a; }\ngate g a { x a; }\n");
    assert!(e.to_string().contains("already defined"), "{e}");
    // Exponential blow-up: each level calls the previous twice.
    let mut src = String::from("gate g0 a { x a; }\n");
    for i in 1..40 {
        src.push_str(&format!("gate g{i} a {{ g{} a; g{} a; }}\n", i - 1, i - 1));
    }
    src.push_str("qreg q[1];\ng39 q[0];\n");
    let e = e2(&src);
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    // Deep chains stop at the nesting bound.
    let mut src = String::from("gate g0 a { x a; }\n");
    for i in 1..200 {
        src.push_str(&format!("gate g{i} a {{ g{} a; }}\n", i - 1));
    }
    src.push_str("qreg q[1];\ng199 q[0];\n");
    let e = e2(&src);
    assert!(
        matches!(e, SimError::Limit(ref m) if m.contains("nest")),
        "{e}"
    );
}

#[test]
fn deeply_nested_input_does_not_overflow_the_stack() {
    let e = e2(&format!(
        "qreg q[1];\nrx({}1{}) q[0];\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    ));
    assert!(e.to_string().contains("nesting too deep"), "{e}");
    let e = e2(&format!("qreg q[1];\nrx({}1) q[0];\n", "-".repeat(100_000)));
    assert!(e.to_string().contains("nesting too deep"), "{e}");
    let e = e3(&format!("{}{}", "{".repeat(100_000), "}".repeat(100_000)));
    assert!(e.to_string().contains("nesting too deep"), "{e}");
}

#[test]
fn truncated_programs_fail_cleanly() {
    let full = format!("{H2}gate g(a) x {{ rx(a) x; }}\nqreg q[2];\ncreg c[2];\ng(pi/2) q[0];\nif(c==1) cx q[0],q[1];\nmeasure q -> c;\n");
    for cut in 0..full.len() {
        if !full.is_char_boundary(cut) {
            continue;
        }
        let _ = parse_qasm2(&full[..cut]);
        let _ = parse_qasm3(&full[..cut]);
        let _ = parse(&full[..cut]);
    }
}

#[test]
fn qasm3_declarations_and_gphase() {
    let c = q3("qubit q;\nqubit[2] r;\nbit b;\nbit[2] c;\nh q;\ncx q, r[1];\nb = measure q;\nc[1] = measure r[0];\ngphase(0.5);\n");
    assert_eq!((c.num_qubits, c.num_clbits), (3, 3));
    assert!(c.ops.contains(&Op::Measure { qubit: 0, clbit: 0 }));
    assert!(c.ops.contains(&Op::Measure { qubit: 1, clbit: 2 }));
    assert!(gates(&c).contains(&GateOp::new(Gate::GlobalPhase(0.5), vec![])));
    let c = q3("qubit[2] q;\nbit[2] c = measure q;\n");
    assert_eq!(c.ops.len(), 2);
}

#[test]
fn qasm3_modifiers() {
    let c = q3("qubit[3] q;\nctrl @ x q[0], q[1];\nctrl(2) @ x q[0], q[1], q[2];\nnegctrl @ x q[0], q[1];\ninv @ s q[0];\npow(2) @ t q[0];\npow(-1) @ t q[0];\nctrl @ inv @ rx(0.5) q[2], q[0];\n");
    let g = gates(&c);
    assert_eq!(g[0], GateOp::controlled(Gate::X, vec![0], vec![1]));
    assert_eq!(g[1], GateOp::controlled(Gate::X, vec![0, 1], vec![2]));
    assert_eq!(g[2], GateOp::new(Gate::X, vec![0]));
    assert_eq!(g[3], GateOp::controlled(Gate::X, vec![0], vec![1]));
    assert_eq!(g[4], GateOp::new(Gate::X, vec![0]));
    assert_eq!(g[5], GateOp::new(Gate::Sdg, vec![0]));
    assert_eq!(g[6], GateOp::new(Gate::T, vec![0]));
    assert_eq!(g[7], GateOp::new(Gate::T, vec![0]));
    assert_eq!(g[8], GateOp::new(Gate::Tdg, vec![0]));
    assert_eq!(g[9], GateOp::controlled(Gate::RX(-0.5), vec![2], vec![0]));
    // ctrl @ gphase is a phase on the control.
    let c = q3("qubit[2] q;\nctrl @ gphase(0.3) q[1];\nctrl(2) @ gphase(0.3) q[0], q[1];\n");
    let g = gates(&c);
    assert_eq!(g[0], GateOp::new(Gate::Phase(0.3), vec![1]));
    assert_eq!(g[1], GateOp::controlled(Gate::Phase(0.3), vec![0], vec![1]));
}

#[test]
fn non_integer_powers_of_one_qubit_gates() {
    let a = q3("qubit q;\nh q;\npow(0.5) @ x q;\n");
    let b = q3("qubit q;\nh q;\nsx q;\n");
    same_state(&a, &b);
    let a = q3("qubit[2] q;\nh q;\nctrl @ pow(0.5) @ z q[0], q[1];\n");
    let b = q3("qubit[2] q;\nh q;\ncp(pi/2) q[0], q[1];\n");
    same_state(&a, &b);
    let e = e3("qubit[2] q;\npow(0.5) @ cx q[0], q[1];\n");
    assert!(matches!(e, SimError::Unsupported(_)), "{e}");
}

#[test]
fn controlled_user_gates_keep_their_body_phase() {
    // A user gate equal to Z up to a global phase i: controlling it must apply that phase.
    let a = q3(
        "gate iz a { gphase(pi/2); z a; }\nqubit[2] q;\nh q[0];\nh q[1];\nctrl @ iz q[0], q[1];\n",
    );
    let b = q3("qubit[2] q;\nh q[0];\nh q[1];\np(pi/2) q[0];\ncz q[0], q[1];\n");
    same_state(&a, &b);
    let a = q3("gate g(t) a, b { cx a, b; rz(t) b; U(0.1, 0.2, 0.3) a; }\nqubit[3] q;\nh q;\ninv @ g(0.4) q[0], q[1];\ng(0.4) q[0], q[1];\n");
    let b = q3("qubit[3] q;\nh q;\n");
    same_state(&a, &b);
}

#[test]
fn qasm3_control_flow() {
    let c = q3("qubit[1] q;\nbit[2] c;\nif (c == 3) { x q[0]; } else { h q[0]; }\nif (c[1]) x q[0];\nif (!c[0]) { x q[0]; }\nif (c[0] == 1 && c[1] == 0) x q[0];\nif (c >= 2) x q[0];\n");
    match &c.ops[0] {
        Op::If {
            cond,
            then_ops,
            else_ops,
        } => {
            assert_eq!(
                cond,
                &Condition::Equals {
                    bits: vec![0, 1],
                    value: 3
                }
            );
            assert_eq!(then_ops.len(), 1);
            assert_eq!(else_ops.len(), 1);
        }
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        &c.ops[1],
        Op::If {
            cond: Condition::Not(_),
            ..
        }
    ));
    assert!(
        matches!(&c.ops[2], Op::If { cond: Condition::Not(inner), .. } if matches!(**inner, Condition::Not(_)))
    );
    assert!(matches!(
        &c.ops[3],
        Op::If {
            cond: Condition::And(..),
            ..
        }
    ));
    assert!(matches!(
        &c.ops[4],
        Op::If {
            cond: Condition::Or(..),
            ..
        }
    ));
}

#[test]
fn qasm3_loops_and_classical_values() {
    let c = q3("const int n = 4;\nqubit[n] q;\nfor int i in [0:n-2] { cx q[i], q[i+1]; }\nfor i in [3:-2:0] { x q[i]; }\nfor uint i in {0, 2} { h q[i]; }\nfloat[64] theta = pi / 4;\nangle phi = 2 * theta;\nint k = 5 / 2;\nrz(theta + phi + k) q[0];\nint acc = 0;\nfor i in [1:3] { acc += i; }\nrx(acc) q[1];\n");
    let g = gates(&c);
    assert_eq!(g[0], GateOp::controlled(Gate::X, vec![0], vec![1]));
    assert_eq!(g[2], GateOp::controlled(Gate::X, vec![2], vec![3]));
    assert_eq!(g[3], GateOp::new(Gate::X, vec![3]));
    assert_eq!(g[4], GateOp::new(Gate::X, vec![1]));
    assert_eq!(g[5], GateOp::new(Gate::H, vec![0]));
    assert_eq!(g[6], GateOp::new(Gate::H, vec![2]));
    let want = std::f64::consts::PI * 3.0 / 4.0 + 2.0;
    match g[7].gate {
        Gate::RZ(a) => assert!((a - want).abs() < 1e-12, "{a}"),
        ref o => panic!("{o:?}"),
    }
    assert_eq!(g[8].gate, Gate::RX(6.0));
}

#[test]
fn qasm3_loop_bounds() {
    let e = e3("qubit q;\nfor i in [0:100000000] { x q; }\n");
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    let e = e3("qubit q;\nfor i in [0:0:5] { x q; }\n");
    assert!(e.to_string().contains("zero"), "{e}");
    let limits = FrontendLimits {
        max_ops: 100,
        ..Default::default()
    };
    let e = parse_with(
        &format!("{H3}qubit q;\nfor i in [0:1000] {{ x q; }}\n"),
        None,
        &limits,
    )
    .unwrap_err();
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    let e = e3("qubit q;\npow(100000000000) @ x q;\n");
    assert!(matches!(e, SimError::Limit(_)), "{e}");
}

#[test]
fn qasm3_unsupported_constructs_say_where() {
    for (src, what) in [
        ("qubit q;\nwhile (true) { x q; }\n", "while"),
        ("def f(qubit a) { x a; }\n", "subroutines"),
        ("defcal x $0 { }\n", "defcal"),
        ("extern f(int) -> int;\n", "extern"),
        ("array[int[8], 2] a = {1, 2};\n", "arrays"),
        ("input float theta;\n", "input"),
        ("qubit q;\nx $0;\n", "hardware"),
        ("qubit q;\ndelay[100ns] q;\n", "delay"),
    ] {
        let e = e3(src);
        match &e {
            SimError::Unsupported(m) => {
                assert!(m.contains(what), "{src}: {m}");
                assert!(
                    m.starts_with(&format!("{}:", 2 + src.lines().count())) || m.contains(':'),
                    "{m}"
                );
            }
            other => panic!("{src}: {other}"),
        }
    }
}

#[test]
fn qasm3_errors() {
    let e = e3("qubit[2] q;\nctrl(3) @ x q[0], q[1];\n");
    assert!(matches!(e, SimError::Parse { .. }), "{e}");
    let e = e3("qubit[2] q;\nx q[-3];\n");
    assert!(e.to_string().contains("out of range"), "{e}");
    let e = e3("bit[2] c;\nqubit q;\nc = 3;\n");
    assert!(matches!(e, SimError::Unsupported(_)), "{e}");
    let e = e3("qubit q;\nrx(q) q;\n");
    assert!(e.to_string().contains("register 'q'"), "{e}");
    let e = parse_qasm3("OPENQASM 2.0;\n").unwrap_err();
    assert!(e.to_string().contains("requested"), "{e}");
    let e = parse("OPENQASM 4.0;\n").unwrap_err();
    assert!(matches!(e, SimError::Unsupported(_)), "{e}");
}

#[test]
fn version_is_taken_from_the_header() {
    assert!(parse(&format!("{H2}qreg q[1];\nh q[0];\n")).is_ok());
    assert!(parse(&format!("{H3}qubit q;\nh q;\n")).is_ok());
    // No header: OpenQASM 3.
    assert!(parse("include \"stdgates.inc\";\nqubit q;\nh q;\n").is_ok());
}

#[test]
fn qiskit_style_qasm3_export_parses() {
    let src = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\ngate rzx(p0) _gate_q_0, _gate_q_1 {\n  h _gate_q_1;\n  cx _gate_q_0, _gate_q_1;\n  rz(p0) _gate_q_1;\n  cx _gate_q_0, _gate_q_1;\n  h _gate_q_1;\n}\ngate sxdg _gate_q_0 {\n  s _gate_q_0;\n  h _gate_q_0;\n  s _gate_q_0;\n}\nbit[2] c;\nqubit[3] q;\nrzx(0.3) q[0], q[1];\nsxdg q[2];\nU(0.3, 0.4, 0.5) q[0];\nc[0] = measure q[0];\nif (c[0]) {\n  x q[1];\n}\nbarrier q[0], q[1];\nreset q[2];\n";
    let c = parse(src).unwrap();
    assert_eq!(c.num_qubits, 3);
    assert!(c.ops.iter().any(|o| matches!(o, Op::If { .. })));
}

#[test]
fn huge_powers_of_empty_gates_finish_at_once() {
    let c = q3(
        "gate nothing a { }\nqubit q;\npow(1000000000000) @ nothing q;\npow(-1e15) @ nothing q;\n",
    );
    assert!(gates(&c).is_empty());
}
