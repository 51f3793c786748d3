//! Turning a job's input blob into its output document with qws-sim.
//!
//! [`prepare`] parses and checks the program (cheap, bounded) and estimates the memory the run
//! needs, so the scheduler can admit it against its budget; [`run`] simulates and encodes.

use qws_core::catalog::{TargetInfo, TargetKind};
use qws_sim::noise::NoiseModel;
use qws_sim::program::{InputFormat, ParseLimits, Program, ProgramOptions};
use qws_sim::qir::interp::ShotMode;
use qws_sim::run::{Limits, RunOptions};
use qws_sim::{Precision, SimError};
use serde_json::{Map, Value};

/// Shots when the job does not say.
pub const DEFAULT_SHOTS: u64 = 100;

/// Shots of an IonQ noise-model simulation that does not say (IonQ's default).
pub const DEFAULT_NOISY_IONQ_SHOTS: u64 = 1000;

/// Why a job failed, as its `errorData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// `errorData.code`.
    pub code: &'static str,
    /// `errorData.message`.
    pub message: String,
}

impl JobFailure {
    /// A failure.
    pub fn new(code: &'static str, message: impl Into<String>) -> JobFailure {
        JobFailure {
            code,
            message: message.into(),
        }
    }
}

impl From<SimError> for JobFailure {
    fn from(e: SimError) -> JobFailure {
        let code = match &e {
            SimError::Parse { .. } | SimError::Invalid(_) | SimError::Input(_) => {
                "InvalidInputData"
            }
            SimError::Unsupported(_) => "UnsupportedProgram",
            SimError::Limit(_) => "ExecutionLimitExceeded",
            SimError::Cancelled => "Cancelled",
        };
        JobFailure::new(code, e.to_string())
    }
}

/// A parsed job ready to run.
pub struct Prepared {
    program: Program,
    output_format: String,
    /// Shots to run.
    pub shots: u64,
    /// Estimated peak memory of the run in bytes: the statevector and the results.
    pub memory_bytes: u64,
    /// Upper bound of the output document's size.
    pub output_bytes: u64,
    max_output_bytes: u64,
    limits: Limits,
    /// The target is a syntax checker: report zeros instead of simulating.
    zeros: bool,
    noise: Option<NoiseModel>,
    seed: Option<u64>,
    /// `inputParams.precision`; `None` lets qws-sim choose by width and memory budget.
    precision: Option<Precision>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("shots", &self.shots)
            .field("memory_bytes", &self.memory_bytes)
            .finish_non_exhaustive()
    }
}

/// Statevector bytes for `n` qubits in double precision plus a fixed overhead.
pub fn memory_for_qubits(n: usize) -> u64 {
    memory_for_state(n, Precision::Double)
}

/// Statevector bytes for `n` qubits in `precision` plus a fixed overhead.
pub fn memory_for_state(n: usize, precision: Precision) -> u64 {
    precision.state_bytes(n).saturating_add(1 << 20)
}

/// What the server lets one job use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Memory all running jobs share (the statevector plus the results).
    pub memory_bytes: u64,
    /// Largest output document a job may produce.
    pub max_output_bytes: u64,
}

/// Memory a job's results take while built: the shots as bits and the serialized document
/// (qws-sim writes the document straight from the shots, with no JSON tree per shot).
pub const OUTPUT_MEMORY_FACTOR: u64 = 2;

/// The memory a job's results can take: at most [`OUTPUT_MEMORY_FACTOR`] times the output cap,
/// since results larger than the cap are refused (before the run when they can be foreseen,
/// while they are produced otherwise).
pub fn memory_for_output(output_bytes: u64, max_output_bytes: u64) -> u64 {
    output_bytes
        .min(max_output_bytes)
        .saturating_mul(OUTPUT_MEMORY_FACTOR)
}

/// The value of a string attribute (`"name"="value"`) in textual QIR.
fn qir_attr<'a>(bytes: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(&bytes[..bytes.len().min(4 << 20)]).ok()?;
    let key = format!("\"{name}\"=\"");
    let i = text.find(&key)?;
    text[i + key.len()..].split('"').next()
}

/// Base-profile targets refuse programs that need the adaptive profile. What counts is what the
/// program does, not its label: qdk labels the straight-line QIR it makes from cirq and
/// PennyLane circuits `adaptive_profile`, and such a program runs on a Base target as it would on
/// Azure. A program that branches or computes on a measured result (or loops) is refused.
fn check_profile(
    bytes: &[u8],
    doc: &Map<String, Value>,
    target: &TargetInfo,
    entry_points: &[Option<String>],
) -> Result<(), JobFailure> {
    if target.target_profile != "Base" {
        return Ok(());
    }
    let declared = qir_attr(bytes, "qir_profiles")
        .map(str::to_string)
        .or_else(|| {
            doc.get("inputParams")
                .and_then(|p| p.get("target_profile"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    match declared {
        Some(p)
            if p.to_ascii_lowercase().contains("adaptive")
                && qws_sim::qir::needs_adaptive_profile(bytes, entry_points) =>
        {
            Err(JobFailure::new(
                "UnsupportedProfile",
                format!(
                    "The target '{}' runs the Base QIR profile; the program (declared '{p}') \
                     uses measurement feedback or other control flow (a branch or computation on \
                     a measured result, or a loop) that only the Adaptive profile offers.",
                    target.id
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A failure of the job's `inputParams`.
fn bad_params(message: impl Into<String>) -> JobFailure {
    JobFailure::new("InvalidInputParams", message)
}

/// The noise model a job runs with and its seed, from the target and its `inputParams`:
/// Quantinuum emulators use the machine's published model unless `error-model` is false, with
/// `error-params` overrides; `ionq.simulator` follows IonQ's `noise: {model, seed}`;
/// `qws.simulator` takes an explicit `noise` object. `seed` (any target) fixes the run.
fn noise_for(
    target: &TargetInfo,
    params: Option<&Value>,
) -> Result<(Option<NoiseModel>, Option<u64>), JobFailure> {
    let p = params.and_then(Value::as_object);
    let get = |k: &str| p.and_then(|p| p.get(k)).filter(|v| !v.is_null());
    let mut seed = match get("seed") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| bad_params("inputParams.seed must be a non-negative integer."))?,
        ),
    };
    let sim = |e: SimError| bad_params(format!("{e}."));
    let model = match target.kind {
        TargetKind::SyntaxChecker => None,
        TargetKind::Emulator(machine) => {
            if get("error-model").and_then(Value::as_bool) == Some(false) {
                None
            } else {
                let m = NoiseModel::quantinuum(machine).unwrap_or_default();
                Some(match get("error-params") {
                    None => m,
                    Some(Value::Object(o)) => m.with_quantinuum_params(o).map_err(sim)?,
                    Some(_) => {
                        return Err(bad_params("inputParams.error-params must be an object."))
                    }
                })
            }
        }
        TargetKind::Ideal if target.id == "ionq.simulator" => {
            match get("noise") {
                None => None,
                Some(Value::Object(n)) => {
                    let name = match n.get("model") {
                        None | Some(Value::Null) => "ideal",
                        Some(Value::String(s)) => s.as_str(),
                        Some(_) => {
                            return Err(bad_params("inputParams.noise.model must be a string."))
                        }
                    };
                    if let Some(v) = n.get("seed").filter(|v| !v.is_null()) {
                        seed = Some(v.as_u64().filter(|s| (1..=1 << 31).contains(s)).ok_or_else(
                        || bad_params("inputParams.noise.seed must be an integer between 1 and 2^31."),
                    )?);
                    }
                    Some(NoiseModel::ionq(name).map_err(sim)?).filter(|m| !m.is_ideal())
                }
                Some(_) => {
                    return Err(bad_params(
                        "inputParams.noise must be an object {\"model\", \"seed\"}.",
                    ))
                }
            }
        }
        TargetKind::Ideal if target.id == "qws.simulator" => match get("noise") {
            None => None,
            Some(v) => Some(NoiseModel::from_json(v).map_err(sim)?).filter(|m| !m.is_ideal()),
        },
        TargetKind::Ideal => None,
    };
    Ok((model, seed))
}

/// The qubits an IonQ noise model simulates at most: its machine's (IonQ limits the Aria models
/// to Aria's 25 qubits; Forte models run up to 29).
fn ionq_noise_qubits(params: Option<&Value>) -> Option<usize> {
    let model = params?.get("noise")?.get("model")?.as_str()?;
    model.starts_with("aria").then_some(25)
}

/// A Quantinuum program must be OpenQASM 2.0, as Quantinuum's compiler requires: its first
/// statement (after comments) is `OPENQASM 2.0;`.
fn check_openqasm2_header(text: &str) -> Result<(), JobFailure> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let header: String = rest
        .split(';')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if header == "OPENQASM 2.0" || header == "OPENQASM 2" {
        Ok(())
    } else {
        Err(JobFailure::new(
            "InvalidInputData",
            format!(
                "Quantinuum targets take OpenQASM 2.0: the program must begin with 'OPENQASM 2.0;' (found '{}').",
                header.chars().take(40).collect::<String>()
            ),
        ))
    }
}

/// A syntax checker refuses programs wider than its machine.
fn check_width(qubits: usize, target: &TargetInfo) -> Result<(), JobFailure> {
    if qubits > target.num_qubits as usize {
        return Err(JobFailure::new(
            "InvalidInputData",
            format!(
                "The program uses {qubits} qubits; {} has {}.",
                target.name, target.num_qubits
            ),
        ));
    }
    Ok(())
}

fn entry_points(params: Option<&Value>) -> Vec<Option<String>> {
    let ep = |v: &Value| {
        v.get("entryPoint")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match params {
        Some(p) => match p.get("items").and_then(Value::as_array) {
            Some(items) if !items.is_empty() => items.iter().take(1000).map(ep).collect(),
            _ => vec![ep(p)],
        },
        None => vec![None],
    }
}

/// Undoes the input blob's `Content-Encoding` (the client sets it with `encoding="gzip"`; the
/// offerings advertise `identity` and `gzip`). The decompressed size is bounded by `max` so a
/// small compressed blob cannot expand without limit.
pub fn decode_content(
    data: Vec<u8>,
    encoding: Option<&str>,
    max: u64,
) -> Result<Vec<u8>, JobFailure> {
    use std::io::Read;
    match encoding.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(data),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(data),
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            let mut reader = flate2::read::GzDecoder::new(&data[..]).take(max.saturating_add(1));
            reader.read_to_end(&mut out).map_err(|err| {
                JobFailure::new(
                    "InvalidInputData",
                    format!("The input blob is marked gzip but could not be decompressed: {err}."),
                )
            })?;
            if out.len() as u64 > max {
                return Err(JobFailure::new(
                    "InputDataTooLarge",
                    format!("The decompressed input exceeds {max} bytes."),
                ));
            }
            Ok(out)
        }
        Some(other) => Err(JobFailure::new(
            "InvalidInputData",
            format!("Content encoding '{other}' is not supported; use 'gzip' or none."),
        )),
    }
}

/// The failure of a job whose output format its program cannot produce.
fn cannot_produce(output_format: &str) -> JobFailure {
    JobFailure::new(
        "InvalidOutputDataFormat",
        format!("Output format '{output_format}' cannot be produced for this input."),
    )
}

/// Parses and checks a job's input.
pub fn prepare(
    input_format: &str,
    output_format: &str,
    input: &[u8],
    doc: &Map<String, Value>,
    target: &TargetInfo,
    budget: &Budget,
) -> Result<Prepared, JobFailure> {
    let zeros = target.kind == TargetKind::SyntaxChecker;
    let params = doc.get("inputParams");
    let (noise, seed) = noise_for(target, params)?;
    let precision = precision_param(target, params)?;
    let mut limits = Limits {
        max_qubits: target.sim_qubits as usize,
        max_memory_bytes: budget.memory_bytes,
        max_output_bytes: budget.max_output_bytes,
        ..Limits::default()
    };
    if zeros {
        // Nothing is simulated: the machine's width counts, not the statevector's memory.
        limits.max_qubits = target.num_qubits as usize;
        limits.max_memory_bytes = u64::MAX;
    }
    let noisy_ionq = noise.is_some() && target.id == "ionq.simulator";
    if noisy_ionq {
        if let Some(q) = ionq_noise_qubits(params) {
            limits.max_qubits = limits.max_qubits.min(q);
        }
    }
    let default_shots = if noisy_ionq {
        DEFAULT_NOISY_IONQ_SHOTS
    } else {
        DEFAULT_SHOTS
    };
    let shots = qws_core::jobs::requested_shots(params)
        .unwrap_or(default_shots)
        .max(1);
    if shots > limits.max_shots {
        return Err(JobFailure::new(
            "ExecutionLimitExceeded",
            format!(
                "{shots} shots requested; at most {} are allowed.",
                limits.max_shots
            ),
        ));
    }
    let Some(format) = InputFormat::from_data_format(input_format) else {
        return Err(JobFailure::new(
            "InvalidInputDataFormat",
            format!("Input format '{input_format}' is not supported."),
        ));
    };
    if !format.produces(output_format) {
        return Err(cannot_produce(output_format));
    }
    if zeros && input_format == "honeywell.openqasm.v1" {
        if let Ok(text) = std::str::from_utf8(input) {
            check_openqasm2_header(text)?;
        }
    }
    if format == InputFormat::Qir && qws_sim::qir::looks_like_qir(input) {
        check_profile(input, doc, target, &entry_points(params))?;
    }
    let unlimited = ParseLimits {
        max_input_bytes: u64::MAX, // the blob's size was bounded when it was read
    };
    let circuits = matches!(format, InputFormat::Qasm | InputFormat::Ionq);
    let program = Program::parse(format, input, &unlimited)?
        .with_entry_points(entry_points(params))
        .with_substitutions(params.and_then(|p| p.get("substitutions")))?;
    if zeros {
        check_width(program.num_qubits()?, target)?;
    }
    // Budget from what the program really uses: the circuit's registers, or the qubits and
    // results a QIR program addresses (never its attributes alone).
    let needs = program
        .check(output_format, shots, &limits)
        .map_err(|e| unproducible(circuits, output_format, e))?;
    let (qubits, output_bytes) = (needs.qubits, needs.output_bytes);
    // The precision the run will have (the simulator's rule when the job names none), so
    // the budget is charged what the state really takes.
    let precision =
        precision.unwrap_or_else(|| Precision::default_for(qubits, limits.max_memory_bytes));
    // A syntax checker allocates no state.
    let state_bytes = if zeros {
        1 << 20
    } else {
        memory_for_state(qubits, precision)
    };
    let memory_bytes =
        state_bytes.saturating_add(memory_for_output(output_bytes, budget.max_output_bytes));
    if memory_bytes > budget.memory_bytes {
        return Err(JobFailure::new(
            "ExecutionLimitExceeded",
            format!(
                "The job needs about {} MiB of simulator memory (state and results); the server's budget is {} MiB.",
                memory_bytes.div_ceil(1 << 20),
                budget.memory_bytes >> 20
            ),
        ));
    }
    Ok(Prepared {
        program,
        output_format: output_format.to_string(),
        shots,
        memory_bytes,
        output_bytes,
        max_output_bytes: budget.max_output_bytes,
        limits,
        zeros,
        noise,
        seed,
        precision: Some(precision),
    })
}

/// Simulates and encodes; returns the output document's bytes. Cancelling `cancel` stops the
/// simulation at its next check with the `Cancelled` failure.
pub fn run(p: Prepared, cancel: &qws_sim::CancelToken) -> Result<Vec<u8>, JobFailure> {
    let opts = ProgramOptions {
        run: RunOptions {
            shots: p.shots,
            seed: p.seed,
            fusion: true,
            limits: p.limits.clone(),
            cancel: Some(cancel.clone()),
            precision: p.precision,
        },
        mode: if p.zeros {
            ShotMode::Zeros
        } else {
            ShotMode::Simulate(p.noise.as_ref())
        },
        ..ProgramOptions::default()
    };
    let circuits = matches!(p.program, Program::Circuits(_));
    let bytes = p
        .program
        .run(&p.output_format, &opts)
        .map_err(|e| unproducible(circuits, &p.output_format, e))?;
    if bytes.len() as u64 > p.max_output_bytes {
        return Err(JobFailure::new(
            "ExecutionLimitExceeded",
            format!(
                "The results are {}; at most {} are allowed.",
                qws_sim::run::human_size(bytes.len() as u64),
                qws_sim::run::human_size(p.max_output_bytes)
            ),
        ));
    }
    Ok(bytes)
}

/// A circuit program that cannot produce its output format fails as such; other programs'
/// unsupported features are their own failure.
fn unproducible(circuits: bool, output_format: &str, e: SimError) -> JobFailure {
    match e {
        SimError::Unsupported(_) if circuits => cannot_produce(output_format),
        other => other.into(),
    }
}

/// `inputParams.precision` of `qws.simulator`: `"single"` or `"double"` (`float32`/`float64`
/// also accepted); absent or null lets qws-sim choose. Other targets ignore it.
fn precision_param(
    target: &TargetInfo,
    params: Option<&Value>,
) -> Result<Option<Precision>, JobFailure> {
    if target.id != "qws.simulator" {
        return Ok(None);
    }
    match params.and_then(|p| p.get("precision")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            bad_params(format!(
                "inputParams.precision must be \"single\" or \"double\" (got \"{}\").",
                s.chars().take(40).collect::<String>()
            ))
        }),
        Some(_) => Err(bad_params(
            "inputParams.precision must be the string \"single\" or \"double\".",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BUDGET: Budget = Budget {
        memory_bytes: 1 << 30,
        max_output_bytes: 64 << 20,
    };

    fn target() -> &'static TargetInfo {
        qws_core::catalog::target("ionq.simulator").unwrap().1
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_input_is_decoded_and_bounded() {
        let text = b"OPENQASM 2.0; qreg q[1];".to_vec();
        assert_eq!(decode_content(text.clone(), None, 100).unwrap(), text);
        assert_eq!(
            decode_content(text.clone(), Some("identity"), 100).unwrap(),
            text
        );
        assert_eq!(
            decode_content(gzip(&text), Some("GZIP"), 100).unwrap(),
            text
        );
        // A bomb: 1 MiB of zeros compresses to about a kilobyte but exceeds the bound.
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 4096);
        let err = decode_content(bomb, Some("gzip"), 1 << 16).unwrap_err();
        assert_eq!(err.code, "InputDataTooLarge");
        let err = decode_content(b"not gzip".to_vec(), Some("gzip"), 100).unwrap_err();
        assert_eq!(err.code, "InvalidInputData");
        let err = decode_content(text, Some("br"), 100).unwrap_err();
        assert!(err.message.contains("'br'"), "{}", err.message);
    }

    #[test]
    fn ionq_bell_gives_exact_histogram() {
        let doc = json!({"inputParams": {"shots": 10}});
        let p = prepare(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            br#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#,
            doc.as_object().unwrap(),
            target(),
            &BUDGET,
        )
        .unwrap();
        assert_eq!(p.shots, 10);
        let out: Value =
            serde_json::from_slice(&run(p, &qws_sim::CancelToken::new()).unwrap()).unwrap();
        let h = out["histogram"].as_object().unwrap();
        assert_eq!(h.len(), 2);
        assert!((h["0"].as_f64().unwrap() - 0.5).abs() < 1e-9);
        assert!((h["3"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    }

    /// Straight-line QIR labelled adaptive, as qdk makes it from a cirq circuit.
    const LABELLED_ADAPTIVE: &[u8] = b"%Qubit = type opaque\n%Result = type opaque\ndefine i64 @main() #0 {\nblock_0:\n  call void @__quantum__qis__h__body(%Qubit* inttoptr (i64 0 to %Qubit*))\n  call void @__quantum__qis__cx__body(%Qubit* inttoptr (i64 0 to %Qubit*), %Qubit* inttoptr (i64 1 to %Qubit*))\n  call void @__quantum__qis__m__body(%Qubit* inttoptr (i64 0 to %Qubit*), %Result* inttoptr (i64 0 to %Result*))\n  call void @__quantum__qis__m__body(%Qubit* inttoptr (i64 1 to %Qubit*), %Result* inttoptr (i64 1 to %Result*))\n  ret i64 0\n}\ndeclare void @__quantum__qis__h__body(%Qubit*)\ndeclare void @__quantum__qis__cx__body(%Qubit*, %Qubit*)\ndeclare void @__quantum__qis__m__body(%Qubit*, %Result*)\nattributes #0 = { \"entry_point\" \"qir_profiles\"=\"adaptive_profile\" \"required_num_qubits\"=\"2\" \"required_num_results\"=\"2\" }\n";

    /// A program that branches on a measured result.
    const FEEDBACK: &[u8] = b"%Qubit = type opaque\n%Result = type opaque\ndefine i64 @main() #0 {\nentry:\n  call void @__quantum__qis__h__body(%Qubit* null)\n  call void @__quantum__qis__mz__body(%Qubit* null, %Result* null)\n  %0 = call i1 @__quantum__qis__read_result__body(%Result* null)\n  br i1 %0, label %then, label %end\nthen:\n  call void @__quantum__qis__x__body(%Qubit* inttoptr (i64 1 to %Qubit*))\n  br label %end\nend:\n  ret i64 0\n}\ndeclare void @__quantum__qis__h__body(%Qubit*)\ndeclare void @__quantum__qis__x__body(%Qubit*)\ndeclare void @__quantum__qis__mz__body(%Qubit*, %Result*)\ndeclare i1 @__quantum__qis__read_result__body(%Result*)\nattributes #0 = { \"entry_point\" \"qir_profiles\"=\"adaptive_profile\" \"required_num_qubits\"=\"2\" \"required_num_results\"=\"1\" }\n";

    #[test]
    fn base_targets_judge_qir_by_what_it_does() {
        let doc = json!({"inputParams": {"entryPoint": "main", "shots": 4}});
        let rigetti = qws_core::catalog::target("rigetti.sim.qvm").unwrap().1;
        // Labelled adaptive, but straight-line: runs on Base targets.
        for t in [target(), rigetti] {
            let p = prepare(
                "qir.v1",
                "microsoft.quantum-results.v2",
                LABELLED_ADAPTIVE,
                doc.as_object().unwrap(),
                t,
                &BUDGET,
            )
            .unwrap();
            let out: Value =
                serde_json::from_slice(&run(p, &qws_sim::CancelToken::new()).unwrap()).unwrap();
            for shot in out["Results"][0]["Shots"].as_array().unwrap() {
                assert!(shot == &json!([0, 0]) || shot == &json!([1, 1]), "{shot}");
            }
        }
        // Real feedback: refused clearly on Base, run on Adaptive_RI.
        let e = prepare(
            "qir.v1",
            "microsoft.quantum-results.v2",
            FEEDBACK,
            doc.as_object().unwrap(),
            rigetti,
            &BUDGET,
        )
        .unwrap_err();
        assert_eq!(e.code, "UnsupportedProfile");
        assert!(e.message.contains("measurement feedback"), "{}", e.message);
        let qtm = qws_core::catalog::target("quantinuum.sim.h2-1e").unwrap().1;
        let p = prepare(
            "qir.v1",
            "microsoft.quantum-results.v2",
            FEEDBACK,
            doc.as_object().unwrap(),
            qtm,
            &BUDGET,
        )
        .unwrap();
        assert_eq!(
            p.memory_bytes,
            memory_for_qubits(2) + memory_for_output(p.output_bytes, BUDGET.max_output_bytes)
        );
    }

    fn run_doc(
        input_format: &str,
        output_format: &str,
        input: &[u8],
        doc: Value,
        target_id: &str,
    ) -> Result<Value, JobFailure> {
        let t = qws_core::catalog::target(target_id).unwrap().1;
        let p = prepare(
            input_format,
            output_format,
            input,
            doc.as_object().unwrap(),
            t,
            &BUDGET,
        )?;
        Ok(serde_json::from_slice(&run(p, &qws_sim::CancelToken::new())?).unwrap())
    }

    #[test]
    fn syntax_checkers_validate_and_report_zeros() {
        let bell = b"OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";
        for sc in ["quantinuum.sim.h2-1sc", "quantinuum.sim.h2-2sc"] {
            let out = run_doc(
                "honeywell.openqasm.v1",
                "honeywell.quantum-results.v1",
                bell,
                json!({"inputParams": {"shots": 5}}),
                sc,
            )
            .unwrap();
            assert_eq!(out, json!({"c": ["00", "00", "00", "00", "00"]}), "{sc}");
        }
        // 50 qubits: more than qws can simulate, fine for the 56-qubit checker, which
        // allocates nothing.
        let wide = b"OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[50];\ncreg c[50];\nh q;\nmeasure q -> c;\n";
        let out = run_doc(
            "honeywell.openqasm.v1",
            "honeywell.quantum-results.v1",
            wide,
            json!({"inputParams": {"shots": 2}}),
            "quantinuum.sim.h2-1sc",
        )
        .unwrap();
        assert_eq!(out["c"][1], json!("0".repeat(50)));
        // Rejected as the real checker would: too wide, not OpenQASM 2, unknown gate.
        let too_wide = b"OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[57];\n";
        let v3 = b"OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[1] q;\n";
        let bad_gate = b"OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[1];\nfoo q[0];\n";
        for (prog, want) in [
            (&too_wide[..], "57 qubits"),
            (&v3[..], "OpenQASM 2.0"),
            (&bad_gate[..], "foo"),
        ] {
            let e = run_doc(
                "honeywell.openqasm.v1",
                "honeywell.quantum-results.v1",
                prog,
                json!({}),
                "quantinuum.sim.h2-2sc",
            )
            .unwrap_err();
            assert_eq!(e.code, "InvalidInputData", "{want}");
            assert!(e.message.contains(want), "{}", e.message);
        }
        // QIR, including a program with feedback: every result reads 0.
        let out = run_doc(
            "qir.v1",
            "microsoft.quantum-results.v2",
            FEEDBACK,
            json!({"inputParams": {"entryPoint": "main", "shots": 3}}),
            "quantinuum.sim.h2-1sc",
        )
        .unwrap();
        assert_eq!(out["Results"][0]["Shots"], json!([[0], [0], [0]]));
    }

    #[test]
    fn emulators_are_noisy_unless_switched_off_and_seeds_repeat() {
        // 300 CX gates that cancel: ideal outcome 00, with H2-1's two-qubit error about 30%
        // of shots go wrong.
        let mut prog =
            String::from("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\n");
        for _ in 0..300 {
            prog.push_str("cx q[0],q[1];\n");
        }
        prog.push_str("measure q -> c;\n");
        let run_with = |params: Value| {
            run_doc(
                "honeywell.openqasm.v1",
                "honeywell.quantum-results.v1",
                prog.as_bytes(),
                json!({ "inputParams": params }),
                "quantinuum.sim.h2-1e",
            )
            .unwrap()
        };
        let errors = |v: &Value| {
            v["c"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| *s != "00")
                .count()
        };
        let noisy = run_with(json!({"shots": 400, "seed": 7}));
        let e = errors(&noisy);
        assert!((40..=250).contains(&e), "{e} errors of 400");
        assert_eq!(run_with(json!({"shots": 400, "seed": 7})), noisy);
        let ideal = run_with(json!({"shots": 400, "error-model": false}));
        assert_eq!(errors(&ideal), 0);
        let quiet = run_with(
            json!({"shots": 400, "seed": 7, "error-params": {"p2": 0.0, "p1": 0.0, "p_meas": 0.0}}),
        );
        assert_eq!(errors(&quiet), 0);
        let bad = run_doc(
            "honeywell.openqasm.v1",
            "honeywell.quantum-results.v1",
            prog.as_bytes(),
            json!({"inputParams": {"error-params": {"p2": 3}}}),
            "quantinuum.sim.h2-1e",
        )
        .unwrap_err();
        assert_eq!(bad.code, "InvalidInputParams");
    }

    #[test]
    fn ionq_noise_parameter_and_multi_circuit_jobs() {
        let bell = br#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#;
        let ideal = run_doc(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            bell,
            json!({"inputParams": {"shots": 10}}),
            "ionq.simulator",
        )
        .unwrap();
        assert_eq!(ideal["histogram"].as_object().unwrap().len(), 2);
        let noisy = |seed: u64| {
            run_doc(
                "ionq.circuit.v1",
                "ionq.quantum-results.v1",
                bell,
                json!({"inputParams": {"shots": 2000, "noise": {"model": "aria-1", "seed": seed}}}),
                "ionq.simulator",
            )
            .unwrap()
        };
        let a = noisy(5);
        assert_eq!(a, noisy(5));
        let h = a["histogram"].as_object().unwrap();
        // Shot-aware: frequencies of 2000 shots, so every value is a multiple of 1/2000.
        for p in h.values() {
            let k = p.as_f64().unwrap() * 2000.0;
            assert!((k - k.round()).abs() < 1e-6, "{p}");
        }
        let e = run_doc(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            bell,
            json!({"inputParams": {"noise": {"model": "harmony"}}}),
            "ionq.simulator",
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidInputParams");
        assert!(e.message.contains("forte-1"), "{}", e.message);
        // Two circuits: one distribution each, keyed by child id, in order.
        let multi = br#"{"qubits":2,"circuits":[
            {"name":"x","circuit":[{"gate":"x","targets":[0]}]},
            {"name":"bell","circuit":[{"gate":"h","targets":[0]},{"gate":"cnot","control":0,"target":1}]}]}"#;
        let out = run_doc(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            multi,
            json!({"inputParams": {"shots": 100}}),
            "ionq.simulator",
        )
        .unwrap();
        let children: Vec<(&String, &Value)> = out.as_object().unwrap().iter().collect();
        assert_eq!(children.len(), 2);
        assert!(uuid::Uuid::parse_str(children[0].0).is_ok());
        assert_eq!(children[0].1, &json!({"1": 1.0}));
        assert_eq!(children[1].1.as_object().unwrap().len(), 2);
        // Multi-circuit results exist only as IonQ histograms.
        let e = run_doc(
            "ionq.circuit.v1",
            "microsoft.quantum-results.v2",
            multi,
            json!({}),
            "qws.simulator",
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidOutputDataFormat");
    }

    #[test]
    fn quil_runs_on_rigetti_targets_with_substitutions() {
        let quil = b"DECLARE ro BIT[2]\nDECLARE theta REAL[1]\nRX(theta[0]) 0\nCNOT 0 1\nMEASURE 0 ro[0]\nMEASURE 1 ro[1]\n";
        let out = run_doc(
            "rigetti.quil.v1",
            "rigetti.quil-results.v1",
            quil,
            json!({"inputParams": {"shots": 3, "substitutions": {"theta": [[0.0], [std::f64::consts::PI]]}}}),
            "rigetti.qpu.cepheus-1-108q",
        )
        .unwrap();
        // Two runs of three shots: θ = 0 gives 00, θ = π gives 11.
        assert_eq!(
            out,
            json!({"ro": [[0, 0], [0, 0], [0, 0], [1, 1], [1, 1], [1, 1]]})
        );
        let e = run_doc(
            "rigetti.quil.v1",
            "rigetti.quil-results.v1",
            b"DECLARE ro BIT[1]\nLABEL @a\n",
            json!({}),
            "rigetti.sim.qvm",
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidInputData");
        assert!(e.message.contains("LABEL"), "{}", e.message);
    }

    #[test]
    fn qws_simulator_takes_a_precision() {
        let bell = b"OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n";
        let run_with = |params: Value| {
            run_doc(
                "openqasm.v3",
                "ionq.quantum-results.v1",
                bell,
                json!({ "inputParams": params }),
                "qws.simulator",
            )
        };
        for p in ["single", "double", "Float32"] {
            let out = run_with(json!({"shots": 10, "precision": p})).unwrap();
            let h = out["histogram"].as_object().unwrap();
            assert_eq!(h.len(), 2, "{p}: {out}");
            assert!((h["0"].as_f64().unwrap() - 0.5).abs() < 1e-6, "{p}: {out}");
        }
        for bad in [json!("half"), json!(32), json!({"bits": 32})] {
            let e = run_with(json!({ "precision": bad })).unwrap_err();
            assert_eq!(e.code, "InvalidInputParams", "{bad}");
            assert!(e.message.contains("inputParams.precision"), "{}", e.message);
        }
        // Other targets do not read it.
        let t = qws_core::catalog::target("ionq.simulator").unwrap().1;
        assert_eq!(
            precision_param(t, Some(&json!({"precision": "half"}))),
            Ok(None)
        );
    }

    #[test]
    fn qws_simulator_takes_an_explicit_noise_model() {
        let one = b"OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\n";
        let out = run_doc(
            "openqasm.v3",
            "microsoft.quantum-results.v2",
            one,
            json!({"inputParams": {"shots": 1000, "seed": 3, "noise": {"readout": 1.0}}}),
            "qws.simulator",
        )
        .unwrap();
        // Readout error 1: every 0 is reported as 1.
        assert_eq!(out["Results"][0]["Histogram"][0]["Count"], json!(1000));
        assert_eq!(out["Results"][0]["Histogram"][0]["Outcome"], json!([1]));
        let e = run_doc(
            "openqasm.v3",
            "microsoft.quantum-results.v2",
            one,
            json!({"inputParams": {"noise": {"readout": 2}}}),
            "qws.simulator",
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidInputParams");
    }

    #[test]
    fn bad_input_and_limits_fail_clearly() {
        let doc = Map::new();
        let e = prepare(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            b"{not json",
            &doc,
            target(),
            &BUDGET,
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidInputData");
        let big = format!(r#"{{"qubits":{},"circuit":[]}}"#, 40);
        let e = prepare(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            big.as_bytes(),
            &doc,
            target(),
            &BUDGET,
        )
        .unwrap_err();
        assert_eq!(e.code, "ExecutionLimitExceeded");
        assert!(memory_for_qubits(20) > 16 << 20);
    }

    #[test]
    fn many_classical_bits_times_many_shots_are_refused_before_running() {
        // About 135 KB of results per shot: 200,000 shots would need tens of GB.
        let bomb = b"OPENQASM 2.0; include \"qelib1.inc\"; qreg q[1]; creg c[65536]; x q[0];";
        let doc = json!({"inputParams": {"shots": 200000}});
        let qtm = qws_core::catalog::target("quantinuum.sim.h2-1e").unwrap().1;
        for format in [
            "honeywell.quantum-results.v1",
            "microsoft.quantum-results.v2",
        ] {
            let e = prepare(
                "honeywell.openqasm.v1",
                format,
                bomb,
                doc.as_object().unwrap(),
                qtm,
                &BUDGET,
            )
            .unwrap_err();
            assert_eq!(e.code, "ExecutionLimitExceeded", "{format}");
            assert!(e.message.contains("65536 classical bits"), "{}", e.message);
        }
        // The same program with few shots is admitted, and its memory counts its results.
        let doc = json!({"inputParams": {"shots": 100}});
        let p = prepare(
            "honeywell.openqasm.v1",
            "honeywell.quantum-results.v1",
            bomb,
            doc.as_object().unwrap(),
            qtm,
            &BUDGET,
        )
        .unwrap();
        assert!(p.output_bytes >= 100 * 65536, "{}", p.output_bytes);
        assert!(p.memory_bytes >= memory_for_qubits(1) + 100 * 65536);
    }

    #[test]
    fn an_output_over_the_cap_is_refused_before_running() {
        let doc = json!({"inputParams": {"shots": 50}});
        let small = Budget {
            memory_bytes: 1 << 30,
            max_output_bytes: 64,
        };
        // Up to 8 outcomes of 50 shots: more histogram than 64 bytes can hold.
        let e = prepare(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            br#"{"qubits":3,"circuit":[{"gate":"h","targets":[0,1,2]}]}"#,
            doc.as_object().unwrap(),
            target(),
            &small,
        )
        .unwrap_err();
        assert_eq!(e.code, "ExecutionLimitExceeded");
        assert!(
            e.message.contains("the output limit is 64 bytes"),
            "{}",
            e.message
        );
    }

    /// A QIR program that claims one qubit and addresses 27.
    fn lying_qir() -> Vec<u8> {
        let mut ll =
            String::from("%Qubit = type opaque\n%Result = type opaque\ndefine void @main() #0 {\n");
        for q in 0..27 {
            ll.push_str(&format!(
                "  call void @__quantum__qis__h__body(%Qubit* inttoptr (i64 {q} to %Qubit*))\n"
            ));
        }
        ll.push_str("  ret void\n}\ndeclare void @__quantum__qis__h__body(%Qubit*)\n");
        ll.push_str("attributes #0 = { \"entry_point\" \"required_num_qubits\"=\"1\" \"required_num_results\"=\"0\" }\n");
        ll.into_bytes()
    }

    #[test]
    fn qir_memory_is_budgeted_from_the_qubits_it_addresses_not_its_attributes() {
        let doc = json!({"inputParams": {"shots": 1}});
        let qtm = qws_core::catalog::target("quantinuum.sim.h2-1e").unwrap().1;
        let roomy = Budget {
            memory_bytes: 8 << 30,
            max_output_bytes: 64 << 20,
        };
        let p = prepare(
            "qir.v1",
            "microsoft.quantum-results.v2",
            &lying_qir(),
            doc.as_object().unwrap(),
            qtm,
            &roomy,
        )
        .unwrap();
        assert!(
            p.memory_bytes >= memory_for_qubits(27),
            "{}",
            p.memory_bytes
        );
        // Against a budget the real program cannot fit, it is refused before running.
        let e = prepare(
            "qir.v1",
            "microsoft.quantum-results.v2",
            &lying_qir(),
            doc.as_object().unwrap(),
            qtm,
            &BUDGET,
        )
        .unwrap_err();
        assert_eq!(e.code, "ExecutionLimitExceeded", "{}", e.message);
    }
}
