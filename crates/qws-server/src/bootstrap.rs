//! First-start bootstrap (tenant, subscription, resource group, workspace `dev`, administrator
//! service principal) and `DATA_DIR/bootstrap.json`, rewritten atomically (0600) on every start
//! with the addresses actually bound.

use crate::state::{BootstrapIds, PublicUrls};
use anyhow::Context;
use base64::Engine;
use qws_core::models::Tags;
use qws_core::names::SubscriptionId;
use qws_store::{Actor, Principal, Store, SubscriptionRecord, WorkspaceSpec};
use serde::Serialize;
use std::path::Path;
use zeroize::Zeroizing;

/// File name in the data directory.
pub const BOOTSTRAP_FILE: &str = "bootstrap.json";
const IDS_META: &str = "bootstrap_ids";
const SECRET_META: &str = "bootstrap_client_secret";
const IDENTITY_HEADER_META: &str = "msi_identity_header";
const ADMIN_USER_META: &str = "portal_admin_user";
const ADMIN_PASSWORD_META: &str = "portal_admin_password";

/// The portal administrator's user principal name (created at first start).
pub const ADMIN_USER_UPN: &str = "admin@qws.local";

/// Default names created at first start.
pub const DEFAULT_RESOURCE_GROUP: &str = "qws";
/// The bootstrap workspace.
pub const DEFAULT_WORKSPACE: &str = "dev";
/// Its location.
pub const DEFAULT_LOCATION: &str = "eastus";

/// Secrets kept (sealed) so bootstrap.json can be rewritten on every start.
pub struct BootstrapSecrets {
    /// Administrator client secret.
    pub client_secret: Zeroizing<String>,
    /// Managed-identity header secret.
    pub identity_header: Zeroizing<String>,
}

fn random_token(bytes: usize) -> anyhow::Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    qws_core::keys::fill_random(&mut raw)?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..]),
    ))
}

/// Creates everything on first start; loads it on later starts. Returns whether this was the first start.
pub fn ensure(store: &Store) -> anyhow::Result<(BootstrapIds, BootstrapSecrets, bool)> {
    if let Some(raw) = store.get_meta(IDS_META)? {
        let ids: BootstrapIds = serde_json::from_slice(&raw).context("corrupt bootstrap record")?;
        let secret = store
            .get_sealed_meta(SECRET_META)?
            .context("missing bootstrap secret")?;
        let header = store
            .get_sealed_meta(IDENTITY_HEADER_META)?
            .context("missing identity header")?;
        let secrets = BootstrapSecrets {
            client_secret: Zeroizing::new(
                String::from_utf8(secret.to_vec()).context("bootstrap secret")?,
            ),
            identity_header: Zeroizing::new(
                String::from_utf8(header.to_vec()).context("identity header")?,
            ),
        };
        return Ok((ids, secrets, false));
    }
    let ids = BootstrapIds {
        tenant_id: uuid::Uuid::new_v4().to_string(),
        subscription_id: uuid::Uuid::new_v4().to_string(),
        resource_group: DEFAULT_RESOURCE_GROUP.into(),
        workspace_name: DEFAULT_WORKSPACE.into(),
        location: DEFAULT_LOCATION.into(),
        client_id: uuid::Uuid::new_v4().to_string(),
    };
    // 256-bit random secret; the "~" mimics Entra's secret shape and is URL-safe.
    let client_secret = Zeroizing::new(format!("qws~{}", random_token(32)?.as_str()));
    let identity_header = random_token(32)?;
    let sub = SubscriptionId::parse(&ids.subscription_id)?;
    store.create_subscription(&SubscriptionRecord {
        id: sub,
        tenant_id: ids.tenant_id.clone(),
        display_name: "qws subscription".into(),
    })?;
    store.create_principal(
        &Principal {
            client_id: ids.client_id.clone(),
            object_id: uuid::Uuid::new_v4().to_string(),
            tenant_id: ids.tenant_id.clone(),
            display_name: "qws administrator".into(),
            is_admin: true,
        },
        &client_secret,
    )?;
    let ws = ids.workspace_id()?;
    store.put_resource_group(&ws.group(), &ids.location, &Tags::new())?;
    store.put_workspace(
        &ws,
        &WorkspaceSpec {
            location: ids.location.clone(),
            tags: Tags::new(),
            providers: qws_core::catalog::PROVIDERS
                .iter()
                .map(|p| qws_core::models::Provider {
                    provider_id: Some(p.id.into()),
                    provider_sku: Some(p.sku.into()),
                    ..Default::default()
                })
                .collect(),
            storage_account: None,
            identity_type: Some("SystemAssigned".into()),
            api_key_enabled: true,
            workspace_kind: "V1".into(),
        },
        &Actor {
            name: ids.client_id.clone(),
            kind: "Application".into(),
        },
    )?;
    store.set_sealed_meta(SECRET_META, client_secret.as_bytes())?;
    store.set_sealed_meta(IDENTITY_HEADER_META, identity_header.as_bytes())?;
    // Written last: its presence marks a complete bootstrap.
    store.set_meta(IDS_META, &serde_json::to_vec(&ids)?)?;
    Ok((
        ids,
        BootstrapSecrets {
            client_secret,
            identity_header,
        },
        true,
    ))
}

/// The portal's administrator: a user (not the service principal) holding Owner at
/// subscription scope, so people sign in to the portal with a password and every portal action
/// is authorized by RBAC like any other user's. Created once (also in data directories made
/// before the portal existed); its initial password is kept sealed so bootstrap.json can be
/// rewritten on every start.
pub struct AdminUser {
    /// User principal name.
    pub upn: String,
    /// The initial password.
    pub password: Zeroizing<String>,
}

/// Creates the portal administrator if it does not exist yet; returns it either way.
pub fn ensure_admin_user(store: &Store, ids: &BootstrapIds) -> anyhow::Result<AdminUser> {
    if let (Some(upn), Some(password)) = (
        store.get_meta(ADMIN_USER_META)?,
        store.get_sealed_meta(ADMIN_PASSWORD_META)?,
    ) {
        return Ok(AdminUser {
            upn: String::from_utf8(upn).context("portal admin user")?,
            password: Zeroizing::new(
                String::from_utf8(password.to_vec()).context("portal admin password")?,
            ),
        });
    }
    // Three character classes whatever the random part holds ("Q", "w", "~").
    let password = Zeroizing::new(format!("Qws~{}", random_token(24)?.as_str()));
    let id = store.identity();
    let user = match id.user_by_upn(&ids.tenant_id, ADMIN_USER_UPN)? {
        Some(u) => u,
        None => id.create_user(qws_store::identity::NewUser {
            tenant_id: &ids.tenant_id,
            user_principal_name: ADMIN_USER_UPN,
            display_name: "qws administrator",
            password: &password,
        })?,
    };
    // An existing user of that name (made by hand) gets the generated password, so the one
    // bootstrap.json shows is the one that works.
    id.reset_password(&user.object_id, &password)?;
    let scope = qws_core::rbac::Scope::parse(&qws_core::resource_id::subscription_id(
        &SubscriptionId::parse(&ids.subscription_id)?,
    ))
    .map_err(|e| anyhow::anyhow!("subscription scope: {}", e.0))?;
    // Owner manages everything; job data needs a role with data actions as well (Owner has
    // none, as in Azure), so the administrator also holds Quantum Workspace Data Contributor.
    for role in [
        qws_core::rbac::builtin::OWNER,
        qws_core::rbac::builtin::QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
    ] {
        let name = uuid::Uuid::new_v4().to_string();
        let assigned = id.put_role_assignment(qws_store::identity::AssignmentRequest {
            name: &name,
            scope: &scope,
            role_definition_id: role,
            principal_id: &user.object_id,
            principal_type: Some(qws_core::rbac::PrincipalType::User),
            description: Some("portal administrator, created at first start"),
            actor: None,
        });
        match assigned {
            Ok(_) | Err(qws_store::identity::IdentityError::AssignmentExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    store.set_sealed_meta(ADMIN_PASSWORD_META, password.as_bytes())?;
    // Written last: its presence marks a complete set-up.
    store.set_meta(ADMIN_USER_META, ADMIN_USER_UPN.as_bytes())?;
    Ok(AdminUser {
        upn: ADMIN_USER_UPN.into(),
        password,
    })
}

/// The contents of bootstrap.json.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapFile<'a> {
    /// Tenant.
    pub tenant_id: &'a str,
    /// Administrator client id.
    pub client_id: &'a str,
    /// Administrator client secret.
    pub client_secret: &'a str,
    /// Subscription.
    pub subscription_id: &'a str,
    /// Resource group.
    pub resource_group: &'a str,
    /// Workspace.
    pub workspace_name: &'a str,
    /// Location.
    pub location: &'a str,
    /// `http://host:port`.
    pub http_url: &'a str,
    /// `https://host:port`.
    pub https_url: &'a str,
    /// The CA to trust.
    pub ca_file: String,
    /// The workspace's primary connection string ("" if keys are disabled or it was deleted).
    pub primary_connection_string: &'a str,
    /// ARM endpoint (= httpsUrl) for `arm_endpoint=` / `base_url=`.
    pub arm_endpoint: &'a str,
    /// Authority for `ClientSecretCredential(authority=...)` (= httpsUrl).
    pub authority: &'a str,
    /// Data-plane endpoint of workspaces.
    pub endpoint_uri: &'a str,
    /// `IDENTITY_ENDPOINT` for managed-identity clients (absent when disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_endpoint: Option<String>,
    /// `IDENTITY_HEADER` for managed-identity clients (absent when disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<&'a str>,
    /// The data directory.
    pub data_dir: String,
    /// The portal's address.
    pub portal_url: String,
    /// The portal administrator's user name.
    pub admin_user: &'a str,
    /// Its initial password.
    pub admin_password: &'a str,
}

/// Writes bootstrap.json atomically with mode 0600.
#[allow(clippy::too_many_arguments)]
pub fn write_file(
    dir: &Path,
    ids: &BootstrapIds,
    secrets: &BootstrapSecrets,
    urls: &PublicUrls,
    ca_file: &Path,
    primary_connection_string: &str,
    msi: bool,
    admin: &AdminUser,
) -> anyhow::Result<()> {
    let f = BootstrapFile {
        tenant_id: &ids.tenant_id,
        client_id: &ids.client_id,
        client_secret: &secrets.client_secret,
        subscription_id: &ids.subscription_id,
        resource_group: &ids.resource_group,
        workspace_name: &ids.workspace_name,
        location: &ids.location,
        http_url: &urls.http,
        https_url: &urls.https,
        ca_file: ca_file.display().to_string(),
        primary_connection_string,
        arm_endpoint: &urls.https,
        authority: &urls.https,
        endpoint_uri: &urls.endpoint_uri,
        identity_endpoint: msi.then(|| format!("{}/msi/token", urls.http)),
        identity_header: msi.then_some(secrets.identity_header.as_str()),
        data_dir: dir.display().to_string(),
        portal_url: crate::planes::portal::portal_url(urls),
        admin_user: &admin.upn,
        admin_password: &admin.password,
    };
    let mut text = Zeroizing::new(serde_json::to_vec_pretty(&f)?);
    text.push(b'\n');
    qws_store::crypto::write_private_atomic(&dir.join(BOOTSTRAP_FILE), &text)
        .context("writing bootstrap.json")?;
    Ok(())
}
