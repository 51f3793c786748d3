//! Access keys: listKeys shapes, regenerate semantics, enable/disable, the data-plane key check
//! (primary / secondary / refused), audit records, and restart persistence.

use crate::common::*;
use qws_core::resource_id::WorkspaceId;
use qws_store::KeyCheck;
use reqwest::Method;
use serde_json::{json, Value};

fn key_of(v: &Value, slot: &str) -> String {
    v[slot]["key"].as_str().unwrap().to_string()
}

async fn check(t: &TestServer, ws: &str, key: &str) -> KeyCheck {
    let id = WorkspaceId::from_parts(&t.sub(), "qws", ws).unwrap();
    t.srv().state.check_api_key(&id, key).await.unwrap()
}

async fn set_enabled(t: &TestServer, ws: &str, enabled: bool) {
    // The CLI's `workspace update --enable-api-key`: GET, then PUT the whole object back.
    let p = t.ws_path("qws", ws);
    let mut w: Value = t.arm_get_json(&p).await;
    w["properties"]["apiKeyEnabled"] = json!(enabled);
    let r = t.arm(Method::PUT, &p, Some(w)).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn list_keys_shape_and_connection_strings() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "keys1").await;
    let v = t.list_keys("qws", "keys1").await;
    let obj = v.as_object().unwrap();
    let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "apiKeyEnabled",
            "primaryConnectionString",
            "primaryKey",
            "secondaryConnectionString",
            "secondaryKey"
        ]
    );
    assert_eq!(v["apiKeyEnabled"], true);
    for slot in ["primaryKey", "secondaryKey"] {
        let k = key_of(&v, slot);
        assert_eq!(k.len(), 86);
        assert_eq!(&k[76..80], "AZQU");
        assert!(k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let created = v[slot]["createdAt"].as_str().unwrap();
        assert!(time::OffsetDateTime::parse(
            created,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok());
        assert!(
            created.ends_with('Z') && !created.contains('.'),
            "{created}"
        );
        assert_eq!(v[slot].as_object().unwrap().len(), 2);
    }
    assert_ne!(key_of(&v, "primaryKey"), key_of(&v, "secondaryKey"));
    let endpoint = format!("{}/", t.http_url());
    assert_eq!(
        v["primaryConnectionString"],
        format!(
            "SubscriptionId={};ResourceGroupName=qws;WorkspaceName=keys1;ApiKey={};QuantumEndpoint={endpoint};",
            t.sub(),
            key_of(&v, "primaryKey")
        )
    );
    assert_eq!(
        v["secondaryConnectionString"],
        format!(
            "SubscriptionId={};ResourceGroupName=qws;WorkspaceName=keys1;ApiKey={};QuantumEndpoint={endpoint};",
            t.sub(),
            key_of(&v, "secondaryKey")
        )
    );
    // The connection string parses back with the SDK-side parser.
    let cs = qws_core::connection_string::ConnectionString::parse(
        v["primaryConnectionString"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(cs.api_key.expose(), key_of(&v, "primaryKey"));
    // bootstrap.json carries the dev workspace's primary connection string.
    let dev = t.list_keys("qws", "dev").await;
    assert_eq!(
        t.bootstrap["primaryConnectionString"],
        dev["primaryConnectionString"]
    );
}

#[tokio::test]
async fn key_check_primary_secondary_refused() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "kc1").await;
    t.create_workspace("qws", "kc2").await;
    let v = t.list_keys("qws", "kc1").await;
    let (p, s) = (key_of(&v, "primaryKey"), key_of(&v, "secondaryKey"));
    assert_eq!(check(&t, "kc1", &p).await, KeyCheck::Primary);
    assert_eq!(check(&t, "KC1", &s).await, KeyCheck::Secondary);
    assert_eq!(
        check(&t, "kc2", &p).await,
        KeyCheck::Refused,
        "another workspace's key"
    );
    assert_eq!(
        check(&t, "nope", &p).await,
        KeyCheck::Refused,
        "unknown workspace"
    );
    assert_eq!(check(&t, "kc1", "").await, KeyCheck::Refused);
    assert_eq!(
        check(&t, "kc1", &p[..85]).await,
        KeyCheck::Refused,
        "truncated"
    );
    assert_eq!(
        check(&t, "kc1", &format!("{p}A")).await,
        KeyCheck::Refused,
        "extended"
    );
    assert_eq!(
        check(&t, "kc1", &"x".repeat(5000)).await,
        KeyCheck::Refused,
        "oversized"
    );
    let mut flipped = p.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        check(&t, "kc1", &String::from_utf8(flipped).unwrap()).await,
        KeyCheck::Refused
    );
}

#[tokio::test]
async fn regenerate_replaces_only_the_named_key_and_the_old_one_stops_working() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "rg1ws").await;
    let path = format!("{}/regenerateKey", t.ws_path("qws", "rg1ws"));
    let before = t.list_keys("qws", "rg1ws").await;
    let (p0, s0) = (
        key_of(&before, "primaryKey"),
        key_of(&before, "secondaryKey"),
    );

    let r = t
        .arm(Method::POST, &path, Some(json!({"keys": ["Primary"]})))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().await.unwrap(), "");
    // Refused the moment the call returned.
    assert_eq!(check(&t, "rg1ws", &p0).await, KeyCheck::Refused);
    let after = t.list_keys("qws", "rg1ws").await;
    let p1 = key_of(&after, "primaryKey");
    assert_ne!(p1, p0);
    assert_eq!(key_of(&after, "secondaryKey"), s0);
    assert_eq!(check(&t, "rg1ws", &p1).await, KeyCheck::Primary);
    assert_eq!(check(&t, "rg1ws", &s0).await, KeyCheck::Secondary);

    assert_eq!(
        t.arm(Method::POST, &path, Some(json!({"keys": ["Secondary"]})))
            .await
            .status(),
        204
    );
    let after2 = t.list_keys("qws", "rg1ws").await;
    assert_eq!(key_of(&after2, "primaryKey"), p1);
    assert_ne!(key_of(&after2, "secondaryKey"), s0);
    assert_eq!(check(&t, "rg1ws", &s0).await, KeyCheck::Refused);

    assert_eq!(
        t.arm(
            Method::POST,
            &path,
            Some(json!({"keys": ["Primary", "Secondary"]}))
        )
        .await
        .status(),
        204
    );
    let after3 = t.list_keys("qws", "rg1ws").await;
    assert_ne!(key_of(&after3, "primaryKey"), p1);
    assert_ne!(
        key_of(&after3, "secondaryKey"),
        key_of(&after2, "secondaryKey")
    );

    let v = expect_error(
        t.arm(Method::POST, &path, Some(json!({"keys": ["primary"]})))
            .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "keys[0]");
    expect_error(
        t.arm(Method::POST, &path, Some(json!({"keys": []}))).await,
        400,
        "InvalidRequestContent",
    )
    .await;
    let v = expect_error(
        t.arm(Method::POST, &path, Some(json!({"keyType": "Primary"})))
            .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "keys");
}

#[tokio::test]
async fn disabled_keys_list_exactly_refuse_regenerate_and_re_enable_restores() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "dis1").await;
    let before = t.list_keys("qws", "dis1").await;
    let (p, s) = (
        key_of(&before, "primaryKey"),
        key_of(&before, "secondaryKey"),
    );
    set_enabled(&t, "dis1", false).await;

    let r = t
        .arm(
            Method::POST,
            &format!("{}/listKeys", t.ws_path("qws", "dis1")),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"apiKeyEnabled":false,"primaryConnectionString":"","secondaryConnectionString":""}"#
    );
    assert_eq!(check(&t, "dis1", &p).await, KeyCheck::Refused);
    assert_eq!(check(&t, "dis1", &s).await, KeyCheck::Refused);
    let w: Value = t.arm_get_json(&t.ws_path("qws", "dis1")).await;
    assert_eq!(w["properties"]["apiKeyEnabled"], false);

    let r = t
        .arm(
            Method::POST,
            &format!("{}/regenerateKey", t.ws_path("qws", "dis1")),
            Some(json!({"keys": ["Primary"]})),
        )
        .await;
    expect_error(r, 400, "ApiKeysDisabled").await;

    // A PUT without apiKeyEnabled keeps the current (disabled) setting.
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("qws", "dis1"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["properties"]["apiKeyEnabled"],
        false
    );

    set_enabled(&t, "dis1", true).await;
    let again = t.list_keys("qws", "dis1").await;
    assert_eq!(key_of(&again, "primaryKey"), p);
    assert_eq!(key_of(&again, "secondaryKey"), s);
    assert_eq!(check(&t, "dis1", &p).await, KeyCheck::Primary);

    let events: Vec<(String, String)> = t
        .audit_lines()
        .iter()
        .filter(|l| {
            l["target"]
                .as_str()
                .unwrap_or("")
                .ends_with("/workspaces/dis1")
        })
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "createWorkspace",
            "listKeys",
            "disableKeys",
            "listKeys",
            "regenerateKey",
            "enableKeys",
            "listKeys"
        ]
    );
    assert!(events[4].1.starts_with("refused"));
    for l in t.audit_lines() {
        assert_eq!(l["principal"], format!("app:{}", t.b("clientId")));
        assert_eq!(l["client"], "127.0.0.1");
    }
}

#[tokio::test]
async fn restart_reuses_bootstrap_and_keys() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "persist").await;
    let keys = t.list_keys("qws", "persist").await;
    let first = t.bootstrap.clone();
    let dir = t.stop().await;

    let t2 = TestServer::start_in(dir, |_| {}).await;
    assert!(!t2.srv().first_start);
    assert!(t2.srv().first_start_banner.is_none());
    for k in [
        "tenantId",
        "clientId",
        "clientSecret",
        "subscriptionId",
        "resourceGroup",
        "workspaceName",
        "location",
        "caFile",
        "identityHeader",
    ] {
        assert_eq!(t2.bootstrap[k], first[k], "{k}");
    }
    // bootstrap.json was rewritten with the newly bound addresses.
    assert_eq!(t2.b("httpsUrl"), t2.https_url());
    assert_eq!(t2.b("httpUrl"), t2.http_url());
    assert_eq!(
        t2.list_keys("qws", "persist").await["primaryKey"],
        keys["primaryKey"]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "bootstrap.json",
            "master.key",
            "tls-key.pem",
            "qws.db",
            "audit.log",
        ] {
            if f == "qws.db" && on_postgres() {
                continue;
            }
            let mode = std::fs::metadata(t2.data_dir().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} must not be readable by others");
        }
    }
    let _ = t2.stop().await;
}
