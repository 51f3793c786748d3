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
    "suiteOffers",
    "jobs",
    "sessions",
    "providerStatus",
    "quotas",
    "topLevelItems",
    "storage",
    "roleAssignments",
    "roleDefinitions",
];

/// Canonical namespaces.
const NAMESPACES: &[&str] = &[
    "Microsoft.Quantum",
    "Microsoft.ResourceGraph",
    "Microsoft.Resources",
    "Microsoft.Authorization",
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

/// Rewrites the request URI in place (keeping the query).
pub fn normalize_request<B>(req: &mut axum::http::Request<B>) {
    let Some(path) = normalize_path(req.uri().path()) else {
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
    use super::normalize_path;

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
