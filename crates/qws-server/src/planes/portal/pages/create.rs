//! Create a workspace: subscription, resource group (existing or new), name with a live
//! availability check, region, providers and SKUs from the offerings, storage account.

use super::super::api::{json_no_store, Plane, Portal, PortalError, ARM_API, QUANTUM_API};
use super::super::html::{self, esc, seg};
use super::home::region_options;
use super::workspace::respond;
use super::{bad_input, items, s};
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::Method;
use axum::response::Response;
use qws_core::names::{Location, ResourceGroupName, SubscriptionId, WorkspaceName};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET /portal/create`.
pub async fn form(portal: Portal, Query(q): Query<HashMap<String, String>>) -> Response {
    respond(async {
        let loc = q
            .get("location")
            .and_then(|l| Location::parse(l).ok())
            .map(|l| l.as_str().to_string())
            .unwrap_or_else(|| "eastus".into());
        let subs = portal
            .arm(&format!("/subscriptions?api-version={ARM_API}"))
            .await?;
        let mut sub_options = String::new();
        let mut groups = String::new();
        let mut first_sub = String::new();
        for sub in items(&subs) {
            let sid = s(sub, "subscriptionId");
            if first_sub.is_empty() {
                first_sub = sid.to_string();
            }
            sub_options.push_str(&format!(
                "<option value=\"{0}\">{1} ({0})</option>",
                esc(sid),
                esc(s(sub, "displayName"))
            ));
            let gs = portal
                .arm(&format!("/subscriptions/{}/resourceGroups?api-version={ARM_API}", seg(sid)))
                .await
                .unwrap_or_default();
            for g in items(&gs) {
                groups.push_str(&format!("<option value=\"{}\"></option>", esc(s(g, "name"))));
            }
        }
        let offerings = portal
            .arm(&format!(
                "/subscriptions/{}/providers/Microsoft.Quantum/locations/{loc}/offerings?api-version={QUANTUM_API}",
                seg(&first_sub)
            ))
            .await?;
        let mut providers = String::new();
        for o in items(&offerings) {
            let id = s(o, "id");
            let props = &o["properties"];
            for sku in props["skus"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let sku_id = s(sku, "id");
                let targets = sku["targets"]
                    .as_array()
                    .map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                let cb = format!("p-{}", id.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
                providers.push_str(&format!(
                    "<div class=\"check\"><input type=\"checkbox\" id=\"{cb}\" name=\"provider\" value=\"{v}\" checked>\
<label for=\"{cb}\">{name} <span class=\"hint\">({sku_id}; targets: {targets})</span></label></div>",
                    v = esc(&format!("{id}|{sku_id}")),
                    name = esc(s(o, "name")),
                    sku_id = esc(sku_id),
                    targets = esc(&targets),
                ));
            }
        }
        let main = format!(
            "<form class=\"card\" method=\"post\" action=\"/portal/create\" id=\"create-form\">{csrf}\
<label for=\"c-sub\">Subscription</label><select id=\"c-sub\" name=\"subscription\">{sub_options}</select>\
<label for=\"c-rg\">Resource group (an existing one, or a new name to create it)</label>\
<input id=\"c-rg\" name=\"resource_group\" list=\"c-rg-list\" required maxlength=\"90\"><datalist id=\"c-rg-list\">{groups}</datalist>\
<label for=\"c-name\">Workspace name</label>\
<input id=\"c-name\" name=\"name\" required maxlength=\"54\" autocomplete=\"off\" aria-describedby=\"c-name-status\" data-check=\"/portal/create/check-name\">\
<p id=\"c-name-status\" class=\"hint\" role=\"status\" aria-live=\"polite\"></p>\
<label for=\"c-loc\">Region</label><select id=\"c-loc\" name=\"location\">{regions}</select>\
<fieldset><legend>Providers</legend>{providers}</fieldset>\
<label for=\"c-storage\">Storage account (optional)</label><input id=\"c-storage\" name=\"storage_account\" maxlength=\"24\">\
<button type=\"submit\" class=\"primary\">Create workspace</button></form>",
            csrf = html::csrf_field(&portal.session.csrf),
            regions = region_options(&loc),
        );
        Ok(portal.page("Create a workspace", None, &main))
    })
    .await
}

/// `GET /portal/create/check-name?subscription&location&name`: the ARM name check, for the
/// form's live hint.
pub async fn check_name(portal: Portal, Query(q): Query<HashMap<String, String>>) -> Response {
    respond(async {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        let sub = SubscriptionId::parse(get("subscription")).map_err(|e| bad_input(e.to_string()))?;
        let loc = Location::parse(get("location")).map_err(|e| bad_input(e.to_string()))?;
        let answer = portal
            .json(
                Plane::Arm,
                Method::POST,
                &format!(
                    "/subscriptions/{sub}/providers/Microsoft.Quantum/locations/{}/checkNameAvailability?api-version={QUANTUM_API}",
                    loc.as_str()
                ),
                Some(&json!({"name": get("name"), "type": "Microsoft.Quantum/Workspaces"})),
            )
            .await?;
        Ok(json_no_store(&answer))
    })
    .await
}

/// `POST /portal/create`.
pub async fn submit(portal: Portal, body: Bytes) -> Response {
    let form_pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let form: HashMap<String, String> = form_pairs.iter().cloned().collect();
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let get = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
        let sub =
            SubscriptionId::parse(get("subscription")).map_err(|e| bad_input(e.to_string()))?;
        let rg = ResourceGroupName::parse(get("resource_group"))
            .map_err(|e| bad_input(e.to_string()))?;
        let name = WorkspaceName::parse(get("name")).map_err(|e| bad_input(e.to_string()))?;
        let loc = Location::parse(get("location")).map_err(|e| bad_input(e.to_string()))?;
        let providers: Vec<Value> = form_pairs
            .iter()
            .filter(|(k, _)| k == "provider")
            .filter_map(|(_, v)| v.split_once('|'))
            .map(|(id, sku)| json!({"providerId": id, "providerSku": sku}))
            .collect();
        let group = qws_core::resource_id::resource_group_id(&sub, &rg);
        // A new resource group name creates the group first (the portal's "Create new").
        let (status, _, _) = portal
            .send(
                Plane::Arm,
                Method::GET,
                &format!("{group}?api-version={ARM_API}"),
                None,
            )
            .await?;
        if status == axum::http::StatusCode::NOT_FOUND {
            portal
                .json(
                    Plane::Arm,
                    Method::PUT,
                    &format!("{group}?api-version={ARM_API}"),
                    Some(&json!({"location": loc.as_str()})),
                )
                .await?;
        }
        let mut properties = json!({"providers": providers});
        let storage = get("storage_account");
        if !storage.is_empty() {
            properties["storageAccount"] = json!(storage);
        }
        let ws = qws_core::resource_id::workspace_id(&sub, &rg, &name);
        portal
            .json(
                Plane::Arm,
                Method::PUT,
                &format!("{ws}?api-version={QUANTUM_API}"),
                Some(&json!({
                    "location": loc.as_str(),
                    "identity": {"type": "SystemAssigned"},
                    "properties": properties,
                })),
            )
            .await
            .map_err(|e| {
                PortalError::new(
                    e.status,
                    format!("The workspace was not created: {}", e.message),
                )
            })?;
        Ok(html::redirect(&format!(
            "/portal/ws/{}/{}/{}/overview?done=created",
            seg(&sub.to_string()),
            seg(rg.as_str()),
            seg(name.as_str())
        )))
    })
    .await
}
