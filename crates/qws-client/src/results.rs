//! Job results: download the output blob and decode it per `outputDataFormat` into counts and
//! probabilities.
//!
//! | Format | Blob | Decoded |
//! |---|---|---|
//! | `ionq.quantum-results.v1` | `{"histogram":{"0":0.5,"3":0.5}}` | probabilities by basis-state index |
//! | `honeywell.quantum-results.v1` | `{"c":["00","11",…]}` | counts of the registers' strings, joined per shot |
//! | `microsoft.quantum-results.v2` | `{"DataFormat":…,"Results":[{"Histogram":[…],"Shots":[…]}]}` | counts by `Display` |
//! | `microsoft.quantum-results.v1` | `{"Histogram":["[0]",0.5,…]}` | probabilities |
//! | `rigetti.quil-results.v1` | `{"ro":[[0,0],[1,1]]}` | counts of the joined bits |
//! | `pasqal.pulser-results.v1` | `{"counter":{"001":3}}` | counts |

use std::collections::BTreeMap;

use serde_json::Value;

use crate::blob::{container_and_blob, has_fresh_sas};
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::JobDetails;
use crate::workspace::Workspace;

/// A job's decoded output.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResults {
    /// The `outputDataFormat` it was decoded with.
    pub format: String,
    /// The output blob as JSON (or a JSON string when it is not JSON).
    pub raw: Value,
    /// Occurrences per outcome, when the format reports shots or counts.
    pub counts: Option<BTreeMap<String, u64>>,
    /// Probability per outcome (from counts when only counts are known).
    pub probabilities: BTreeMap<String, f64>,
}

fn bad(format: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::DataConversion,
        format!("{format} output: {what}"),
    )
}

fn from_counts(format: &str, raw: Value, counts: BTreeMap<String, u64>) -> JobResults {
    let total: u64 = counts.values().sum();
    let probabilities = counts
        .iter()
        .map(|(k, c)| {
            let p = if total == 0 {
                0.0
            } else {
                *c as f64 / total as f64
            };
            (k.clone(), p)
        })
        .collect();
    JobResults {
        format: format.to_owned(),
        raw,
        counts: Some(counts),
        probabilities,
    }
}

/// Renders one QIR outcome (scalar, list or `{"Item1":…}` tuple) as bits.
fn outcome_bits(v: &Value) -> String {
    match v {
        Value::Array(items) => items.iter().map(outcome_bits).collect(),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.starts_with("Item"))
            .map(|(_, v)| outcome_bits(v))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl JobResults {
    /// Decodes an output blob for its `outputDataFormat`.
    pub fn decode(format: &str, blob: &[u8]) -> Result<JobResults> {
        let raw: Value = match serde_json::from_slice(blob) {
            Ok(v) => v,
            Err(_) => {
                return Err(bad(format, "the output blob is not JSON"));
            }
        };
        match format {
            "ionq.quantum-results.v1" => {
                let hist = raw
                    .get("histogram")
                    .and_then(Value::as_object)
                    .ok_or_else(|| bad(format, "no 'histogram' object"))?;
                let mut probabilities = BTreeMap::new();
                for (k, v) in hist {
                    let p = v
                        .as_f64()
                        .ok_or_else(|| bad(format, "non-numeric probability"))?;
                    probabilities.insert(k.clone(), p);
                }
                Ok(JobResults {
                    format: format.to_owned(),
                    raw,
                    counts: None,
                    probabilities,
                })
            }
            "honeywell.quantum-results.v1" => {
                let regs = raw
                    .as_object()
                    .ok_or_else(|| bad(format, "not a JSON object"))?;
                let columns: Vec<&Vec<Value>> = regs
                    .iter()
                    .filter(|(k, _)| k.as_str() != "access_token")
                    .map(|(_, v)| {
                        v.as_array()
                            .ok_or_else(|| bad(format, "a register is not a list"))
                    })
                    .collect::<Result<_>>()?;
                let shots = columns.first().map_or(0, |c| c.len());
                if columns.iter().any(|c| c.len() != shots) {
                    return Err(bad(format, "registers have different shot counts"));
                }
                let mut counts = BTreeMap::new();
                for shot in 0..shots {
                    let key: String = columns
                        .iter()
                        .map(|c| {
                            c[shot]
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| c[shot].to_string())
                        })
                        .collect();
                    *counts.entry(key).or_insert(0) += 1;
                }
                Ok(from_counts(format, raw, counts))
            }
            "microsoft.quantum-results.v2" => {
                let first = raw
                    .pointer("/Results/0")
                    .ok_or_else(|| bad(format, "no Results"))?;
                let mut counts = BTreeMap::new();
                if let Some(hist) = first.get("Histogram").and_then(Value::as_array) {
                    for h in hist {
                        let key = match h.get("Display").and_then(Value::as_str) {
                            Some(d) => d.to_owned(),
                            None => outcome_bits(h.get("Outcome").unwrap_or(&Value::Null)),
                        };
                        let c = h.get("Count").and_then(Value::as_u64).unwrap_or(0);
                        *counts.entry(key).or_insert(0) += c;
                    }
                } else if let Some(shots) = first.get("Shots").and_then(Value::as_array) {
                    for s in shots {
                        *counts.entry(outcome_bits(s)).or_insert(0) += 1;
                    }
                } else {
                    return Err(bad(format, "no Histogram or Shots"));
                }
                Ok(from_counts(format, raw, counts))
            }
            "microsoft.quantum-results.v1" => {
                let hist = raw
                    .get("Histogram")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad(format, "no Histogram list"))?;
                let mut probabilities = BTreeMap::new();
                for pair in hist.chunks(2) {
                    let (Some(k), Some(p)) =
                        (pair[0].as_str(), pair.get(1).and_then(Value::as_f64))
                    else {
                        return Err(bad(format, "Histogram is not key/probability pairs"));
                    };
                    probabilities.insert(k.to_owned(), p);
                }
                Ok(JobResults {
                    format: format.to_owned(),
                    raw,
                    counts: None,
                    probabilities,
                })
            }
            "rigetti.quil-results.v1" => {
                let ro = raw
                    .get("ro")
                    .or_else(|| raw.as_object().and_then(|m| m.values().next()))
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad(format, "no readout register"))?;
                let mut counts = BTreeMap::new();
                for shot in ro {
                    *counts.entry(outcome_bits(shot)).or_insert(0) += 1;
                }
                Ok(from_counts(format, raw, counts))
            }
            "pasqal.pulser-results.v1" => {
                let counter = raw
                    .get("counter")
                    .unwrap_or(&raw)
                    .as_object()
                    .ok_or_else(|| bad(format, "no counter object"))?;
                let mut counts = BTreeMap::new();
                for (k, v) in counter {
                    counts.insert(
                        k.clone(),
                        v.as_u64().ok_or_else(|| bad(format, "non-integer count"))?,
                    );
                }
                Ok(from_counts(format, raw, counts))
            }
            other => Err(bad(other, "unknown output format")),
        }
    }
}

impl Workspace {
    /// Downloads a finished job's output blob (renewing its SAS through `storage/sasUri` when
    /// the URL has none or it expires within five minutes). Bounded to 32 MiB.
    pub async fn job_output(&self, job: &JobDetails) -> Result<Vec<u8>> {
        if !job.is_success() {
            return Err(Error::with_code(
                ErrorKind::Other,
                "JobNotSucceeded",
                format!(
                    "job {} has status '{}'{}: it has no results",
                    job.id.as_deref().unwrap_or("?"),
                    job.status(),
                    job.error_text()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let output = job
            .output_data_uri
            .as_deref()
            .ok_or_else(|| bad("job", "succeeded without an outputDataUri"))?;
        let mut url =
            url::Url::parse(output).map_err(|e| bad("job", &format!("bad outputDataUri: {e}")))?;
        if !has_fresh_sas(&url) {
            let (container, blob) = container_and_blob(&url)?;
            let sas = self.sas_uri(&container, Some(&blob)).await?;
            url = url::Url::parse(&sas)
                .map_err(|e| bad("storage/sasUri", &format!("bad sasUri: {e}")))?;
        }
        self.download_blob(&url).await
    }

    /// Downloads and decodes a finished job's results.
    pub async fn job_results(&self, job: &JobDetails) -> Result<JobResults> {
        let blob = self.job_output(job).await?;
        let format = job
            .output_data_format
            .as_deref()
            .unwrap_or("microsoft.quantum-results.v2");
        JobResults::decode(format, &blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_family() {
        let r = JobResults::decode(
            "ionq.quantum-results.v1",
            br#"{"histogram":{"0":0.5,"3":0.5}}"#,
        )
        .unwrap();
        assert_eq!(r.probabilities["3"], 0.5);
        assert!(r.counts.is_none());

        let r = JobResults::decode(
            "honeywell.quantum-results.v1",
            br#"{"c":["00","11","11","00"],"d":["1","0","1","1"]}"#,
        )
        .unwrap();
        let counts = r.counts.unwrap();
        assert_eq!(counts["111"], 1);
        assert_eq!(counts["001"], 2);
        assert_eq!(r.probabilities["001"], 0.5);

        let r = JobResults::decode(
            "microsoft.quantum-results.v2",
            br#"{"DataFormat":"microsoft.quantum-results.v2","Results":[{"Histogram":[{"Outcome":[0,0],"Display":"[0, 0]","Count":3},{"Outcome":[1,1],"Display":"[1, 1]","Count":1}],"Shots":[[0,0],[0,0],[0,0],[1,1]]}]}"#,
        )
        .unwrap();
        assert_eq!(r.counts.unwrap()["[0, 0]"], 3);
        assert_eq!(r.probabilities["[1, 1]"], 0.25);

        let r = JobResults::decode(
            "microsoft.quantum-results.v1",
            br#"{"Histogram":["[0]",0.25,"[1]",0.75]}"#,
        )
        .unwrap();
        assert_eq!(r.probabilities["[1]"], 0.75);

        let r = JobResults::decode("rigetti.quil-results.v1", br#"{"ro":[[0,0],[1,1],[1,1]]}"#)
            .unwrap();
        assert_eq!(r.counts.unwrap()["11"], 2);

        let r = JobResults::decode(
            "pasqal.pulser-results.v1",
            br#"{"counter":{"001":3,"100":1}}"#,
        )
        .unwrap();
        assert_eq!(r.counts.unwrap()["001"], 3);
    }

    #[test]
    fn bad_output_is_a_clear_error() {
        assert!(JobResults::decode("ionq.quantum-results.v1", b"<html>").is_err());
        assert!(JobResults::decode("ionq.quantum-results.v1", br#"{"x":1}"#).is_err());
        assert!(
            JobResults::decode("honeywell.quantum-results.v1", br#"{"c":["0"],"d":[]}"#).is_err()
        );
        assert!(JobResults::decode("nope.v1", b"{}").is_err());
    }
}
