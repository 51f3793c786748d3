//! One entry point from a program's bytes to its result document, for the server's scheduler
//! and `qws sim` alike: [`Program::parse`] dispatches on the input format, [`Program::check`]
//! validates against the limits and sizes the run before anything is allocated, and
//! [`Program::run`] simulates and encodes. Whether exact probabilities or one-state sampling
//! apply is decided in [`crate::shape`], not by the callers.

use crate::encode::{self, IONQ_RESULTS, MICROSOFT_RESULTS_V2};
use crate::error::{Result, SimError};
use crate::ir::Circuit;
use crate::precision::Precision;
use crate::qir::interp::ShotMode;
use crate::quil::QuilProgram;
use crate::run::{self, Limits, RunOptions, RunOutput, ShotBits};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Rigetti's result format for Quil programs.
pub const QUIL_RESULTS: &str = "rigetti.quil-results.v1";

/// The languages qws-sim reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// OpenQASM 2 or 3, the version taken from the header.
    Qasm,
    Qasm2,
    Qasm3,
    /// IonQ JSON (`ionq.circuit.v1`), one circuit or several (`circuits`).
    Ionq,
    /// QIR: textual LLVM IR or LLVM bitcode.
    Qir,
    /// Rigetti Quil.
    Quil,
}

impl InputFormat {
    /// The format of an Azure Quantum `inputDataFormat`; `None` for formats qws cannot run.
    pub fn from_data_format(name: &str) -> Option<InputFormat> {
        Some(match name {
            "ionq.circuit.v1" => InputFormat::Ionq,
            "honeywell.openqasm.v1" | "openqasm.v3" | "openqasm.v2" => InputFormat::Qasm,
            "qir.v1" => InputFormat::Qir,
            "rigetti.quil.v1" => InputFormat::Quil,
            _ => return None,
        })
    }

    /// Whether programs of this format can produce `output_format` at all (IonQ multi-circuit
    /// jobs are narrower still; [`Program::check`] says so).
    pub fn produces(self, output_format: &str) -> bool {
        match self {
            InputFormat::Qir => output_format == MICROSOFT_RESULTS_V2,
            InputFormat::Quil => output_format == QUIL_RESULTS,
            _ => output_format != QUIL_RESULTS,
        }
    }

    /// Tells a text program's format from its content: JSON for IonQ, else the OpenQASM
    /// header (a version-less program that starts with `include`, `qubit` or `bit` is
    /// OpenQASM 3). QIR is recognised on bytes by [`crate::qir::looks_like_qir`].
    pub fn detect(text: &str) -> std::result::Result<InputFormat, &'static str> {
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
            return Err("unknown OpenQASM version");
        }
        if body.starts_with("include") || body.starts_with("qubit") || body.starts_with("bit") {
            return Ok(InputFormat::Qasm3);
        }
        Err("expected IonQ JSON or an OpenQASM program (use --format)")
    }
}

/// The text after leading `//` and `/* */` comments and whitespace.
pub fn skip_comments(mut s: &str) -> &str {
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

/// Bounds of [`Program::parse`].
#[derive(Clone, Debug)]
pub struct ParseLimits {
    /// Largest program accepted, in bytes.
    pub max_input_bytes: u64,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_input_bytes: 64 << 20,
        }
    }
}

/// A parsed program of any input format.
#[derive(Clone, Debug)]
pub enum Program {
    /// One circuit, or the circuits of an IonQ multi-circuit job.
    Circuits(Vec<Circuit>),
    /// A QIR module (parsed when run) and the entry points to run, one result each.
    Qir {
        bytes: Vec<u8>,
        entry_points: Vec<Option<String>>,
    },
    /// A Quil program and the memory values of each run (one per substitution set).
    Quil {
        program: QuilProgram,
        runs: Vec<HashMap<String, Vec<f64>>>,
    },
}

/// What a checked program needs: qubits of its widest state and an upper bound of its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    pub qubits: usize,
    /// Bytes of the result document plus the shots held while it is built.
    pub output_bytes: u64,
}

/// How `ionq.quantum-results.v1` histograms are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Histogram {
    /// Exact probabilities when every measurement is final, sampled frequencies otherwise.
    #[default]
    ExactOrSampled,
    /// Exact probabilities, or an `Unsupported` error.
    Exact,
    /// Frequencies of the sampled shots.
    Sampled,
}

/// Options of [`Program::run`].
#[derive(Clone, Debug)]
pub struct ProgramOptions<'a> {
    /// Shots, seed, fusion, limits, cancellation and precision (`None`: the default for the
    /// program's width, see [`Precision::default_for`]).
    pub run: RunOptions,
    /// Ideal or noisy simulation, or a syntax checker's zeros.
    pub mode: ShotMode<'a>,
    pub histogram: Histogram,
}

impl Default for ProgramOptions<'_> {
    fn default() -> Self {
        ProgramOptions {
            run: RunOptions::default(),
            mode: ShotMode::Simulate(None),
            histogram: Histogram::default(),
        }
    }
}

impl Program {
    /// Parses `input` as `format`. Cheap and bounded; nothing is simulated or allocated for
    /// qubits. QIR is only recognised here and parsed when it runs.
    pub fn parse(format: InputFormat, input: &[u8], limits: &ParseLimits) -> Result<Program> {
        if input.len() as u64 > limits.max_input_bytes {
            return Err(SimError::Limit(format!(
                "the program is {}; at most {} are accepted",
                run::human_size(input.len() as u64),
                run::human_size(limits.max_input_bytes)
            )));
        }
        let text = || {
            std::str::from_utf8(input).map_err(|e| {
                SimError::Input(format!(
                    "The input is not UTF-8 text (invalid byte at offset {}).",
                    e.valid_up_to()
                ))
            })
        };
        Ok(match format {
            InputFormat::Qasm => Program::Circuits(vec![crate::qasm::parse(text()?)?]),
            InputFormat::Qasm2 => Program::Circuits(vec![crate::qasm::parse_qasm2(text()?)?]),
            InputFormat::Qasm3 => Program::Circuits(vec![crate::qasm::parse_qasm3(text()?)?]),
            InputFormat::Ionq => {
                Program::Circuits(crate::ionq::parse_multi(text()?, &Default::default())?)
            }
            InputFormat::Qir => {
                if !crate::qir::looks_like_qir(input) {
                    return Err(SimError::Input(
                        "The input is neither QIR text (a function with the entry_point attribute) nor LLVM bitcode.".into(),
                    ));
                }
                Program::Qir {
                    bytes: input.to_vec(),
                    entry_points: vec![None],
                }
            }
            InputFormat::Quil => Program::Quil {
                program: crate::quil::parse(text()?)?,
                runs: vec![HashMap::new()],
            },
        })
    }

    /// The QIR entry points to run (`None`: the attributed one); other programs ignore them.
    pub fn with_entry_points(mut self, eps: Vec<Option<String>>) -> Program {
        if let Program::Qir { entry_points, .. } = &mut self {
            *entry_points = eps;
        }
        self
    }

    /// Quil parameter substitutions (`inputParams.substitutions`): one run per set of values.
    /// Other programs ignore them.
    pub fn with_substitutions(mut self, subs: Option<&Value>) -> Result<Program> {
        if let Program::Quil { program, runs } = &mut self {
            *runs = crate::quil::substitution_runs(program, subs)?;
        }
        Ok(self)
    }

    /// Qubits of the widest state the program needs (QIR: the qubits it addresses, never its
    /// attributes alone).
    pub fn num_qubits(&self) -> Result<usize> {
        Ok(match self {
            Program::Circuits(cs) => cs.iter().map(|c| c.num_qubits).max().unwrap_or(0),
            Program::Qir { bytes, .. } => crate::qir::requirements(bytes)?.qubits,
            Program::Quil { program, runs } => program.circuit(&runs[0])?.num_qubits,
        })
    }

    /// Validates the program against `limits` and bounds what producing `output_format` from
    /// `shots` shots takes; fails before anything is allocated. `Unsupported` when the program
    /// cannot produce `output_format`.
    pub fn check(&self, output_format: &str, shots: u64, limits: &Limits) -> Result<Needs> {
        match self {
            Program::Circuits(circuits) => {
                if circuits.len() > 1 && output_format != IONQ_RESULTS {
                    return Err(SimError::Unsupported(format!(
                        "output format '{output_format}' for a multi-circuit job"
                    )));
                }
                let mut widest = 0;
                let mut total = 0u64;
                for c in circuits {
                    run::validate(c, limits)?;
                    let results = encode::output_bytes(output_format, c, shots)?;
                    encode::check_output(output_format, c, shots, limits)?;
                    let shots_held = if output_format == IONQ_RESULTS {
                        0 // counted as they are sampled
                    } else {
                        run::shots_bytes(c.num_clbits, shots)
                    };
                    widest = widest.max(c.num_qubits);
                    total = total.saturating_add(results.saturating_add(shots_held));
                }
                run::check_output_bytes(total, "the results of all circuits", limits)?;
                Ok(Needs {
                    qubits: widest,
                    output_bytes: total,
                })
            }
            Program::Quil { program, runs } => {
                let c = program.circuit(&runs[0])?;
                run::validate(&c, limits)?;
                // Per shot and region element: a digit and a separator, plus brackets per
                // shot; the shots are held as bits while the document is built.
                let per_shot = 2 * c.num_clbits as u64 + 8 * program.regions.len() as u64 + 4;
                let all = shots.saturating_mul(runs.len() as u64);
                let bytes = all
                    .saturating_mul(per_shot)
                    .saturating_add(run::shots_bytes(c.num_clbits, all));
                run::check_output_bytes(bytes, "the Quil results", limits)?;
                Ok(Needs {
                    qubits: c.num_qubits,
                    output_bytes: bytes,
                })
            }
            Program::Qir { bytes, .. } => {
                let needs = crate::qir::requirements(bytes)?;
                run::check_qubits(needs.qubits, limits)?;
                let as_circuit = Circuit::new(0, needs.results);
                let results = encode::output_bytes(MICROSOFT_RESULTS_V2, &as_circuit, shots)?;
                Ok(Needs {
                    qubits: needs.qubits,
                    output_bytes: results,
                })
            }
        }
    }

    /// Simulates and returns the serialized `output_format` document. Errors as
    /// [`Program::check`] would, plus the run's own (limits met while running, cancellation).
    pub fn run(&self, output_format: &str, opts: &ProgramOptions) -> Result<Vec<u8>> {
        let run = self.run_options(opts)?;
        match self {
            Program::Circuits(circuits) if circuits.len() == 1 => {
                run_circuit(&circuits[0], output_format, &run, opts)
            }
            Program::Circuits(circuits) => {
                if output_format != IONQ_RESULTS {
                    return Err(SimError::Unsupported(format!(
                        "output format '{output_format}' for a multi-circuit job"
                    )));
                }
                // As IonQ reports it: one distribution per circuit keyed by the circuit's
                // child-job id (a UUID), in submission order.
                let mut doc = Map::new();
                for (i, c) in circuits.iter().enumerate() {
                    let one = RunOptions {
                        seed: run.seed.map(|s| s.wrapping_add(i as u64)),
                        ..run.clone()
                    };
                    let bytes = run_circuit(c, output_format, &one, opts)?;
                    let v: Value = serde_json::from_slice(&bytes).map_err(encoding)?;
                    let histogram = v.get("histogram").cloned().unwrap_or(Value::Null);
                    doc.insert(random_uuid(), histogram);
                }
                serde_json::to_vec(&doc).map_err(encoding)
            }
            Program::Qir {
                bytes,
                entry_points,
            } => {
                if output_format != MICROSOFT_RESULTS_V2 {
                    return Err(SimError::Unsupported(format!(
                        "output format '{output_format}' for a QIR program"
                    )));
                }
                let qopts = crate::qir::QirRunOptions {
                    entry_point: None,
                    shots: run.shots,
                    seed: run.seed,
                    limits: run.limits.clone(),
                    cancel: run.cancel.clone(),
                    precision: run.precision,
                    ..Default::default()
                };
                let doc = crate::qir::run_qir_items_with(bytes, entry_points, &qopts, opts.mode)?;
                serde_json::to_vec(&doc).map_err(encoding)
            }
            Program::Quil { program, runs } => {
                if output_format != QUIL_RESULTS {
                    return Err(SimError::Unsupported(format!(
                        "output format '{output_format}' for a Quil program"
                    )));
                }
                let mut outs = Vec::with_capacity(runs.len());
                for (i, values) in runs.iter().enumerate() {
                    let one = RunOptions {
                        seed: run.seed.map(|s| s.wrapping_add(i as u64)),
                        ..run.clone()
                    };
                    outs.push(shots_of(&program.circuit(values)?, &one, opts.mode)?);
                }
                serde_json::to_vec(&crate::quil::quil_results(program, &outs)).map_err(encoding)
            }
        }
    }

    /// The shots of a one-circuit program, for callers that render results themselves (the
    /// CLI's histogram).
    pub fn run_shots(&self, opts: &ProgramOptions) -> Result<RunOutput> {
        match self {
            Program::Circuits(circuits) if circuits.len() == 1 => {
                shots_of(&circuits[0], &self.run_options(opts)?, opts.mode)
            }
            _ => Err(SimError::Unsupported(
                "raw shots of a program that is not one circuit".into(),
            )),
        }
    }

    /// `opts.run` with the precision resolved: the asked one, else the default for the
    /// program's width and memory budget.
    fn run_options(&self, opts: &ProgramOptions) -> Result<RunOptions> {
        let mut run = opts.run.clone();
        if run.precision.is_none() {
            run.precision = Some(Precision::default_for(
                self.num_qubits()?,
                run.limits.max_memory_bytes,
            ));
        }
        Ok(run)
    }
}

/// One circuit's shots: a syntax checker's zeros, noisy trajectories, or the ideal engine.
fn shots_of(c: &Circuit, run: &RunOptions, mode: ShotMode) -> Result<RunOutput> {
    match mode {
        ShotMode::Zeros => Ok(RunOutput {
            num_clbits: c.num_clbits,
            shots: vec![ShotBits::zeros(c.num_clbits); run.shots as usize],
        }),
        ShotMode::Simulate(None) => run::run(c, run),
        ShotMode::Simulate(Some(m)) => crate::noise::run_noisy(c, run, m),
    }
}

/// One circuit's document in `output_format`.
fn run_circuit(
    c: &Circuit,
    output_format: &str,
    run: &RunOptions,
    opts: &ProgramOptions,
) -> Result<Vec<u8>> {
    let ionq = output_format == IONQ_RESULTS;
    match opts.mode {
        ShotMode::Zeros => encode::encode_run(output_format, c, &shots_of(c, run, opts.mode)?),
        ShotMode::Simulate(Some(m)) if ionq => {
            let dist = crate::noise::noisy_distribution(c, run, m)?;
            serde_json::to_vec(&encode::ionq_histogram(&dist)).map_err(encoding)
        }
        ShotMode::Simulate(Some(_)) => {
            encode::encode_run(output_format, c, &shots_of(c, run, opts.mode)?)
        }
        ShotMode::Simulate(None) if ionq && opts.histogram != Histogram::ExactOrSampled => {
            encode::check_output(output_format, c, run.shots, &run.limits)?;
            let doc = if opts.histogram == Histogram::Exact {
                encode::ionq_results(c, run, None)?
            } else {
                encode::ionq_histogram(&run::run_counts(c, run)?.distribution()?)
            };
            serde_json::to_vec(&doc).map_err(encoding)
        }
        ShotMode::Simulate(None) => encode::encode_results(output_format, c, run),
    }
}

fn encoding(e: serde_json::Error) -> SimError {
    SimError::Invalid(format!("cannot encode the results: {e}"))
}

/// A random (version 4) UUID in its hyphenated form: the child-job id of a circuit.
fn random_uuid() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
