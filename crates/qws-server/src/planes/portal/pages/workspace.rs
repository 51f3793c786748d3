//! A workspace's blades: Overview (Essentials, tags, providers) and Access Keys, plus the
//! router of every workspace page ([`super::jobs`] and [`super::blades`] hold the others).

use super::super::api::{json_no_store, Plane, Portal, PortalError, ARM_API, QUANTUM_API};
use super::super::html::{self, esc, WsNav};
use super::{bad_input, s};
use crate::planes::mgmt::actions;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use qws_core::resource_id::WorkspaceId;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The workspace pages' routes.
pub fn router() -> Router<crate::state::AppState> {
    const W: &str = "/portal/ws/{sub}/{rg}/{ws}";
    Router::new()
        .route(&format!("{W}/overview"), get(overview))
        .route(&format!("{W}/tags"), post(set_tags))
        .route(&format!("{W}/keys"), get(keys_page))
        .route(&format!("{W}/keys/enabled"), post(set_keys_enabled))
        .route(&format!("{W}/keys/regenerate"), post(regenerate))
        .route(&format!("{W}/keys/reveal"), post(reveal))
        .route(&format!("{W}/providers"), get(super::blades::providers))
        .route(&format!("{W}/quotas"), get(super::blades::quotas))
        .route(&format!("{W}/iam"), get(super::blades::iam))
        .route(&format!("{W}/iam/add"), post(super::blades::iam_add))
        .route(&format!("{W}/iam/remove"), post(super::blades::iam_remove))
        .route(&format!("{W}/activity"), get(super::blades::activity))
        .route(&format!("{W}/jobs"), get(super::jobs::list))
        .route(&format!("{W}/jobs/{{id}}"), get(super::jobs::job))
        .route(
            &format!("{W}/jobs/{{id}}/cancel"),
            post(super::jobs::cancel),
        )
        .route(
            &format!("{W}/jobs/{{id}}/{{which}}"),
            get(super::jobs::download),
        )
}

/// The workspace a page is about.
pub struct Ws {
    /// Its validated id.
    pub id: WorkspaceId,
    /// Its ARM resource id (`/subscriptions/…/workspaces/{ws}`).
    pub arm: String,
    /// Link prefix of its pages.
    pub base: String,
}

impl Ws {
    /// From the route's `{sub}`, `{rg}`, `{ws}`.
    pub fn from_path(p: &HashMap<String, String>) -> Result<Ws, PortalError> {
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        let id = WorkspaceId::from_parts(get("sub"), get("rg"), get("ws"))
            .map_err(|e| bad_input(e.to_string()))?;
        let arm = id.to_id();
        let base = format!(
            "/portal/ws/{}/{}/{}",
            html::seg(&id.subscription.to_string()),
            html::seg(id.resource_group.as_str()),
            html::seg(id.workspace.as_str())
        );
        Ok(Ws { id, arm, base })
    }

    /// The navigation with `current` marked.
    pub fn nav<'a>(&'a self, current: &'a str) -> WsNav<'a> {
        WsNav {
            base: &self.base,
            name: self.id.workspace.as_str(),
            current,
        }
    }

    /// `{arm id}{suffix}?api-version=…` for Microsoft.Quantum.
    pub fn quantum(&self, suffix: &str) -> String {
        format!("{}{suffix}?api-version={QUANTUM_API}", self.arm)
    }
}

/// Runs a page body, turning a failure into a page that says why.
pub async fn respond<F>(f: F) -> Response
where
    F: std::future::Future<Output = Result<Response, PortalError>>,
{
    f.await.unwrap_or_else(IntoResponse::into_response)
}

fn done_notice(done: Option<&String>) -> String {
    let text = match done.map(String::as_str) {
        Some("tags") => "The tags were saved.",
        Some("keys-enabled") => "Access keys are enabled.",
        Some("keys-disabled") => "Access keys are disabled: clients using a key are refused.",
        Some("regenerated-primary") => {
            "The primary key was regenerated. The old primary key no longer works."
        }
        Some("regenerated-secondary") => {
            "The secondary key was regenerated. The old secondary key no longer works."
        }
        Some("created") => "The workspace was created.",
        Some("cancelled") => "Cancellation was requested.",
        Some("role-added") => "The role assignment was added.",
        Some("role-removed") => "The role assignment was removed.",
        _ => return String::new(),
    };
    html::notice("ok", text)
}

/// `GET …/overview`: Essentials.
async fn overview(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let w = portal.arm(&ws.quantum("")).await?;
        // Someone granted a role on the workspace alone may not read the subscription; its
        // name is then not shown.
        let sub = portal
            .arm(&format!(
                "/subscriptions/{}?api-version={ARM_API}",
                ws.id.subscription
            ))
            .await
            .unwrap_or_default();
        let props = &w["properties"];
        let tags = w["tags"].as_object().cloned().unwrap_or_default();
        let tag_text: String = tags
            .iter()
            .map(|(k, v)| format!("{k}={}\n", v.as_str().unwrap_or("")))
            .collect();
        let tag_list: String = if tags.is_empty() {
            "None".into()
        } else {
            tags.iter()
                .map(|(k, v)| format!("<span class=\"tag\">{} : {}</span> ", esc(k), esc(v.as_str().unwrap_or(""))))
                .collect()
        };
        let provider_rows: Vec<Vec<String>> = props["providers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|pr| {
                vec![
                    esc(s(pr, "providerId")),
                    esc(s(pr, "providerSku")),
                    esc(s(pr, "provisioningState")),
                ]
            })
            .collect();
        let providers = props["providers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|pr| esc(s(pr, "providerId")))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let status = props["provisioningState"].as_str().unwrap_or("");
        let essentials = [
            ("Resource group", esc(ws.id.resource_group.as_str())),
            ("Status", esc(status)),
            ("Location", esc(s(&w, "location"))),
            ("Subscription", esc(sub["displayName"].as_str().unwrap_or("—"))),
            ("Subscription ID", format!("<code>{}</code>", esc(&ws.id.subscription.to_string()))),
            ("Endpoint URI", format!("<code>{}</code>", esc(props["endpointUri"].as_str().unwrap_or("")))),
            ("Storage account", esc(props["storageAccount"].as_str().unwrap_or("None"))),
            ("Providers", providers),
            ("Tags", tag_list),
        ];
        let dl: String = essentials
            .iter()
            .map(|(k, v)| {
                let id = k.to_lowercase().replace(' ', "-");
                format!("<div><dt id=\"e-{id}\">{k}</dt><dd aria-labelledby=\"e-{id}\">{v}</dd></div>")
            })
            .collect();
        let main = format!(
            "{notice}<section aria-labelledby=\"h-ess\"><h2 id=\"h-ess\">Essentials</h2><dl class=\"essentials\">{dl}</dl></section>\
<section aria-labelledby=\"h-tags\"><h2 id=\"h-tags\">Edit tags</h2>\
<form class=\"card\" method=\"post\" action=\"{base}/tags\">{csrf}\
<label for=\"tags\">Tags (one <code>name=value</code> per line)</label>\
<textarea id=\"tags\" name=\"tags\" rows=\"4\">{tag_text}</textarea>\
<button type=\"submit\">Save tags</button></form></section>\
<section aria-labelledby=\"h-prov\"><h2 id=\"h-prov\">Providers</h2>{table}</section>",
            notice = done_notice(q.get("done")),
            base = esc(&ws.base),
            csrf = html::csrf_field(&portal.session.csrf),
            tag_text = esc(&tag_text),
            table = html::table("Providers of this workspace", &["Provider", "SKU", "State"], &provider_rows),
        );
        Ok(portal.page(&format!("{} · Overview", ws.id.workspace.as_str()), Some(&ws.nav("overview")), &main))
    })
    .await
}

/// Tags from the textarea: `name=value` lines (blank lines ignored).
fn parse_tags(text: &str) -> Result<Map<String, Value>, PortalError> {
    let mut tags = Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once('=').ok_or_else(|| {
            bad_input(format!(
                "The tag line '{line}' has no '=': write name=value."
            ))
        })?;
        tags.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(tags)
}

async fn set_tags(portal: Portal, Path(p): Path<HashMap<String, String>>, body: Bytes) -> Response {
    let form = super::super::parse_form(&body);
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let ws = Ws::from_path(&p)?;
        let tags = parse_tags(form.get("tags").map(String::as_str).unwrap_or(""))?;
        portal
            .json(
                Plane::Arm,
                Method::PATCH,
                &ws.quantum(""),
                Some(&json!({ "tags": tags })),
            )
            .await?;
        Ok(html::redirect(&format!("{}/overview?done=tags", ws.base)))
    })
    .await
}

/// The four values of the Access Keys blade: (API field, label, show/copy wording).
const KEY_VALUES: &[(&str, &str, &str)] = &[
    ("primaryKey", "Primary key", "primary key"),
    ("secondaryKey", "Secondary key", "secondary key"),
    (
        "primaryConnectionString",
        "Primary connection string",
        "primary connection string",
    ),
    (
        "secondaryConnectionString",
        "Secondary connection string",
        "secondary connection string",
    ),
];

fn unix_to_text(t: i64) -> String {
    qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(t))
}

/// A key slot, when its key was made, and when and from where it was last used.
type KeyTimes = (String, i64, Option<(i64, String)>);

/// `GET …/keys`: the Access Keys blade. The keys themselves are not in the page: the browser
/// asks [`reveal`] for them when a Show or Copy button is pressed.
async fn keys_page(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let w = portal.arm(&ws.quantum("")).await?;
        let enabled = w["properties"]["apiKeyEnabled"].as_bool().unwrap_or(true);
        let principal = portal.principal().await?;
        let may = |action: &str| crate::auth::authorize(&principal, action, &ws.arm).is_ok();
        let (may_list, may_regen, may_write) = (
            may(actions::LIST_KEYS),
            may(actions::REGENERATE_KEY),
            may(actions::WRITE),
        );
        let csrf = html::csrf_field(&portal.session.csrf);
        let mut main = done_notice(q.get("done"));
        main.push_str("<p>Clients can use an access key (or a connection string holding one) instead of signing in. Keep keys secret; regenerate a key if it may have leaked.</p>");
        let (checked, next, question) = if enabled {
            ("true", "false", "Disable access keys? Every client using a key or connection string of this workspace is refused at once.")
        } else {
            ("false", "true", "Enable access keys? Clients holding the current keys can use them again.")
        };
        let disabled = if may_write { "" } else { " disabled" };
        main.push_str(&format!(
            "<form id=\"keys-enabled-form\" method=\"post\" action=\"{base}/keys/enabled\" data-confirm=\"{question}\">{csrf}\
<input type=\"hidden\" name=\"enabled\" value=\"{next}\">\
<button type=\"submit\" class=\"switch\" role=\"switch\" aria-checked=\"{checked}\"{disabled}>\
<span class=\"track\" aria-hidden=\"true\"></span>Enable access keys</button></form>",
            base = esc(&ws.base),
            question = esc(question),
        ));
        if !may_write {
            main.push_str(&html::notice("info", "You can see this setting but not change it: changing it needs Microsoft.Quantum/Workspaces/write (for example the Contributor role)."));
        }
        if !may_list {
            main.push_str(&html::notice("info", "Your role does not allow listing this workspace's access keys (Microsoft.Quantum/Workspaces/listKeys/action, for example the Contributor role), so they are not shown."));
            return Ok(portal.page(&format!("{} · Access Keys", ws.id.workspace.as_str()), Some(&ws.nav("keys")), &main));
        }
        if !enabled {
            main.push_str(&html::notice("info", "Access keys are disabled: no key or connection string of this workspace is accepted."));
            return Ok(portal.page(&format!("{} · Access Keys", ws.id.workspace.as_str()), Some(&ws.nav("keys")), &main));
        }
        // When each key was last regenerated and last used (neither is secret: the keys
        // themselves stay in the store).
        let id = ws.id.clone();
        let created: Vec<KeyTimes> = portal
            .state
            .db(move |s| {
                let Some(rec) = s.get_workspace(&id)? else {
                    return Ok(Vec::new());
                };
                Ok(s.workspace_keys(&rec.uid)?
                    .keys
                    .iter()
                    .map(|k| {
                        let used = k.last_used.as_ref().map(|u| (u.at, u.from.clone()));
                        (k.slot.as_str().to_string(), k.created_at, used)
                    })
                    .collect())
            })
            .await
            .map_err(|e| PortalError::new(e.status, e.message))?;
        main.push_str(&format!(
            "<div class=\"keys\" data-reveal=\"{base}/keys/reveal\" data-csrf=\"{token}\">",
            base = esc(&ws.base),
            token = esc(&portal.session.csrf)
        ));
        for (field, label, words) in KEY_VALUES {
            let show = format!("<button type=\"button\" data-show=\"{field}\" aria-pressed=\"false\">Show<span class=\"vh\"> {words}</span></button>");
            main.push_str(&format!(
                "<div class=\"keyrow\"><label for=\"k-{field}\">{label}</label>\
<div class=\"keyval\"><input id=\"k-{field}\" type=\"password\" readonly autocomplete=\"off\" spellcheck=\"false\" value=\"\" placeholder=\"••••••••••••••••\" data-field=\"{field}\">\
{show}<button type=\"button\" data-copy=\"{field}\">Copy<span class=\"vh\"> {words}</span></button></div></div>"
            ));
        }
        main.push_str("<p class=\"copied\" role=\"status\" aria-live=\"polite\"></p></div>");
        // Beyond Azure: when each key was last accepted, so that an owner can rotate knowing
        // whether anything still uses it.
        main.push_str("<h2>Key usage</h2><dl class=\"keyuse\">");
        for (slot, _, used) in &created {
            let text = match used {
                Some((at, from)) => {
                    let when = unix_to_text(*at);
                    format!(
                        "<time datetime=\"{when}\">{when}</time> from {}",
                        esc(from)
                    )
                }
                None => "never".to_string(),
            };
            main.push_str(&format!(
                "<dt>{} key last used</dt><dd>{text}</dd>",
                esc(slot)
            ));
        }
        main.push_str("</dl>");
        if may_regen {
            main.push_str("<h2>Regenerate</h2><div class=\"regen\">");
            for (slot, words) in [("Primary", "primary"), ("Secondary", "secondary")] {
                let when = created
                    .iter()
                    .find(|(s, _, _)| s == slot)
                    .map(|(_, t, _)| unix_to_text(*t))
                    .unwrap_or_default();
                main.push_str(&format!(
                    "<form class=\"card\" method=\"post\" action=\"{base}/keys/regenerate\" data-confirm=\"Regenerate the {words} key? The old {words} key and its connection string stop working at once.\">{csrf}\
<input type=\"hidden\" name=\"key\" value=\"{slot}\"><p>{slot} key last regenerated: <time datetime=\"{when}\">{when}</time></p>\
<button type=\"submit\" class=\"danger\">Regenerate {words} key</button></form>",
                    base = esc(&ws.base),
                ));
            }
            main.push_str("</div>");
        }
        Ok(portal.page(&format!("{} · Access Keys", ws.id.workspace.as_str()), Some(&ws.nav("keys")), &main))
    })
    .await
}

/// `POST …/keys/reveal` (from the page's script, CSRF token in `X-CSRF-Token`): the four
/// values, through `listKeys` (so the API's authorization and audit apply), never cached.
async fn reveal(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    respond(async {
        portal.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
        let ws = Ws::from_path(&p)?;
        let keys = portal
            .json(Plane::Arm, Method::POST, &ws.quantum("/listKeys"), None)
            .await?;
        let pick = |k: &str| {
            keys[k]["key"]
                .as_str()
                .or_else(|| keys[k].as_str())
                .unwrap_or("")
                .to_string()
        };
        Ok(json_no_store(&json!({
            "primaryKey": pick("primaryKey"),
            "secondaryKey": pick("secondaryKey"),
            "primaryConnectionString": pick("primaryConnectionString"),
            "secondaryConnectionString": pick("secondaryConnectionString"),
        })))
    })
    .await
}

/// `POST …/keys/enabled`: the switch, as a full PUT of the workspace with `apiKeyEnabled`
/// changed (what `az quantum workspace keys update` sends).
async fn set_keys_enabled(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let form = super::super::parse_form(&body);
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let ws = Ws::from_path(&p)?;
        let enabled = match form.get("enabled").map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(bad_input("enabled must be true or false")),
        };
        let mut w = portal.arm(&ws.quantum("")).await?;
        w["properties"]["apiKeyEnabled"] = Value::Bool(enabled);
        let body = json!({
            "location": w["location"],
            "tags": w["tags"],
            "identity": w["identity"],
            "properties": w["properties"],
        });
        portal
            .json(Plane::Arm, Method::PUT, &ws.quantum(""), Some(&body))
            .await?;
        let done = if enabled {
            "keys-enabled"
        } else {
            "keys-disabled"
        };
        Ok(html::redirect(&format!("{}/keys?done={done}", ws.base)))
    })
    .await
}

/// `POST …/keys/regenerate`.
async fn regenerate(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let form = super::super::parse_form(&body);
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let ws = Ws::from_path(&p)?;
        let slot = match form.get("key").map(String::as_str) {
            Some("Primary") => "Primary",
            Some("Secondary") => "Secondary",
            _ => return Err(bad_input("key must be Primary or Secondary")),
        };
        portal
            .json(
                Plane::Arm,
                Method::POST,
                &ws.quantum("/regenerateKey"),
                Some(&json!({ "keys": [slot] })),
            )
            .await?;
        Ok(html::redirect(&format!(
            "{}/keys?done=regenerated-{}",
            ws.base,
            slot.to_lowercase()
        )))
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_name_value_lines() {
        let t = super::parse_tags("a=1\n\n b = two \n").unwrap();
        assert_eq!(t["a"], "1");
        assert_eq!(t["b"], "two");
        assert!(super::parse_tags("novalue").is_err());
    }
}
