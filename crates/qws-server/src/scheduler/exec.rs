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

/// A size for people: bytes below a KiB, KiB below a MiB, MiB above.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b < 1 << 10 => format!("{b} bytes"),
        b if b < 1 << 20 => format!("{} KiB", b.div_ceil(1 << 10)),
        b => format!("{} MiB", b.div_ceil(1 << 20)),
    }
}

/// What the server lets one job use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Memory all running jobs share (the statevector plus the results).
    pub memory_bytes: u64,
    /// Largest output document a job may produce.
    pub max_output_bytes: u64,
}

/// Memory held per byte of output while it is built: the shots' bits, the JSON value tree
/// (a `Value::String` costs its text plus about 32 bytes of header), and the serialized text.
pub const OUTPUT_MEMORY_FACTOR: u64 = 4;

/// The memory a job's results can take: at most [`OUTPUT_MEMORY_FACTOR`] times the output cap,
/// since an output larger than the cap is refused (before the run when it can be foreseen,
/// after serialization otherwise).
pub fn memory_for_output(output_bytes: u64, max_output_bytes: u64) -> u64 {
    output_bytes
        .min(max_output_bytes)
        .saturating_mul(OUTPUT_MEMORY_FACTOR)
}

/// An upper bound of the output document's size, from the program's shape. Exact in form for
/// the per-shot formats (every shot is written out); for histograms, bounded by the number of
/// distinct outcomes that can occur.
pub fn output_bytes_estimate(
    output_format: &str,
    qubits: usize,
    clbits: usize,
    registers: usize,
    shots: u64,
) -> u64 {
    let (q, c, r) = (qubits as u64, clbits as u64, registers.max(1) as u64);
    let outcomes = |bits: u64| 1u64.checked_shl(bits.min(63) as u32).unwrap_or(u64::MAX);
    match output_format {
        // {"reg": ["0101", …]}: each shot writes every bit plus quotes and a comma per register.
        "honeywell.quantum-results.v1" => shots.saturating_mul(c + 4 * r).saturating_add(64 * r),
        // Each shot as a list of bits ("[0,1]"), plus a histogram of distinct outcomes.
        "microsoft.quantum-results.v2" => {
            let per_shot = 2 * c + 16;
            let distinct = shots.min(outcomes(c));
            shots
                .saturating_mul(per_shot)
                .saturating_add(distinct.saturating_mul(per_shot + 16))
                .saturating_add(256)
        }
        // {"histogram": {"<index>": p, …}}: one entry per possible outcome, a decimal index
        // of at most 20 digits and a probability.
        _ => outcomes(q)
            .min(outcomes(c.max(q)))
            .saturating_mul(48)
            .saturating_add(64),
    }
}

/// The value of a string attribute (`"name"="value"`) in textual QIR.
fn qir_attr<'a>(bytes: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(&bytes[..bytes.len().min(4 << 20)]).ok()?;
    let key = format!("\"{name}\"=\"");
    let i = text.find(&key)?;
    text[i + key.len()..].split('"').next()
}

/// Qubits and result slots a QIR program needs.
fn qir_shape(bytes: &[u8]) -> (usize, usize) {
    let attr = |name| qir_attr(bytes, name).and_then(|v| v.parse().ok());
    (
        attr("required_num_qubits").unwrap_or(20),
        attr("required_num_results").unwrap_or(0),
    )
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
        ..Limits::default()
    };
    let shots = crate::planes::dataplane::items::requested_shots(doc)
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
    let (qubits, clbits, registers) = match &program {
        Program::Circuit(c) => {
            qws_sim::run::validate(c, &limits)?;
            (c.num_qubits, c.num_clbits, c.cregs.len())
        }
        Program::Qir { bytes, .. } => {
            let (q, r) = qir_shape(bytes);
            (q.min(limits.max_qubits), r, 1)
        }
    };
    let output_bytes = output_bytes_estimate(output_format, qubits, clbits, registers, shots);
    // The per-shot formats write every shot out, so their size is known now; refuse before
    // simulating rather than after. Histograms are checked once serialized.
    let per_shot = matches!(
        output_format,
        "honeywell.quantum-results.v1" | "microsoft.quantum-results.v2"
    );
    if per_shot && output_bytes > budget.max_output_bytes {
        return Err(JobFailure::new(
            "ExecutionLimitExceeded",
            format!(
                "{shots} shots of {clbits} classical bits would produce about {} of results; at most {} are allowed. Use fewer shots or measure fewer bits.",
                size_text(output_bytes),
                size_text(budget.max_output_bytes)
            ),
        ));
    }
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
    let doc = match (&p.program, p.output_format.as_str()) {
        (Program::Circuit(c), "ionq.quantum-results.v1") => {
            match qws_sim::encode::ionq_results(c, &opts, None) {
                Ok(v) => v,
                Err(SimError::Unsupported(_)) => {
                    let out = qws_sim::run::run(c, &opts)?;
                    qws_sim::encode::ionq_results(c, &opts, Some(&out))?
                }
                Err(e) => return Err(e.into()),
            }
        }
        (Program::Circuit(c), "honeywell.quantum-results.v1") => {
            let out = qws_sim::run::run(c, &opts)?;
            qws_sim::encode::honeywell_results(c, &out)
        }
        (Program::Circuit(c), "microsoft.quantum-results.v2") => {
            let out = qws_sim::run::run(c, &opts)?;
            qws_sim::encode::microsoft_v2_results(&out)
        }
        (
            Program::Qir {
                bytes,
                entry_points,
            },
            "microsoft.quantum-results.v2",
        ) => {
            let qopts = qws_sim::qir::QirRunOptions {
                entry_point: None,
                shots: p.shots,
                seed: None,
                limits: p.limits.clone(),
                cancel: Some(cancel.clone()),
                ..Default::default()
            };
            qws_sim::qir::run_qir_items(bytes, entry_points, &qopts)?
        }
        (_, other) => {
            return Err(JobFailure::new(
                "InvalidOutputDataFormat",
                format!("Output format '{other}' cannot be produced for this input."),
            ))
        }
    };
    let bytes = serde_json::to_vec(&doc).expect("JSON values serialize");
    if bytes.len() as u64 > p.max_output_bytes {
        return Err(JobFailure::new(
            "ExecutionLimitExceeded",
            format!(
                "The results are {}; at most {} are allowed.",
                size_text(bytes.len() as u64),
                size_text(p.max_output_bytes)
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
        let qir = b"define i64 @main() #0 { ret i64 0 }\nattributes #0 = { \"entry_point\" \"qir_profiles\"=\"adaptive_profile\" \"required_num_qubits\"=\"2\" }";
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
    fn an_output_over_the_cap_fails_the_job_after_the_run() {
        let doc = json!({"inputParams": {"shots": 50}});
        let small = Budget {
            memory_bytes: 1 << 30,
            max_output_bytes: 64,
        };
        // A histogram cannot be sized before the run; 8 equally likely outcomes exceed 64 bytes.
        let p = prepare(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            br#"{"qubits":3,"circuit":[{"gate":"h","targets":[0,1,2]}]}"#,
            doc.as_object().unwrap(),
            target(),
            &small,
        )
        .unwrap();
        let e = run(p, &qws_sim::CancelToken::new()).unwrap_err();
        assert_eq!(e.code, "ExecutionLimitExceeded");
        assert!(e.message.contains("at most 64 bytes"), "{}", e.message);
    }
}
