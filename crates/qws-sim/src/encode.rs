//! Result encoders: turn a run into the providers' result documents.
//!
//! - `ionq.quantum-results.v1`: `{"histogram": {"<decimal outcome>": probability}}`, qubit (bit)
//!   0 least significant; exact probabilities from the final state when every measurement is
//!   terminal, or frequencies of sampled shots.
//! - `honeywell.quantum-results.v1`: one entry per classical register, in declaration order,
//!   each a list with one bitstring per shot, leftmost character = highest bit.
//! - `microsoft.quantum-results.v2`: `{"DataFormat", "Results": [{"Histogram": [{"Outcome",
//!   "Display", "Count"}], "Shots": [...]}]}` with the circuit's bits as the outcome list.

use crate::error::{Result, SimError};
use crate::ir::Circuit;
use crate::run::{check_output_bytes, final_state, run, Limits, RunOptions, RunOutput, ShotBits};
use crate::shape::{final_measurements, FinalMeasurements};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

pub const IONQ_RESULTS: &str = "ionq.quantum-results.v1";
pub const HONEYWELL_RESULTS: &str = "honeywell.quantum-results.v1";
pub const MICROSOFT_RESULTS_V2: &str = "microsoft.quantum-results.v2";

/// Probabilities below this are rounding noise and left out of exact histograms.
const NEGLIGIBLE: f64 = 1e-14;

/// Exact outcome probabilities over the classical bits (bit 0 least significant), when every
/// measurement comes after the last gate (the common "measure at the end" circuit). `None` when
/// the circuit measures mid-way, resets or branches on results; then sample instead.
pub fn exact_distribution(
    circuit: &Circuit,
    opts: &RunOptions,
) -> Result<Option<BTreeMap<u64, f64>>> {
    if circuit.num_clbits > 64 {
        return Ok(None);
    }
    let Some(FinalMeasurements {
        gates,
        measures: map,
    }) = final_measurements(circuit)
    else {
        return Ok(None);
    };
    // An exact histogram can have an entry per measured outcome (2^28 for 28 measured qubits in
    // superposition); when that could pass the output limit, sample instead.
    let entries = 1u64 << map.len().min(circuit.num_qubits).min(62);
    if entries.saturating_mul(IONQ_ENTRY_BYTES) > opts.limits.max_output_bytes {
        return Ok(None);
    }
    let state = final_state(&gates, opts)?;
    let mut dist = BTreeMap::new();
    for (i, a) in state.amplitudes().iter().enumerate() {
        let p = a.0 * a.0 + a.1 * a.1;
        if p < NEGLIGIBLE {
            continue;
        }
        let key = map
            .iter()
            .filter(|(q, _)| i >> q & 1 == 1)
            .fold(0u64, |k, (_, c)| k | 1 << c);
        *dist.entry(key).or_insert(0.0) += p;
    }
    Ok(Some(dist))
}

/// Upper bound of one serialized `ionq.quantum-results.v1` entry: a quoted key of up to 20
/// digits, a colon, a float of up to 24 characters and a comma.
const IONQ_ENTRY_BYTES: u64 = 48;

/// An upper bound of the serialized size in bytes of the `format` result document of `shots`
/// shots of `circuit`. For `ionq.quantum-results.v1` it bounds the sampled histogram; the exact
/// one (an entry per possible outcome) is only computed when it fits
/// [`Limits::max_output_bytes`], and sampled otherwise. `Unsupported` for other formats.
pub fn output_bytes(format: &str, circuit: &Circuit, shots: u64) -> Result<u64> {
    let bits = circuit.num_clbits as u64;
    let outcomes = 1u64
        .checked_shl(circuit.num_clbits.min(63) as u32)
        .unwrap_or(u64::MAX);
    let distinct = shots.max(1).min(outcomes);
    Ok(match format {
        IONQ_RESULTS => 32u64.saturating_add(distinct.saturating_mul(IONQ_ENTRY_BYTES)),
        HONEYWELL_RESULTS => honeywell_registers(circuit, circuit.num_clbits)
            .iter()
            .map(|(name, reg)| {
                // "name": ["0101", …]: quotes and a comma per shot.
                (name.len() as u64 + 6).saturating_add(shots.saturating_mul(reg.len() as u64 + 3))
            })
            .fold(2u64, u64::saturating_add),
        MICROSOFT_RESULTS_V2 => {
            // A shot is [0, 1, …]: two characters per bit plus brackets and a comma; a
            // histogram entry holds the outcome, its display (three characters per bit) and a count.
            let shot = 2 * bits + 3;
            let entry = 5 * bits + 64;
            shots
                .saturating_mul(shot)
                .saturating_add(distinct.saturating_mul(entry))
                .saturating_add(128)
        }
        other => {
            return Err(SimError::Unsupported(format!(
                "the size of results in format '{other}'"
            )))
        }
    })
}

/// Fails with [`SimError::Limit`] when the `format` results of `shots` shots of `circuit` could
/// exceed `limits.max_output_bytes`, or their shots could (see [`crate::run::shots_bytes`]).
/// Cheap; call it before accepting or running a job.
pub fn check_output(format: &str, circuit: &Circuit, shots: u64, limits: &Limits) -> Result<()> {
    let what = format!(
        "the {format} results of {shots} shots over {} classical bits",
        circuit.num_clbits
    );
    check_output_bytes(output_bytes(format, circuit, shots)?, &what, limits)?;
    if format != IONQ_RESULTS {
        check_output_bytes(
            crate::run::shots_bytes(circuit.num_clbits, shots),
            &what,
            limits,
        )?;
    }
    Ok(())
}

/// Runs `circuit` and returns its serialized result document in `format`, never holding more
/// than the shots and the document itself: [`check_output`] first, then the document is
/// written straight from the shots (no JSON tree per shot), and `ionq.quantum-results.v1`
/// counts outcomes as they are sampled.
pub fn encode_results(format: &str, circuit: &Circuit, opts: &RunOptions) -> Result<Vec<u8>> {
    check_output(format, circuit, opts.shots, &opts.limits)?;
    let json = |r: serde_json::Result<Vec<u8>>| {
        r.map_err(|e| SimError::Invalid(format!("cannot encode the results: {e}")))
    };
    match format {
        IONQ_RESULTS => {
            let dist = match exact_distribution(circuit, opts)? {
                Some(d) => d,
                None => crate::run::run_counts(circuit, opts)?.distribution()?,
            };
            json(serde_json::to_vec(&ionq_histogram(&dist)))
        }
        HONEYWELL_RESULTS => {
            let out = run(circuit, opts)?;
            json(serde_json::to_vec(&HoneywellDoc {
                regs: honeywell_registers(circuit, out.num_clbits),
                out: &out,
            }))
        }
        MICROSOFT_RESULTS_V2 => {
            let out = run(circuit, opts)?;
            json(serde_json::to_vec(&MicrosoftDoc::new(&out)))
        }
        other => Err(SimError::Unsupported(format!(
            "output format '{other}' for a circuit"
        ))),
    }
}

/// Encodes shots already run (noisy trajectories, or a syntax checker's zeros) in `format`.
/// `ionq.quantum-results.v1` reports their frequencies.
pub fn encode_run(format: &str, circuit: &Circuit, out: &RunOutput) -> Result<Vec<u8>> {
    let json = |r: serde_json::Result<Vec<u8>>| {
        r.map_err(|e| SimError::Invalid(format!("cannot encode the results: {e}")))
    };
    match format {
        IONQ_RESULTS => json(serde_json::to_vec(&ionq_histogram(&shot_distribution(
            out,
        )?))),
        HONEYWELL_RESULTS => json(serde_json::to_vec(&HoneywellDoc {
            regs: honeywell_registers(circuit, out.num_clbits),
            out,
        })),
        MICROSOFT_RESULTS_V2 => json(serde_json::to_vec(&MicrosoftDoc::new(out))),
        other => Err(SimError::Unsupported(format!(
            "output format '{other}' for a circuit"
        ))),
    }
}

/// The outcome of a shot as an integer (bit 0 least significant); at most 64 bits.
fn shot_value(bits: &ShotBits, num_clbits: usize) -> Result<u64> {
    if num_clbits > 64 {
        return Err(SimError::Unsupported(format!(
            "an integer-keyed histogram of {num_clbits} classical bits (at most 64)"
        )));
    }
    Ok(bits.0.first().copied().unwrap_or(0))
}

/// `ionq.quantum-results.v1` from a distribution (exact or sampled).
pub fn ionq_histogram(dist: &BTreeMap<u64, f64>) -> Value {
    let mut h = Map::new();
    for (k, p) in dist {
        h.insert(k.to_string(), json!(p));
    }
    json!({ "histogram": h })
}

/// Frequencies of sampled shots, keyed like [`ionq_histogram`].
pub fn shot_distribution(out: &RunOutput) -> Result<BTreeMap<u64, f64>> {
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &out.shots {
        *counts.entry(shot_value(s, out.num_clbits)?).or_insert(0) += 1;
    }
    let total = out.shots.len().max(1) as f64;
    Ok(counts
        .into_iter()
        .map(|(k, c)| (k, c as f64 / total))
        .collect())
}

/// `ionq.quantum-results.v1`: exact when the circuit allows it, else from the shots in `out`
/// (which the caller ran with the same circuit).
pub fn ionq_results(
    circuit: &Circuit,
    opts: &RunOptions,
    sampled: Option<&RunOutput>,
) -> Result<Value> {
    if let Some(out) = sampled {
        return Ok(ionq_histogram(&shot_distribution(out)?));
    }
    match exact_distribution(circuit, opts)? {
        Some(d) => Ok(ionq_histogram(&d)),
        None => Err(SimError::Unsupported(
            "exact probabilities for a circuit with mid-circuit measurement, reset or conditionals; sample shots instead".into(),
        )),
    }
}

/// A register's bits in one shot as a string, highest bit first.
fn register_string(bits: &ShotBits, reg: &[usize]) -> String {
    reg.iter()
        .rev()
        .map(|&b| if bits.get(b) { '1' } else { '0' })
        .collect()
}

/// `honeywell.quantum-results.v1`: `{"<creg>": ["<bits>", … one per shot], …}` in register
/// declaration order. A circuit without registers reports all its bits as `c`.
pub fn honeywell_results(circuit: &Circuit, out: &RunOutput) -> Value {
    let regs = honeywell_registers(circuit, out.num_clbits);
    let mut m = Map::new();
    for (name, bits) in regs {
        let shots: Vec<Value> = out
            .shots
            .iter()
            .map(|s| Value::String(register_string(s, &bits)))
            .collect();
        m.insert(name, Value::Array(shots));
    }
    Value::Object(m)
}

/// `microsoft.quantum-results.v2` for a circuit: each outcome is the list of its classical
/// bits (bit 0 first); histogram entries appear in order of first occurrence.
pub fn microsoft_v2_results(out: &RunOutput) -> Value {
    let outcome =
        |s: &ShotBits| -> Vec<u8> { (0..out.num_clbits).map(|b| s.get(b) as u8).collect() };
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut counts: std::collections::HashMap<Vec<u8>, u64> = std::collections::HashMap::new();
    let mut shots = Vec::with_capacity(out.shots.len());
    for s in &out.shots {
        let o = outcome(s);
        let c = counts.entry(o.clone()).or_insert(0);
        if *c == 0 {
            order.push(o.clone());
        }
        *c += 1;
        shots.push(json!(o));
    }
    let histogram: Vec<Value> = order
        .iter()
        .map(|o| {
            json!({
                "Outcome": o,
                "Display": display(o),
                "Count": counts[o],
            })
        })
        .collect();
    json!({
        "DataFormat": MICROSOFT_RESULTS_V2,
        "Results": [ { "Histogram": histogram, "Shots": shots } ],
    })
}

/// The registers a honeywell document reports: the declared ones, or all bits as `c`.
fn honeywell_registers(circuit: &Circuit, num_clbits: usize) -> Vec<(String, Vec<usize>)> {
    if circuit.cregs.is_empty() && num_clbits > 0 {
        vec![("c".into(), (0..num_clbits).collect())]
    } else {
        circuit
            .cregs
            .iter()
            .map(|r| (r.name.clone(), r.bits.clone()))
            .collect()
    }
}

/// `honeywell.quantum-results.v1` written from the shots as it is serialized.
struct HoneywellDoc<'a> {
    regs: Vec<(String, Vec<usize>)>,
    out: &'a RunOutput,
}

impl Serialize for HoneywellDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.regs.len()))?;
        for (name, bits) in &self.regs {
            m.serialize_entry(
                name,
                &RegisterShots {
                    bits,
                    out: self.out,
                },
            )?;
        }
        m.end()
    }
}

struct RegisterShots<'a> {
    bits: &'a [usize],
    out: &'a RunOutput,
}

impl Serialize for RegisterShots<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.out.shots.len()))?;
        for shot in &self.out.shots {
            seq.serialize_element(&register_string(shot, self.bits))?;
        }
        seq.end()
    }
}

/// `microsoft.quantum-results.v2` written from the shots as it is serialized; the histogram
/// refers to the shots instead of copying outcomes.
struct MicrosoftDoc<'a> {
    out: &'a RunOutput,
    /// Distinct outcomes in order of first occurrence, with their counts.
    histogram: Vec<(&'a ShotBits, u64)>,
}

impl<'a> MicrosoftDoc<'a> {
    fn new(out: &'a RunOutput) -> Self {
        let mut index: HashMap<&ShotBits, usize> = HashMap::new();
        let mut histogram: Vec<(&ShotBits, u64)> = Vec::new();
        for s in &out.shots {
            let i = *index.entry(s).or_insert_with(|| {
                histogram.push((s, 0));
                histogram.len() - 1
            });
            histogram[i].1 += 1;
        }
        MicrosoftDoc { out, histogram }
    }
}

/// One shot's bits as the list `[b0, b1, …]`.
struct Outcome<'a>(&'a ShotBits, usize);

impl Serialize for Outcome<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1))?;
        for b in 0..self.1 {
            seq.serialize_element(&(self.0.get(b) as u8))?;
        }
        seq.end()
    }
}

struct HistogramEntry<'a>(&'a ShotBits, usize, u64);

impl Serialize for HistogramEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let bits: Vec<u8> = (0..self.1).map(|b| self.0.get(b) as u8).collect();
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("Outcome", &Outcome(self.0, self.1))?;
        m.serialize_entry("Display", &display(&bits))?;
        m.serialize_entry("Count", &self.2)?;
        m.end()
    }
}

struct Seq<I>(std::cell::RefCell<Option<I>>);

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take().expect("serialized once");
        s.collect_seq(items)
    }
}

fn seq<I: Iterator>(items: I) -> Seq<I> {
    Seq(std::cell::RefCell::new(Some(items)))
}

impl Serialize for MicrosoftDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let n = self.out.num_clbits;
        let histogram = seq(self.histogram.iter().map(|(b, c)| HistogramEntry(b, n, *c)));
        let shots = seq(self.out.shots.iter().map(|b| Outcome(b, n)));
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("DataFormat", MICROSOFT_RESULTS_V2)?;
        m.serialize_entry("Results", &[ResultElement { histogram, shots }])?;
        m.end()
    }
}

struct ResultElement<H, T> {
    histogram: H,
    shots: T,
}

impl<H: Serialize, T: Serialize> Serialize for ResultElement<H, T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("Histogram", &self.histogram)?;
        m.serialize_entry("Shots", &self.shots)?;
        m.end()
    }
}

fn display(o: &[u8]) -> String {
    let inner: Vec<String> = o.iter().map(|b| b.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ClassicalRegister, Gate};

    fn shots(values: &[u64], n: usize) -> RunOutput {
        RunOutput {
            num_clbits: n,
            shots: values.iter().map(|v| ShotBits(vec![*v])).collect(),
        }
    }

    #[test]
    fn honeywell_registers_in_declaration_order_high_bit_first() {
        let mut c = Circuit::new(3, 3);
        c.cregs = vec![
            ClassicalRegister {
                name: "z".into(),
                bits: vec![0, 1],
            },
            ClassicalRegister {
                name: "a".into(),
                bits: vec![2],
            },
        ];
        let v = honeywell_results(&c, &shots(&[0b001, 0b110], 3));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"z":["01","10"],"a":["0","1"]}"#
        );
    }

    #[test]
    fn microsoft_v2_shape() {
        let v = microsoft_v2_results(&shots(&[0b00, 0b11, 0b11, 0b00], 2));
        assert_eq!(v["DataFormat"], MICROSOFT_RESULTS_V2);
        let h = &v["Results"][0]["Histogram"];
        assert_eq!(
            h[0],
            json!({"Outcome": [0, 0], "Display": "[0, 0]", "Count": 2})
        );
        assert_eq!(h[1]["Display"], "[1, 1]");
        assert_eq!(
            v["Results"][0]["Shots"],
            json!([[0, 0], [1, 1], [1, 1], [0, 0]])
        );
    }

    #[test]
    fn exact_bell_histogram() {
        let mut c = Circuit::new(2, 2);
        c.gate(Gate::H, &[0])
            .cgate(Gate::X, &[0], &[1])
            .measure(0, 0)
            .measure(1, 1);
        let v = ionq_results(&c, &RunOptions::default(), None).unwrap();
        let h = v["histogram"].as_object().unwrap();
        assert_eq!(h.len(), 2);
        assert!((h["0"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        assert!((h["3"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn exact_distribution_follows_the_measure_map() {
        // X on qubit 0, measured into bit 1: outcome 2.
        let mut c = Circuit::new(2, 2);
        c.gate(Gate::X, &[0]).measure(0, 1);
        let d = exact_distribution(&c, &RunOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(d.keys().copied().collect::<Vec<_>>(), vec![2]);
        // A gate after a measurement: no exact answer.
        c.gate(Gate::H, &[1]);
        assert!(exact_distribution(&c, &RunOptions::default())
            .unwrap()
            .is_none());
    }
}
