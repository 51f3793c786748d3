//! `GET /openapi.json`: served without credentials; documents exactly the routes the server
//! routes (compared with the route table, and each documented operation requested from the
//! running server must reach a route rather than the not-found or method-not-allowed
//! answers); and is structurally valid OpenAPI 3.1 (it reads back as utoipa's typed model,
//! every `$ref` resolves, every path parameter is declared, operation ids are unique).

use crate::common::*;
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 6] = ["get", "put", "post", "patch", "delete", "head"];

async fn fetch_document(t: &TestServer) -> Value {
    // No credentials of any kind.
    let r = t
        .http
        .get(format!("{}/openapi.json", t.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    r.json().await.unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A concrete path for a template, with a plausible value for each parameter.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if s.starts_with('{') {
                match s {
                    "{sub}" => "00000000-0000-0000-0000-000000000001".to_string(),
                    "{id}" | "{name}" | "{member}" => {
                        "00000000-0000-0000-0000-000000000002".to_string()
                    }
                    "{loc}" => "eastus".to_string(),
                    _ => "probe".to_string(),
                }
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// True when the answer came from the router's fallbacks (nothing routed there).
async fn unrouted(r: reqwest::Response) -> bool {
    match r.status().as_u16() {
        405 => true,
        404 => {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            body["error"]["code"] == "NotFound"
                && body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("No HTTP resource was found"))
        }
        _ => false,
    }
}

async fn probe(t: &TestServer, method: &str, path: &str) -> reqwest::Response {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    t.http
        .request(
            m,
            format!("{}{}?api-version={V}", t.http_url(), concrete(path)),
        )
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_document_lists_exactly_the_routed_operations() {
    let t = TestServer::start().await;
    let doc = fetch_document(&t).await;
    assert_eq!(doc["openapi"], "3.1.0");

    let routed: BTreeSet<(String, String)> = qws_server::routes::route_table()
        .into_iter()
        .map(|d| (d.method.to_string(), d.path))
        .collect();
    assert!(routed.len() > 50, "the route table is the whole API");
    let documented = documented(&doc);
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed, not documented: {undocumented:#?}"
    );
    assert!(unserved.is_empty(), "documented, not routed: {unserved:#?}");

    // Each documented operation reaches a route of the running server (without credentials
    // it is refused there, but not with the router's not-found or method-not-allowed).
    for (method, path) in &documented {
        let r = probe(&t, method, path).await;
        assert!(
            !unrouted(r).await,
            "{method} {path} is documented but not routed"
        );
    }
    // The probe tells the difference: an invented path and an unserved method are unrouted.
    let sub = "/subscriptions/00000000-0000-0000-0000-000000000001";
    assert!(unrouted(probe(&t, "GET", &format!("{sub}/notARoute")).await).await);
    assert!(unrouted(probe(&t, "PATCH", "/subscriptions").await).await);
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let t = TestServer::start().await;
    let doc = fetch_document(&t).await;

    // It reads back as the typed OpenAPI model.
    let typed: utoipa::openapi::OpenApi = serde_path_to_error::deserialize(doc.clone())
        .unwrap_or_else(|e| panic!("not an OpenAPI document at {}: {e}", e.path()));
    assert!(typed.paths.paths.len() > 30);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    // Every reference resolves to a component.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.contains(&"#/components/schemas/ErrorResponse"));
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a local schema reference: {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }

    // The error shape is ARM's.
    let err = &doc["components"]["schemas"]["ErrorResponse"];
    assert_eq!(err["required"], serde_json::json!(["error"]));
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    for field in ["code", "message", "target", "details"] {
        assert!(
            detail["properties"].get(field).is_some(),
            "ErrorDetail.{field}"
        );
    }

    // Security schemes: the data plane's key header and bearer tokens.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["apiKey"]["type"], "apiKey");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "x-ms-quantum-api-key");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    let mut ids = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let id = op["operationId"].as_str().expect("an operationId");
            if let Some(other) = ids.insert(id.to_string(), format!("{m} {path}")) {
                panic!("operationId {id} on {other} and {m} {path}");
            }
            assert!(op["responses"]["default"].is_object(), "{m} {path}");
            assert!(op["security"].as_array().is_some_and(|s| !s.is_empty()));
            // Path parameters: exactly the template's, all required.
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let declared: BTreeSet<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{m} {path}"))
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_template: BTreeSet<&str> = qws_server::routes::openapi::path_params(path)
                .into_iter()
                .collect();
            assert_eq!(declared, in_template, "{m} {path}");
        }
    }

    // api-versions as query parameters, from the handlers' extractors.
    let ws = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}";
    let param = |m: &str, p: &str, name: &str| -> Value {
        doc["paths"][p][m]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{m} {p} has parameters"))
            .iter()
            .find(|x| x["name"] == name && x["in"] == "query")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let v = param("get", ws, "api-version");
    assert_eq!(v["required"], true);
    let versions: Vec<&str> = v["schema"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(versions, qws_server::api_version::QUANTUM_API_VERSIONS);
    assert_eq!(
        param("get", "/subscriptions", "api-version")["required"],
        true
    );
    let jobs = format!("{ws}/jobs");
    assert_eq!(param("get", &jobs, "api-version")["required"], false);
    assert!(param("get", &jobs, "top").is_object());

    // Submission documents its `Prefer: wait` header; nothing else takes it.
    let job = format!("{jobs}/{{id}}");
    let prefer = |m: &str| {
        doc["paths"][&job][m]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "Prefer" && x["in"] == "header")
    };
    assert!(prefer("put"), "{}", doc["paths"][&job]["put"]);
    assert!(!prefer("get"));

    // The data plane takes a key or a token; the management plane only a token.
    let security = |m: &str, p: &str| doc["paths"][p][m]["security"].to_string();
    assert!(security("get", &jobs).contains("apiKey"));
    assert!(security("get", &jobs).contains("bearer"));
    assert!(!security("get", ws).contains("apiKey"));

    // Declared bodies carry the model's schema.
    let body =
        &doc["paths"][ws]["get"]["responses"]["2XX"]["content"]["application/json"]["schema"];
    assert!(body["properties"]["properties"].is_object(), "{body}");
}

#[tokio::test]
async fn the_document_needs_no_credentials_even_when_others_would() {
    // A wrong key and a garbage token are not looked at: the description is public.
    let t = TestServer::start().await;
    let r = t
        .http
        .get(format!("{}/openapi.json", t.http_url()))
        .header("authorization", "Bearer not-a-token")
        .header("x-ms-quantum-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}
