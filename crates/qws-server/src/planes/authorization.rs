//! ARM `Microsoft.Authorization`: role assignments and role definitions at any scope, as Azure
//! serves them to `az role …` and `azure-mgmt-authorization`.
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `{scope}/providers/Microsoft.Authorization/roleAssignments` | `$filter`: `atScope()`, `principalId eq '…'`, `assignedTo('…')`, joined by `and` |
//! | GET, PUT, DELETE | `{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}` | |
//! | GET | `{scope}/providers/Microsoft.Authorization/roleDefinitions` | `$filter`: `roleName eq '…'`, `type eq '…'`, `atScopeAndBelow()` |
//! | GET, PUT, DELETE | `{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}` | PUT/DELETE: custom roles only |
//!
//! `{scope}` is a subscription, a resource group or a resource in a resource group (a workspace,
//! a storage account, or one level below a resource); role definitions are also served at the
//! tenant root (`/providers/…`). The scope must exist: the subscription, the resource group, and
//! for a `Microsoft.Quantum/workspaces` scope the workspace. Other resource types are not stored
//! by qws, so only their resource group is checked.
//!
//! Every route needs a management bearer token and passes [`authorize`] with the
//! `Microsoft.Authorization/…` action at the scope; every change is audited before it is
//! answered.

use crate::api_version::{query_param_from_uri, ArmApiVersion};
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::{ArmJson, MAX_MGMT_BODY};
use crate::http::conn::ConnInfo;
use crate::routes::table::Routes;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::rbac::{actions, PrincipalType, RoleAssignment, RoleDefinition, Scope, ScopeKind};
use qws_store::identity::{AssignmentRequest, IdentityError};
use qws_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;

const PROVIDER: &str = "/providers/Microsoft.Authorization/";
const ASSIGNMENTS: &str = "roleAssignments";
const DEFINITIONS: &str = "roleDefinitions";

/// The scope prefixes routed, in canonical spelling (see [`crate::routes::normalize`]).
const SCOPES: &[&str] = &[
    "/subscriptions/{sub}",
    "/subscriptions/{sub}/resourceGroups/{rg}",
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}",
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}/{type2}/{name2}",
];

/// The `Microsoft.Authorization` routes.
pub fn router() -> Routes {
    let mut r = Routes::new();
    for scope in SCOPES {
        let one = format!("{scope}{PROVIDER}{ASSIGNMENTS}/{{assignment}}");
        r = r
            .get(&format!("{scope}{PROVIDER}{ASSIGNMENTS}"), list_assignments)
            .get(&one, get_assignment)
            .put(&one, put_assignment)
            .delete(&one, delete_assignment);
    }
    for scope in std::iter::once(&"").chain(SCOPES) {
        let one = format!("{scope}{PROVIDER}{DEFINITIONS}/{{definition}}");
        r = r
            .get(&format!("{scope}{PROVIDER}{DEFINITIONS}"), list_definitions)
            .get(&one, get_definition)
            .put(&one, put_definition)
            .delete(&one, delete_definition);
    }
    r.map_router(|r| r.layer(DefaultBodyLimit::max(MAX_MGMT_BODY)))
}

/// Reading role definitions: at the tenant root they are the same for everyone (built-in roles
/// and the custom roles assignable there), so every signed-in principal may read them, as on
/// Azure; at a subscription or below it is `roleDefinitions/read` there.
fn authorize_definitions_read(principal: &AuthenticatedPrincipal, scope: &Scope) -> ApiResult<()> {
    if scope.kind() == ScopeKind::Root {
        return Ok(());
    }
    authorize(principal, actions::ROLE_DEFINITIONS_READ, scope.as_str())
}

// ---- request path -----------------------------------------------------------------------------

/// The scope and the optional resource name of a `Microsoft.Authorization` path.
struct Target {
    scope: Scope,
    name: Option<String>,
}

/// Splits `{scope}/providers/Microsoft.Authorization/{type}[/{name}]` (already in canonical
/// spelling) into its scope and name; segments are percent-decoded.
fn target(uri: &Uri) -> ApiResult<Target> {
    let path = uri.path();
    let at = path
        .rfind(PROVIDER)
        .ok_or_else(|| ApiError::internal("authorization route", &"no provider segment"))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| invalid_scope("the path is not valid UTF-8"))
    };
    let scope_text = decode(&path[..at])?;
    let scope = if scope_text.is_empty() {
        Scope::root()
    } else {
        Scope::parse(&scope_text).map_err(|e| invalid_scope(&e.0))?
    };
    let rest = &path[at + PROVIDER.len()..];
    let name = match rest.split_once('/') {
        Some((_, n)) => Some(decode(n)?),
        None => None,
    };
    Ok(Target { scope, name })
}

fn invalid_scope(why: &str) -> ApiError {
    ApiError::bad_request("InvalidScope", why.to_string()).with_target("scope")
}

/// Checks that the objects the scope names exist: ARM answers for a missing subscription,
/// resource group or workspace before it looks at assignments.
pub(crate) async fn require_scope(state: &AppState, scope: &Scope) -> ApiResult<()> {
    let Some(sub) = scope.subscription_id() else {
        return Ok(());
    };
    let sub_id = qws_core::names::SubscriptionId::parse(sub)?;
    let key = sub_id;
    if state.db(move |s| s.get_subscription(&key)).await?.is_none() {
        return Err(ApiError::subscription_not_found(sub));
    }
    if scope.kind() == ScopeKind::Subscription {
        return Ok(());
    }
    let segs: Vec<String> = scope.as_str()[1..].split('/').map(str::to_string).collect();
    if segs.get(2).map(String::as_str) != Some("resourceGroups") {
        return Ok(());
    }
    let rg = segs[3].clone();
    let group = qws_core::resource_id::ResourceGroupId::parse(&sub_id.to_string(), &rg)?;
    crate::planes::mgmt::require_group(state, &group).await?;
    // …/resourceGroups/{rg}/providers/{ns}/{type}/{name}
    if segs.len() >= 8
        && segs[5].eq_ignore_ascii_case("Microsoft.Quantum")
        && segs[6].eq_ignore_ascii_case("workspaces")
    {
        let ws = segs[7].clone();
        let id = qws_core::resource_id::WorkspaceId::from_parts(&sub_id.to_string(), &rg, &ws)?;
        let found = state.db(move |s: &Store| s.get_workspace(&id)).await?;
        if found.is_none() {
            return Err(ApiError::workspace_not_found(&rg, &ws));
        }
    }
    Ok(())
}

/// Runs an identity-store call on the blocking pool; the outer error is the pool's, the inner
/// one the store's.
async fn identity<T, F>(state: &AppState, f: F) -> ApiResult<Result<T, IdentityError>>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, IdentityError> + Send + 'static,
{
    state.db(move |s| Ok(f(s))).await
}

/// The identity store's errors in ARM's words.
pub(crate) fn arm_error(e: IdentityError, tenant: &str) -> ApiError {
    match e {
        IdentityError::RoleDefinitionNotFound(id) => ApiError::bad_request(
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{id}' does not exist."),
        ),
        IdentityError::RoleNotAssignableAtScope { role, scope } => ApiError::bad_request(
            "InvalidRoleAssignmentScope",
            format!("The role definition '{role}' is not assignable at scope '{scope}': the scope is outside the role's assignable scopes."),
        ),
        IdentityError::AssignmentExists { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        ),
        IdentityError::AssignmentUpdateNotPermitted => ApiError::new(
            StatusCode::CONFLICT,
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        ),
        IdentityError::PrincipalNotFound(pid) => principal_not_found(&pid, tenant),
        IdentityError::RoleNameTaken(_) => ApiError::new(
            StatusCode::CONFLICT,
            "RoleDefinitionWithSameNameExists",
            "A custom role with the same name already exists in this directory. Use a different name.",
        ),
        IdentityError::BuiltInRole => ApiError::bad_request(
            "CannotModifyBuiltInRole",
            "Built-in role definitions cannot be created, changed or deleted.",
        ),
        IdentityError::RoleHasAssignments(n) => ApiError::new(
            StatusCode::CONFLICT,
            "RoleDefinitionHasAssignments",
            format!("There are {n} existing role assignment(s) referencing this role. Delete them before deleting the role."),
        ),
        IdentityError::Invalid(m) | IdentityError::LimitReached(m) => {
            ApiError::bad_request("InvalidRequestContent", m)
        }
        IdentityError::NotFound(what) => ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The {what} was not found."),
        ),
        IdentityError::Store(e) => e.into(),
        other => ApiError::internal("identity", &other),
    }
}

pub(crate) fn principal_not_found(pid: &str, tenant: &str) -> ApiError {
    ApiError::bad_request(
        "PrincipalNotFound",
        format!("Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID.", pid.replace('-', "")),
    )
}

fn guid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s)
        .ok()
        .filter(|_| s.len() == 36)
        .map(|u| u.to_string())
}

// ---- $filter ----------------------------------------------------------------------------------

/// The `$filter` clauses of the two list operations.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    at_scope: bool,
    at_scope_and_below: bool,
    principal_id: Option<String>,
    assigned_to: Option<String>,
    role_name: Option<String>,
    role_type: Option<String>,
}

/// Parses `clause [and clause]…`. Each clause may appear once; `allowed` lists the clause names
/// the operation supports (lower case).
fn parse_filter(f: &str, allowed: &[&str]) -> ApiResult<Filter> {
    let bad = |detail: &str| {
        ApiError::bad_request(
            "InvalidFilterInQueryString",
            format!(
                "The $filter '{}' is not supported: {detail}. Supported clauses: {}, joined by 'and'.",
                f.chars().take(200).collect::<String>(),
                allowed.join(", ")
            ),
        )
        .with_target("$filter")
    };
    let mut out = Filter::default();
    let mut rest = f.trim();
    while !rest.is_empty() {
        let lower = rest.to_ascii_lowercase();
        let (clause, value, len) = if lower.starts_with("atscope()") {
            ("atScope()", None, "atscope()".len())
        } else if lower.starts_with("atscopeandbelow()") {
            ("atScopeAndBelow()", None, "atscopeandbelow()".len())
        } else if let Some(after) = lower.strip_prefix("assignedto('") {
            let end = after
                .find("')")
                .ok_or_else(|| bad("unterminated assignedTo"))?;
            let start = "assignedto('".len();
            (
                "assignedTo()",
                Some(rest[start..start + end].to_string()),
                start + end + 2,
            )
        } else {
            // <field> eq '<value>'
            let (field, after) = rest.split_once(' ').ok_or_else(|| bad("expected 'eq'"))?;
            let after_trim = after.trim_start();
            if !after_trim
                .get(..3)
                .is_some_and(|op| op.eq_ignore_ascii_case("eq "))
            {
                return Err(bad("expected 'eq'"));
            }
            let quoted = after_trim[3..]
                .trim_start()
                .strip_prefix('\'')
                .ok_or_else(|| bad("values are quoted with '"))?;
            let end = quoted.find('\'').ok_or_else(|| bad("unterminated value"))?;
            let consumed = rest.len() - quoted.len() + end + 1;
            let name = match field.to_ascii_lowercase().as_str() {
                "principalid" => "principalId eq",
                "rolename" => "roleName eq",
                "type" => "type eq",
                _ => return Err(bad(&format!("unknown field '{field}'"))),
            };
            (name, Some(quoted[..end].to_string()), consumed)
        };
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(clause)) {
            return Err(bad(&format!("'{clause}' is not supported here")));
        }
        let slot_taken = match clause {
            "atScope()" => std::mem::replace(&mut out.at_scope, true),
            "atScopeAndBelow()" => std::mem::replace(&mut out.at_scope_and_below, true),
            "assignedTo()" => out.assigned_to.replace(value.unwrap_or_default()).is_some(),
            "principalId eq" => out
                .principal_id
                .replace(value.unwrap_or_default())
                .is_some(),
            "roleName eq" => out.role_name.replace(value.unwrap_or_default()).is_some(),
            _ => out.role_type.replace(value.unwrap_or_default()).is_some(),
        };
        if slot_taken {
            return Err(bad(&format!("'{clause}' appears twice")));
        }
        rest = rest[len..].trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .get(..4)
            .filter(|and| and.eq_ignore_ascii_case("and "))
            .map(|_| rest[4..].trim_start())
            .ok_or_else(|| bad("clauses are joined by 'and'"))?;
    }
    if out.principal_id.is_some() && out.assigned_to.is_some() {
        return Err(bad("use either principalId or assignedTo"));
    }
    for id in [&out.principal_id, &out.assigned_to].into_iter().flatten() {
        if guid(id).is_none() {
            return Err(bad(&format!("'{id}' is not an object id (a GUID)")));
        }
    }
    Ok(out)
}

// ---- role assignments -------------------------------------------------------------------------

fn assignment_name(t: &Target) -> ApiResult<String> {
    let name = t.name.as_deref().unwrap_or("");
    guid(name).ok_or_else(|| {
        ApiError::bad_request(
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{}' is not valid. The role assignment ID must be a GUID.",
                name.chars().take(100).collect::<String>()
            ),
        )
    })
}

fn assignment_not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RoleAssignmentNotFound",
        format!("The role assignment '{name}' is not found."),
    )
}

/// An assignment exists only at its own scope: the same name under another scope is not found.
fn at_scope(a: Option<RoleAssignment>, scope: &Scope) -> Option<RoleAssignment> {
    a.filter(|a| a.scope.key() == scope.key())
}

async fn list_assignments(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let t = target(&uri)?;
    let filter = match query_param_from_uri(&uri, "$filter") {
        Some(f) => parse_filter(&f, &["atScope()", "principalId eq", "assignedTo()"])?,
        None => Filter::default(),
    };
    require_scope(&state, &t.scope).await?;
    authorize(&principal, actions::ROLE_ASSIGNMENTS_READ, t.scope.as_str())?;
    let tenant = state.ids.tenant_id.clone();
    let scope = t.scope.clone();
    let found = identity(&state, move |s| {
        let id = s.identity();
        let mut list = if filter.at_scope {
            id.role_assignments_at_or_above(&scope)?
        } else {
            id.role_assignments_around(&scope)?
        };
        let of_principal = match (&filter.principal_id, &filter.assigned_to) {
            (Some(p), _) => Some(id.role_assignments_of_principal(p)?),
            (_, Some(p)) => Some(id.role_assignments_assigned_to(p)?),
            _ => None,
        };
        if let Some(keep) = of_principal {
            let names: HashSet<String> = keep.into_iter().map(|a| a.name).collect();
            list.retain(|a| names.contains(&a.name));
        }
        Ok(list)
    })
    .await?
    .map_err(|e| arm_error(e, &tenant))?;
    let value: Vec<Value> = found.iter().map(RoleAssignment::to_arm_json).collect();
    Ok(Json(json!({ "value": value })))
}

async fn get_assignment(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let t = target(&uri)?;
    let name = assignment_name(&t)?;
    require_scope(&state, &t.scope).await?;
    authorize(&principal, actions::ROLE_ASSIGNMENTS_READ, t.scope.as_str())?;
    let tenant = state.ids.tenant_id.clone();
    let n = name.clone();
    let found = identity(&state, move |s| s.identity().role_assignment(&n))
        .await?
        .map_err(|e| arm_error(e, &tenant))?;
    at_scope(found, &t.scope)
        .map(|a| Json(a.to_arm_json()))
        .ok_or_else(|| assignment_not_found(&name))
}

#[derive(Deserialize)]
struct AssignmentPut {
    properties: AssignmentProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentProperties {
    role_definition_id: String,
    principal_id: String,
    principal_type: Option<String>,
    description: Option<String>,
    condition: Option<String>,
}

async fn put_assignment(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    uri: Uri,
    ArmJson(body): ArmJson<AssignmentPut>,
) -> ApiResult<Response> {
    let t = target(&uri)?;
    let name = assignment_name(&t)?;
    let p = body.properties;
    // Conditions narrow an assignment; ignoring one would grant more than was asked for.
    if p.condition.as_deref().is_some_and(|c| !c.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "RoleAssignmentConditionNotSupported",
            "Role assignment conditions are not supported by this server; create the assignment without 'condition'.",
        )
        .with_target("properties.condition"));
    }
    if qws_core::rbac::parse_role_definition_id(&p.role_definition_id).is_none() {
        return Err(ApiError::bad_request(
            "InvalidRoleDefinitionId",
            format!(
                "The role definition ID '{}' is not valid.",
                p.role_definition_id.chars().take(300).collect::<String>()
            ),
        )
        .with_target("properties.roleDefinitionId"));
    }
    let tenant = state.ids.tenant_id.clone();
    let pid = guid(&p.principal_id).ok_or_else(|| {
        ApiError::bad_request(
            "InvalidPrincipalId",
            "A valid principal ID must be provided for role assignment.",
        )
        .with_target("properties.principalId")
    })?;
    let stated = match p.principal_type.as_deref() {
        None => None,
        Some(s) => Some(PrincipalType::parse(s).ok_or_else(|| {
            ApiError::invalid_content(
                "properties.principalType",
                format!(
                    "'{}' is not a principal type. Allowed values: User, Group, ServicePrincipal, ForeignGroup, Device.",
                    s.chars().take(40).collect::<String>()
                ),
            )
        })?),
    };
    require_scope(&state, &t.scope).await?;
    authorize(
        &principal,
        actions::ROLE_ASSIGNMENTS_WRITE,
        t.scope.as_str(),
    )?;
    let pid2 = pid.clone();
    let object = identity(&state, move |s| s.identity().object(&pid2))
        .await?
        .map_err(|e| arm_error(e, &tenant))?
        .ok_or_else(|| principal_not_found(&pid, &tenant))?;
    let actual = object.kind.principal_type();
    if let Some(stated) = stated.filter(|s| *s != actual) {
        return Err(ApiError::bad_request(
            "UnmatchedPrincipalType",
            format!(
                "The PrincipalId '{}' has type '{}' , which is different from specified PrincipalType '{}'.",
                pid.replace('-', ""),
                actual.as_str(),
                stated.as_str()
            ),
        ));
    }
    let actor = principal.principal.object_id.clone();
    let scope = t.scope.clone();
    let role = p.role_definition_id.clone();
    let description = p.description.clone();
    let n = name.clone();
    let outcome = identity(&state, move |s| {
        s.identity().put_role_assignment(AssignmentRequest {
            name: &n,
            scope: &scope,
            role_definition_id: &role,
            principal_id: &pid,
            principal_type: Some(actual),
            description: description.as_deref(),
            actor: Some(&actor),
        })
    })
    .await?;
    let (a, created) = outcome.map_err(|e| arm_error(e, &tenant))?;
    state.audit(
        &principal.audit_name(),
        crate::audit::AuditAction::RoleAssignmentWrite,
        &a.resource_id(),
        &format!(
            "success: role {} to {} {}",
            a.role_definition_id,
            a.principal_type.as_str(),
            a.principal_id
        ),
        conn.remote,
    )?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(a.to_arm_json())).into_response())
}

async fn delete_assignment(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    uri: Uri,
) -> ApiResult<Response> {
    let t = target(&uri)?;
    let name = assignment_name(&t)?;
    require_scope(&state, &t.scope).await?;
    authorize(
        &principal,
        actions::ROLE_ASSIGNMENTS_DELETE,
        t.scope.as_str(),
    )?;
    let tenant = state.ids.tenant_id.clone();
    let n = name.clone();
    let found = identity(&state, move |s| s.identity().role_assignment(&n))
        .await?
        .map_err(|e| arm_error(e, &tenant))?;
    // As ARM: deleting what is not there (at this scope) is 204, not an error.
    if at_scope(found, &t.scope).is_none() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let deleted = identity(&state, move |s| s.identity().delete_role_assignment(&name))
        .await?
        .map_err(|e| arm_error(e, &tenant))?;
    let Some(a) = deleted else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    state.audit(
        &principal.audit_name(),
        crate::audit::AuditAction::RoleAssignmentDelete,
        &a.resource_id(),
        &format!(
            "success: role {} from {} {}",
            a.role_definition_id,
            a.principal_type.as_str(),
            a.principal_id
        ),
        conn.remote,
    )?;
    Ok((StatusCode::OK, Json(a.to_arm_json())).into_response())
}

// ---- role definitions -------------------------------------------------------------------------

fn definition_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RoleDefinitionDoesNotExist",
        format!(
            "The specified role definition with ID '{}' does not exist.",
            id.chars().take(100).collect::<String>()
        ),
    )
}

fn definition_guid(t: &Target) -> ApiResult<String> {
    let raw = t.name.as_deref().unwrap_or("");
    guid(raw).ok_or_else(|| {
        ApiError::bad_request(
            "InvalidRoleDefinitionId",
            format!(
                "The role definition ID '{}' is not valid. The role definition ID must be a GUID.",
                raw.chars().take(100).collect::<String>()
            ),
        )
    })
}

/// A custom role is listed at a scope when it may be assigned there (one of its assignable
/// scopes is the scope or above it), or with `atScopeAndBelow()` also when it may be assigned
/// somewhere below. Built-in roles are assignable everywhere.
fn listed_at(r: &RoleDefinition, scope: &Scope, and_below: bool) -> bool {
    scope.kind() == ScopeKind::Root
        || r.is_assignable_at(scope)
        || (and_below
            && r.assignable_scopes
                .iter()
                .filter_map(|s| Scope::parse(s).ok())
                .any(|a| scope.contains(&a)))
}

async fn list_definitions(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let t = target(&uri)?;
    let filter = match query_param_from_uri(&uri, "$filter") {
        Some(f) => parse_filter(&f, &["roleName eq", "type eq", "atScopeAndBelow()"])?,
        None => Filter::default(),
    };
    require_scope(&state, &t.scope).await?;
    authorize_definitions_read(&principal, &t.scope)?;
    let tenant = state.ids.tenant_id.clone();
    let name = filter.role_name.clone();
    let all = identity(&state, move |s| {
        s.identity().role_definitions(name.as_deref())
    })
    .await?
    .map_err(|e| arm_error(e, &tenant))?;
    let sub = t.scope.subscription_id();
    let value: Vec<Value> = all
        .iter()
        .filter(|r| listed_at(r, &t.scope, filter.at_scope_and_below))
        .filter(|r| {
            filter
                .role_type
                .as_deref()
                .is_none_or(|ty| ty.eq_ignore_ascii_case(r.role_type.as_str()))
        })
        .map(|r| r.to_arm_json(sub))
        .collect();
    Ok(Json(json!({ "value": value })))
}

async fn get_definition(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let t = target(&uri)?;
    let id = definition_guid(&t)?;
    require_scope(&state, &t.scope).await?;
    authorize_definitions_read(&principal, &t.scope)?;
    let tenant = state.ids.tenant_id.clone();
    let id2 = id.clone();
    let found = identity(&state, move |s| s.identity().role_definition(&id2))
        .await?
        .map_err(|e| arm_error(e, &tenant))?
        .ok_or_else(|| definition_not_found(&id))?;
    Ok(Json(found.to_arm_json(t.scope.subscription_id())))
}

#[derive(Deserialize)]
struct DefinitionPut {
    properties: Value,
}

async fn put_definition(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    uri: Uri,
    ArmJson(body): ArmJson<DefinitionPut>,
) -> ApiResult<Response> {
    let t = target(&uri)?;
    let id = definition_guid(&t)?;
    let def = RoleDefinition::custom_from_properties(&id, &body.properties)
        .map_err(|m| ApiError::bad_request("InvalidRoleDefinition", m).with_target("properties"))?;
    require_scope(&state, &t.scope).await?;
    authorize(
        &principal,
        actions::ROLE_DEFINITIONS_WRITE,
        t.scope.as_str(),
    )?;
    let tenant = state.ids.tenant_id.clone();
    let actor = principal.principal.object_id.clone();
    let (saved, created) = identity(&state, move |s| {
        s.identity().put_custom_role(&def, Some(&actor))
    })
    .await?
    .map_err(|e| arm_error(e, &tenant))?;
    let body = saved.to_arm_json(t.scope.subscription_id());
    state.audit(
        &principal.audit_name(),
        crate::audit::AuditAction::RoleDefinitionWrite,
        body["id"].as_str().unwrap_or(""),
        &format!("success: custom role '{}'", saved.role_name),
        conn.remote,
    )?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

async fn delete_definition(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    uri: Uri,
) -> ApiResult<Response> {
    let t = target(&uri)?;
    let id = definition_guid(&t)?;
    require_scope(&state, &t.scope).await?;
    authorize(
        &principal,
        actions::ROLE_DEFINITIONS_DELETE,
        t.scope.as_str(),
    )?;
    let tenant = state.ids.tenant_id.clone();
    let deleted = identity(&state, move |s| s.identity().delete_custom_role(&id))
        .await?
        .map_err(|e| arm_error(e, &tenant))?;
    let Some(role) = deleted else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let body = role.to_arm_json(t.scope.subscription_id());
    state.audit(
        &principal.audit_name(),
        crate::audit::AuditAction::RoleDefinitionDelete,
        body["id"].as_str().unwrap_or(""),
        &format!("success: custom role '{}'", role.role_name),
        conn.remote,
    )?;
    Ok((StatusCode::OK, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::{parse_filter, target, Filter};
    use qws_core::rbac::ScopeKind;

    #[test]
    fn target_splits_scope_and_name_and_decodes_segments() {
        let sub = "00000000-0000-0000-0000-0000000000aa";
        let uri: axum::http::Uri = format!(
            "/subscriptions/{sub}/resourceGroups/my%28rg%29/providers/Microsoft.Authorization/roleAssignments/abc?api-version=1"
        )
        .parse()
        .unwrap();
        let t = target(&uri).unwrap();
        assert_eq!(
            t.scope.as_str(),
            format!("/subscriptions/{sub}/resourceGroups/my(rg)")
        );
        assert_eq!(t.name.as_deref(), Some("abc"));
        let root: axum::http::Uri = "/providers/Microsoft.Authorization/roleDefinitions"
            .parse()
            .unwrap();
        let t = target(&root).unwrap();
        assert_eq!(t.scope.kind(), ScopeKind::Root);
        assert_eq!(t.name, None);
        // A decoded space is not a valid scope segment.
        let bad: axum::http::Uri = format!(
            "/subscriptions/{sub}/resourceGroups/a%20b/providers/Microsoft.Authorization/roleAssignments"
        )
        .parse()
        .unwrap();
        assert_eq!(target(&bad).err().unwrap().code, "InvalidScope");
    }

    const ALL: &[&str] = &[
        "atScope()",
        "principalId eq",
        "assignedTo()",
        "roleName eq",
        "type eq",
        "atScopeAndBelow()",
    ];

    #[test]
    fn filters_parse_each_clause_and_combinations() {
        let p = "11111111-2222-3333-4444-555555555555";
        assert_eq!(
            parse_filter("atScope()", ALL).unwrap(),
            Filter {
                at_scope: true,
                ..Filter::default()
            }
        );
        let f = parse_filter(&format!("atScope() and assignedTo('{p}')"), ALL).unwrap();
        assert!(f.at_scope);
        assert_eq!(f.assigned_to.as_deref(), Some(p));
        let f = parse_filter(&format!("principalId eq '{p}'"), ALL).unwrap();
        assert_eq!(f.principal_id.as_deref(), Some(p));
        let f = parse_filter("roleName eq 'Quantum Workspace Data Contributor'", ALL).unwrap();
        assert_eq!(
            f.role_name.as_deref(),
            Some("Quantum Workspace Data Contributor")
        );
        for bad in [
            "atScope() or principalId eq 'x'",
            "principalId eq 'not-a-guid'",
            "name eq 'x'",
            "atScope() and atScope()",
            "assignedTo('11111111-2222-3333-4444-555555555555'",
            "roleName eq Reader",
        ] {
            assert!(parse_filter(bad, ALL).is_err(), "{bad}");
        }
        assert!(parse_filter("roleName eq 'Reader'", &["atScope()"]).is_err());
    }
}
