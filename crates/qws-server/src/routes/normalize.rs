//! Canonical spelling of ARM's fixed path segments (`resourcegroups` → `resourceGroups`, …).
//!
//! ARM paths alternate type and name segments: `/subscriptions/{s}/resourceGroups/{rg}/providers/
//! {Namespace}/{type}/{name}/{type}/{name}…`. Only type positions (and the namespace after
//! `providers`) are rewritten, so a resource *named* `Workspaces` keeps its case.

/// Canonical type words; extend this list when a plane adds a route.
const TYPE_WORDS: &[&str] = &[
    "subscriptions",
    "resourceGroups",
    "providers",
    "resources",
    "tenants",
    "locations",
    "workspaces",
    "operationStatuses",
    "operationStatus",
    "offerings",
    "operations",
    "checkNameAvailability",
    "listKeys",
    "regenerateKey",
    "accessTokens",
    "activityLog",
    "webhooks",
    "deliveries",
    "suiteOffers",
    "jobs",
    "sessions",
    "providerStatus",
    "quotas",
    "topLevelItems",
    "storage",
    "roleAssignments",
    "roleDefinitions",
    "storageAccounts",
    "deployments",
    "operationResults",
];

/// Canonical namespaces.
const NAMESPACES: &[&str] = &[
    "Microsoft.Quantum",
    "Microsoft.ResourceGraph",
    "Microsoft.Resources",
    "Microsoft.Authorization",
    "Microsoft.Storage",
];

fn canonical<'a>(seg: &str, table: &[&'a str]) -> Option<&'a str> {
    table.iter().copied().find(|w| w.eq_ignore_ascii_case(seg))
}

/// Returns the canonical path, or `None` if nothing changes (non-ARM paths are left alone).
pub fn normalize_path(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').collect();
    // segs[0] is "" for an absolute path.
    let first = segs.get(1)?;
    if !(first.eq_ignore_ascii_case("subscriptions") || first.eq_ignore_ascii_case("providers")) {
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(segs.len());
    out.push(String::new());
    let mut i = 1;
    let mut type_position = true;
    while i < segs.len() {
        let seg = segs[i];
        if type_position {
            let c = canonical(seg, TYPE_WORDS);
            out.push(c.unwrap_or(seg).to_string());
            if c == Some("providers") && i + 1 < segs.len() {
                let ns = segs[i + 1];
                out.push(canonical(ns, NAMESPACES).unwrap_or(ns).to_string());
                i += 2;
                continue;
            }
        } else {
            out.push(seg.to_string());
        }
        type_position = !type_position;
        i += 1;
    }
    let joined = out.join("/");
    (joined != path).then_some(joined)
}

/// Collapses runs of `/` into one, or `None` if there are none.
///
/// Azure clients build URLs as `{endpoint}{resourceId}`; the endpoint ends in `/` and the id starts
/// with one, so `//subscriptions/…` is what they really send. Only literal slashes collapse:
/// `%2F` stays encoded (a name segment can never turn into a separator) and dot segments are not
/// resolved (`..` stays a literal segment, which no route accepts), so collapsing cannot move a
/// request into another resource. Runs before routing, authentication and SAS checks, so all of
/// them see the same path.
pub fn collapse_slashes(path: &str) -> Option<String> {
    if !path.contains("//") {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    Some(out)
}

/// Rewrites the request URI in place (keeping the query): repeated slashes collapse, then ARM's
/// fixed segments get their canonical spelling.
pub fn normalize_request<B>(req: &mut axum::http::Request<B>) {
    let collapsed = collapse_slashes(req.uri().path());
    let path = collapsed.as_deref().unwrap_or(req.uri().path());
    let Some(path) = normalize_path(path).or(collapsed) else {
        return;
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{collapse_slashes, normalize_path};

    #[test]
    fn collapses_repeated_slashes_only() {
        assert_eq!(
            collapse_slashes("//subscriptions//s///x/").as_deref(),
            Some("/subscriptions/s/x/")
        );
        assert_eq!(collapse_slashes("/a/b"), None);
        // Encoded slashes and dot segments are left alone.
        assert_eq!(
            collapse_slashes("//w/A%2F%2F..//B").as_deref(),
            Some("/w/A%2F%2F../B")
        );
    }

    #[test]
    fn request_keeps_query_after_collapsing() {
        let mut req = axum::http::Request::builder()
            .uri("http://h//metadata//endpoints?api-version=1")
            .body(())
            .unwrap();
        super::normalize_request(&mut req);
        assert_eq!(req.uri().path(), "/metadata/endpoints");
        assert_eq!(req.uri().query(), Some("api-version=1"));
        let mut req = axum::http::Request::builder()
            .uri("//SUBSCRIPTIONS/s//resourcegroups/g")
            .body(())
            .unwrap();
        super::normalize_request(&mut req);
        assert_eq!(req.uri().path(), "/subscriptions/s/resourceGroups/g");
    }

    #[test]
    fn rewrites_type_positions_only() {
        assert_eq!(
            normalize_path("/SUBSCRIPTIONS/abc/resourcegroups/Workspaces/PROVIDERS/microsoft.quantum/WORKSPACES/Providers/LISTKEYS").as_deref(),
            Some("/subscriptions/abc/resourceGroups/Workspaces/providers/Microsoft.Quantum/workspaces/Providers/listKeys")
        );
        assert_eq!(
            normalize_path("/providers/microsoft.resourcegraph/RESOURCES").as_deref(),
            Some("/providers/Microsoft.ResourceGraph/resources")
        );
        assert_eq!(normalize_path("/subscriptions/abc"), None);
        assert_eq!(normalize_path("/adfs/oauth2/token"), None);
    }
}
