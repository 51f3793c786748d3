//! The ARM-compatible management plane: subscriptions, resource groups, Microsoft.Quantum
//! workspaces (CRUD, keys, names, offerings, operations, LRO status), Microsoft.Storage storage
//! accounts, Microsoft.Resources template deployments, the generic resource list and the
//! Resource Graph query azure-quantum sends. Every route requires a management bearer token and authorizes through
//! [`crate::auth::authorize`].

mod access_tokens;
mod activity_log;
mod arm;
mod catalog;
pub(crate) mod deletion;
mod deployments;
mod graph;
mod keys;
mod resources;
mod storage;
mod webhooks;
mod workspaces;

use crate::error::{ApiError, ApiResult};
use crate::routes::table::Routes;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use base64::Engine;
use qws_core::models::{
    ApiKeysRequest, CheckNameAvailabilityRequest, CheckNameAvailabilityResponse, Identity,
    ListKeysResult, ListResult, OperationStatus, QuantumWorkspace, ResourceGroup, Subscription,
    SystemData, WorkspaceProperties, WORKSPACE_TYPE,
};
use qws_core::resource_id::ResourceGroupId;
use qws_store::{ResourceGroupRecord, WorkspaceRecord};

/// Management routes (canonical spelling; see [`super::normalize`]).
pub fn router() -> Routes {
    const WS: &str =
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}";
    const RG: &str = "/subscriptions/{sub}/resourceGroups/{rg}";
    const LOC: &str = "/subscriptions/{sub}/providers/Microsoft.Quantum/locations/{loc}";
    const STORAGE: &str = "providers/Microsoft.Storage/storageAccounts/{account}";
    Routes::new()
        .get("/subscriptions", arm::list_subscriptions)
        .returns::<ListResult<Subscription>>()
        .get("/subscriptions/{sub}", arm::get_subscription)
        .returns::<Subscription>()
        .get("/tenants", arm::list_tenants)
        .get("/subscriptions/{sub}/resourceGroups", arm::list_groups)
        .returns::<ListResult<ResourceGroup>>()
        .get(RG, arm::get_group)
        .returns::<ResourceGroup>()
        .put(RG, arm::put_group)
        .delete(RG, arm::delete_group)
        .head(RG, arm::head_group)
        .get(
            "/subscriptions/{sub}/resources",
            resources::list_in_subscription,
        )
        .get(&format!("{RG}/resources"), resources::list_in_group)
        .get(
            "/subscriptions/{sub}/providers/Microsoft.Quantum/workspaces",
            workspaces::list_by_subscription,
        )
        .returns::<ListResult<QuantumWorkspace>>()
        .get(
            &format!("{RG}/providers/Microsoft.Quantum/workspaces"),
            workspaces::list_by_group,
        )
        .returns::<ListResult<QuantumWorkspace>>()
        .get(WS, workspaces::get_workspace)
        .returns::<QuantumWorkspace>()
        .put(WS, workspaces::put_workspace)
        .returns::<QuantumWorkspace>()
        .patch(WS, workspaces::patch_workspace)
        .returns::<QuantumWorkspace>()
        .delete(WS, workspaces::delete_workspace)
        .post(&format!("{WS}/listKeys"), keys::list_keys)
        .returns::<ListKeysResult>()
        .post(&format!("{WS}/regenerateKey"), keys::regenerate_key)
        .accepts::<ApiKeysRequest>()
        .get(&format!("{WS}/accessTokens"), access_tokens::list_tokens)
        .get(
            &format!("{WS}/accessTokens/{{name}}"),
            access_tokens::get_token,
        )
        .put(
            &format!("{WS}/accessTokens/{{name}}"),
            access_tokens::put_token,
        )
        .delete(
            &format!("{WS}/accessTokens/{{name}}"),
            access_tokens::delete_token,
        )
        .get(&format!("{WS}/activityLog"), activity_log::list)
        .get(&format!("{WS}/webhooks"), webhooks::list_webhooks)
        .get(&format!("{WS}/webhooks/{{name}}"), webhooks::get_webhook)
        .put(&format!("{WS}/webhooks/{{name}}"), webhooks::put_webhook)
        .delete(&format!("{WS}/webhooks/{{name}}"), webhooks::delete_webhook)
        .get(
            &format!("{WS}/webhooks/{{name}}/deliveries"),
            webhooks::list_deliveries,
        )
        .post(&format!("{LOC}/checkNameAvailability"), catalog::check_name)
        .accepts::<CheckNameAvailabilityRequest>()
        .returns::<CheckNameAvailabilityResponse>()
        .get(&format!("{LOC}/offerings"), catalog::offerings)
        .get(
            &format!("{LOC}/operationStatuses/{{id}}"),
            catalog::operation_status,
        )
        .returns::<OperationStatus>()
        .get(
            &format!("{LOC}/operationResults/{{id}}"),
            catalog::operation_result,
        )
        .get(
            "/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts",
            storage::list_by_subscription,
        )
        .post(
            "/subscriptions/{sub}/providers/Microsoft.Storage/checkNameAvailability",
            storage::check_name,
        )
        .get(
            &format!("{RG}/providers/Microsoft.Storage/storageAccounts"),
            storage::list_by_group,
        )
        .get(&format!("{RG}/{STORAGE}"), storage::get_account)
        .put(&format!("{RG}/{STORAGE}"), storage::put_account)
        .delete(&format!("{RG}/{STORAGE}"), storage::delete_account)
        .merge(deployments::router())
        .get(
            "/providers/Microsoft.Quantum/operations",
            catalog::operations,
        )
        .post("/providers/Microsoft.ResourceGraph/resources", graph::query)
        .map_router(|r| r.layer(DefaultBodyLimit::max(crate::http::body::MAX_MGMT_BODY)))
}

/// Loads a resource group; 404 `ResourceGroupNotFound` naming it as sent.
pub(crate) async fn require_group(
    state: &AppState,
    group: &ResourceGroupId,
) -> ApiResult<ResourceGroupRecord> {
    let key = group.clone();
    state
        .db(move |s| s.get_resource_group(&key))
        .await?
        .ok_or_else(|| ApiError::resource_group_not_found(group.resource_group.as_str()))
}

/// The ARM representation of a stored workspace.
pub(crate) fn workspace_model(
    state: &AppState,
    w: &WorkspaceRecord,
) -> ApiResult<QuantumWorkspace> {
    let created = qws_core::time_fmt::arm_precise(from_nanos(w.created_at));
    let modified = qws_core::time_fmt::arm_precise(from_nanos(w.modified_at));
    let providers = w
        .providers
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(id) = &p.provider_id {
                p.application_name = Some(format!("{}-{}", w.name, id));
            }
            p.provisioning_state = Some("Succeeded".into());
            p
        })
        .collect();
    Ok(QuantumWorkspace {
        id: w.id()?.to_id(),
        name: w.name.clone(),
        resource_type: WORKSPACE_TYPE.to_string(),
        location: w.location.clone(),
        tags: w.tags.clone(),
        system_data: SystemData {
            created_by: w.created_by.name.clone(),
            created_by_type: w.created_by.kind.clone(),
            created_at: created,
            last_modified_by: w.modified_by.name.clone(),
            last_modified_by_type: w.modified_by.kind.clone(),
            last_modified_at: modified,
        },
        identity: w.identity_type.as_ref().map(|t| Identity {
            identity_type: t.clone(),
            principal_id: w.identity_principal_id.clone().filter(|_| t != "None"),
            tenant_id: (t != "None").then(|| state.ids.tenant_id.clone()),
        }),
        properties: WorkspaceProperties {
            providers,
            usable: Some("Yes".into()),
            provisioning_state: Some(
                if w.deleting_op.is_some() {
                    "Deleting"
                } else {
                    "Succeeded"
                }
                .into(),
            ),
            storage_account: w.storage_account.clone(),
            endpoint_uri: Some(state.urls.endpoint_uri.clone()),
            api_key_enabled: Some(w.api_key_enabled),
            workspace_kind: Some(w.workspace_kind.clone()),
        },
    })
}

fn from_nanos(n: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(n as i128)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Encodes a list continuation position.
pub(crate) fn skip_token(rg_key: &str, name_key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&[rg_key, name_key]).expect("strings serialize"))
}

/// Decodes `$skiptoken` from the query.
pub(crate) fn parse_skip_token(parts_query: Option<&str>) -> ApiResult<Option<(String, String)>> {
    let Some(q) = parts_query else {
        return Ok(None);
    };
    let Some((_, token)) =
        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "$skiptoken")
    else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "InvalidSkipToken",
            "The $skiptoken query parameter is invalid.",
        )
        .with_target("$skiptoken")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| bad())?;
    let [a, b]: [String; 2] = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok(Some((a, b)))
}

/// `Microsoft.Quantum/Workspaces/...` action names.
pub(crate) mod actions {
    pub const READ: &str = "Microsoft.Quantum/Workspaces/read";
    pub const WRITE: &str = "Microsoft.Quantum/Workspaces/write";
    pub const DELETE: &str = "Microsoft.Quantum/Workspaces/delete";
    pub const LIST_KEYS: &str = "Microsoft.Quantum/Workspaces/listKeys/action";
    pub const REGENERATE_KEY: &str = "Microsoft.Quantum/Workspaces/regenerateKey/action";
    pub const OFFERINGS_READ: &str = "Microsoft.Quantum/locations/offerings/read";
    pub const CHECK_NAME: &str = "Microsoft.Quantum/locations/checkNameAvailability/action";
    pub const OPERATION_STATUS_READ: &str = "Microsoft.Quantum/locations/operationStatuses/read";
    pub const SUBSCRIPTION_READ: &str = "Microsoft.Resources/subscriptions/read";
    pub const GROUP_READ: &str = "Microsoft.Resources/subscriptions/resourceGroups/read";
    pub const GROUP_WRITE: &str = "Microsoft.Resources/subscriptions/resourceGroups/write";
    pub const GROUP_DELETE: &str = "Microsoft.Resources/subscriptions/resourceGroups/delete";
    pub const STORAGE_READ: &str = "Microsoft.Storage/storageAccounts/read";
    pub const STORAGE_WRITE: &str = "Microsoft.Storage/storageAccounts/write";
    pub const STORAGE_DELETE: &str = "Microsoft.Storage/storageAccounts/delete";
    pub const STORAGE_CHECK_NAME: &str = "Microsoft.Storage/checknameavailability/read";
    pub const DEPLOYMENT_READ: &str = "Microsoft.Resources/deployments/read";
    pub const DEPLOYMENT_WRITE: &str = "Microsoft.Resources/deployments/write";
    pub const DEPLOYMENT_OPERATIONS_READ: &str = "Microsoft.Resources/deployments/operations/read";
    pub const DEPLOYMENT_STATUS_READ: &str =
        "Microsoft.Resources/deployments/operationstatuses/read";
    /// qws's own (workspace access tokens, beyond Azure).
    pub const ACCESS_TOKENS_READ: &str = "Microsoft.Quantum/Workspaces/accessTokens/read";
    pub const ACCESS_TOKENS_WRITE: &str = "Microsoft.Quantum/Workspaces/accessTokens/write";
    pub const ACCESS_TOKENS_DELETE: &str = "Microsoft.Quantum/Workspaces/accessTokens/delete";
    /// Azure's action for reading the activity log (Reader's `*/read` covers it).
    pub const ACTIVITY_LOG_READ: &str = "Microsoft.Insights/eventtypes/values/read";
    /// qws's own (job webhooks, beyond Azure).
    pub const WEBHOOKS_READ: &str = "Microsoft.Quantum/Workspaces/webhooks/read";
    pub const WEBHOOKS_WRITE: &str = "Microsoft.Quantum/Workspaces/webhooks/write";
    pub const WEBHOOKS_DELETE: &str = "Microsoft.Quantum/Workspaces/webhooks/delete";

    /// Marker types for [`crate::paths::Authorized`].
    macro_rules! marker {
        ($($ty:ident = $name:ident;)*) => {$(
            #[doc = concat!("The `", stringify!($name), "` action.")]
            #[derive(Debug, Clone, Copy)]
            pub struct $ty;
            impl crate::paths::Action for $ty {
                const NAME: &'static str = $name;
            }
        )*};
    }
    marker! {
        Read = READ;
        Delete = DELETE;
        ListKeys = LIST_KEYS;
        SubscriptionRead = SUBSCRIPTION_READ;
        StorageRead = STORAGE_READ;
        StorageWrite = STORAGE_WRITE;
        StorageDelete = STORAGE_DELETE;
        StorageCheckName = STORAGE_CHECK_NAME;
        DeploymentRead = DEPLOYMENT_READ;
        DeploymentWrite = DEPLOYMENT_WRITE;
        DeploymentOperationsRead = DEPLOYMENT_OPERATIONS_READ;
        DeploymentStatusRead = DEPLOYMENT_STATUS_READ;
        ActivityLogRead = ACTIVITY_LOG_READ;
        AccessTokensRead = ACCESS_TOKENS_READ;
        AccessTokensWrite = ACCESS_TOKENS_WRITE;
        AccessTokensDelete = ACCESS_TOKENS_DELETE;
        WebhooksRead = WEBHOOKS_READ;
        WebhooksWrite = WEBHOOKS_WRITE;
        WebhooksDelete = WEBHOOKS_DELETE;
    }
}
