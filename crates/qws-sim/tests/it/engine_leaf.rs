//! The engine is a leaf module: `src/engine/*` may use the IR's leaf types and itself, nothing
//! else of the crate (no `state`, `run`, `encode`…), so nothing imports in both directions.

use std::path::Path;

/// Crate modules the engine may name.
const ALLOWED: &[&str] = &["engine", "ir", "gates", "precision"];

#[test]
fn engine_imports_only_leaf_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("src/engine") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let module: String = code[i + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    ALLOWED.contains(&module.as_str()),
                    "{}:{}: the engine uses crate::{module}: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} engine files found");
}
