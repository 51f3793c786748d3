//! Typed resource paths: extractors that turn the `{sub}`, `{rg}`, `{ws}` and `{loc}` segments
//! of a matched route into validated `qws_core` ids, so a handler never sees an unchecked name
//! and never formats an id by hand ([`Scoped::scope`] is the id, from `qws_core::resource_id`).
//!
//! Management paths are checked in ARM's order — subscription (well-formed, then existing),
//! resource group, workspace — and refused with ARM's ErrorResponse. The data plane reads the
//! same segments through [`RawWorkspacePath`] and decides itself how an invalid name is
//! answered (its refusals must not tell which part was wrong).
//!
//! [`Authorized`] adds the authorization decision to a path: `Authorized<WorkspacePath, A>`
//! is a workspace the caller may perform action `A` on, decided by [`crate::auth::authorize`]
//! in this one place.

use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use qws_core::names::{Location, NameError, SubscriptionId};
use qws_core::resource_id::{self, DeploymentId, ResourceGroupId, StorageAccountId, WorkspaceId};
use std::marker::PhantomData;

/// The segments of the matched route, percent-decoded but not validated.
async fn raw_params(parts: &mut Parts, state: &AppState) -> Result<RawPathParams, ApiError> {
    RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::bad_request("InvalidPath", e.body_text()))
}

/// The value of `{name}` (empty if the route has no such segment).
fn segment<'a>(params: &'a RawPathParams, name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Parses `{sub}` and checks that the subscription exists (`SubscriptionNotFound` naming the
/// value as sent).
async fn existing_subscription(state: &AppState, raw: &str) -> Result<SubscriptionId, ApiError> {
    let id = SubscriptionId::parse(raw)?;
    match state.db(move |s| s.get_subscription(&id)).await? {
        Some(_) => Ok(id),
        None => Err(ApiError::subscription_not_found(raw)),
    }
}

/// A resource that authorization decisions are made over.
pub trait Scoped {
    /// The ARM resource id used as the authorization scope.
    fn scope(&self) -> String;
}

/// `{sub}`: an existing subscription.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionPath(pub SubscriptionId);

impl FromRequestParts<AppState> for SubscriptionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = raw_params(parts, state).await?;
        Ok(SubscriptionPath(
            existing_subscription(state, segment(&params, "sub")).await?,
        ))
    }
}

impl Scoped for SubscriptionPath {
    fn scope(&self) -> String {
        resource_id::subscription_id(&self.0)
    }
}

/// `{sub}/{rg}`: a valid resource group name in an existing subscription (the group itself
/// may not exist: PUT creates it, the handlers answer `ResourceGroupNotFound`).
#[derive(Debug, Clone)]
pub struct GroupPath(pub ResourceGroupId);

impl FromRequestParts<AppState> for GroupPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = raw_params(parts, state).await?;
        let subscription = existing_subscription(state, segment(&params, "sub")).await?;
        Ok(GroupPath(ResourceGroupId {
            subscription,
            resource_group: qws_core::names::ResourceGroupName::parse(segment(&params, "rg"))?,
        }))
    }
}

impl Scoped for GroupPath {
    fn scope(&self) -> String {
        self.0.to_id()
    }
}

/// `{sub}/{rg}/{ws}`: valid names in an existing subscription (neither group nor workspace is
/// looked up).
#[derive(Debug, Clone)]
pub struct WorkspacePath(pub WorkspaceId);

impl FromRequestParts<AppState> for WorkspacePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let GroupPath(group) = GroupPath::from_request_parts(parts, state).await?;
        let params = raw_params(parts, state).await?;
        let ws = qws_core::names::WorkspaceName::parse(segment(&params, "ws"))?;
        Ok(WorkspacePath(group.workspace(ws)))
    }
}

impl Scoped for WorkspacePath {
    fn scope(&self) -> String {
        self.0.to_id()
    }
}

/// `{sub}/{rg}/…/storageAccounts/{account}`: a valid account name in an existing subscription
/// (neither group nor account is looked up).
#[derive(Debug, Clone)]
pub struct StorageAccountPath(pub StorageAccountId);

impl FromRequestParts<AppState> for StorageAccountPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let GroupPath(group) = GroupPath::from_request_parts(parts, state).await?;
        let params = raw_params(parts, state).await?;
        let name = qws_core::names::StorageAccountName::parse(segment(&params, "account"))?;
        Ok(StorageAccountPath(group.storage_account(name)))
    }
}

impl Scoped for StorageAccountPath {
    fn scope(&self) -> String {
        self.0.to_id()
    }
}

/// `{sub}/{rg}/…/Microsoft.Resources/deployments/{deployment}`: a valid deployment name in an
/// existing subscription (the group is not looked up).
#[derive(Debug, Clone)]
pub struct DeploymentPath(pub DeploymentId);

impl FromRequestParts<AppState> for DeploymentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let GroupPath(group) = GroupPath::from_request_parts(parts, state).await?;
        let params = raw_params(parts, state).await?;
        let name = qws_core::names::DeploymentName::parse(segment(&params, "deployment"))?;
        Ok(DeploymentPath(group.deployment(name)))
    }
}

impl Scoped for DeploymentPath {
    fn scope(&self) -> String {
        self.0.to_id()
    }
}

/// `{sub}/…/locations/{loc}`: an existing subscription and a valid location.
#[derive(Debug, Clone)]
pub struct LocationPath {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The location.
    pub location: Location,
}

impl FromRequestParts<AppState> for LocationPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = raw_params(parts, state).await?;
        let subscription = existing_subscription(state, segment(&params, "sub")).await?;
        Ok(LocationPath {
            subscription,
            location: Location::parse(segment(&params, "loc"))?,
        })
    }
}

impl Scoped for LocationPath {
    fn scope(&self) -> String {
        resource_id::location_id(&self.subscription, &self.location)
    }
}

/// `{sub}/{rg}/{ws}` exactly as sent (percent-decoded), for the data plane, which must answer
/// an invalid name the way it answers an unknown workspace.
#[derive(Debug, Clone)]
pub struct RawWorkspacePath {
    /// `{sub}`.
    pub sub: String,
    /// `{rg}`.
    pub rg: String,
    /// `{ws}`.
    pub ws: String,
}

impl RawWorkspacePath {
    /// Reads the segments of the matched route (`None` when they are missing or not UTF-8).
    pub async fn from_parts(parts: &mut Parts, state: &AppState) -> Option<RawWorkspacePath> {
        let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
        let [sub, rg, ws] = ["sub", "rg", "ws"].map(|n| segment(&params, n).to_string());
        (!sub.is_empty() && !rg.is_empty() && !ws.is_empty()).then_some(RawWorkspacePath {
            sub,
            rg,
            ws,
        })
    }

    /// The validated id, if every name is valid.
    pub fn parse(&self) -> Result<WorkspaceId, NameError> {
        WorkspaceId::from_parts(&self.sub, &self.rg, &self.ws)
    }

    /// A case-insensitive key for the path as sent, whether or not it names a valid workspace
    /// (failure counting must not depend on validity either).
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.sub, self.rg, self.ws).to_lowercase()
    }
}

/// A kind of item that a workspace holds by a name of its own choosing (an access token, a
/// webhook): how an invalid `{name}` of that kind is refused.
pub trait ItemKind {
    /// The error code, e.g. `InvalidWebhookName`.
    const INVALID_CODE: &'static str;
    /// The message, saying what a valid name is.
    const INVALID_MESSAGE: &'static str;
}

/// `…/{name}` of a workspace item of kind `K`: 1 to 64 ASCII letters, digits, `-`, `_` or `.`
/// (the names are ours, beyond Azure, so one rule serves every kind). Extract it after the
/// [`Authorized`] path, so that a caller who may not act on the workspace learns nothing from
/// the name check.
#[derive(Debug)]
pub struct ItemName<K> {
    name: String,
    kind: PhantomData<K>,
}

impl<K: ItemKind> ItemName<K> {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 64;

    /// Checks `raw` against the rule.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(ApiError::bad_request(K::INVALID_CODE, K::INVALID_MESSAGE));
        }
        Ok(ItemName {
            name: raw.to_string(),
            kind: PhantomData,
        })
    }

    /// The name, as sent.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The name, as sent.
    pub fn into_string(self) -> String {
        self.name
    }
}

impl<K: ItemKind + Send> FromRequestParts<AppState> for ItemName<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = raw_params(parts, state).await?;
        ItemName::parse(segment(&params, "name"))
    }
}

/// An ARM action a principal can be authorized for.
pub trait Action {
    /// The action string, e.g. `Microsoft.Quantum/Workspaces/read`.
    const NAME: &'static str;
}

/// A path the authenticated caller may perform action `A` on. Extract it after the
/// [`AuthenticatedPrincipal`] (whose extraction is remembered for the request), so that
/// authentication, then path validation, then authorization happen in that order.
#[derive(Debug, Clone)]
pub struct Authorized<P, A> {
    /// The validated path.
    pub path: P,
    /// The caller.
    pub principal: AuthenticatedPrincipal,
    action: PhantomData<A>,
}

impl<P, A> FromRequestParts<AppState> for Authorized<P, A>
where
    P: FromRequestParts<AppState, Rejection = ApiError> + Scoped + Send,
    A: Action + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = AuthenticatedPrincipal::from_request_parts(parts, state).await?;
        let path = P::from_request_parts(parts, state).await?;
        authorize(&principal, A::NAME, &path.scope())?;
        Ok(Authorized {
            path,
            principal,
            action: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Thing;
    impl ItemKind for Thing {
        const INVALID_CODE: &'static str = "InvalidThingName";
        const INVALID_MESSAGE: &'static str = "bad";
    }

    #[test]
    fn item_names_are_1_to_64_letters_digits_dashes_underscores_or_dots() {
        for ok in ["a", "ci-1", "A_b.c", &"x".repeat(64)] {
            assert_eq!(ItemName::<Thing>::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "bad name", "a/b", "é", &"x".repeat(65)] {
            let e = ItemName::<Thing>::parse(bad).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code.as_str()),
                (400, "InvalidThingName"),
                "{bad:?}"
            );
        }
    }
}
