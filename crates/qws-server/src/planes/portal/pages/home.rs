//! Home: the user's subscriptions, resource groups and workspaces, with search; create and
//! delete resource groups.

use super::super::api::{Plane, Portal, PortalError, ARM_API, QUANTUM_API};
use super::super::html::{self, esc, seg};
use super::{bad_input, items, s};
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use qws_core::names::{Location, ResourceGroupName, SubscriptionId};
use qws_core::resource_id;
use serde_json::json;
use std::collections::HashMap;

/// Regions offered in the portal's forms.
pub const REGIONS: &[&str] = &[
    "eastus",
    "westus",
    "westus2",
    "westcentralus",
    "northeurope",
    "westeurope",
    "uksouth",
    "japaneast",
    "japanwest",
    "australiaeast",
];

/// `<option>`s of the regions, `selected` preselected.
pub fn region_options(selected: &str) -> String {
    REGIONS
        .iter()
        .map(|r| {
            let sel = if *r == selected { " selected" } else { "" };
            format!("<option value=\"{r}\"{sel}>{r}</option>")
        })
        .collect()
}

fn matches(q: &str, text: &str) -> bool {
    q.is_empty() || text.to_lowercase().contains(&q.to_lowercase())
}

/// Link to a workspace's overview, from its ARM id.
pub fn workspace_link(id: &str, name: &str) -> String {
    match qws_core::resource_id::WorkspaceId::parse(id) {
        Ok(w) => format!(
            "<a href=\"/portal/ws/{}/{}/{}/overview\">{}</a>",
            seg(&w.subscription.to_string()),
            seg(w.resource_group.as_str()),
            seg(w.workspace.as_str()),
            esc(name)
        ),
        Err(_) => esc(name),
    }
}

/// `GET /portal/`.
pub async fn home(portal: Portal, Query(q): Query<HashMap<String, String>>) -> Response {
    match render(
        &portal,
        q.get("q").map(String::as_str).unwrap_or("").trim(),
        q.get("done"),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn render(portal: &Portal, q: &str, done: Option<&String>) -> Result<Response, PortalError> {
    let subs = portal
        .arm(&format!("/subscriptions?api-version={ARM_API}"))
        .await?;
    let csrf = html::csrf_field(&portal.session.csrf);
    let mut sub_rows = Vec::new();
    let mut group_rows = Vec::new();
    let mut ws_rows = Vec::new();
    let mut sub_options = String::new();
    for sub in items(&subs) {
        let sid = s(sub, "subscriptionId");
        let name = s(sub, "displayName");
        sub_options.push_str(&format!(
            "<option value=\"{0}\">{1} ({0})</option>",
            esc(sid),
            esc(name)
        ));
        if matches(q, name) || matches(q, sid) {
            sub_rows.push(vec![esc(name), format!("<code>{}</code>", esc(sid))]);
        }
        let groups = portal
            .arm(&format!(
                "/subscriptions/{}/resourceGroups?api-version={ARM_API}",
                seg(sid)
            ))
            .await
            .unwrap_or_default();
        for g in items(&groups) {
            let gname = s(g, "name");
            if !matches(q, gname) {
                continue;
            }
            group_rows.push(vec![
                esc(gname),
                esc(s(g, "location")),
                esc(name),
                format!(
                    "<form method=\"post\" action=\"/portal/groups/delete\" data-confirm=\"Delete the resource group {g} and every workspace in it? This cannot be undone.\">{csrf}\
<input type=\"hidden\" name=\"subscription\" value=\"{sid}\"><input type=\"hidden\" name=\"name\" value=\"{g}\">\
<button type=\"submit\" class=\"danger\" aria-label=\"Delete resource group {g}\">Delete</button></form>",
                    g = esc(gname),
                    sid = esc(sid),
                ),
            ]);
        }
        let wss = portal
            .arm(&format!(
                "/subscriptions/{}/providers/Microsoft.Quantum/workspaces?api-version={QUANTUM_API}",
                seg(sid)
            ))
            .await
            .unwrap_or_default();
        for w in items(&wss) {
            let wname = s(w, "name");
            let id = s(w, "id");
            let rg = qws_core::resource_id::WorkspaceId::parse(id)
                .map(|p| p.resource_group.as_str().to_string())
                .unwrap_or_default();
            if !(matches(q, wname) || matches(q, &rg)) {
                continue;
            }
            ws_rows.push(vec![
                workspace_link(id, wname),
                esc(&rg),
                esc(s(w, "location")),
                esc(w["properties"]["provisioningState"].as_str().unwrap_or("")),
            ]);
        }
    }
    let notice = match done.map(String::as_str) {
        Some("group-created") => html::notice("ok", "The resource group was created."),
        Some("group-deleted") => html::notice("ok", "The resource group was deleted."),
        _ => String::new(),
    };
    let main = format!(
        "{notice}<form class=\"search\" role=\"search\" method=\"get\" action=\"/portal/\">\
<label for=\"q\">Search resources</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{q}\">\
<button type=\"submit\">Search</button></form>\
<p><a class=\"button primary\" href=\"/portal/create\">Create a workspace</a></p>\
<section aria-labelledby=\"h-ws\"><h2 id=\"h-ws\">Quantum workspaces</h2>{ws}</section>\
<section aria-labelledby=\"h-rg\"><h2 id=\"h-rg\">Resource groups</h2>{rg}\
<form class=\"card inline\" method=\"post\" action=\"/portal/groups\">{csrf}\
<h3>Create a resource group</h3>\
<label for=\"rg-sub\">Subscription</label><select id=\"rg-sub\" name=\"subscription\">{sub_options}</select>\
<label for=\"rg-name\">Resource group name</label><input id=\"rg-name\" name=\"name\" required maxlength=\"90\">\
<label for=\"rg-loc\">Region</label><select id=\"rg-loc\" name=\"location\">{regions}</select>\
<button type=\"submit\">Create resource group</button></form></section>\
<section aria-labelledby=\"h-sub\"><h2 id=\"h-sub\">Subscriptions</h2>{subs}</section>",
        q = esc(q),
        ws = html::table("Workspaces", &["Name", "Resource group", "Location", "Status"], &ws_rows),
        rg = html::table("Resource groups", &["Name", "Location", "Subscription", "Actions"], &group_rows),
        subs = html::table("Subscriptions", &["Name", "Subscription ID"], &sub_rows),
        regions = region_options("eastus"),
    );
    Ok(portal.page("Home", None, &main))
}

fn group_path(form: &HashMap<String, String>) -> Result<String, PortalError> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let sub = SubscriptionId::parse(field("subscription")).map_err(|e| bad_input(e.to_string()))?;
    let rg = ResourceGroupName::parse(field("name")).map_err(|e| bad_input(e.to_string()))?;
    Ok(resource_id::resource_group_id(&sub, &rg))
}

/// `POST /portal/groups`: creates a resource group.
pub async fn create_group(portal: Portal, body: Bytes) -> Response {
    let form = super::super::parse_form(&body);
    let result = async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let path = group_path(&form)?;
        let loc = Location::parse(form.get("location").map(String::as_str).unwrap_or(""))
            .map_err(|e| bad_input(e.to_string()))?;
        portal
            .json(
                Plane::Arm,
                Method::PUT,
                &format!("{path}?api-version={ARM_API}"),
                Some(&json!({"location": loc.as_str()})),
            )
            .await?;
        Ok::<_, PortalError>(html::redirect("/portal/?done=group-created"))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /portal/groups/delete`: deletes a resource group (and its workspaces).
pub async fn delete_group(portal: Portal, body: Bytes) -> Response {
    let form = super::super::parse_form(&body);
    let result = async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let path = group_path(&form)?;
        portal
            .json(
                Plane::Arm,
                Method::DELETE,
                &format!("{path}?api-version={ARM_API}"),
                None,
            )
            .await?;
        Ok::<_, PortalError>(html::redirect("/portal/?done=group-deleted"))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}
