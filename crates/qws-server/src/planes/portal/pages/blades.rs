//! The smaller workspace blades: Providers, Quotas, Access control (IAM), Activity log.

use super::super::api::{Plane, Portal, PortalError, AUTHZ_API, DATA_API};
use super::super::html::{self, esc};
use super::workspace::{respond, Ws};
use super::{bad_input, items, s};
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

/// `GET …/providers`: targets with availability, queue time and qubits.
pub async fn providers(portal: Portal, Path(p): Path<HashMap<String, String>>) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let status = portal
            .data(&format!("{}/providerStatus?api-version={DATA_API}", ws.arm))
            .await?;
        let mut rows = Vec::new();
        for pr in items(&status) {
            for t in pr["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let queue = t["averageQueueTime"]
                    .as_i64()
                    .map(|q| format!("{q} s"))
                    .unwrap_or_else(|| "—".into());
                let qubits = t["numQubits"]
                    .as_i64()
                    .map(|q| q.to_string())
                    .unwrap_or_else(|| "—".into());
                rows.push(vec![
                    esc(s(pr, "id")),
                    format!("<code>{}</code>", esc(s(t, "id"))),
                    esc(s(t, "currentAvailability")),
                    queue,
                    qubits,
                ]);
            }
        }
        let main = html::table(
            "Targets of this workspace's providers",
            &[
                "Provider",
                "Target",
                "Availability",
                "Average queue time",
                "Qubits",
            ],
            &rows,
        );
        Ok(portal.page(
            &format!("{} · Providers", ws.id.workspace.as_str()),
            Some(&ws.nav("providers")),
            &main,
        ))
    })
    .await
}

/// `GET …/quotas`: usage against limits.
pub async fn quotas(portal: Portal, Path(p): Path<HashMap<String, String>>) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let q = portal
            .data(&format!("{}/quotas?api-version={DATA_API}", ws.arm))
            .await?;
        let rows: Vec<Vec<String>> = items(&q)
            .iter()
            .map(|x| {
                let used = x["utilization"].as_f64().unwrap_or(0.0);
                let limit = x["limit"].as_f64().unwrap_or(0.0);
                let meter = if limit > 0.0 {
                    format!(
                        "<meter min=\"0\" max=\"{limit}\" value=\"{used}\" aria-label=\"{p} {d} used\">{used} of {limit}</meter> {pct:.0}%",
                        p = esc(s(x, "providerId")),
                        d = esc(s(x, "dimension")),
                        pct = used / limit * 100.0
                    )
                } else {
                    "—".into()
                };
                vec![
                    esc(s(x, "providerId")),
                    esc(s(x, "dimension")),
                    esc(s(x, "scope")),
                    esc(s(x, "period")),
                    format!("{used}"),
                    format!("{limit}"),
                    meter,
                ]
            })
            .collect();
        let main = html::table(
            "Quotas",
            &["Provider", "Dimension", "Scope", "Period", "Used", "Limit", "Usage"],
            &rows,
        );
        Ok(portal.page(
            &format!("{} · Quotas", ws.id.workspace.as_str()),
            Some(&ws.nav("quotas")),
            &main,
        ))
    })
    .await
}

fn assignments_path(ws: &Ws) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/roleAssignments",
        ws.arm
    )
}

/// The built-in role of a role definition id, by its GUID (the last segment).
fn role_name(definition_id: &str) -> String {
    let guid = definition_id.rsplit('/').next().unwrap_or("");
    qws_core::rbac::builtin_role(guid)
        .map(|r| r.role_name.clone())
        .unwrap_or_else(|| guid.to_string())
}

/// `GET …/iam`: role assignments here and inherited; add and remove.
pub async fn iam(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let list = portal
            .arm(&format!("{}?api-version={AUTHZ_API}", assignments_path(&ws)))
            .await?;
        let csrf = html::csrf_field(&portal.session.csrf);
        let principal_ids: Vec<String> = items(&list)
            .iter()
            .map(|a| s(&a["properties"], "principalId").to_string())
            .collect();
        // Display names from the directory (names only; who may see the list was decided by
        // the API above).
        let names: HashMap<String, String> = portal
            .state
            .db(move |st| {
                let id = st.identity();
                let mut m = HashMap::new();
                for pid in principal_ids {
                    if let Ok(Some(o)) = id.object(&pid) {
                        m.insert(pid, o.display_name);
                    }
                }
                Ok(m)
            })
            .await
            .unwrap_or_default();
        let here = ws.arm.to_lowercase();
        let mut rows = Vec::new();
        for a in items(&list) {
            let props = &a["properties"];
            let scope = s(props, "scope");
            // Assignments below the workspace (none exist today) are not this blade's.
            if !here.starts_with(&scope.to_lowercase()) {
                continue;
            }
            let pid = s(props, "principalId");
            let inherited = scope.to_lowercase() != here;
            let action = if inherited {
                "Inherited".to_string()
            } else {
                format!(
                    "<form method=\"post\" action=\"{base}/iam/remove\" data-confirm=\"Remove this role assignment?\">{csrf}\
<input type=\"hidden\" name=\"name\" value=\"{n}\"><button type=\"submit\" class=\"danger\" aria-label=\"Remove {role} from {who}\">Remove</button></form>",
                    base = esc(&ws.base),
                    n = esc(s(a, "name")),
                    role = esc(&role_name(s(props, "roleDefinitionId"))),
                    who = esc(names.get(pid).map(String::as_str).unwrap_or(pid)),
                )
            };
            rows.push(vec![
                esc(names.get(pid).map(String::as_str).unwrap_or("")),
                format!("<code>{}</code>", esc(pid)),
                esc(s(props, "principalType")),
                esc(&role_name(s(props, "roleDefinitionId"))),
                if inherited {
                    format!("<code>{}</code>", esc(scope))
                } else {
                    "This resource".into()
                },
                action,
            ]);
        }
        let roles = qws_core::rbac::builtin_roles();
        let options: String = roles
            .iter()
            .map(|r| format!("<option value=\"{}\">{}</option>", esc(&r.id), esc(&r.role_name)))
            .collect();
        let described: String = roles
            .iter()
            .map(|r| format!("<div><dt>{}</dt><dd>{}</dd></div>", esc(&r.role_name), esc(&r.description)))
            .collect();
        let notice = match q.get("done").map(String::as_str) {
            Some("role-added") => html::notice("ok", "The role assignment was added."),
            Some("role-removed") => html::notice("ok", "The role assignment was removed."),
            _ => String::new(),
        };
        let main = format!(
            "{notice}<section aria-labelledby=\"h-ra\"><h2 id=\"h-ra\">Role assignments</h2>{table}</section>\
<section aria-labelledby=\"h-add\"><h2 id=\"h-add\">Add a role assignment</h2>\
<form class=\"card\" method=\"post\" action=\"{base}/iam/add\">{csrf}\
<label for=\"ra-who\">User principal name or object id (user, group or service principal)</label><input id=\"ra-who\" name=\"principal\" required>\
<label for=\"ra-role\">Role</label><select id=\"ra-role\" name=\"role\">{options}</select>\
<button type=\"submit\">Add role assignment</button></form>\
<h3>Built-in roles</h3><dl class=\"roles\">{described}</dl></section>",
            table = html::table(
                "Role assignments at this workspace and inherited from above",
                &["Name", "Object ID", "Type", "Role", "Scope", "Actions"],
                &rows
            ),
            base = esc(&ws.base),
        );
        Ok(portal.page(
            &format!("{} · Access control (IAM)", ws.id.workspace.as_str()),
            Some(&ws.nav("iam")),
            &main,
        ))
    })
    .await
}

/// `POST …/iam/add`.
pub async fn iam_add(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let form = super::super::parse_form(&body);
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let ws = Ws::from_path(&p)?;
        let who = form
            .get("principal")
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        let role = form.get("role").cloned().unwrap_or_default();
        if qws_core::rbac::builtin_role(&role).is_none() {
            return Err(bad_input("Choose one of the built-in roles."));
        }
        // A user principal name is looked up; anything else must be an object id.
        let oid = if who.contains('@') {
            let tid = portal.user.tenant_id.clone();
            let upn = who.clone();
            portal
                .state
                .db(move |st| {
                    st.identity()
                        .user_by_upn(&tid, &upn)
                        .map_err(qws_store::StoreError::from)
                })
                .await
                .map_err(|e| PortalError::new(e.status, e.message))?
                .map(|u| u.object_id)
                .ok_or_else(|| bad_input(format!("No user is named '{who}'.")))?
        } else {
            uuid::Uuid::parse_str(&who)
                .map_err(|_| bad_input("Enter a user principal name or an object id (a GUID)."))?
                .to_string()
        };
        let name = uuid::Uuid::new_v4();
        let definition = format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            ws.id.subscription
        );
        portal
            .json(
                Plane::Arm,
                Method::PUT,
                &format!("{}/{name}?api-version={AUTHZ_API}", assignments_path(&ws)),
                Some(&json!({"properties": {"roleDefinitionId": definition, "principalId": oid}})),
            )
            .await?;
        Ok(html::redirect(&format!("{}/iam?done=role-added", ws.base)))
    })
    .await
}

/// `POST …/iam/remove`.
pub async fn iam_remove(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let form = super::super::parse_form(&body);
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let ws = Ws::from_path(&p)?;
        let name = uuid::Uuid::parse_str(form.get("name").map(String::as_str).unwrap_or(""))
            .map_err(|_| bad_input("No such role assignment."))?;
        portal
            .json(
                Plane::Arm,
                Method::DELETE,
                &format!("{}/{name}?api-version={AUTHZ_API}", assignments_path(&ws)),
                None,
            )
            .await?;
        Ok(html::redirect(&format!(
            "{}/iam?done=role-removed",
            ws.base
        )))
    })
    .await
}

/// How much of the end of audit.log the Activity log reads.
const ACTIVITY_TAIL: u64 = 4 * 1024 * 1024;
/// Entries shown.
const ACTIVITY_ROWS: usize = 200;

/// The newest audit entries whose target is this workspace (or below it), newest first.
fn activity_of(path: &std::path::Path, scope: &str) -> std::io::Result<Vec<Value>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(ACTIVITY_TAIL);
    f.seek(SeekFrom::Start(start))?;
    let mut text = String::new();
    f.take(ACTIVITY_TAIL).read_to_string(&mut text)?;
    let scope = scope.to_lowercase();
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // a partial line
    }
    Ok(lines
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            let t = e["target"].as_str().unwrap_or("").to_lowercase();
            t == scope || t.starts_with(&format!("{scope}/"))
        })
        .take(ACTIVITY_ROWS)
        .collect())
}

/// `GET …/activity`: the audit entries for this workspace (who, what, when, from where).
pub async fn activity(portal: Portal, Path(p): Path<HashMap<String, String>>) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        // Whoever may read the workspace may read its activity: asked of the API itself.
        portal.arm(&ws.quantum("")).await?;
        let path = portal.state.audit.path().to_path_buf();
        let scope = ws.arm.clone();
        let entries = tokio::task::spawn_blocking(move || activity_of(&path, &scope))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    esc(s(e, "time")),
                    esc(s(e, "principal")),
                    esc(s(e, "action")),
                    esc(s(e, "outcome")),
                    esc(s(e, "client")),
                ]
            })
            .collect();
        let main = format!(
            "<p>Security-relevant operations on this workspace, newest first (at most {ACTIVITY_ROWS}).</p>{}",
            html::table("Activity log", &["Time (UTC)", "Who", "What", "Outcome", "From"], &rows)
        );
        Ok(portal.page(
            &format!("{} · Activity log", ws.id.workspace.as_str()),
            Some(&ws.nav("activity")),
            &main,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn activity_keeps_this_workspace_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let ws = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Quantum/workspaces/w";
        let lines = [
            format!(r#"{{"time":"1","target":"{ws}","action":"listKeys"}}"#),
            format!(r#"{{"time":"2","target":"{ws}2","action":"listKeys"}}"#),
            format!(
                r#"{{"time":"3","target":"{}","action":"regenerateKey"}}"#,
                ws.to_uppercase()
            ),
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let got = super::activity_of(&path, ws).unwrap();
        let times: Vec<&str> = got.iter().map(|e| e["time"].as_str().unwrap()).collect();
        assert_eq!(times, ["3", "1"]);
    }

    #[test]
    fn role_names_come_from_the_builtin_roles() {
        assert_eq!(
            super::role_name("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"),
            "Reader"
        );
    }
}
