//! Output recording → `microsoft.quantum-results.v2`.
//!
//! A shot's recorded outputs are a flat sequence (`tuple_record_output(2)`, then two values…);
//! [`shape`] turns it into a tree, and [`results_element`] aggregates the shots of one entry
//! point into a `Results[]` element the way the azure-quantum client decodes it:
//! tuples are `{"Item1": …}` objects, arrays are lists, results are 0/1, booleans are JSON
//! booleans; `Display` is the Python-literal-like text qiskit parses with `ast.literal_eval`
//! (`"[0, 1]"`, `"([1], [1, 0])"`).

use super::program::RecordKind;
use crate::error::{Result, SimError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One recorded output event.
#[derive(Clone, Debug, PartialEq)]
pub enum Rec {
    /// A container header: the next `n` records are its items.
    Container {
        tuple: bool,
        n: u64,
    },
    Start {
        tuple: bool,
    },
    End {
        tuple: bool,
    },
    Result(bool),
    Bool(bool),
    Int(i64),
    Double(f64),
}

/// A shot's output value.
#[derive(Clone, Debug, PartialEq)]
pub enum OutVal {
    Result(bool),
    Bool(bool),
    Int(i64),
    Double(f64),
    Tuple(Vec<OutVal>),
    Array(Vec<OutVal>),
}

impl Rec {
    pub fn container(kind: RecordKind, n: u64) -> Rec {
        Rec::Container {
            tuple: kind == RecordKind::Tuple,
            n,
        }
    }
}

/// Turns a shot's flat records into one value. No records → `None` (the caller decides).
/// Several top-level records without a container become an array (all results) or a tuple.
pub fn shape(recs: &[Rec]) -> Result<Option<OutVal>> {
    let mut pos = 0;
    let mut top = Vec::new();
    while pos < recs.len() {
        top.push(item(recs, &mut pos, 0)?);
    }
    Ok(match top.len() {
        0 => None,
        1 => top.pop(),
        _ if top.iter().all(|v| matches!(v, OutVal::Result(_))) => Some(OutVal::Array(top)),
        _ => Some(OutVal::Tuple(top)),
    })
}

fn malformed(msg: &str) -> SimError {
    SimError::Invalid(format!("malformed output recording: {msg}"))
}

fn item(recs: &[Rec], pos: &mut usize, depth: usize) -> Result<OutVal> {
    if depth > 64 {
        return Err(malformed("containers nested more than 64 deep"));
    }
    let r = recs.get(*pos).ok_or_else(|| malformed("missing items"))?;
    *pos += 1;
    Ok(match r {
        Rec::Result(b) => OutVal::Result(*b),
        Rec::Bool(b) => OutVal::Bool(*b),
        Rec::Int(i) => OutVal::Int(*i),
        Rec::Double(d) => OutVal::Double(*d),
        Rec::Container { tuple, n } => {
            if *n as usize > recs.len() - *pos {
                return Err(malformed(&format!(
                    "a {} of {n} items is followed by only {} records",
                    if *tuple { "tuple" } else { "array" },
                    recs.len() - *pos
                )));
            }
            let mut items = Vec::with_capacity(*n as usize);
            for _ in 0..*n {
                items.push(item(recs, pos, depth + 1)?);
            }
            container(*tuple, items)
        }
        Rec::Start { tuple } => {
            let mut items = Vec::new();
            loop {
                match recs.get(*pos) {
                    None => return Err(malformed("a container start without an end")),
                    Some(Rec::End { tuple: t }) if t == tuple => {
                        *pos += 1;
                        break;
                    }
                    Some(Rec::End { .. }) => return Err(malformed("mismatched container end")),
                    Some(_) => items.push(item(recs, pos, depth + 1)?),
                }
            }
            container(*tuple, items)
        }
        Rec::End { .. } => return Err(malformed("a container end without a start")),
    })
}

fn container(tuple: bool, items: Vec<OutVal>) -> OutVal {
    if tuple {
        OutVal::Tuple(items)
    } else {
        OutVal::Array(items)
    }
}

impl OutVal {
    /// The JSON form the client's `_convert_tuples` decodes.
    pub fn to_json(&self) -> Value {
        match self {
            OutVal::Result(b) => json!(*b as u8),
            OutVal::Bool(b) => json!(b),
            OutVal::Int(i) => json!(i),
            OutVal::Double(d) => {
                serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
            }
            OutVal::Array(items) => Value::Array(items.iter().map(OutVal::to_json).collect()),
            OutVal::Tuple(items) => {
                let mut m = Map::new();
                for (i, v) in items.iter().enumerate() {
                    m.insert(format!("Item{}", i + 1), v.to_json());
                }
                Value::Object(m)
            }
        }
    }

    /// An upper bound of the bytes this value costs a run's results: its own memory and its
    /// JSON value in the shot list, plus its JSON and display text (once more in the histogram).
    pub fn output_bytes(&self) -> u64 {
        let own = (std::mem::size_of::<OutVal>() + std::mem::size_of::<Value>()) as u64;
        match self {
            OutVal::Result(_) | OutVal::Bool(_) => own + 3 * 6,
            OutVal::Int(_) | OutVal::Double(_) => own + 3 * 25,
            // Each item: separators in the JSON and the display text.
            OutVal::Array(items) => items
                .iter()
                .map(|v| v.output_bytes() + 3 * 2)
                .fold(own + 3 * 4, u64::saturating_add),
            // Each item also has an `"ItemN"` key: a string and a map entry.
            OutVal::Tuple(items) => items
                .iter()
                .map(|v| v.output_bytes() + 64 + 3 * 12)
                .fold(own + 3 * 4, u64::saturating_add),
        }
    }

    /// The display string: Python-literal syntax for results, ints, lists and tuples, so that
    /// qiskit's `_qir_to_qiskit_bitstring` turns `"([1], [1, 0])"` into `"1 10"`.
    pub fn display(&self) -> String {
        let mut s = String::new();
        self.write_display(&mut s);
        s
    }

    fn write_display(&self, s: &mut String) {
        match self {
            OutVal::Result(b) => s.push(if *b { '1' } else { '0' }),
            OutVal::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
            OutVal::Int(i) => s.push_str(&i.to_string()),
            OutVal::Double(d) => s.push_str(&display_double(*d)),
            OutVal::Array(items) => {
                s.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    v.write_display(s);
                }
                s.push(']');
            }
            OutVal::Tuple(items) => {
                s.push('(');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    v.write_display(s);
                }
                if items.len() == 1 {
                    s.push(',');
                }
                s.push(')');
            }
        }
    }
}

/// Shortest round-trip text with a decimal point, like Python's `repr(float)`.
fn display_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format!("{d:?}");
    s
}

/// One `Results[]` element: `Histogram` (sorted by `Display`) and `Shots` in shot order.
pub fn results_element(shots: &[OutVal]) -> Value {
    let mut hist: BTreeMap<String, (Value, u64)> = BTreeMap::new();
    let mut shot_json = Vec::with_capacity(shots.len());
    for v in shots {
        let j = v.to_json();
        let e = hist.entry(v.display()).or_insert_with(|| (j.clone(), 0));
        e.1 += 1;
        shot_json.push(j);
    }
    let histogram: Vec<Value> = hist
        .into_iter()
        .map(|(display, (outcome, count))| {
            json!({"Outcome": outcome, "Display": display, "Count": count})
        })
        .collect();
    json!({"Histogram": histogram, "Shots": shot_json})
}

/// The whole output document for the given `Results[]` elements.
pub fn document(results: Vec<Value>) -> Value {
    json!({"DataFormat": "microsoft.quantum-results.v2", "Results": results})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_of_arrays_display_like_python_literals() {
        let recs = vec![
            Rec::Container { tuple: true, n: 2 },
            Rec::Container { tuple: false, n: 1 },
            Rec::Result(true),
            Rec::Container { tuple: false, n: 2 },
            Rec::Result(true),
            Rec::Result(false),
        ];
        let v = shape(&recs).unwrap().unwrap();
        assert_eq!(v.display(), "([1], [1, 0])");
        assert_eq!(v.to_json(), json!({"Item1": [1], "Item2": [1, 0]}));
    }

    #[test]
    fn scalars_and_doubles() {
        let recs = vec![
            Rec::Container { tuple: true, n: 3 },
            Rec::Int(-4),
            Rec::Bool(true),
            Rec::Double(1.5),
        ];
        let v = shape(&recs).unwrap().unwrap();
        assert_eq!(v.display(), "(-4, true, 1.5)");
        assert_eq!(
            v.to_json(),
            json!({"Item1": -4, "Item2": true, "Item3": 1.5})
        );
        assert_eq!(OutVal::Double(1.0).display(), "1.0");
    }

    #[test]
    fn truncated_containers_are_errors() {
        let recs = vec![Rec::Container { tuple: false, n: 3 }, Rec::Result(true)];
        assert!(shape(&recs).is_err());
        assert!(shape(&[Rec::Start { tuple: true }]).is_err());
    }

    #[test]
    fn histogram_is_sorted_and_counts_every_shot() {
        let a = OutVal::Array(vec![OutVal::Result(true), OutVal::Result(true)]);
        let b = OutVal::Array(vec![OutVal::Result(false), OutVal::Result(false)]);
        let el = results_element(&[a.clone(), b.clone(), a.clone(), b]);
        assert_eq!(
            el["Histogram"],
            json!([
                {"Outcome": [0, 0], "Display": "[0, 0]", "Count": 2},
                {"Outcome": [1, 1], "Display": "[1, 1]", "Count": 2}
            ])
        );
        assert_eq!(el["Shots"], json!([[1, 1], [0, 0], [1, 1], [0, 0]]));
    }

    #[test]
    fn output_bytes_bound_the_encoded_element() {
        let recs = vec![
            Rec::Container { tuple: true, n: 3 },
            Rec::Container { tuple: false, n: 2 },
            Rec::Result(true),
            Rec::Result(false),
            Rec::Int(i64::MIN),
            Rec::Double(-1.234_567_890_123_456_7e-300),
        ];
        let v = shape(&recs).unwrap().unwrap();
        let text = serde_json::to_string(&results_element(std::slice::from_ref(&v))).unwrap();
        assert!(text.len() as u64 <= v.output_bytes(), "{text}");
        assert!(OutVal::Array(vec![OutVal::Result(true); 1000]).output_bytes() > 100_000);
    }
}
