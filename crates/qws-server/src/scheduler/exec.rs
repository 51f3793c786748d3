//! Turning a job's input blob into its output document with qws-sim.
//!
//! [`prepare`] parses and checks the program (cheap, bounded) and estimates the memory the run
//! needs, so the scheduler can admit it against its budget; [`run`] simulates and encodes.

use qws_core::catalog::TargetInfo;
use qws_sim::ir::Circuit;
use qws_sim::run::{Limits, RunOptions};
use qws_sim::SimError;
use serde_json::{Map, Value};

/// Shots when the job does not say.
pub const DEFAULT_SHOTS: u64 = 100;

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
            SimError::Parse { .. } | SimError::Invalid(_) => "InvalidInputData",
            SimError::Unsupported(_) => "UnsupportedProgram",
            SimError::Limit(_) => "ExecutionLimitExceeded",
            SimError::Cancelled => "Cancelled",
        };
        JobFailure::new(code, e.to_string())
    }
}

enum Program {
    Circuit(Circuit),
    Qir {
        bytes: Vec<u8>,
        entry_points: Vec<Option<String>>,
    },
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
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("shots", &self.shots)
            .field("memory_bytes", &self.memory_bytes)
            .finish_non_exhaustive()
    }
}

/// Statevector bytes for `n` qubits plus a fixed overhead.
pub fn memory_for_qubits(n: usize) -> u64 {
    let amps = 1u64.checked_shl(n.min(62) as u32).unwrap_or(u64::MAX);
    amps.saturating_mul(16).saturating_add(1 << 20)
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

/// Base-profile targets refuse programs that declare another profile (adaptive features need
/// mid-circuit measurement and branching the target does not offer).
fn check_profile(
    bytes: &[u8],
    doc: &Map<String, Value>,
    target: &TargetInfo,
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
        Some(p) if p.to_ascii_lowercase().contains("adaptive") => Err(JobFailure::new(
            "UnsupportedProfile",
            format!(
                "The target '{}' runs the Base QIR profile; the program declares '{p}'.",
                target.id
            ),
        )),
        _ => Ok(()),
    }
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
    let limits = Limits {
        max_qubits: target.num_qubits as usize,
        max_memory_bytes: budget.memory_bytes,
        max_output_bytes: budget.max_output_bytes,
        ..Limits::default()
    };
    let shots = qws_core::jobs::requested_shots(doc.get("inputParams"))
        .unwrap_or(DEFAULT_SHOTS)
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
    let text = || {
        std::str::from_utf8(input).map_err(|e| {
            JobFailure::new(
                "InvalidInputData",
                format!(
                    "The input is not UTF-8 text (invalid byte at offset {}).",
                    e.valid_up_to()
                ),
            )
        })
    };
    let program = match input_format {
        "ionq.circuit.v1" => Program::Circuit(qws_sim::ionq::parse(text()?)?),
        "honeywell.openqasm.v1" | "openqasm.v3" | "openqasm.v2" => {
            Program::Circuit(qws_sim::qasm::parse(text()?)?)
        }
        "qir.v1" => {
            if !qws_sim::qir::looks_like_qir(input) {
                return Err(JobFailure::new(
                    "InvalidInputData",
                    "The input is neither QIR text (a function with the entry_point attribute) nor LLVM bitcode.",
                ));
            }
            check_profile(input, doc, target)?;
            Program::Qir {
                bytes: input.to_vec(),
                entry_points: entry_points(doc.get("inputParams")),
            }
        }
        other => {
            return Err(JobFailure::new(
                "InvalidInputDataFormat",
                format!("Input format '{other}' is not supported."),
            ))
        }
    };
    // Budget from what the program really uses: the circuit's registers, or the qubits and
    // results a QIR program addresses (never its attributes alone).
    let (qubits, output_bytes) = match &program {
        Program::Circuit(c) => {
            qws_sim::run::validate(c, &limits)?;
            let results =
                qws_sim::encode::output_bytes(output_format, c, shots).map_err(|e| match e {
                    SimError::Unsupported(_) => cannot_produce(output_format),
                    other => other.into(),
                })?;
            qws_sim::encode::check_output(output_format, c, shots, &limits)?;
            let shots_held = if output_format == qws_sim::encode::IONQ_RESULTS {
                0 // counted as they are sampled
            } else {
                qws_sim::run::shots_bytes(c.num_clbits, shots)
            };
            (c.num_qubits, results.saturating_add(shots_held))
        }
        Program::Qir { bytes, .. } => {
            let needs = qws_sim::qir::requirements(bytes)?;
            qws_sim::run::check_qubits(needs.qubits, &limits)?;
            let as_circuit = Circuit::new(0, needs.results);
            let results = qws_sim::encode::output_bytes(
                qws_sim::encode::MICROSOFT_RESULTS_V2,
                &as_circuit,
                shots,
            )?;
            (needs.qubits, results)
        }
    };
    Ok(Prepared {
        program,
        output_format: output_format.to_string(),
        shots,
        memory_bytes: memory_for_qubits(qubits)
            .saturating_add(memory_for_output(output_bytes, budget.max_output_bytes)),
        output_bytes,
        max_output_bytes: budget.max_output_bytes,
        limits,
    })
}

/// Simulates and encodes; returns the output document's bytes. Cancelling `cancel` stops the
/// simulation at its next check with the `Cancelled` failure.
pub fn run(p: Prepared, cancel: &qws_sim::CancelToken) -> Result<Vec<u8>, JobFailure> {
    let opts = RunOptions {
        shots: p.shots,
        seed: None,
        fusion: true,
        limits: p.limits.clone(),
        cancel: Some(cancel.clone()),
    };
    let bytes = match &p.program {
        Program::Circuit(c) => qws_sim::encode::encode_results(&p.output_format, c, &opts)
            .map_err(|e| match e {
                SimError::Unsupported(_) => cannot_produce(&p.output_format),
                other => other.into(),
            })?,
        Program::Qir {
            bytes,
            entry_points,
        } if p.output_format == qws_sim::encode::MICROSOFT_RESULTS_V2 => {
            let qopts = qws_sim::qir::QirRunOptions {
                entry_point: None,
                shots: p.shots,
                seed: None,
                limits: p.limits.clone(),
                cancel: Some(cancel.clone()),
                ..Default::default()
            };
            let doc = qws_sim::qir::run_qir_items(bytes, entry_points, &qopts)?;
            serde_json::to_vec(&doc).expect("JSON values serialize")
        }
        Program::Qir { .. } => return Err(cannot_produce(&p.output_format)),
    };
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

    #[test]
    fn base_targets_refuse_adaptive_qir() {
        let doc = json!({"inputParams": {"entryPoint": "main"}});
        let qir = b"define i64 @main() #0 {\n  ret i64 0\n}\nattributes #0 = { \"entry_point\" \"qir_profiles\"=\"adaptive_profile\" \"required_num_qubits\"=\"2\" }";
        let e = prepare(
            "qir.v1",
            "microsoft.quantum-results.v2",
            qir,
            doc.as_object().unwrap(),
            target(),
            &BUDGET,
        )
        .unwrap_err();
        assert_eq!(e.code, "UnsupportedProfile");
        let qtm = qws_core::catalog::target("quantinuum.sim.h2-1e").unwrap().1;
        let p = prepare(
            "qir.v1",
            "microsoft.quantum-results.v2",
            qir,
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
