//! Matching of action strings against the patterns in role definitions.
//!
//! Azure compares operation strings case-insensitively, and a `*` in a pattern stands for any run of
//! characters, `/` included: `*/read` grants `Microsoft.Quantum/Workspaces/read`, and
//! `Microsoft.Authorization/*/read` grants `Microsoft.Authorization/roleAssignments/read`.

/// Longest action or pattern accepted (far above any real operation name), so matching cost is bounded.
pub const MAX_ACTION_LEN: usize = 512;

/// Whether control-plane (`actions`) or data-plane (`dataActions`) permissions apply. The two are
/// never mixed: `*` in `actions` grants no data action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// A management (ARM) operation, checked against `actions` / `notActions`.
    Control,
    /// A data operation, checked against `dataActions` / `notDataActions`.
    Data,
}

/// Does `pattern` (which may contain `*`) match `action`, ignoring ASCII case?
///
/// Inputs longer than [`MAX_ACTION_LEN`] never match: role definitions are validated against that
/// bound when stored, and no operation name is that long.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    if pattern.len() > MAX_ACTION_LEN || action.len() > MAX_ACTION_LEN {
        return false;
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

/// Wildcard match with one backtracking point (the classic linear-space algorithm): on a mismatch,
/// the most recent `*` absorbs one more character and matching resumes after it.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Checks that a pattern from a role definition is well formed: non-empty, bounded, and made of
/// the characters operation names use (letters, digits, `.`, `/`, `_`, `-`) plus `*`.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("an action must not be empty".into());
    }
    if pattern.len() > MAX_ACTION_LEN {
        return Err(format!(
            "an action is longer than {MAX_ACTION_LEN} characters"
        ));
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | '*')))
    {
        return Err(format!(
            "the action '{pattern}' contains the character '{}', which operation names do not use",
            c.escape_default()
        ));
    }
    if pattern.starts_with('/') || pattern.ends_with('/') || pattern.contains("//") {
        return Err(format!("the action '{pattern}' has an empty segment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_case_insensitive() {
        assert!(action_matches(
            "Microsoft.Quantum/Workspaces/read",
            "microsoft.quantum/workspaces/READ"
        ));
        assert!(!action_matches(
            "Microsoft.Quantum/Workspaces/read",
            "Microsoft.Quantum/Workspaces/write"
        ));
        assert!(!action_matches(
            "Microsoft.Quantum/Workspaces/read",
            "Microsoft.Quantum/Workspaces/readx"
        ));
        assert!(!action_matches(
            "Microsoft.Quantum/Workspaces/read",
            "Microsoft.Quantum/Workspaces/rea"
        ));
    }

    #[test]
    fn wildcards() {
        assert!(action_matches(
            "*",
            "Microsoft.Quantum/Workspaces/listKeys/action"
        ));
        assert!(action_matches(
            "*/read",
            "Microsoft.Quantum/Workspaces/read"
        ));
        assert!(action_matches(
            "*/read",
            "Microsoft.Quantum/Workspaces/jobs/READ"
        ));
        assert!(!action_matches(
            "*/read",
            "Microsoft.Quantum/Workspaces/write"
        ));
        assert!(!action_matches(
            "*/read",
            "Microsoft.Quantum/Workspaces/readiness"
        ));
        assert!(action_matches(
            "Microsoft.Authorization/*/read",
            "Microsoft.Authorization/roleAssignments/read"
        ));
        assert!(!action_matches(
            "Microsoft.Authorization/*/read",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(!action_matches(
            "Microsoft.Authorization/*/read",
            "Microsoft.Resources/roleAssignments/read"
        ));
        assert!(action_matches(
            "Microsoft.Authorization/*/Write",
            "microsoft.authorization/roleassignments/write"
        ));
        assert!(action_matches(
            "Microsoft.Storage/storageAccounts/*",
            "Microsoft.Storage/storageAccounts/listKeys/action"
        ));
        assert!(!action_matches(
            "Microsoft.Storage/storageAccounts/*",
            "Microsoft.Storage/storageAccountsX"
        ));
        // A star inside a segment.
        assert!(action_matches(
            "Microsoft.Quantum/Work*/read",
            "Microsoft.Quantum/Workspaces/read"
        ));
        assert!(action_matches("a*b*c", "aXXbYYbZc"));
        assert!(!action_matches("a*b*c", "aXXbYYbZ"));
        assert!(action_matches("**", ""));
        assert!(!action_matches("", "x"));
    }

    #[test]
    fn over_long_input_never_matches() {
        let long = "a".repeat(MAX_ACTION_LEN + 1);
        assert!(!action_matches("*", &long));
        assert!(!action_matches(&long, &long));
    }

    #[test]
    fn patterns_are_validated() {
        assert!(validate_pattern("Microsoft.Quantum/Workspaces/jobs/read").is_ok());
        assert!(validate_pattern("*/read").is_ok());
        assert!(validate_pattern("").is_err());
        assert!(validate_pattern("Microsoft.Quantum/ Workspaces").is_err());
        assert!(validate_pattern("Microsoft.Quantum//read").is_err());
        assert!(validate_pattern("Microsoft.Quantum/read?x").is_err());
        assert!(validate_pattern(&"a".repeat(MAX_ACTION_LEN + 1)).is_err());
    }
}
