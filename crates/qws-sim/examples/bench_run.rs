//! Benchmark runner for bench/sim (not part of the product). Loads one circuit (JSON of the
//! qws-sim IR), reports the parse time, then serves commands on stdin, one per line, answering
//! one JSON line each, so a driver can interleave runs with another simulator:
//!
//!   run                 simulate to the final state (or sample shots with --shots); time it
//!   state <path>        write the final state as little-endian f64 (re, im) pairs
//!   rss                 peak resident set size of this process (VmHWM, KiB)
//!   quit
//!
//! Usage: bench_run <circuit.json> [--fusion on|off] [--shots N] [--fusion-qubits K]
//!        [--fusion-max K]
//!        [--precision single|double]

use qws_sim::engine::fusion::{FusedOp, FusionConfig};
use qws_sim::ir::Circuit;
use qws_sim::run::{final_state_with, run_with, EngineConfig, RunOptions};
use std::io::{BufRead, Write};
use std::time::Instant;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: bench_run <circuit.json> [options]");
    let mut opts = RunOptions {
        shots: 0,
        seed: Some(7),
        ..RunOptions::default()
    };
    opts.limits.max_qubits = 30;
    opts.limits.max_memory_bytes = 16 << 30;
    let mut cfg = EngineConfig::default();
    let mut i = 2;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--fusion" => opts.fusion = args[i + 1] == "on",
            "--shots" => opts.shots = args[i + 1].parse().expect("shots"),
            "--fusion-qubits" => cfg.fusion = FusionConfig::fixed(args[i + 1].parse().expect("k")),
            "--fusion-max" => cfg.fusion.max_qubits = args[i + 1].parse().expect("k"),
            "--precision" => opts.precision = Some(args[i + 1].parse().expect("precision")),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    let t0 = Instant::now();
    let text = std::fs::read_to_string(path).expect("read circuit");
    let circuit: Circuit = serde_json::from_str(&text).expect("parse circuit");
    let parse_s = t0.elapsed().as_secs_f64();
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(
        out,
        "{{\"parse_s\":{parse_s},\"qubits\":{},\"ops\":{}}}",
        circuit.num_qubits,
        circuit.ops.len()
    )
    .unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("run") => {
                let t = Instant::now();
                let c0 = cpu_seconds();
                if opts.shots > 0 {
                    let r = run_with(&circuit, &opts, &cfg).expect("run");
                    let s = t.elapsed().as_secs_f64();
                    let ones = r
                        .shots
                        .iter()
                        .filter(|b| b.0.iter().any(|w| *w != 0))
                        .count();
                    let cpu = cpu_seconds() - c0;
                    writeln!(
                        out,
                        "{{\"sim_s\":{s},\"cpu_s\":{cpu},\"nonzero_shots\":{ones}}}"
                    )
                    .unwrap();
                } else {
                    let st = final_state_with(&circuit, &opts, &cfg).expect("run");
                    let s = t.elapsed().as_secs_f64();
                    drop(st);
                    let cpu = cpu_seconds() - c0;
                    writeln!(out, "{{\"sim_s\":{s},\"cpu_s\":{cpu}}}").unwrap();
                }
            }
            Some("state") => {
                let p = words.next().expect("path");
                let st = final_state_with(&circuit, &opts, &cfg).expect("run");
                let mut buf = Vec::with_capacity(st.amplitudes().len() * 16);
                for a in st.amplitudes().iter() {
                    buf.extend_from_slice(&a.0.to_le_bytes());
                    buf.extend_from_slice(&a.1.to_le_bytes());
                }
                std::fs::write(p, buf).expect("write state");
                writeln!(out, "{{\"ok\":true}}").unwrap();
            }
            Some("plan") => {
                // How fusion groups this circuit: passes by kind and width.
                let gates: Vec<qws_sim::ir::GateOp> = circuit
                    .ops
                    .iter()
                    .filter_map(|o| match o {
                        qws_sim::ir::Op::Gate(g) => Some(g.clone()),
                        _ => None,
                    })
                    .collect();
                let mut hist = std::collections::BTreeMap::new();
                let precision = opts.precision_for(circuit.num_qubits);
                let shape = qws_sim::state::default_block_shape(precision);
                let fc = cfg.fusion.for_state(precision, shape);
                let fused = qws_sim::engine::fusion::fuse(&gates, &fc);
                // Passes over memory: a cache-blocked group of steps streams the state once.
                let memory_passes =
                    qws_sim::engine::blocking::plan(&fused, circuit.num_qubits, shape).len();
                for f in &fused {
                    let key = match f {
                        FusedOp::Gate(g) => format!("gate{}", g.targets.len() + g.controls.len()),
                        FusedOp::Dense { qubits, .. } => format!("dense{}", qubits.len()),
                        FusedOp::Diag { qubits, .. } => format!("diag{}", qubits.len()),
                    };
                    *hist.entry(key).or_insert(0usize) += 1;
                }
                writeln!(
                    out,
                    "{{\"gates\":{},\"passes\":{hist:?},\"memory_passes\":{memory_passes}}}",
                    gates.len()
                )
                .unwrap();
            }
            Some("rss") => writeln!(out, "{{\"peak_rss_kib\":{}}}", peak_rss_kib()).unwrap(),
            Some("quit") | None => break,
            Some(other) => writeln!(out, "{{\"error\":\"unknown command {other}\"}}").unwrap(),
        }
        out.flush().unwrap();
    }
}
