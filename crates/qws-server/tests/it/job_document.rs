//! A job GET serves the stored document as the client sent it (only the three URIs are
//! replaced, by SAS minted for the reader), the same as the job list does, and the SAS it
//! serves are reused within a minute but never across a key regeneration.

use crate::common::dp::{Dp, BELL};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The URIs a served job document carries SAS in.
const SERVED_URIS: [&str; 3] = ["containerUri", "inputDataUri", "outputDataUri"];

/// The value of query parameter `name` in `url`.
fn param(url: &str, name: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    let v = u.query_pairs().find(|(k, _)| k == name);
    v.unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

/// Fields no one would expect a server to keep byte for byte.
fn unusual_fields() -> Value {
    json!({
        "target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
        "outputDataFormat": "ionq.quantum-results.v1", "inputParams": {"shots": 10},
        "metadata": {"nested": {"deeper": [1, {"x": null}, [true, false]], "empty": {}},
                     "unicode": "ключ → 量子 🧪", "escaped": "quote \" backslash \\ tab \t nl \n \u{1}",
                     "numbers": [0, -1, 18446744073709551615u64, -9223372036854775808i64,
                                 0.1, 1.5e-7, 1e300, -0.0]},
        "tags": ["a", "é"],
        "weird \"key\" \\ ключ": "value"
    })
}

#[tokio::test]
async fn a_job_get_serves_every_stored_field_unchanged_with_working_sas() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let fields = unusual_fields();
    let r = dp.submit_as("odd", BELL, fields.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(dp.wait("odd").await["status"], "Succeeded");

    let r = dp.get_job("odd").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let got: Value = r.json().await.unwrap();
    for (k, v) in fields.as_object().unwrap() {
        assert_eq!(&got[k], v, "{k}");
    }
    assert_eq!(got["id"], "odd");
    assert_eq!(got["name"], "odd");

    // The list renders the parsed document: the same members with the same values.
    let list: Value = dp
        .call(Method::GET, "/jobs", None)
        .await
        .json()
        .await
        .unwrap();
    let listed = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "odd")
        .expect("listed")
        .as_object()
        .unwrap();
    let got = got.as_object().unwrap();
    let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(got), keys(listed));
    for (k, v) in got {
        if SERVED_URIS.contains(&k.as_str()) {
            let (path, _) = v.as_str().unwrap().split_once('?').unwrap();
            let (listed_path, _) = listed[k].as_str().unwrap().split_once('?').unwrap();
            assert_eq!(path, listed_path, "{k}");
        } else {
            assert_eq!(v, &listed[k], "{k}");
        }
    }

    // The SAS work, each for what it names.
    let fetch = |u: String| {
        let req = t.http.get(u);
        async move { req.send().await.unwrap() }
    };
    let input = fetch(got["inputDataUri"].as_str().unwrap().into()).await;
    assert_eq!(input.text().await.unwrap(), BELL);
    let output = fetch(got["outputDataUri"].as_str().unwrap().into()).await;
    assert_eq!(output.status(), 200);
    let container = got["containerUri"].as_str().unwrap();
    let listing = fetch(format!("{container}&restype=container&comp=list")).await;
    assert_eq!(listing.status(), 200);
    assert_eq!(param(container, "sp"), "racwl");
    assert_eq!(param(got["outputDataUri"].as_str().unwrap(), "sp"), "r");
}

#[tokio::test]
async fn served_sas_last_a_day_are_reused_within_a_minute_and_follow_the_key() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "reuse").await;
    let dp = Dp::of(&t, "qws", "reuse").await;
    dp.submit("j1", BELL).await;
    assert_eq!(dp.wait("j1").await["status"], "Succeeded");
    let output = |v: &Value| v["outputDataUri"].as_str().unwrap().to_string();

    let before = time::OffsetDateTime::now_utc();
    let (a, b) = (dp.job("j1").await, dp.job("j1").await);
    let after = time::OffsetDateTime::now_utc();
    let (a, b) = (output(&a), output(&b));
    for u in [&a, &b] {
        let se = time::OffsetDateTime::parse(
            &param(u, "se"),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let day = time::Duration::hours(24);
        assert!(se > before + day - time::Duration::seconds(61), "{u}");
        assert!(se <= after + day, "{u}");
    }
    if param(&a, "se") == param(&b, "se") {
        assert_eq!(a, b, "the same expiry, the same SAS");
    }
    assert!(a.contains("&skoid=primary&skv=1&"), "{a}");

    let r = t
        .arm(
            Method::POST,
            &format!("{}/regenerateKey", t.ws_path("qws", "reuse")),
            Some(json!({"keys": ["Primary"]})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let get = |u: String| {
        let req = t.http.get(u);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(a.clone()).await, 403, "a SAS of the old key");
    let renewed = Dp::of(&t, "qws", "reuse").await;
    let fresh = output(&renewed.job("j1").await);
    assert!(fresh.contains("&skoid=primary&skv=2&"), "{fresh}");
    assert_ne!(param(&fresh, "sig"), param(&a, "sig"));
    assert_eq!(get(fresh).await, 200);
}
