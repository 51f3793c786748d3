//! `api-version` query parameter extractors with ARM's errors.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// Microsoft.Quantum management api-versions qws serves (oldest first).
pub const QUANTUM_API_VERSIONS: &[&str] = &[
    "2023-11-13-preview",
    "2025-01-01-preview",
    "2025-08-11-preview",
    "2025-11-01-preview",
    "2025-12-15-preview",
    "2026-06-15-preview",
];

/// Reads one query parameter (first occurrence, percent-decoded).
pub fn query_param(parts: &Parts, name: &str) -> Option<String> {
    let q = parts.uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Reads one query parameter of a URI (first occurrence, percent-decoded).
pub fn query_param_from_uri(uri: &axum::http::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn require(parts: &Parts) -> Result<String, ApiError> {
    match query_param(parts, "api-version") {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
    }
}

/// An api-version supported by the Microsoft.Quantum provider.
#[derive(Debug, Clone)]
pub struct QuantumApiVersion(pub String);

impl<S: Send + Sync> FromRequestParts<S> for QuantumApiVersion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let v = require(parts)?;
        if QUANTUM_API_VERSIONS.contains(&v.as_str()) {
            return Ok(QuantumApiVersion(v));
        }
        Err(ApiError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for API version '{}' for type 'workspaces' in namespace 'Microsoft.Quantum'. The supported api-versions are '{}'.",
                v.chars().take(64).collect::<String>(),
                QUANTUM_API_VERSIONS.join(", ")
            ),
        )
        .with_target("api-version"))
    }
}

/// An api-version for ARM-owned endpoints (subscriptions, resource groups, resource graph):
/// any well-formed `YYYY-MM-DD[-preview]` is accepted, as those endpoints are version-stable.
#[derive(Debug, Clone)]
pub struct ArmApiVersion(pub String);

/// True for `YYYY-MM-DD` optionally followed by `-preview`/`-beta`/`-alpha`.
pub fn well_formed(v: &str) -> bool {
    let (date, suffix) = v.split_at(v.len().min(10));
    let b = date.as_bytes();
    let date_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    date_ok
        && matches!(
            suffix,
            "" | "-preview" | "-beta" | "-alpha" | "-privatepreview"
        )
}

impl<S: Send + Sync> FromRequestParts<S> for ArmApiVersion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let v = require(parts)?;
        if well_formed(&v) {
            return Ok(ArmApiVersion(v));
        }
        Err(ApiError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{}' is invalid. The supported versions are dates of the form 'YYYY-MM-DD' with an optional '-preview' suffix.",
                v.chars().take(64).collect::<String>()
            ),
        )
        .with_target("api-version"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn well_formed_versions() {
        assert!(super::well_formed("2022-12-01"));
        assert!(super::well_formed("2025-12-15-preview"));
        assert!(!super::well_formed("2022-12-1"));
        assert!(!super::well_formed("latest"));
        assert!(!super::well_formed("2022-12-01-x"));
    }
}
