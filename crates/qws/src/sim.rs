//! `qws sim FILE`: parse an OpenQASM 2/3 or IonQ JSON file, simulate it locally and print the
//! results as a histogram, as a provider result document, or as the final statevector.

use anyhow::{anyhow, bail, Context};
use qws_sim::encode;
use qws_sim::ir::{Circuit, Op};
use qws_sim::run::{self, RunOptions};
use qws_sim::SimError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest input file read.
const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Qasm2,
    Qasm3,
    Ionq,
    /// QIR: textual LLVM IR or LLVM bitcode (results as `microsoft.quantum-results.v2`).
    Qir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[value(name = "ionq.quantum-results.v1")]
    Ionq,
    #[value(name = "honeywell.quantum-results.v1")]
    Honeywell,
    #[value(name = "microsoft.quantum-results.v2")]
    MicrosoftV2,
}

#[derive(clap::Args)]
pub struct SimArgs {
    /// The program: OpenQASM 2.0, OpenQASM 3 or IonQ JSON (`ionq.circuit.v1`).
    pub file: PathBuf,
    /// Input format; detected from the content when omitted.
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Number of shots to sample.
    #[arg(long, default_value_t = 1000)]
    pub shots: u64,
    /// Seed for reproducible shots (random when omitted).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print a provider result document (JSON) instead of the histogram.
    #[arg(long, value_enum)]
    pub output_format: Option<OutputFormat>,
    /// For ionq.quantum-results.v1: frequencies of sampled shots instead of exact probabilities.
    #[arg(long)]
    pub sampled: bool,
    /// Print the final statevector as JSON (terminal measurements are ignored).
    #[arg(long, conflicts_with = "output_format")]
    pub statevector: bool,
    /// Turn gate fusion off.
    #[arg(long)]
    pub no_fusion: bool,
    /// QIR only: the entry point to run (default: the function with the `entry_point` attribute).
    #[arg(long)]
    pub entry_point: Option<String>,
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let label = args.file.display().to_string();
    if args.format == Some(InputFormat::Qir) || args.format.is_none() && file_is_qir(&args.file)? {
        return run_qir(&args, &label);
    }
    let text = read_program(&args.file)?;
    let format = match args.format {
        Some(f) => f,
        None => detect(&text).with_context(|| format!("{label}: cannot tell the format"))?,
    };
    let circuit = parse(&text, format).map_err(|e| located(&label, e))?;
    let opts = RunOptions {
        shots: args.shots,
        seed: args.seed,
        fusion: !args.no_fusion,
        ..RunOptions::default()
    };
    if args.statevector {
        let gates = strip_terminal_measurements(&circuit).ok_or_else(|| {
            anyhow!("{label}: --statevector needs a circuit whose measurements all come at the end")
        })?;
        let state = run::final_state(&gates, &opts).map_err(|e| located(&label, e))?;
        let amps: Vec<[f64; 2]> = state.amplitudes().iter().map(|a| [a.0, a.1]).collect();
        let doc = serde_json::json!({ "num_qubits": circuit.num_qubits, "amplitudes": amps });
        println!("{}", serde_json::to_string(&doc)?);
        return Ok(());
    }
    let circuit = with_measurements(circuit);
    let doc = match args.output_format {
        Some(OutputFormat::Ionq) if !args.sampled => {
            Some(encode::ionq_results(&circuit, &opts, None).map_err(|e| located(&label, e))?)
        }
        Some(out_format) => {
            let out = run::run(&circuit, &opts).map_err(|e| located(&label, e))?;
            Some(match out_format {
                OutputFormat::Ionq => encode::ionq_results(&circuit, &opts, Some(&out))
                    .map_err(|e| located(&label, e))?,
                OutputFormat::Honeywell => encode::honeywell_results(&circuit, &out),
                OutputFormat::MicrosoftV2 => encode::microsoft_v2_results(&out),
            })
        }
        None => None,
    };
    if let Some(doc) = doc {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let out = run::run(&circuit, &opts).map_err(|e| located(&label, e))?;
    print!("{}", histogram(&circuit, &out));
    Ok(())
}

/// QIR is recognised by the bitcode magic or by text defining an `entry_point` function.
fn file_is_qir(path: &Path) -> anyhow::Result<bool> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Ok(false); // read_program reports the size
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    Ok(qws_sim::qir::looks_like_qir(&bytes))
}

/// Runs a QIR program; prints the `microsoft.quantum-results.v2` document, or a histogram of
/// the outputs' display strings when no output format is asked for.
fn run_qir(args: &SimArgs, label: &str) -> anyhow::Result<()> {
    if args.statevector || matches!(args.output_format, Some(f) if f != OutputFormat::MicrosoftV2) {
        bail!("{label}: QIR programs produce microsoft.quantum-results.v2 only");
    }
    let meta = std::fs::metadata(&args.file).with_context(|| label.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        bail!(
            "{label}: {} bytes is larger than the {} MiB accepted",
            meta.len(),
            MAX_FILE_BYTES >> 20
        );
    }
    let bytes = std::fs::read(&args.file).with_context(|| label.to_string())?;
    let opts = qws_sim::qir::QirRunOptions {
        entry_point: args.entry_point.clone(),
        shots: args.shots,
        seed: args.seed,
        ..Default::default()
    };
    let doc = qws_sim::qir::run_qir(&bytes, &opts).map_err(|e| located(label, e))?;
    if args.output_format.is_some() {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    for h in doc["Results"][0]["Histogram"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!("{}\t{}", h["Display"].as_str().unwrap_or(""), h["Count"]);
    }
    println!("{} shots", args.shots);
    Ok(())
}

fn read_program(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        bail!(
            "{}: {} bytes is larger than the {} MiB accepted",
            path.display(),
            meta.len(),
            MAX_FILE_BYTES >> 20
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("{}: the file is not UTF-8 text", path.display()))
}

/// Picks the format from the content: JSON for IonQ, else the OpenQASM header.
fn detect(text: &str) -> anyhow::Result<InputFormat> {
    let body = skip_comments(text);
    if body.starts_with('{') {
        return Ok(InputFormat::Ionq);
    }
    if let Some(rest) = body.strip_prefix("OPENQASM") {
        let v = rest.trim_start();
        if v.starts_with('2') {
            return Ok(InputFormat::Qasm2);
        }
        if v.starts_with('3') {
            return Ok(InputFormat::Qasm3);
        }
        bail!("unknown OpenQASM version");
    }
    if body.starts_with("include") || body.starts_with("qubit") || body.starts_with("bit") {
        return Ok(InputFormat::Qasm3);
    }
    bail!("expected IonQ JSON or an OpenQASM program (use --format)")
}

fn skip_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("//") {
            s = r.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            return s;
        }
    }
}

fn parse(text: &str, format: InputFormat) -> Result<Circuit, SimError> {
    match format {
        InputFormat::Qasm2 => qws_sim::qasm::parse_qasm2(text),
        InputFormat::Qasm3 => qws_sim::qasm::parse_qasm3(text),
        InputFormat::Ionq => qws_sim::ionq::parse(text),
        InputFormat::Qir => Err(SimError::Invalid("QIR is run by run_qir".into())),
    }
}

/// `file:line:col: message` for positioned errors, `file: message` otherwise.
fn located(label: &str, e: SimError) -> anyhow::Error {
    match e {
        SimError::Parse { pos, message } => anyhow!("{label}:{}:{}: {message}", pos.line, pos.col),
        other => anyhow!("{label}: {other}"),
    }
}

/// The gates of a circuit whose measurements (if any) are all at the end.
fn strip_terminal_measurements(c: &Circuit) -> Option<Circuit> {
    let first = c
        .ops
        .iter()
        .position(|op| matches!(op, Op::Measure { .. }))
        .unwrap_or(c.ops.len());
    if c.ops[first..]
        .iter()
        .any(|op| !matches!(op, Op::Measure { .. } | Op::Barrier(_)))
    {
        return None;
    }
    if c.ops[..first]
        .iter()
        .any(|op| !matches!(op, Op::Gate(_) | Op::Barrier(_)))
    {
        return None;
    }
    let mut g = c.clone();
    g.ops.truncate(first);
    Some(g)
}

fn has_measurement(ops: &[Op]) -> bool {
    ops.iter().any(|op| match op {
        Op::Measure { .. } => true,
        Op::If {
            then_ops, else_ops, ..
        } => has_measurement(then_ops) || has_measurement(else_ops),
        _ => false,
    })
}

/// A program that measures nothing gets every qubit measured at the end (into fresh bits), so
/// the histogram shows its output distribution.
fn with_measurements(mut c: Circuit) -> Circuit {
    if has_measurement(&c.ops) || c.num_qubits == 0 {
        return c;
    }
    eprintln!("note: the program measures nothing; measuring every qubit at the end");
    let base = c.num_clbits;
    for q in 0..c.num_qubits {
        c.ops.push(Op::Measure {
            qubit: q,
            clbit: base + q,
        });
    }
    c.num_clbits += c.num_qubits;
    c.cregs.push(qws_sim::ir::ClassicalRegister {
        name: "meas".into(),
        bits: (base..base + c.num_qubits).collect(),
    });
    c
}

/// Counts per outcome, sorted, with percentages and bars. An outcome is the registers' bit
/// strings (highest bit first), last-declared register first, as qiskit prints counts.
fn histogram(c: &Circuit, out: &run::RunOutput) -> String {
    let regs: Vec<Vec<usize>> = if c.cregs.is_empty() {
        vec![(0..out.num_clbits).collect()]
    } else {
        c.cregs.iter().rev().map(|r| r.bits.clone()).collect()
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for s in &out.shots {
        let key: Vec<String> = regs
            .iter()
            .map(|bits| {
                bits.iter()
                    .rev()
                    .map(|&b| if s.get(b) { '1' } else { '0' })
                    .collect()
            })
            .collect();
        *counts.entry(key.join(" ")).or_insert(0) += 1;
    }
    let total = out.shots.len().max(1) as f64;
    let width = counts.keys().map(|k| k.len()).max().unwrap_or(0);
    let max = counts.values().copied().max().unwrap_or(1) as f64;
    let mut s = String::new();
    for (k, n) in &counts {
        let bar = "#".repeat(((*n as f64 / max) * 40.0).round() as usize);
        s.push_str(&format!(
            "{k:>width$}  {n:>8}  {:>6.2}%  {bar}\n",
            100.0 * *n as f64 / total
        ));
    }
    s.push_str(&format!("{} shots\n", out.shots.len()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect("// c\nOPENQASM 2.0;").unwrap(), InputFormat::Qasm2);
        assert_eq!(detect("/* x */ OPENQASM 3.0;").unwrap(), InputFormat::Qasm3);
        assert_eq!(detect("  {\"qubits\": 1}").unwrap(), InputFormat::Ionq);
        assert!(detect("hello").is_err());
    }

    #[test]
    fn parse_errors_carry_the_file_name_and_position() {
        let e = parse(
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[1];\nhh q[0];\n",
            InputFormat::Qasm2,
        )
        .unwrap_err();
        assert_eq!(
            located("bell.qasm", e).to_string(),
            "bell.qasm:4:1: unknown gate 'hh'"
        );
    }

    #[test]
    fn histogram_sorts_outcomes_and_prints_percentages() {
        let c = parse(
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg a[1];\ncreg b[1];\nx q[1];\nmeasure q[0] -> a[0];\nmeasure q[1] -> b[0];\n",
            InputFormat::Qasm2,
        )
        .unwrap();
        let out = run::run(
            &c,
            &RunOptions {
                shots: 4,
                seed: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        let h = histogram(&c, &out);
        assert!(h.starts_with("1 0         4  100.00%  ####"), "{h}");
        assert!(h.ends_with("4 shots\n"));
    }

    #[test]
    fn terminal_measurements_are_stripped_but_mid_circuit_ones_refused() {
        let c = parse(
            "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nU(1,0,0) q[0];\nc = measure q;\n",
            InputFormat::Qasm3,
        )
        .unwrap();
        assert_eq!(strip_terminal_measurements(&c).unwrap().ops.len(), 1);
        let c = parse(
            "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nc = measure q;\nU(1,0,0) q[0];\n",
            InputFormat::Qasm3,
        )
        .unwrap();
        assert!(strip_terminal_measurements(&c).is_none());
        // A program that measures nothing gets every qubit measured.
        let c = parse("OPENQASM 3.0;\nqubit[2] q;\n", InputFormat::Qasm3).unwrap();
        let m = with_measurements(c);
        assert_eq!(m.num_clbits, 2);
        assert_eq!(m.cregs.last().unwrap().name, "meas");
    }
}
