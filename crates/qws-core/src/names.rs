//! Validated ARM names. Each newtype can only hold a value that passed ARM's rules, so code that
//! receives one never re-validates. Comparison of resource names is case-insensitive in ARM; the
//! types keep the caller's spelling for display and offer [`ResourceGroupName::key`]-style
//! lower-cased keys for lookups.

use std::fmt;

/// Why a name was rejected: an ARM error code, the field, and a precise message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NameError {
    /// ARM error code (`InvalidSubscriptionId`, `InvalidResourceGroup`, `InvalidResourceName`, `LocationRequired`, `InvalidLocation`).
    pub code: &'static str,
    /// The request field or path parameter the value came from.
    pub field: &'static str,
    /// What is wrong, naming the value.
    pub message: String,
}

fn err(code: &'static str, field: &'static str, message: String) -> NameError {
    NameError {
        code,
        field,
        message,
    }
}

/// A subscription id: a GUID, displayed in lower-case hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(uuid::Uuid);

impl SubscriptionId {
    /// Parses a GUID (hyphenated; braces or upper case accepted as ARM does).
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let trimmed = s.trim_start_matches('{').trim_end_matches('}');
        if trimmed.len() != 36 {
            return Err(invalid_sub(s));
        }
        uuid::Uuid::parse_str(trimmed)
            .map(SubscriptionId)
            .map_err(|_| invalid_sub(s))
    }

    /// Wraps a UUID.
    pub fn from_uuid(u: uuid::Uuid) -> Self {
        SubscriptionId(u)
    }

    /// The UUID.
    pub fn uuid(&self) -> uuid::Uuid {
        self.0
    }
}

fn invalid_sub(s: &str) -> NameError {
    err(
        "InvalidSubscriptionId",
        "subscriptionId",
        format!(
            "The provided subscription identifier '{}' is malformed or invalid.",
            clip(s)
        ),
    )
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// Shortens user input echoed in messages so an error cannot become a huge response.
fn clip(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// A resource group name: 1–90 characters of letters/digits (Unicode), `_ ( ) - .`, not ending in `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceGroupName(String);

impl ResourceGroupName {
    /// Validates a resource group name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let n = s.chars().count();
        if n == 0 || n > 90 {
            return Err(err(
                "InvalidResourceGroup",
                "resourceGroupName",
                format!(
                    "The resource group name '{}' is invalid: it must be between 1 and 90 characters long.",
                    clip(s)
                ),
            ));
        }
        let bad: String = s
            .chars()
            .filter(|c| !(c.is_alphanumeric() || matches!(c, '_' | '(' | ')' | '-' | '.')))
            .collect();
        if !bad.is_empty() {
            return Err(err(
                "InvalidResourceGroup",
                "resourceGroupName",
                format!(
                    "The provided resource group name '{}' has these invalid characters: '{}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.",
                    clip(s),
                    clip(&bad)
                ),
            ));
        }
        if s.ends_with('.') {
            return Err(err(
                "InvalidResourceGroup",
                "resourceGroupName",
                format!(
                    "The provided resource group name '{}' is invalid: it cannot end with a period.",
                    clip(s)
                ),
            ));
        }
        Ok(ResourceGroupName(s.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive lookup key (lower case).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for ResourceGroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace name: 2–54 characters matching `^[a-zA-Z0-9]+(-*[a-zA-Z0-9])*$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// Validates a workspace name.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let n = s.chars().count();
        if !(2..=54).contains(&n) {
            return Err(err(
                "InvalidResourceName",
                "workspaceName",
                format!(
                    "The workspace name '{}' is invalid: it must be between 2 and 54 characters long.",
                    clip(s)
                ),
            ));
        }
        let alnum_hyphen = s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !alnum_hyphen || s.starts_with('-') || s.ends_with('-') {
            return Err(err(
                "InvalidResourceName",
                "workspaceName",
                format!(
                    "The workspace name '{}' is invalid: it can only include alphanumerics (a-zA-Z0-9) and hyphens, and cannot start or end with a hyphen.",
                    clip(s)
                ),
            ));
        }
        Ok(WorkspaceName(s.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive lookup key (lower case).
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A storage account name: 3–24 lower-case letters and digits, unique across all of Azure (and
/// across all of a qws server).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageAccountName(String);

impl StorageAccountName {
    /// Validates a storage account name (ARM's `AccountNameInvalid`).
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let ok = (3..=24).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(err(
                "AccountNameInvalid",
                "accountName",
                format!(
                    "'{}' is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.",
                    clip(s)
                ),
            ));
        }
        Ok(StorageAccountName(s.to_string()))
    }

    /// The name (already lower case, so it is also the lookup key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorageAccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A template deployment name: 1–64 characters of letters, digits, `-`, `_`, `.`, `(`, `)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeploymentName(String);

impl DeploymentName {
    /// Validates a deployment name (ARM's `InvalidDeploymentName`).
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let ok = (1..=64).contains(&s.chars().count())
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
        if !ok {
            return Err(err(
                "InvalidDeploymentName",
                "deploymentName",
                format!(
                    "The deployment name '{}' is invalid: it must be 1 to 64 characters of letters, digits, '-', '_', '.', '(' and ')'.",
                    clip(s)
                ),
            ));
        }
        Ok(DeploymentName(s.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive lookup key (lower case).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for DeploymentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Azure location in ARM's normalized form: lower case without spaces (`East US` → `eastus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location(String);

impl Location {
    /// Normalizes and validates a location: 1–90 characters, `[a-z][a-z0-9]*` after normalization.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let normalized: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if normalized.is_empty() {
            return Err(err(
                "LocationRequired",
                "location",
                "The location property is required for this definition.".to_string(),
            ));
        }
        let ok = normalized.len() <= 90
            && normalized.starts_with(|c: char| c.is_ascii_lowercase())
            && normalized
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok {
            return Err(err(
                "InvalidLocation",
                "location",
                format!(
                    "The location '{}' is invalid: a location is a letter followed by letters and digits, e.g. 'eastus'.",
                    clip(s)
                ),
            ));
        }
        Ok(Location(normalized))
    }

    /// The normalized location.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids() {
        let s = SubscriptionId::parse("0000000A-0000-0000-0000-000000000001").unwrap();
        assert_eq!(s.to_string(), "0000000a-0000-0000-0000-000000000001");
        assert_eq!(
            SubscriptionId::parse("not-a-guid").unwrap_err().code,
            "InvalidSubscriptionId"
        );
        assert!(SubscriptionId::parse("0000000a000000000000000000000001").is_err());
    }

    #[test]
    fn resource_groups() {
        for ok in ["a", "rg-1", "My_RG(2).x", "grüße", &"a".repeat(90)] {
            assert!(ResourceGroupName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "rg.", "a b", "a/b", &"a".repeat(91)] {
            let e = ResourceGroupName::parse(bad).unwrap_err();
            assert_eq!(e.code, "InvalidResourceGroup");
            assert_eq!(e.field, "resourceGroupName");
        }
        assert!(ResourceGroupName::parse("a b")
            .unwrap_err()
            .message
            .contains("invalid characters: ' '"));
        assert_eq!(ResourceGroupName::parse("RG").unwrap().key(), "rg");
    }

    #[test]
    fn workspace_names() {
        for ok in ["ab", "dev", "a--b", "A1-b2", &"a".repeat(54)] {
            assert!(WorkspaceName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "-ab", "ab-", "a_b", "a.b", &"a".repeat(55), "ä1"] {
            assert_eq!(
                WorkspaceName::parse(bad).unwrap_err().code,
                "InvalidResourceName",
                "{bad}"
            );
        }
    }

    #[test]
    fn storage_account_and_deployment_names() {
        for ok in ["abc", "qws01", &"a".repeat(24)] {
            assert!(StorageAccountName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Abc", "a-bc", "a_bc", &"a".repeat(25), "äbc"] {
            assert_eq!(
                StorageAccountName::parse(bad).unwrap_err().code,
                "AccountNameInvalid",
                "{bad}"
            );
        }
        for ok in ["d", "Microsoft.AzureQuantum-ws1", "a_(b)", &"x".repeat(64)] {
            assert!(DeploymentName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert_eq!(
                DeploymentName::parse(bad).unwrap_err().code,
                "InvalidDeploymentName"
            );
        }
    }

    #[test]
    fn locations() {
        assert_eq!(Location::parse("East US").unwrap().as_str(), "eastus");
        assert_eq!(Location::parse("westus2").unwrap().as_str(), "westus2");
        assert_eq!(Location::parse("").unwrap_err().code, "LocationRequired");
        assert_eq!(
            Location::parse("2west").unwrap_err().code,
            "InvalidLocation"
        );
        assert_eq!(
            Location::parse("west-us").unwrap_err().code,
            "InvalidLocation"
        );
    }
}
