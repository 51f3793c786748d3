//! Azure Quantum connection strings:
//! `SubscriptionId=..;ResourceGroupName=..;WorkspaceName=..;ApiKey=..;QuantumEndpoint=https://eastus.quantum.azure.com/;`
//!
//! [`ConnectionString::to_secret_string`] builds the canonical form (fixed order, final `;`).
//! [`ConnectionString::parse`] accepts what the Azure SDK accepts (keys case-insensitive, fixed
//! order, every pair terminated by `;`, trailing text after the final `;` ignored) and, unlike the
//! Azure SDK, any `http://` or `https://` `QuantumEndpoint` with a port, as a qws server emits.
//! Errors never contain the key.

use crate::keys::ApiKey;
use crate::names::{NameError, ResourceGroupName, SubscriptionId, WorkspaceName};

/// The parts of a connection string. `Debug` never shows the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionString {
    /// Subscription.
    pub subscription_id: SubscriptionId,
    /// Resource group.
    pub resource_group: ResourceGroupName,
    /// Workspace.
    pub workspace_name: WorkspaceName,
    /// The access key (redacted in `Debug`).
    pub api_key: ApiKey,
    /// The data-plane base URL, always ending in `/`.
    pub quantum_endpoint: String,
}

/// Why a connection string was rejected. Messages never include the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    /// A pair is missing or out of order.
    #[error("invalid connection string: expected '{expected}=' at character {position}")]
    Expected {
        /// The key that should come next.
        expected: &'static str,
        /// 0-based character offset.
        position: usize,
    },
    /// A value is empty or contains whitespace.
    #[error("invalid connection string: the value of '{key}' is empty or contains whitespace")]
    BadValue {
        /// Which key.
        key: &'static str,
    },
    /// The value of a pair is not terminated by `;`.
    #[error("invalid connection string: the value of '{key}' must be followed by ';'")]
    Unterminated {
        /// Which key.
        key: &'static str,
    },
    /// A name inside the string failed validation.
    #[error("invalid connection string: {0}")]
    Name(#[from] NameError),
    /// The endpoint is not an absolute http(s) URL ending in `/`.
    #[error("invalid connection string: QuantumEndpoint must be an http:// or https:// URL ending in '/', got '{0}'")]
    Endpoint(String),
}

const ORDER: [&str; 5] = [
    "SubscriptionId",
    "ResourceGroupName",
    "WorkspaceName",
    "ApiKey",
    "QuantumEndpoint",
];

impl ConnectionString {
    /// The canonical text. It contains the secret key: callers must not log it.
    pub fn to_secret_string(&self) -> String {
        format!(
            "SubscriptionId={};ResourceGroupName={};WorkspaceName={};ApiKey={};QuantumEndpoint={};",
            self.subscription_id,
            self.resource_group,
            self.workspace_name,
            self.api_key.expose(),
            self.quantum_endpoint
        )
    }

    /// Parses a connection string (see the module docs for the accepted grammar).
    pub fn parse(s: &str) -> Result<ConnectionString, ConnectionStringError> {
        let mut values: Vec<&str> = Vec::with_capacity(5);
        let mut pos = 0usize;
        for key in ORDER {
            let rest = &s[pos..];
            let head = rest.get(..key.len() + 1);
            // `get`, not indexing: the byte after the key may be inside a multi-byte character.
            let matches = head.is_some_and(|h| {
                h.get(..key.len())
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
                    && h.ends_with('=')
            });
            if !matches {
                return Err(ConnectionStringError::Expected {
                    expected: key,
                    position: s[..pos].chars().count(),
                });
            }
            let value_start = pos + key.len() + 1;
            let Some(len) = s[value_start..].find(';') else {
                return Err(ConnectionStringError::Unterminated { key });
            };
            let value = &s[value_start..value_start + len];
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                return Err(ConnectionStringError::BadValue { key });
            }
            values.push(value);
            pos = value_start + len + 1;
        }
        let endpoint = values[4];
        if !valid_endpoint(endpoint) {
            return Err(ConnectionStringError::Endpoint(endpoint.to_string()));
        }
        Ok(ConnectionString {
            subscription_id: SubscriptionId::parse(values[0])?,
            resource_group: ResourceGroupName::parse(values[1])?,
            workspace_name: WorkspaceName::parse(values[2])?,
            api_key: ApiKey::from_presented(values[3]),
            quantum_endpoint: endpoint.to_string(),
        })
    }

    /// For the canonical Azure host form `https://{region}[-v2].quantum[-test].azure.com/`, the region.
    pub fn azure_region(&self) -> Option<String> {
        let host = self
            .quantum_endpoint
            .strip_prefix("https://")?
            .strip_suffix('/')?;
        let (label, rest) = host.split_once('.')?;
        if !(rest.eq_ignore_ascii_case("quantum.azure.com")
            || rest.eq_ignore_ascii_case("quantum-test.azure.com"))
        {
            return None;
        }
        let region = label
            .strip_suffix("-v2")
            .or_else(|| label.strip_suffix("-V2"))
            .unwrap_or(label);
        Some(region.to_ascii_lowercase())
    }
}

/// `http(s)://host[:port]/` with an optional path, ending in `/`, no query or fragment.
fn valid_endpoint(e: &str) -> bool {
    let rest = if e.len() > 8 && e[..8].eq_ignore_ascii_case("https://") {
        &e[8..]
    } else if e.len() > 7 && e[..7].eq_ignore_ascii_case("http://") {
        &e[7..]
    } else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    !authority.is_empty() && e.ends_with('/') && !e.contains(['?', '#', '@'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn sample(endpoint: &str, key: &ApiKey) -> String {
        format!(
            "SubscriptionId={SUB};ResourceGroupName=myrg;WorkspaceName=myworkspace;ApiKey={};QuantumEndpoint={endpoint};",
            key.expose()
        )
    }

    /// Found by fuzzing (fuzz/fuzz_targets/connection_string.rs): a multi-byte character right
    /// after a key-length prefix made the key comparison slice inside the character.
    #[test]
    fn a_multibyte_character_after_a_key_length_prefix_is_refused_not_a_panic() {
        for s in [
            "$sss\u{10}s|sswss\n\u{c5}|",
            "SubscriptionI\u{e9}=x;",
            "Subscriptio\u{1f600}",
        ] {
            assert!(ConnectionString::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn round_trip_canonical() {
        let key = ApiKey::generate().unwrap();
        let s = sample("https://eastus.quantum.azure.com/", &key);
        let cs = ConnectionString::parse(&s).unwrap();
        assert_eq!(cs.to_secret_string(), s);
        assert_eq!(cs.azure_region().as_deref(), Some("eastus"));
        assert!(!format!("{cs:?}").contains(key.expose()));
    }

    #[test]
    fn accepts_loopback_with_port_and_case_insensitive_keys() {
        let key = ApiKey::generate().unwrap();
        let s = sample("http://127.0.0.1:8080/", &key).replace("SubscriptionId", "subscriptionid");
        let cs = ConnectionString::parse(&(s + "Extra=ignored")).unwrap();
        assert_eq!(cs.quantum_endpoint, "http://127.0.0.1:8080/");
        assert_eq!(cs.azure_region(), None);
        let v2 = ConnectionString::parse(&sample("https://westus2-v2.quantum.azure.com/", &key))
            .unwrap();
        assert_eq!(v2.azure_region().as_deref(), Some("westus2"));
    }

    #[test]
    fn precise_errors_without_the_key() {
        let key = ApiKey::generate().unwrap();
        let no_final = sample("https://eastus.quantum.azure.com/", &key);
        let no_final = no_final.trim_end_matches(';');
        let e = ConnectionString::parse(no_final).unwrap_err();
        assert_eq!(
            e,
            ConnectionStringError::Unterminated {
                key: "QuantumEndpoint"
            }
        );
        let e =
            ConnectionString::parse(&sample("https://eastus.quantum.azure.com", &key)).unwrap_err();
        assert!(matches!(e, ConnectionStringError::Endpoint(_)));
        let swapped = sample("https://eastus.quantum.azure.com/", &key).replace(
            "ResourceGroupName=myrg;WorkspaceName=myworkspace;",
            "WorkspaceName=myworkspace;ResourceGroupName=myrg;",
        );
        let e = ConnectionString::parse(&swapped).unwrap_err();
        assert!(matches!(
            e,
            ConnectionStringError::Expected {
                expected: "ResourceGroupName",
                ..
            }
        ));
        let spaced = sample("https://eastus.quantum.azure.com/", &key).replace(";Res", "; Res");
        assert!(ConnectionString::parse(&spaced).is_err());
        let bad_ws =
            sample("https://eastus.quantum.azure.com/", &key).replace("myworkspace", "-ws");
        let e = ConnectionString::parse(&bad_ws).unwrap_err();
        assert!(e.to_string().contains("workspace name"));
        assert!(!e.to_string().contains(key.expose()));
        assert!(ConnectionString::parse("").is_err());
    }
}
