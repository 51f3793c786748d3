//! Running a deployment: each template level is planned ([`qws_core::template::plan`]), then
//! its resources are deployed one by one in dependency order, each evaluated just before it is
//! applied (so `reference()` sees what came before) and applied through the same code as the
//! resource's own PUT route, with the deployer's permissions checked for every resource. Every
//! attempt is recorded as an operation with its `provisioningState`; the first failure stops the
//! deployment, which ends `Failed` with `DeploymentFailed` naming the resource (resources already
//! deployed are listed in its operations and `outputResources`, as in ARM).

use super::super::{storage, workspaces};
use super::{check_mode, new_doc};
use crate::audit::AuditAction;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::ApiError;
use crate::state::AppState;
use qws_core::names::{DeploymentName, StorageAccountName, WorkspaceName};
use qws_core::rbac::{actions as rbac_actions, Scope as RbacScope};
use qws_core::resource_id::{DeploymentId, ResourceGroupId, StorageAccountId, WorkspaceId};
use qws_core::template::{self, PlannedResource, References, TemplateError};
use qws_core::ErrorDetail;
use qws_store::identity::AssignmentRequest;
use qws_store::{DeploymentRecord, Store};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use time::OffsetDateTime;

/// What expressions of one template level see (owned, so it can move to the blocking pool).
#[derive(Debug, Clone)]
pub(crate) struct Level {
    /// Bound parameter values.
    pub parameters: Map<String, Value>,
    /// Variable definitions.
    pub variables: Map<String, Value>,
    /// Target resource group.
    pub group: ResourceGroupId,
    /// Its location.
    pub location: String,
}

impl Level {
    /// A level for `template` in `group` (parameters still to bind).
    pub fn new(group: &ResourceGroupId, location: &str, template: &Value) -> Level {
        Level {
            parameters: Map::new(),
            variables: template
                .get("variables")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            group: group.clone(),
            location: location.to_string(),
        }
    }

    fn scope<'a>(&self, refs: &'a dyn References) -> template::Scope<'a> {
        template::Scope {
            parameters: self.parameters.clone(),
            variables: self.variables.clone(),
            subscription_id: self.group.subscription.to_string(),
            resource_group: self.group.resource_group.as_str().to_string(),
            resource_group_location: self.location.clone(),
            references: refs,
            steps: Default::default(),
        }
    }

    /// The parameters as a deployment document shows them (`{"type", "value"}`).
    pub fn parameters_as_arm(&self) -> Map<String, Value> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                let t = match v {
                    Value::String(_) => "String",
                    Value::Number(_) => "Int",
                    Value::Bool(_) => "Bool",
                    Value::Array(_) => "Array",
                    _ => "Object",
                };
                (k.clone(), json!({"type": t, "value": v}))
            })
            .collect()
    }
}

/// `reference()` over qws's own resources, read from the store.
struct StoreRefs<'a> {
    state: &'a AppState,
    store: &'a Store,
}

impl References for StoreRefs<'_> {
    fn full_resource(&self, id: &str) -> Option<Value> {
        if let Ok(ws) = WorkspaceId::parse(id) {
            let w = self.store.get_workspace(&ws).ok()??;
            return serde_json::to_value(super::super::workspace_model(self.state, &w).ok()?).ok();
        }
        let account = StorageAccountId::parse(id)?;
        let a = self.store.get_storage_account(&account).ok()??;
        Some(storage::model(self.state, &a))
    }
}

/// Binds the parameters of `template` into `level` and plans its top level (so an invalid
/// order or a cycle is refused before anything is deployed).
pub(crate) fn prepare(
    state: &AppState,
    store: &Store,
    mut level: Level,
    template: &Value,
    supplied: &Map<String, Value>,
) -> Result<Level, TemplateError> {
    let refs = StoreRefs { state, store };
    let mut scope = level.scope(&refs);
    template::bind_parameters(template, supplied, &mut scope)?;
    level.parameters = scope.parameters.clone();
    let resources = resources(template);
    template::plan(&resources, &level.scope(&refs))?;
    Ok(level)
}

fn resources(template: &Value) -> Vec<Value> {
    template
        .get("resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// One deployment's record while it runs.
struct Progress {
    id: DeploymentId,
    doc: Value,
    operations: Vec<Value>,
    started: OffsetDateTime,
    output_resources: Vec<Value>,
}

fn iso_duration(d: time::Duration) -> String {
    format!("PT{:.3}S", d.as_seconds_f64().max(0.0))
}

fn detail(e: &ApiError) -> ErrorDetail {
    e.body().error
}

fn template_detail(e: &TemplateError) -> ErrorDetail {
    ErrorDetail {
        code: e.code.to_string(),
        message: e.message.clone(),
        target: None,
        details: Vec::new(),
    }
}

impl Progress {
    fn new(id: DeploymentId, doc: Value) -> Progress {
        Progress {
            id,
            doc,
            operations: Vec::new(),
            started: OffsetDateTime::now_utc(),
            output_resources: Vec::new(),
        }
    }

    fn set_state(&mut self, s: &str) {
        let now = OffsetDateTime::now_utc();
        let p = &mut self.doc["properties"];
        p["provisioningState"] = json!(s);
        p["timestamp"] = json!(qws_core::time_fmt::arm_precise(now));
        p["duration"] = json!(iso_duration(now - self.started));
        p["outputResources"] = json!(self.output_resources);
    }

    fn record(
        &mut self,
        r: &PlannedResource,
        started: OffsetDateTime,
        result: &Result<(), ErrorDetail>,
    ) {
        let now = OffsetDateTime::now_utc();
        let op = format!("{:016X}", rand_u64());
        let mut props = json!({
            "provisioningOperation": "Create",
            "provisioningState": if result.is_ok() { "Succeeded" } else { "Failed" },
            "timestamp": qws_core::time_fmt::arm_precise(now),
            "duration": iso_duration(now - started),
            "serviceRequestId": uuid::Uuid::new_v4().to_string(),
            "statusCode": if result.is_ok() { "OK" } else { "BadRequest" },
            "targetResource": {"id": r.id, "resourceType": r.resource_type, "resourceName": r.name},
        });
        match result {
            Ok(()) => self.output_resources.push(json!({"id": r.id})),
            Err(e) => props["statusMessage"] = json!({"status": "Failed", "error": e}),
        }
        self.operations.push(json!({
            "id": self.id.operation_id(&op),
            "operationId": op,
            "properties": props,
        }));
    }

    fn finish(&mut self, outcome: &Result<(), ErrorDetail>) {
        match outcome {
            Ok(()) => self.set_state("Succeeded"),
            Err(e) => {
                self.set_state("Failed");
                self.doc["properties"]["error"] = json!(e);
            }
        }
    }

    async fn save(&self, state: &AppState) {
        let (id, record) = (
            self.id.clone(),
            DeploymentRecord {
                doc: self.doc.clone(),
                operations: Value::Array(self.operations.clone()),
            },
        );
        if let Err(e) = state.db(move |s| s.put_deployment(&id, &record)).await {
            tracing::warn!(error = %e.message, "saving a deployment's progress failed");
        }
    }
}

fn rand_u64() -> u64 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// The failure of a deployment whose resource `r` failed with `e`.
fn deployment_failed(r: &PlannedResource, e: ErrorDetail) -> ErrorDetail {
    ErrorDetail {
        code: "DeploymentFailed".into(),
        message: format!(
            "The deployment of resource '{}' ({}) failed; resources deployed before it remain. List the deployment operations for details.",
            r.name, r.resource_type
        ),
        target: Some(r.id.clone()),
        details: vec![e],
    }
}

type LevelFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ErrorDetail>> + Send + 'a>>;

/// Runs deployments for one caller.
pub(crate) struct Runner {
    /// Server state.
    pub state: AppState,
    /// The deployer; every resource is authorized for it.
    pub principal: AuthenticatedPrincipal,
    /// Client address (audit).
    pub remote: SocketAddr,
}

impl Runner {
    /// Runs an accepted top-level deployment to its end, recording its progress.
    pub async fn run_top(self, id: DeploymentId, doc: Value, template: Value, level: Level) {
        let mut p = Progress::new(id, doc);
        let outcome = self.run_level(&mut p, &template, level).await;
        p.finish(&outcome);
        p.save(&self.state).await;
    }

    fn run_level<'a>(
        &'a self,
        p: &'a mut Progress,
        template: &'a Value,
        level: Level,
    ) -> LevelFuture<'a> {
        Box::pin(async move {
            p.set_state("Running");
            p.save(&self.state).await;
            let (st, l, rs) = (self.state.clone(), level.clone(), resources(template));
            let planned = self
                .state
                .db(move |store| {
                    let refs = StoreRefs { state: &st, store };
                    Ok(template::plan(&rs, &l.scope(&refs)))
                })
                .await
                .map_err(|e| detail(&e))?
                .map_err(|e| template_detail(&e))?;
            for r in &planned {
                let started = OffsetDateTime::now_utc();
                let result = self.apply(r, &level).await;
                p.record(r, started, &result);
                p.save(&self.state).await;
                if let Err(e) = result {
                    return Err(deployment_failed(r, e));
                }
            }
            Ok(())
        })
    }

    /// Evaluates a resource (a nested deployment without its template, which is evaluated
    /// when it runs) against the store.
    async fn evaluate(&self, r: &PlannedResource, level: &Level) -> Result<Value, ErrorDetail> {
        let mut body = r.body.clone();
        if r.resource_type
            .eq_ignore_ascii_case("Microsoft.Resources/deployments")
        {
            if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
                p.remove("template");
            }
        }
        let (st, l) = (self.state.clone(), level.clone());
        let (name, rtype) = (r.name.clone(), r.resource_type.clone());
        self.state
            .db(move |store| {
                let refs = StoreRefs { state: &st, store };
                Ok(l.scope(&refs).eval_value(&body))
            })
            .await
            .map_err(|e| detail(&e))?
            .map_err(|e| template_detail(&e.in_resource(&name, &rtype)))
    }

    async fn apply(&self, r: &PlannedResource, level: &Level) -> Result<(), ErrorDetail> {
        let v = self.evaluate(r, level).await?;
        let t = r.resource_type.to_ascii_lowercase();
        let result = match t.as_str() {
            "microsoft.quantum/workspaces" => self.workspace(r, level, v).await,
            "microsoft.storage/storageaccounts" => self.storage_account(r, level, v).await,
            "microsoft.storage/storageaccounts/fileservices"
            | "microsoft.storage/storageaccounts/blobservices" => {
                self.storage_service(r, level).await
            }
            "microsoft.resources/deployments" => return self.nested(r, level, v).await,
            _ if t.ends_with("roleassignments") => self.role_assignment(r, v).await,
            _ => Err(ApiError::bad_request(
                "NoRegisteredProviderFound",
                format!(
                    "The resource type '{}' is not supported by this server.",
                    r.resource_type
                ),
            )),
        };
        result.map_err(|e| detail(&e))
    }

    async fn workspace(
        &self,
        r: &PlannedResource,
        level: &Level,
        v: Value,
    ) -> Result<(), ApiError> {
        let id = level.group.workspace(WorkspaceName::parse(&r.name)?);
        let put: workspaces::WorkspacePut = serde_json::from_value(v).map_err(|e| {
            ApiError::invalid_content(
                "(resource)",
                format!("The workspace definition is not valid: {e}."),
            )
        })?;
        workspaces::apply(&self.state, &self.principal, self.remote, &id, put).await?;
        Ok(())
    }

    async fn storage_account(
        &self,
        r: &PlannedResource,
        level: &Level,
        v: Value,
    ) -> Result<(), ApiError> {
        let id = level
            .group
            .storage_account(StorageAccountName::parse(&r.name)?);
        let put: storage::StoragePut = serde_json::from_value(v).map_err(|e| {
            ApiError::invalid_content(
                "(resource)",
                format!("The storage account definition is not valid: {e}."),
            )
        })?;
        let spec = storage::validate_put(put)?;
        authorize(&self.principal, super::actions::STORAGE_WRITE, &id.to_id())?;
        storage::apply(&self.state, &self.principal, self.remote, &id, spec).await?;
        Ok(())
    }

    /// `fileServices/default` and `blobServices/default` of an account: accepted (qws serves
    /// blobs only and keeps no service settings), after checking the account exists.
    async fn storage_service(&self, r: &PlannedResource, level: &Level) -> Result<(), ApiError> {
        let (account, service) = r.name.split_once('/').unwrap_or((&r.name, ""));
        if !service.eq_ignore_ascii_case("default") {
            return Err(ApiError::bad_request(
                "InvalidResourceName",
                format!(
                    "The name of a storage service must be '<account>/default', not '{}'.",
                    r.name
                ),
            ));
        }
        let id = level
            .group
            .storage_account(StorageAccountName::parse(account)?);
        let sub_type = r.resource_type.rsplit('/').next().unwrap_or("");
        authorize(
            &self.principal,
            &format!("Microsoft.Storage/storageAccounts/{sub_type}/write"),
            &r.id,
        )?;
        storage::load(&self.state, &id).await?;
        Ok(())
    }

    /// A role assignment (`…/providers/roleAssignments` extension type or
    /// `Microsoft.Authorization/roleAssignments`), stored like `PUT …/roleAssignments/{guid}`.
    async fn role_assignment(&self, r: &PlannedResource, v: Value) -> Result<(), ApiError> {
        const MARK: &str = "/providers/microsoft.authorization/roleassignments/";
        let at = r.id.to_ascii_lowercase().rfind(MARK).ok_or_else(|| {
            ApiError::bad_request(
                "InvalidRoleAssignmentId",
                format!("'{}' is not a role assignment id (…/providers/Microsoft.Authorization/roleAssignments/<guid>).", r.id),
            )
        })?;
        let (scope_text, name) = (&r.id[..at], &r.id[at + MARK.len()..]);
        let scope =
            RbacScope::parse(scope_text).map_err(|e| ApiError::bad_request("InvalidScope", e.0))?;
        let props = v.get("properties").cloned().unwrap_or(Value::Null);
        let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
        if text("condition").is_some_and(|c| !c.trim().is_empty()) {
            return Err(ApiError::bad_request(
                "RoleAssignmentConditionNotSupported",
                "Role assignment conditions are not supported by this server.",
            ));
        }
        let role = text("roleDefinitionId").ok_or_else(|| {
            ApiError::invalid_content(
                "properties.roleDefinitionId",
                "The role definition id is required.",
            )
        })?;
        let pid = text("principalId")
            .and_then(|p| uuid::Uuid::parse_str(&p).ok().filter(|_| p.len() == 36))
            .map(|u| u.to_string())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "InvalidPrincipalId",
                    "A valid principal ID must be provided for role assignment.",
                )
            })?;
        crate::planes::authorization::require_scope(&self.state, &scope).await?;
        if let Some(account) = StorageAccountId::parse(scope.as_str()) {
            storage::load(&self.state, &account).await?;
        }
        authorize(
            &self.principal,
            rbac_actions::ROLE_ASSIGNMENTS_WRITE,
            scope.as_str(),
        )?;
        let tenant = self.state.ids.tenant_id.clone();
        let p2 = pid.clone();
        let object = self
            .state
            .db(move |s| Ok(s.identity().object(&p2)))
            .await?
            .map_err(|e| crate::planes::authorization::arm_error(e, &tenant))?
            .ok_or_else(|| crate::planes::authorization::principal_not_found(&pid, &tenant))?;
        let actual = object.kind.principal_type();
        if let Some(stated) = text("principalType") {
            if !stated.eq_ignore_ascii_case(actual.as_str()) {
                return Err(ApiError::bad_request(
                    "UnmatchedPrincipalType",
                    format!(
                        "The PrincipalId '{}' has type '{}', which is different from specified PrincipalType '{}'.",
                        pid.replace('-', ""),
                        actual.as_str(),
                        stated.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
        let actor = self.principal.principal.object_id.clone();
        let (n, sc, description) = (name.to_string(), scope.clone(), text("description"));
        let outcome = self
            .state
            .db(move |s| {
                Ok(s.identity().put_role_assignment(AssignmentRequest {
                    name: &n,
                    scope: &sc,
                    role_definition_id: &role,
                    principal_id: &pid,
                    principal_type: Some(actual),
                    description: description.as_deref(),
                    actor: Some(&actor),
                }))
            })
            .await?;
        let (a, _) = outcome.map_err(|e| crate::planes::authorization::arm_error(e, &tenant))?;
        self.state.audit(
            &self.principal.audit_name(),
            AuditAction::RoleAssignmentWrite,
            &a.resource_id(),
            &format!(
                "success: role {} to {} {} (deployment)",
                a.role_definition_id,
                a.principal_type.as_str(),
                a.principal_id
            ),
            self.remote,
        )?;
        Ok(())
    }

    /// A nested `Microsoft.Resources/deployments`: recorded as a deployment of its own and run
    /// with the outer level's parameters and variables (ARM's default `outer` scope), or with
    /// its own template's (`expressionEvaluationOptions.scope: inner`).
    async fn nested(
        &self,
        r: &PlannedResource,
        level: &Level,
        v: Value,
    ) -> Result<(), ErrorDetail> {
        let fail = |e: ApiError| detail(&e);
        let id = level
            .group
            .deployment(DeploymentName::parse(&r.name).map_err(|e| fail(e.into()))?);
        authorize(
            &self.principal,
            super::actions::DEPLOYMENT_WRITE,
            &id.to_id(),
        )
        .map_err(fail)?;
        let props = v.get("properties").cloned().unwrap_or(Value::Null);
        check_mode(props.get("mode").and_then(Value::as_str)).map_err(fail)?;
        let inner_template = r.body["properties"]["template"].clone();
        let inner = props
            .pointer("/expressionEvaluationOptions/scope")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("inner"));
        let nested_level = if inner {
            let supplied = props
                .get("parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let fresh = Level::new(&level.group, &level.location, &inner_template);
            let (st, t) = (self.state.clone(), inner_template.clone());
            self.state
                .db(move |store| Ok(prepare(&st, store, fresh, &t, &supplied)))
                .await
                .map_err(fail)?
                .map_err(|e| template_detail(&e.in_resource(&r.name, &r.resource_type)))?
        } else {
            level.clone()
        };
        let shown = if inner {
            nested_level.parameters_as_arm()
        } else {
            Map::new()
        };
        let doc = new_doc(&id, &shown, &uuid::Uuid::new_v4().to_string());
        let mut p = Progress::new(id, doc);
        let outcome = self.run_level(&mut p, &inner_template, nested_level).await;
        p.finish(&outcome);
        p.save(&self.state).await;
        outcome.map_err(|e| ErrorDetail {
            code: "DeploymentFailed".into(),
            message: format!("The nested deployment '{}' failed.", r.name),
            target: Some(r.id.clone()),
            details: vec![e],
        })
    }
}
