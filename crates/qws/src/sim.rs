//! `qws sim FILE`: parse an OpenQASM 2/3 or IonQ JSON file, simulate it locally and print the
//! results as a histogram, as a provider result document, or as the final statevector.

use anyhow::{anyhow, bail, Context};
use qws_sim::encode;
use qws_sim::ir::{Circuit, Op};
use qws_sim::program::{Histogram, InputFormat as SimFormat, ParseLimits, Program, ProgramOptions};
use qws_sim::run::{self, RunOptions};
use qws_sim::{shape, Precision, SimError};
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

impl OutputFormat {
    fn name(self) -> &'static str {
        match self {
            OutputFormat::Ionq => encode::IONQ_RESULTS,
            OutputFormat::Honeywell => encode::HONEYWELL_RESULTS,
            OutputFormat::MicrosoftV2 => encode::MICROSOFT_RESULTS_V2,
        }
    }
}

/// `--precision`: the amplitudes' floating-point width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    /// Two f32 per amplitude: half the memory and memory traffic.
    Single,
    /// Two f64 per amplitude.
    Double,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::Single => Precision::Single,
            PrecisionArg::Double => Precision::Double,
        }
    }
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
    /// Amplitude precision; default: double when the state fits the memory budget, else single.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
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
    let run = RunOptions {
        shots: args.shots,
        seed: args.seed,
        fusion: !args.no_fusion,
        precision: args.precision.map(Precision::from),
        ..RunOptions::default()
    };
    if args.statevector {
        let gates = shape::final_measurements(&circuit).ok_or_else(|| {
            anyhow!("{label}: --statevector needs a circuit whose measurements all come at the end")
        })?;
        let state = run::final_state(&gates.gates, &run).map_err(|e| located(&label, e))?;
        let amps: Vec<[f64; 2]> = state.amplitudes().iter().map(|a| [a.0, a.1]).collect();
        let doc = serde_json::json!({ "num_qubits": circuit.num_qubits, "amplitudes": amps });
        println!("{}", serde_json::to_string(&doc)?);
        return Ok(());
    }
    let program = Program::Circuits(vec![with_measurements(circuit)]);
    let opts = ProgramOptions {
        run,
        histogram: if args.sampled {
            Histogram::Sampled
        } else {
            Histogram::Exact
        },
        ..ProgramOptions::default()
    };
    if let Some(out_format) = args.output_format {
        let doc = program
            .run(out_format.name(), &opts)
            .map_err(|e| located(&label, e))?;
        println!("{}", pretty_json(&doc));
        return Ok(());
    }
    let out = program.run_shots(&opts).map_err(|e| located(&label, e))?;
    let Program::Circuits(circuits) = &program else {
        unreachable!("built as one circuit above")
    };
    print!("{}", histogram(&circuits[0], &out));
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
    let opts = ProgramOptions {
        run: RunOptions {
            shots: args.shots,
            seed: args.seed,
            precision: args.precision.map(Precision::from),
            ..RunOptions::default()
        },
        ..ProgramOptions::default()
    };
    let doc = Program::parse(SimFormat::Qir, &bytes, &ParseLimits::default())
        .map(|p| p.with_entry_points(vec![args.entry_point.clone()]))
        .and_then(|p| p.run(encode::MICROSOFT_RESULTS_V2, &opts))
        .map_err(|e| located(label, e))?;
    if args.output_format.is_some() {
        println!("{}", pretty_json(&doc));
        return Ok(());
    }
    let doc: serde_json::Value = serde_json::from_slice(&doc)?;
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
    match SimFormat::detect(text).map_err(|e| anyhow!(e))? {
        SimFormat::Ionq => Ok(InputFormat::Ionq),
        SimFormat::Qasm2 => Ok(InputFormat::Qasm2),
        _ => Ok(InputFormat::Qasm3),
    }
}

fn parse(text: &str, format: InputFormat) -> Result<Circuit, SimError> {
    let format = match format {
        InputFormat::Qasm2 => SimFormat::Qasm2,
        InputFormat::Qasm3 => SimFormat::Qasm3,
        InputFormat::Ionq => SimFormat::Ionq,
        InputFormat::Qir => return Err(SimError::Invalid("QIR is run by run_qir".into())),
    };
    match Program::parse(format, text.as_bytes(), &ParseLimits::default())? {
        Program::Circuits(mut cs) if cs.len() == 1 => Ok(cs.remove(0)),
        Program::Circuits(cs) => Err(SimError::Unsupported(format!(
            "a multi-circuit document ({} circuits); `qws sim` runs one circuit",
            cs.len()
        ))),
        _ => Err(SimError::Invalid("the program is not a circuit".into())),
    }
}

/// Re-indents compact JSON as `serde_json::to_string_pretty` would, without re-parsing its
/// numbers (so probabilities print exactly as the encoder wrote them).
fn pretty_json(compact: &[u8]) -> String {
    let text = String::from_utf8_lossy(compact);
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

/// `file:line:col: message` for positioned errors, `file: message` otherwise.
fn located(label: &str, e: SimError) -> anyhow::Error {
    match e {
        SimError::Parse { pos, message } => anyhow!("{label}:{}:{}: {message}", pos.line, pos.col),
        other => anyhow!("{label}: {other}"),
    }
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
        assert_eq!(shape::final_measurements(&c).unwrap().gates.ops.len(), 1);
        let c = parse(
            "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nc = measure q;\nU(1,0,0) q[0];\n",
            InputFormat::Qasm3,
        )
        .unwrap();
        assert!(shape::final_measurements(&c).is_none());
        // A program that measures nothing gets every qubit measured.
        let c = parse("OPENQASM 3.0;\nqubit[2] q;\n", InputFormat::Qasm3).unwrap();
        let m = with_measurements(c);
        assert_eq!(m.num_clbits, 2);
        assert_eq!(m.cregs.last().unwrap().name, "meas");
    }
}
