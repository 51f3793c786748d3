//! ARM scopes: the tenant root `/`, a subscription, a resource group, or a resource (a workspace, a
//! storage account, or anything below one). An assignment at a scope applies to every scope below
//! it. ARM compares scopes case-insensitively, so ancestry is decided on whole segments of the
//! lower-cased form: `/subscriptions/s/resourceGroups/rg1` is not above `…/resourceGroups/rg10`.

use std::fmt;

/// Longest scope accepted, in bytes (ARM resource ids are far shorter).
pub const MAX_SCOPE_LEN: usize = 1024;

/// The level of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// `/`.
    Root,
    /// `/subscriptions/{id}`.
    Subscription,
    /// `/subscriptions/{id}/resourceGroups/{name}`.
    ResourceGroup,
    /// Anything under `…/providers/{namespace}/{type}/{name}`.
    Resource,
}

/// Why a scope was rejected. The message names the scope and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopeError(pub String);

/// A parsed, normalised scope. Keyword segments are spelled canonically (`subscriptions`,
/// `resourceGroups`, `providers`) and the subscription GUID is lower-cased; names keep their case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    text: String,
    key: String,
    kind: ScopeKind,
}

impl Scope {
    /// The tenant root, `/`.
    pub fn root() -> Scope {
        Scope {
            text: "/".into(),
            key: "/".into(),
            kind: ScopeKind::Root,
        }
    }

    /// Parses and normalises a scope. A trailing `/` is ignored.
    pub fn parse(input: &str) -> Result<Scope, ScopeError> {
        let bad = |why: &str| ScopeError(format!("The scope '{input}' is invalid: {why}."));
        if input.len() > MAX_SCOPE_LEN {
            return Err(ScopeError(format!(
                "The scope is longer than {MAX_SCOPE_LEN} characters."
            )));
        }
        if !input.starts_with('/') {
            return Err(bad("a scope starts with '/'"));
        }
        let trimmed = input.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(Scope::root());
        }
        let segs: Vec<&str> = trimmed[1..].split('/').collect();
        if segs.iter().any(|s| s.is_empty()) {
            return Err(bad("it has an empty segment"));
        }
        if segs.iter().any(|s| {
            s.chars()
                .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#'))
        }) {
            return Err(bad(
                "a segment contains a space, a control character, '?' or '#'",
            ));
        }
        if !segs[0].eq_ignore_ascii_case("subscriptions") {
            return Err(bad(
                "only '/', subscriptions, resource groups and resources are scopes",
            ));
        }
        let Some(sub) = segs.get(1) else {
            return Err(bad("the subscription id is missing"));
        };
        let sub = crate::names::SubscriptionId::parse(sub)
            .map_err(|_| bad("the subscription id is not a GUID"))?;
        let mut out = vec!["subscriptions".to_string(), sub.to_string()];
        let mut kind = ScopeKind::Subscription;
        let mut rest = &segs[2..];
        if let Some(first) = rest.first() {
            if first.eq_ignore_ascii_case("resourceGroups") {
                let Some(rg) = rest.get(1) else {
                    return Err(bad("the resource group name is missing"));
                };
                out.push("resourceGroups".into());
                out.push((*rg).to_string());
                kind = ScopeKind::ResourceGroup;
                rest = &rest[2..];
            }
        }
        if let Some(first) = rest.first() {
            if !first.eq_ignore_ascii_case("providers") {
                return Err(bad("expected 'providers' after the resource group"));
            }
            // providers/{namespace} then one or more {type}/{name} pairs.
            let tail = &rest[1..];
            if tail.len() < 3 || tail.len() % 2 != 1 {
                return Err(bad(
                    "a resource scope is providers/{namespace}/{type}/{name}[/{type}/{name}…]",
                ));
            }
            out.push("providers".into());
            out.extend(tail.iter().map(|s| (*s).to_string()));
            kind = ScopeKind::Resource;
        }
        let text = format!("/{}", out.join("/"));
        let key = text.to_ascii_lowercase();
        Ok(Scope { text, key, kind })
    }

    /// `/subscriptions/{id}`.
    pub fn subscription(id: &crate::names::SubscriptionId) -> Scope {
        Scope::parse(&format!("/subscriptions/{id}")).expect("a subscription id is a valid scope")
    }

    /// The normalised scope as ARM shows it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The lower-cased form, for storage and comparison.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The level.
    pub fn kind(&self) -> ScopeKind {
        self.kind
    }

    /// The subscription GUID, unless this is the root.
    pub fn subscription_id(&self) -> Option<&str> {
        match self.kind {
            ScopeKind::Root => None,
            _ => self.text.split('/').nth(2),
        }
    }

    /// Whether an assignment at `self` applies at `other`: `self` is `other` or above it.
    pub fn contains(&self, other: &Scope) -> bool {
        self.kind == ScopeKind::Root
            || other.key == self.key
            || (other.key.starts_with(&self.key)
                && other.key.as_bytes().get(self.key.len()) == Some(&b'/'))
    }

    /// This scope and every scope above it, nearest first, ending with `/`. An assignment applies
    /// here exactly when its scope key is one of these keys.
    pub fn ancestors_and_self(&self) -> Vec<Scope> {
        let mut out = vec![self.clone()];
        let mut cur = self.clone();
        while let Some(p) = cur.parent() {
            out.push(p.clone());
            cur = p;
        }
        out
    }

    /// The scope directly above: a resource's parent resource (or its resource group or
    /// subscription), a resource group's subscription, a subscription's root.
    pub fn parent(&self) -> Option<Scope> {
        if self.kind == ScopeKind::Root {
            return None;
        }
        let segs: Vec<&str> = self.text[1..].split('/').collect();
        let keep = match self.kind {
            ScopeKind::Root => unreachable!(),
            ScopeKind::Subscription => 0,
            ScopeKind::ResourceGroup => 2,
            ScopeKind::Resource => {
                let p = segs
                    .iter()
                    .position(|s| *s == "providers")
                    .expect("a resource scope has a providers segment");
                let pairs = (segs.len() - p - 2) / 2;
                if pairs > 1 {
                    segs.len() - 2
                } else {
                    p
                }
            }
        };
        if keep == 0 {
            return Some(Scope::root());
        }
        Some(
            Scope::parse(&format!("/{}", segs[..keep].join("/")))
                .expect("a prefix of a valid scope is valid"),
        )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-0000000000aa";

    fn s(x: &str) -> Scope {
        Scope::parse(x).unwrap()
    }

    #[test]
    fn parses_each_level_and_normalises() {
        assert_eq!(s("/").kind(), ScopeKind::Root);
        assert_eq!(s("/").as_str(), "/");
        let sub = s(&format!("/SUBSCRIPTIONS/{}/", SUB.to_uppercase()));
        assert_eq!(sub.kind(), ScopeKind::Subscription);
        assert_eq!(sub.as_str(), format!("/subscriptions/{SUB}"));
        assert_eq!(sub.subscription_id(), Some(SUB));
        let rg = s(&format!("/subscriptions/{SUB}/resourcegroups/My-RG"));
        assert_eq!(rg.kind(), ScopeKind::ResourceGroup);
        assert_eq!(
            rg.as_str(),
            format!("/subscriptions/{SUB}/resourceGroups/My-RG")
        );
        assert_eq!(
            rg.key(),
            format!("/subscriptions/{SUB}/resourcegroups/my-rg")
        );
        let ws = s(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/PROVIDERS/Microsoft.Quantum/Workspaces/ws1"
        ));
        assert_eq!(ws.kind(), ScopeKind::Resource);
        assert_eq!(
            ws.as_str(),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws1"
            )
        );
        let child = s(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default"
        ));
        assert_eq!(child.kind(), ScopeKind::Resource);
        let sub_res = s(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Quantum/locations/eastus"
        ));
        assert_eq!(sub_res.kind(), ScopeKind::Resource);
    }

    #[test]
    fn rejects_malformed_scopes() {
        for bad in [
            "",
            "subscriptions/x",
            "/subscriptions",
            "/subscriptions/not-a-guid",
            &format!("/subscriptions/{SUB}//resourceGroups/rg"),
            &format!("/subscriptions/{SUB}/resourceGroups"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/things/x"),
            &format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Quantum"),
            &format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces"
            ),
            &format!("/subscriptions/{SUB}/resourceGroups/r g"),
            "/providers/Microsoft.Management/managementGroups/mg",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Scope::parse(&format!("/{}", "a".repeat(MAX_SCOPE_LEN))).is_err());
    }

    #[test]
    fn containment_is_by_whole_segments_and_case_insensitive() {
        let sub = s(&format!("/subscriptions/{SUB}"));
        let rg1 = s(&format!("/subscriptions/{SUB}/resourceGroups/rg1"));
        let rg10 = s(&format!("/subscriptions/{SUB}/resourceGroups/rg10"));
        let ws = s(&format!(
            "/subscriptions/{SUB}/resourceGroups/RG1/providers/Microsoft.Quantum/workspaces/w"
        ));
        let other_sub = s("/subscriptions/00000000-0000-0000-0000-0000000000bb");
        assert!(Scope::root().contains(&ws));
        assert!(sub.contains(&rg1) && sub.contains(&ws) && sub.contains(&sub));
        assert!(rg1.contains(&ws));
        assert!(!rg10.contains(&ws));
        assert!(!rg1.contains(&rg10));
        assert!(!ws.contains(&rg1));
        assert!(!other_sub.contains(&ws));
        assert!(!ws.contains(&Scope::root()));
    }

    #[test]
    fn ancestors_walk_up_to_the_root() {
        let blob = s(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default"
        ));
        let chain: Vec<String> = blob
            .ancestors_and_self()
            .iter()
            .map(|x| x.as_str().to_string())
            .collect();
        assert_eq!(
            chain,
            vec![
                blob.as_str().to_string(),
                format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"),
                format!("/subscriptions/{SUB}/resourceGroups/rg"),
                format!("/subscriptions/{SUB}"),
                "/".to_string(),
            ]
        );
        for a in blob.ancestors_and_self() {
            assert!(a.contains(&blob));
        }
        let loc = s(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Quantum/locations/eastus"
        ));
        assert_eq!(
            loc.parent().unwrap().as_str(),
            format!("/subscriptions/{SUB}")
        );
    }
}
