//! IonQ JSON programs the data-plane tests submit. The `qws` binary's tests use this file too.

use serde_json::json;

/// A Bell pair.
pub const BELL: &str =
    r#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#;

/// 22 qubits and 5000 layers of gates: minutes of simulation, far beyond the test's bounds.
pub fn endless_circuit() -> String {
    let mut gates = Vec::new();
    for layer in 0..5000 {
        for q in 0..22 {
            gates.push(json!({"gate": if layer % 2 == 0 { "h" } else { "t" }, "target": q}));
        }
        for q in 0..21 {
            gates.push(json!({"gate": "cnot", "control": q, "target": q + 1}));
        }
    }
    json!({"qubits": 22, "circuit": gates}).to_string()
}
