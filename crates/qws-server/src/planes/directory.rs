//! qws's directory administration API: users, service principals (with client secrets) and
//! groups, under `/qws/directory/…`. Objects are shaped like Microsoft Graph's (`id`,
//! `userPrincipalName`, `displayName`, `appId`, `passwordCredentials`, …) so the fields read
//! familiar, but the routes are qws's own; errors are ARM `ErrorResponse`s.
//!
//! Every route needs a management bearer token of the administrator (until role-based
//! enforcement reaches the directory), and every change is audited before it is answered. A
//! client secret appears in exactly one response, the one that created it (`secretText`), and
//! never in logs or audit records.
//!
//! | method | path |
//! |---|---|
//! | GET, POST | `/qws/directory/users` |
//! | GET, PATCH, DELETE | `/qws/directory/users/{object id or userPrincipalName}` |
//! | GET, POST | `/qws/directory/servicePrincipals` |
//! | GET, PATCH, DELETE | `/qws/directory/servicePrincipals/{object id or appId}` |
//! | POST | `/qws/directory/servicePrincipals/{id}/addPassword` |
//! | POST | `/qws/directory/servicePrincipals/{id}/resetPassword` (replaces every secret) |
//! | POST | `/qws/directory/servicePrincipals/{id}/removePassword` |
//! | GET, POST | `/qws/directory/groups` |
//! | GET, DELETE | `/qws/directory/groups/{id}` |
//! | GET, POST | `/qws/directory/groups/{id}/members` |
//! | DELETE | `/qws/directory/groups/{id}/members/{member id}` |

use crate::auth::AuthenticatedPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::http::body::{ArmJson, MAX_MGMT_BODY};
use crate::http::conn::ConnInfo;
use crate::routes::table::Routes;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_store::identity::{
    Group, GroupMember, IdentityError, NewSecret, NewUser, ObjectKind, SecretInfo,
    ServicePrincipal, User,
};
use qws_store::Store;
use serde::Deserialize;
use serde_json::{json, Value};

/// Path prefix of the directory API.
pub const PREFIX: &str = "/qws/directory";

/// Default lifetime of a client secret without `endDateTime`: one year, as `az` uses.
pub const DEFAULT_SECRET_LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// The directory routes.
pub fn router() -> Routes {
    let path = |p: &str| format!("{PREFIX}{p}");
    Routes::new()
        .get(&path("/users"), list_users)
        .post(&path("/users"), create_user)
        .get(&path("/users/{id}"), get_user)
        .patch(&path("/users/{id}"), update_user)
        .delete(&path("/users/{id}"), delete_user)
        .get(&path("/servicePrincipals"), list_sps)
        .post(&path("/servicePrincipals"), create_sp)
        .get(&path("/servicePrincipals/{id}"), get_sp)
        .patch(&path("/servicePrincipals/{id}"), update_sp)
        .delete(&path("/servicePrincipals/{id}"), delete_sp)
        .post(&path("/servicePrincipals/{id}/addPassword"), add_password)
        .post(
            &path("/servicePrincipals/{id}/resetPassword"),
            reset_password,
        )
        .post(
            &path("/servicePrincipals/{id}/removePassword"),
            remove_password,
        )
        .get(&path("/groups"), list_groups)
        .post(&path("/groups"), create_group)
        .get(&path("/groups/{id}"), get_group)
        .delete(&path("/groups/{id}"), delete_group)
        .get(&path("/groups/{id}/members"), list_members)
        .post(&path("/groups/{id}/members"), add_member)
        .delete(&path("/groups/{id}/members/{member}"), remove_member)
        .map_router(|r| r.layer(DefaultBodyLimit::max(MAX_MGMT_BODY)))
}

// ---- plumbing ---------------------------------------------------------------------------------

/// Directory administration is the administrator's until role-based enforcement covers it.
/// The action qws checks for a directory operation (`entra_action`, Entra's name, which the audit
/// log keeps). The directory is tenant-wide, so the decision is made at the default
/// subscription's scope, and the actions are qws's own under `Microsoft.Authorization`, where
/// Azure's roles already say who manages access: reading needs
/// [`DIRECTORY_READ`] (`*/read`: Reader and above), changing principals and groups needs
/// [`DIRECTORY_WRITE`] / [`DIRECTORY_DELETE`], and secrets [`DIRECTORY_CREDENTIALS`] — Owner and
/// User Access Administrator, never Contributor, whose `notActions` exclude
/// `Microsoft.Authorization/*/Write` and `*/Delete`.
fn directory_action(entra_action: &str) -> &'static str {
    if entra_action.contains("/credentials/") {
        DIRECTORY_CREDENTIALS
    } else if entra_action.ends_with("/read") {
        DIRECTORY_READ
    } else if entra_action.ends_with("/delete") && !entra_action.contains("/members/") {
        DIRECTORY_DELETE
    } else {
        DIRECTORY_WRITE
    }
}

/// Reading users, service principals, groups and members.
pub const DIRECTORY_READ: &str = "Microsoft.Authorization/directoryObjects/read";
/// Creating and changing users, service principals, groups and memberships.
pub const DIRECTORY_WRITE: &str = "Microsoft.Authorization/directoryObjects/write";
/// Deleting users, service principals and groups.
pub const DIRECTORY_DELETE: &str = "Microsoft.Authorization/directoryObjects/delete";
/// Adding, resetting and removing service principals' secrets.
pub const DIRECTORY_CREDENTIALS: &str =
    "Microsoft.Authorization/servicePrincipals/credentials/write";

/// Authorizes a directory operation through [`crate::auth::authorize`] (the bootstrap
/// administrator may do everything).
fn require_access(
    state: &AppState,
    p: &AuthenticatedPrincipal,
    entra_action: &str,
) -> ApiResult<()> {
    let scope = format!("/subscriptions/{}", state.ids.subscription_id);
    crate::auth::authorize(p, directory_action(entra_action), &scope)
}

/// The bootstrap administrator's account and secrets are its own: no one else may change them
/// (an Owner of the subscription could otherwise take over the administrator, which holds more).
fn protect_admin(
    p: &AuthenticatedPrincipal,
    sp: &ServicePrincipal,
    entra_action: &str,
) -> ApiResult<()> {
    if !sp.is_bootstrap_admin || p.principal.is_admin {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        qws_core::rbac::AUTHORIZATION_FAILED,
        qws_core::rbac::authorization_failed_message(
            &p.principal.client_id,
            &p.principal.object_id,
            directory_action(entra_action),
            &object_path("servicePrincipals", &sp.object_id),
        ),
    ))
}

async fn run<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, IdentityError> + Send + 'static,
{
    state.db(move |s| Ok(f(s))).await?.map_err(directory_error)
}

fn directory_error(e: IdentityError) -> ApiError {
    match e {
        IdentityError::NotFound(what) => not_found(what),
        IdentityError::UpnTaken(upn) => ApiError::new(
            StatusCode::CONFLICT,
            "ObjectConflict",
            format!("Another object with the same value for property userPrincipalName ('{upn}') already exists."),
        )
        .with_target("userPrincipalName"),
        IdentityError::Password(p) => {
            ApiError::bad_request("InvalidPassword", format!("The password does not meet the policy: {p}."))
                .with_target("passwordProfile.password")
        }
        IdentityError::Invalid(m) => ApiError::bad_request("InvalidRequestContent", m),
        IdentityError::LimitReached(m) => ApiError::new(StatusCode::CONFLICT, "LimitReached", m),
        IdentityError::Store(e) => e.into(),
        other => ApiError::internal("directory", &other),
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("The {what} was not found in the directory."),
    )
}

fn time(t: i64) -> String {
    qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(t))
}

/// `{PREFIX}/{collection}/{object id}`: how the audit log names a directory object.
fn object_path(collection: &str, object_id: &str) -> String {
    format!("{PREFIX}/{collection}/{object_id}")
}

fn audit(
    state: &AppState,
    p: &AuthenticatedPrincipal,
    conn: &ConnInfo,
    action: &str,
    target: &str,
) -> ApiResult<()> {
    audit_outcome(state, p, conn, action, target, "success")
}

/// [`audit`] with an outcome that says more than "success".
fn audit_outcome(
    state: &AppState,
    p: &AuthenticatedPrincipal,
    conn: &ConnInfo,
    action: &str,
    target: &str,
    outcome: &str,
) -> ApiResult<()> {
    let action = crate::audit::AuditAction::named(action)
        .ok_or_else(|| ApiError::internal("audit", &format!("no audit action for {action}")))?;
    state.audit(&p.audit_name(), action, target, outcome, conn.remote)
}

/// Deletes directory object `object_id` (found, and allowed, by the caller) and audits it.
async fn delete_object(
    state: &AppState,
    p: &AuthenticatedPrincipal,
    conn: &ConnInfo,
    action: &str,
    collection: &str,
    object_id: String,
) -> ApiResult<StatusCode> {
    let oid = object_id.clone();
    run(state, move |s| s.identity().delete_object(&oid)).await?;
    audit(state, p, conn, action, &object_path(collection, &object_id))?;
    Ok(StatusCode::NO_CONTENT)
}

fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// A response carrying a secret: never cached.
fn with_secret(status: StatusCode, body: Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

// ---- users ------------------------------------------------------------------------------------

fn user_json(u: &User) -> Value {
    json!({
        "id": u.object_id,
        "userPrincipalName": u.user_principal_name,
        "displayName": u.display_name,
        "accountEnabled": u.enabled,
        "createdDateTime": time(u.created_at),
        "lastPasswordChangeDateTime": time(u.password_changed_at),
        "lockedUntil": u.locked_until.map(time),
    })
}

/// A user by object id or user principal name.
async fn find_user(state: &AppState, id: &str) -> ApiResult<User> {
    let (tenant, id) = (state.ids.tenant_id.clone(), id.to_string());
    run(state, move |s| {
        let i = s.identity();
        if is_guid(&id) {
            i.user(&id)
        } else {
            i.user_by_upn(&tenant, &id)
        }
    })
    .await?
    .ok_or_else(|| not_found("user"))
}

async fn list_users(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/users/read")?;
    let tenant = state.ids.tenant_id.clone();
    let users = run(&state, move |s| s.identity().list_users(&tenant)).await?;
    Ok(Json(
        json!({ "value": users.iter().map(user_json).collect::<Vec<_>>() }),
    ))
}

async fn get_user(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/users/read")?;
    Ok(Json(user_json(&find_user(&state, &id).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordProfile {
    #[serde(deserialize_with = "zeroizing")]
    password: zeroize::Zeroizing<String>,
}

/// Passwords are wiped from memory when the request is done.
fn zeroizing<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<zeroize::Zeroizing<String>, D::Error> {
    String::deserialize(d).map(zeroize::Zeroizing::new)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserCreate {
    user_principal_name: String,
    display_name: String,
    password_profile: PasswordProfile,
    account_enabled: Option<bool>,
}

async fn create_user(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    ArmJson(body): ArmJson<UserCreate>,
) -> ApiResult<Response> {
    require_access(&state, &p, "Microsoft.Directory/users/create")?;
    let tenant = state.ids.tenant_id.clone();
    let enabled = body.account_enabled.unwrap_or(true);
    let user = run(&state, move |s| {
        let i = s.identity();
        let u = i.create_user(NewUser {
            tenant_id: &tenant,
            user_principal_name: &body.user_principal_name,
            display_name: &body.display_name,
            password: &body.password_profile.password,
        })?;
        if !enabled {
            i.set_enabled(&u.object_id, false)?;
            return Ok(i.user(&u.object_id)?.unwrap_or(u));
        }
        Ok(u)
    })
    .await?;
    audit(
        &state,
        &p,
        &conn,
        "Microsoft.Directory/users/create",
        &object_path("users", &user.object_id),
    )?;
    Ok(created(user_json(&user)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserUpdate {
    display_name: Option<String>,
    account_enabled: Option<bool>,
    password_profile: Option<PasswordProfile>,
}

async fn update_user(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
    ArmJson(body): ArmJson<UserUpdate>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/users/update")?;
    let user = find_user(&state, &id).await?;
    let oid = user.object_id.clone();
    let changed_password = body.password_profile.is_some();
    let updated = run(&state, move |s| {
        let i = s.identity();
        if let Some(n) = &body.display_name {
            i.set_display_name(&oid, n)?;
        }
        if let Some(pp) = &body.password_profile {
            i.reset_password(&oid, &pp.password)?;
        }
        if let Some(e) = body.account_enabled {
            i.set_enabled(&oid, e)?;
        }
        i.user(&oid)?.ok_or(IdentityError::NotFound("user"))
    })
    .await?;
    let action = if changed_password {
        "Microsoft.Directory/users/password/update"
    } else {
        "Microsoft.Directory/users/update"
    };
    audit(
        &state,
        &p,
        &conn,
        action,
        &object_path("users", &updated.object_id),
    )?;
    Ok(Json(user_json(&updated)))
}

async fn delete_user(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let action = "Microsoft.Directory/users/delete";
    require_access(&state, &p, action)?;
    let user = find_user(&state, &id).await?;
    delete_object(&state, &p, &conn, action, "users", user.object_id).await
}

// ---- service principals -----------------------------------------------------------------------

fn secret_json(s: &SecretInfo) -> Value {
    json!({
        "keyId": s.key_id,
        "displayName": s.display_name,
        "hint": s.hint,
        "startDateTime": time(s.created_at),
        "endDateTime": s.expires_at.map(time),
    })
}

fn sp_json(sp: &ServicePrincipal, secrets: &[SecretInfo]) -> Value {
    json!({
        "id": sp.object_id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "servicePrincipalType": sp.kind.as_str(),
        "accountEnabled": sp.enabled,
        "appOwnerOrganizationId": sp.tenant_id,
        "createdDateTime": time(sp.created_at),
        "passwordCredentials": secrets.iter().map(secret_json).collect::<Vec<_>>(),
    })
}

/// A service principal by object id or application id, with its secrets' metadata.
async fn find_sp(state: &AppState, id: &str) -> ApiResult<(ServicePrincipal, Vec<SecretInfo>)> {
    let id = id.to_string();
    run(state, move |s| {
        let i = s.identity();
        let sp = match i.service_principal(&id)? {
            Some(sp) => Some(sp),
            None => i.service_principal_by_app_id(&id)?,
        };
        match sp {
            Some(sp) => {
                let secrets = i.list_secrets(&sp.object_id)?;
                Ok(Some((sp, secrets)))
            }
            None => Ok(None),
        }
    })
    .await?
    .ok_or_else(|| not_found("service principal"))
}

async fn list_sps(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/servicePrincipals/read")?;
    let tenant = state.ids.tenant_id.clone();
    let sps = run(&state, move |s| {
        let i = s.identity();
        let mut out = Vec::new();
        for sp in i.list_service_principals(&tenant)? {
            let secrets = i.list_secrets(&sp.object_id)?;
            out.push(sp_json(&sp, &secrets));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!({ "value": sps })))
}

async fn get_sp(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/servicePrincipals/read")?;
    let (sp, secrets) = find_sp(&state, &id).await?;
    Ok(Json(sp_json(&sp, &secrets)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpCreate {
    display_name: String,
}

async fn create_sp(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    ArmJson(body): ArmJson<SpCreate>,
) -> ApiResult<Response> {
    require_access(&state, &p, "Microsoft.Directory/servicePrincipals/create")?;
    let tenant = state.ids.tenant_id.clone();
    let sp = run(&state, move |s| {
        s.identity()
            .create_service_principal(&tenant, &body.display_name)
    })
    .await?;
    audit(
        &state,
        &p,
        &conn,
        "Microsoft.Directory/servicePrincipals/create",
        &object_path("servicePrincipals", &sp.object_id),
    )?;
    Ok(created(sp_json(&sp, &[])))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpUpdate {
    display_name: Option<String>,
    account_enabled: Option<bool>,
}

async fn update_sp(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
    ArmJson(body): ArmJson<SpUpdate>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/servicePrincipals/update")?;
    let (sp, _) = find_sp(&state, &id).await?;
    protect_admin(&p, &sp, "Microsoft.Directory/servicePrincipals/update")?;
    if sp.is_bootstrap_admin && body.account_enabled == Some(false) {
        return Err(ApiError::bad_request(
            "InvalidRequestContent",
            "The bootstrap administrator cannot be disabled (it would lock every administrator out).",
        ));
    }
    let oid = sp.object_id.clone();
    run(&state, move |s| {
        let i = s.identity();
        if let Some(n) = &body.display_name {
            i.set_display_name(&oid, n)?;
        }
        if let Some(e) = body.account_enabled {
            i.set_enabled(&oid, e)?;
        }
        Ok(())
    })
    .await?;
    audit(
        &state,
        &p,
        &conn,
        "Microsoft.Directory/servicePrincipals/update",
        &object_path("servicePrincipals", &sp.object_id),
    )?;
    let (sp, secrets) = find_sp(&state, &sp.object_id).await?;
    Ok(Json(sp_json(&sp, &secrets)))
}

async fn delete_sp(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let action = "Microsoft.Directory/servicePrincipals/delete";
    require_access(&state, &p, action)?;
    let (sp, _) = find_sp(&state, &id).await?;
    if sp.is_bootstrap_admin {
        return Err(ApiError::bad_request(
            "InvalidRequestContent",
            "The bootstrap administrator cannot be deleted.",
        ));
    }
    delete_object(&state, &p, &conn, action, "servicePrincipals", sp.object_id).await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PasswordCredentialIn {
    display_name: Option<String>,
    end_date_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddPassword {
    #[serde(default)]
    password_credential: PasswordCredentialIn,
}

fn expiry(end: Option<&str>) -> ApiResult<i64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match end {
        None => Ok(now + DEFAULT_SECRET_LIFETIME_SECS),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .map_err(|_| {
                ApiError::invalid_content(
                    "passwordCredential.endDateTime",
                    "endDateTime must be an RFC 3339 date and time, e.g. 2027-12-01T00:00:00Z.",
                )
            }),
    }
}

fn new_secret_json(s: &NewSecret) -> Value {
    let mut v = secret_json(&s.info);
    v["secretText"] = Value::String(s.secret.to_string());
    v
}

async fn add_or_reset(
    p: AuthenticatedPrincipal,
    state: AppState,
    conn: ConnInfo,
    id: String,
    body: AddPassword,
    replace_all: bool,
) -> ApiResult<Response> {
    let action = "Microsoft.Directory/servicePrincipals/credentials/update";
    require_access(&state, &p, action)?;
    let (sp, _) = find_sp(&state, &id).await?;
    protect_admin(&p, &sp, action)?;
    if sp.is_bootstrap_admin && replace_all {
        return Err(ApiError::bad_request(
            "InvalidRequestContent",
            "The bootstrap administrator's secret is not reset here; add a secret instead.",
        ));
    }
    let end = expiry(body.password_credential.end_date_time.as_deref())?;
    let oid = sp.object_id.clone();
    let name = body.password_credential.display_name.clone();
    let secret = run(&state, move |s| {
        let i = s.identity();
        if replace_all {
            i.reset_secrets(&oid, name.as_deref(), end)
        } else {
            i.add_secret(&oid, name.as_deref(), end)
        }
    })
    .await?;
    audit_outcome(
        &state,
        &p,
        &conn,
        action,
        &object_path("servicePrincipals", &sp.object_id),
        &format!(
            "success: {} secret {}",
            if replace_all { "reset to" } else { "added" },
            secret.info.key_id
        ),
    )?;
    Ok(with_secret(StatusCode::OK, new_secret_json(&secret)))
}

async fn add_password(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
    ArmJson(body): ArmJson<AddPassword>,
) -> ApiResult<Response> {
    add_or_reset(p, state, conn, id, body, false).await
}

async fn reset_password(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
    ArmJson(body): ArmJson<AddPassword>,
) -> ApiResult<Response> {
    add_or_reset(p, state, conn, id, body, true).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemovePassword {
    key_id: String,
}

async fn remove_password(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
    ArmJson(body): ArmJson<RemovePassword>,
) -> ApiResult<StatusCode> {
    let action = "Microsoft.Directory/servicePrincipals/credentials/update";
    require_access(&state, &p, action)?;
    let (sp, _) = find_sp(&state, &id).await?;
    protect_admin(&p, &sp, action)?;
    let (oid, key) = (sp.object_id.clone(), body.key_id.to_ascii_lowercase());
    let key2 = key.clone();
    let removed = run(&state, move |s| s.identity().remove_secret(&oid, &key2)).await?;
    if !removed {
        return Err(not_found("password credential"));
    }
    audit_outcome(
        &state,
        &p,
        &conn,
        action,
        &object_path("servicePrincipals", &sp.object_id),
        &format!("success: removed secret {key}"),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- groups -----------------------------------------------------------------------------------

fn group_json(g: &Group) -> Value {
    json!({
        "id": g.object_id,
        "displayName": g.display_name,
        "description": g.description,
        "securityEnabled": true,
        "mailEnabled": false,
        "createdDateTime": time(g.created_at),
    })
}

fn member_json(m: &GroupMember) -> Value {
    let odata = match m.kind {
        ObjectKind::User => "#microsoft.graph.user",
        ObjectKind::ServicePrincipal => "#microsoft.graph.servicePrincipal",
        ObjectKind::Group => "#microsoft.graph.group",
    };
    json!({"@odata.type": odata, "id": m.object_id, "displayName": m.display_name})
}

async fn find_group(state: &AppState, id: &str) -> ApiResult<Group> {
    let id = id.to_string();
    run(state, move |s| s.identity().group(&id))
        .await?
        .ok_or_else(|| not_found("group"))
}

async fn list_groups(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/groups/read")?;
    let tenant = state.ids.tenant_id.clone();
    let groups = run(&state, move |s| s.identity().list_groups(&tenant)).await?;
    Ok(Json(
        json!({ "value": groups.iter().map(group_json).collect::<Vec<_>>() }),
    ))
}

async fn get_group(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/groups/read")?;
    Ok(Json(group_json(&find_group(&state, &id).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupCreate {
    display_name: String,
    description: Option<String>,
}

async fn create_group(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    ArmJson(body): ArmJson<GroupCreate>,
) -> ApiResult<Response> {
    require_access(&state, &p, "Microsoft.Directory/groups/create")?;
    let tenant = state.ids.tenant_id.clone();
    let g = run(&state, move |s| {
        s.identity()
            .create_group(&tenant, &body.display_name, body.description.as_deref())
    })
    .await?;
    audit(
        &state,
        &p,
        &conn,
        "Microsoft.Directory/groups/create",
        &object_path("groups", &g.object_id),
    )?;
    Ok(created(group_json(&g)))
}

async fn delete_group(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let action = "Microsoft.Directory/groups/delete";
    require_access(&state, &p, action)?;
    let g = find_group(&state, &id).await?;
    delete_object(&state, &p, &conn, action, "groups", g.object_id).await
}

async fn list_members(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_access(&state, &p, "Microsoft.Directory/groups/members/read")?;
    let g = find_group(&state, &id).await?;
    let members = run(&state, move |s| s.identity().group_members(&g.object_id)).await?;
    Ok(Json(
        json!({ "value": members.iter().map(member_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct MemberRef {
    id: Option<String>,
    #[serde(rename = "@odata.id")]
    odata_id: Option<String>,
}

async fn add_member(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(id): Path<String>,
    ArmJson(body): ArmJson<MemberRef>,
) -> ApiResult<StatusCode> {
    let action = "Microsoft.Directory/groups/members/update";
    require_access(&state, &p, action)?;
    let g = find_group(&state, &id).await?;
    // Graph's `@odata.id` reference ends with the member's object id.
    let member = body
        .id
        .or_else(|| {
            body.odata_id
                .and_then(|r| r.rsplit('/').next().map(str::to_string))
        })
        .ok_or_else(|| {
            ApiError::invalid_content("id", "Name the member by its object id: {\"id\": \"…\"}.")
        })?;
    let (gid, mid) = (g.object_id.clone(), member.to_ascii_lowercase());
    let mid2 = mid.clone();
    let added = run(&state, move |s| s.identity().add_group_member(&gid, &mid2)).await?;
    audit_outcome(
        &state,
        &p,
        &conn,
        action,
        &object_path("groups", &g.object_id),
        &format!(
            "success: {} member {mid}",
            if added { "added" } else { "already" }
        ),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    p: AuthenticatedPrincipal,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let action = "Microsoft.Directory/groups/members/update";
    require_access(&state, &p, action)?;
    let g = find_group(&state, &id).await?;
    let (gid, mid) = (g.object_id.clone(), member.to_ascii_lowercase());
    let mid2 = mid.clone();
    let removed = run(&state, move |s| {
        s.identity().remove_group_member(&gid, &mid2)
    })
    .await?;
    if !removed {
        return Err(not_found("group member"));
    }
    audit_outcome(
        &state,
        &p,
        &conn,
        action,
        &object_path("groups", &g.object_id),
        &format!("success: removed member {mid}"),
    )?;
    Ok(StatusCode::NO_CONTENT)
}
