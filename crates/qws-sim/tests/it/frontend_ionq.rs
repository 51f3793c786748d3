//! IonQ JSON front end: SDK-shaped inputs lower to the right IR, native gate conventions match
//! IonQ's (as cirq-ionq defines them), and malformed input fails with the gate index named.

use qws_sim::ionq::{parse, parse_with, IonqLimits};
use qws_sim::ir::{Gate, GateOp, Op};
use qws_sim::SimError;
use std::f64::consts::{PI, TAU};

fn gates(src: &str) -> Vec<GateOp> {
    parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .ops
        .into_iter()
        .filter_map(|o| match o {
            Op::Gate(g) => Some(g),
            _ => None,
        })
        .collect()
}

#[test]
fn qiskit_and_cirq_bell_circuits() {
    let qiskit = gates(
        r#"{"gateset":"qis","qubits":2,"circuit":[{"gate":"h","targets":[0]},{"gate":"x","targets":[1],"controls":[0]}]}"#,
    );
    let cirq = gates(
        r#"{"gateset":"qis","qubits":2,"circuit":[{"gate":"h","targets":[0]},{"gate":"cnot","control":0,"target":1}]}"#,
    );
    let want = vec![
        GateOp::new(Gate::H, vec![0]),
        GateOp::controlled(Gate::X, vec![0], vec![1]),
    ];
    assert_eq!(qiskit, want);
    assert_eq!(cirq, want);
    // Every qubit is measured at the end into the register "c".
    let c = parse(r#"{"qubits":2,"circuit":[]}"#).unwrap();
    assert_eq!(c.cregs[0].name, "c");
    assert_eq!(
        c.ops,
        vec![
            Op::Measure { qubit: 0, clbit: 0 },
            Op::Measure { qubit: 1, clbit: 1 }
        ]
    );
}

#[test]
fn qis_gate_names_and_aliases() {
    let g = gates(
        r#"{"qubits":3,"circuit":[
        {"gate":"si","targets":[0]},{"gate":"ti","targets":[0]},{"gate":"v","targets":[0]},
        {"gate":"vi","targets":[0]},{"gate":"z","targets":[1],"controls":[0],"rotation":0.5},
        {"gate":"rx","targets":[2],"rotation":0.25},{"gate":"xx","targets":[0,2],"rotation":0.1},
        {"gate":"yy","targets":[0,2],"rotation":0.2},{"gate":"zz","targets":[0,2],"rotation":0.3},
        {"gate":"swap","targets":[1,2],"controls":[0]},{"gate":"x","targets":[2],"controls":[0,1]},
        {"gate":"h","targets":[0,1]}]}"#,
    );
    assert_eq!(g[0].gate, Gate::Sdg);
    assert_eq!(g[1].gate, Gate::Tdg);
    assert_eq!(g[2].gate, Gate::SX);
    assert_eq!(g[3].gate, Gate::SXdg);
    assert_eq!(g[4], GateOp::controlled(Gate::Phase(0.5), vec![0], vec![1]));
    assert_eq!(g[5], GateOp::new(Gate::RX(0.25), vec![2]));
    assert_eq!(g[6], GateOp::new(Gate::RXX(0.1), vec![0, 2]));
    assert_eq!(g[7], GateOp::new(Gate::RYY(0.2), vec![0, 2]));
    assert_eq!(g[8], GateOp::new(Gate::RZZ(0.3), vec![0, 2]));
    assert_eq!(g[9], GateOp::controlled(Gate::Swap, vec![0], vec![1, 2]));
    assert_eq!(g[10], GateOp::controlled(Gate::X, vec![0, 1], vec![2]));
    assert_eq!(
        g[11..],
        [GateOp::new(Gate::H, vec![0]), GateOp::new(Gate::H, vec![1])]
    );
}

#[test]
fn native_gates_take_turns() {
    let g = gates(
        r#"{"gateset":"native","qubits":2,"circuit":[
        {"gate":"gpi","target":0,"phase":0.25},{"gate":"gpi2","target":1,"phase":0.5},
        {"gate":"ms","targets":[0,1],"phases":[0.1,0.2]},
        {"gate":"ms","targets":[0,1],"phases":[0.1,0.2],"angle":0.125},
        {"gate":"zz","targets":[0,1],"angle":0.05},{"gate":"zz","targets":[0,1],"phase":0.05}]}"#,
    );
    assert_eq!(g[0].gate, Gate::GPI(PI / 2.0));
    assert_eq!(g[1].gate, Gate::GPI2(PI));
    assert_eq!(g[2].gate, Gate::MS(0.1 * TAU, 0.2 * TAU, PI / 2.0));
    assert_eq!(g[3].gate, Gate::MS(0.1 * TAU, 0.2 * TAU, PI / 4.0));
    assert_eq!(g[4].gate, Gate::RZZ(0.05 * TAU));
    assert_eq!(g[5].gate, g[4].gate);
}

/// IonQ's matrices (cirq-ionq's definitions, angles in turns), written out independently.
#[test]
fn native_matrices_match_ionq_definitions() {
    let cis = |t: f64| (t.cos(), t.sin());
    let neg_i = |z: (f64, f64)| (z.1, -z.0);
    let close =
        |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12;
    let phi = 0.37;
    let gpi = Gate::GPI(phi * TAU).matrix();
    assert!(close(gpi.data[1], cis(-phi * TAU)) && close(gpi.data[2], cis(phi * TAU)));
    let gpi2 = Gate::GPI2(phi * TAU).matrix();
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let scale = |z: (f64, f64)| (z.0 * s, z.1 * s);
    assert!(close(gpi2.data[0], (s, 0.0)));
    assert!(close(gpi2.data[1], scale(neg_i(cis(-phi * TAU)))));
    assert!(close(gpi2.data[2], scale(neg_i(cis(phi * TAU)))));
    // MS in cirq's big-endian basis |q0 q1>; our index has targets[0] as the low bit, so cirq's
    // row/column |ab> is our index a + 2b.
    let (p0, p1, th) = (0.1, 0.25, 0.12);
    let ms = Gate::MS(p0 * TAU, p1 * TAU, th * TAU).matrix();
    let (c, sn) = ((PI * th).cos(), (PI * th).sin());
    let off = |t: f64| {
        let z = neg_i(cis(t));
        (z.0 * sn, z.1 * sn)
    };
    let cirq = [
        [(c, 0.0), (0.0, 0.0), (0.0, 0.0), off(-TAU * (p0 + p1))],
        [(0.0, 0.0), (c, 0.0), off(-TAU * (p0 - p1)), (0.0, 0.0)],
        [(0.0, 0.0), off(TAU * (p0 - p1)), (c, 0.0), (0.0, 0.0)],
        [off(TAU * (p0 + p1)), (0.0, 0.0), (0.0, 0.0), (c, 0.0)],
    ];
    let ours = |big: usize| (big >> 1) | ((big & 1) << 1);
    for (r, row) in cirq.iter().enumerate() {
        for (col, want) in row.iter().enumerate() {
            assert!(
                close(ms.data[ours(r) * 4 + ours(col)], *want),
                "MS[{r}][{col}]"
            );
        }
    }
}

#[test]
fn pauliexp_of_commuting_terms() {
    // exp(-i t Z⊗Z) = RZZ(2t).
    let c = parse(r#"{"qubits":2,"circuit":[{"gate":"h","targets":[0,1]},{"gate":"pauliexp","targets":[0,1],"terms":["ZZ"],"coefficients":[1.0],"time":0.3}]}"#).unwrap();
    let mut d = qws_sim::ir::Circuit::new(2, 0);
    d.gate(Gate::H, &[0])
        .gate(Gate::H, &[1])
        .gate(Gate::RZZ(0.6), &[0, 1]);
    let strip = |mut c: qws_sim::ir::Circuit| {
        c.ops.retain(|o| matches!(o, Op::Gate(_)));
        c.num_clbits = 0;
        c
    };
    let opts = qws_sim::run::RunOptions::default();
    let a = qws_sim::run::final_state(&strip(c), &opts).unwrap();
    let b = qws_sim::run::final_state(&d, &opts).unwrap();
    for (x, y) in a.amplitudes().iter().zip(b.amplitudes().iter()) {
        assert!((x.0 - y.0).abs() < 1e-12 && (x.1 - y.1).abs() < 1e-12);
    }
    let e = parse(r#"{"qubits":2,"circuit":[{"gate":"pauliexp","targets":[0,1],"terms":["XI","ZZ"],"coefficients":[1,1],"time":1}]}"#).unwrap_err();
    assert!(
        matches!(e, SimError::Unsupported(ref m) if m.contains("non-commuting")),
        "{e}"
    );
}

#[test]
fn errors_name_the_gate() {
    let cases = [
        (
            r#"{"qubits":2,"circuit":[{"gate":"h","targets":[0]},{"gate":"warp","targets":[1]}]}"#,
            "gate 1: unknown gate 'warp'",
        ),
        (
            r#"{"qubits":2,"circuit":[{"gate":"h","targets":[2]}]}"#,
            "gate 0: targets 2 is out of range",
        ),
        (
            r#"{"qubits":2,"circuit":[{"gate":"rx","targets":[0]}]}"#,
            "gate 0: 'rx' needs \"rotation\"",
        ),
        (
            r#"{"qubits":2,"circuit":[{"gate":"rx","targets":[0],"rotation":"pi"}]}"#,
            "\"rotation\" must be a finite number",
        ),
        (
            r#"{"qubits":2,"circuit":[{"gate":"h","targets":[0],"rotaton":1}]}"#,
            "unknown field \"rotaton\"",
        ),
        (
            r#"{"qubits":2,"circuit":[{"gate":"x","targets":[0],"controls":[0]}]}"#,
            "both control and target",
        ),
        (
            r#"{"qubits":2,"circuit":[{"gate":"swap","targets":[0]}]}"#,
            "exactly 2 targets",
        ),
        (r#"{"qubits":2,"circuit":[{"gate":"h"}]}"#, "needs a target"),
        (
            r#"{"qubits":2,"circuit":[{"targets":[0]}]}"#,
            "missing \"gate\"",
        ),
        (r#"{"qubits":2,"circuit":[3]}"#, "expected a gate object"),
        (
            r#"{"qubits":2,"circuit":[{"gate":"ms","targets":[0,1],"phases":[0.1]}]}"#,
            "\"phases\" must be 2 numbers",
        ),
        (r#"{"qubits":0,"circuit":[]}"#, "positive integer"),
        (r#"{"qubits":-1,"circuit":[]}"#, "positive integer"),
        (r#"{"circuit":[]}"#, "missing \"qubits\""),
        (r#"{"qubits":1}"#, "missing \"circuit\""),
        (r#"{"qubits":1,"circuit":{}}"#, "must be an array"),
        (
            r#"{"gateset":"magic","qubits":1,"circuit":[]}"#,
            "unknown gateset",
        ),
        (r#"[1,2]"#, "must be a JSON object"),
        (
            r#"{"qubits":1,"circuit":[{"gate":"h","targets":[0.5]}]}"#,
            "non-negative integer",
        ),
    ];
    for (src, want) in cases {
        let e = parse(src).unwrap_err();
        assert!(e.to_string().contains(want), "{src}: {e}");
    }
}

#[test]
fn malformed_and_truncated_json_is_a_positioned_error() {
    let full = r#"{"gateset":"qis","qubits":2,"circuit":[{"gate":"h","targets":[0]},{"gate":"cnot","control":0,"target":1}]}"#;
    for cut in 0..full.len() {
        match parse(&full[..cut]) {
            Err(SimError::Parse { .. }) => {}
            other => panic!("{cut}: {other:?}"),
        }
    }
    let e = parse("{\n  \"qubits\": 2,\n  oops\n}").unwrap_err();
    assert!(
        matches!(e, SimError::Parse { pos, .. } if pos.line == 3),
        "{e}"
    );
}

#[test]
fn limits_apply_before_allocation() {
    let e = parse(r#"{"qubits":100000000000,"circuit":[]}"#).unwrap_err();
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    let limits = IonqLimits {
        max_gates: 2,
        ..Default::default()
    };
    let e = parse_with(r#"{"qubits":1,"circuit":[{"gate":"h","targets":[0]},{"gate":"h","targets":[0]},{"gate":"h","targets":[0]}]}"#, &limits).unwrap_err();
    assert!(matches!(e, SimError::Limit(_)), "{e}");
    let limits = IonqLimits {
        max_bytes: 10,
        ..Default::default()
    };
    assert!(matches!(
        parse_with(r#"{"qubits":1,"circuit":[]}"#, &limits),
        Err(SimError::Limit(_))
    ));
}

#[test]
fn multi_circuit_jobs_parse_to_one_circuit_each() {
    // The single-circuit parser still refuses them clearly.
    let e = parse(r#"{"qubits":1,"circuits":[{"circuit":[]}]}"#).unwrap_err();
    assert!(matches!(e, SimError::Unsupported(_)), "{e}");
    let cs = qws_sim::ionq::parse_multi(
        r#"{"qubits":3,"gateset":"qis","circuits":[
            {"name":"a","circuit":[{"gate":"x","targets":[0]}]},
            {"name":"b","qubits":2,"circuit":[{"gate":"h","targets":[1]}]}]}"#,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(cs.len(), 2);
    assert_eq!((cs[0].num_qubits, cs[1].num_qubits), (3, 2));
    // One circuit parses as a list of one.
    let one = qws_sim::ionq::parse_multi(r#"{"qubits":1,"circuit":[]}"#, &Default::default());
    assert_eq!(one.unwrap().len(), 1);
    for (bad, want) in [
        (r#"{"qubits":1,"circuits":[]}"#, "non-empty"),
        (r#"{"qubits":1,"circuits":[1]}"#, "circuits[0]"),
        (
            r#"{"qubits":1,"circuits":[{"circuit":[{"gate":"nope","targets":[0]}]}]}"#,
            "circuits[0]",
        ),
        (
            r#"{"qubits":1,"circuit":[],"circuits":[{"circuit":[]}]}"#,
            "not both",
        ),
    ] {
        let e = qws_sim::ionq::parse_multi(bad, &Default::default()).unwrap_err();
        assert!(e.to_string().contains(want), "{bad}: {e}");
    }
    // The gate limit counts every circuit together.
    let limits = qws_sim::ionq::IonqLimits {
        max_gates: 1,
        ..Default::default()
    };
    let two = r#"{"qubits":1,"circuits":[{"circuit":[{"gate":"x","targets":[0]}]},{"circuit":[{"gate":"x","targets":[0]}]}]}"#;
    assert!(matches!(
        qws_sim::ionq::parse_multi(two, &limits),
        Err(SimError::Limit(_))
    ));
}
