//! The HTTP surface: the router over the planes in [`crate::planes`] (identity, mgmt,
//! dataplane, blob).
//!
//! ARM paths are case-insensitive in their fixed segments. [`normalize`] rewrites those segments
//! to canonical spelling before routing, so routes are declared once, in canonical form, and
//! names keep the caller's case.
//!
//! Adding a plane: give its module (as `crate::planes::dataplane` does) a `router() -> Router<AppState>`,
//! merge it in [`app`], add its fixed path words to `normalize::TYPE_WORDS`, and authenticate with
//! [`crate::auth::authenticate_bearer`] (e.g. with `DATA_PLANE_AUDIENCES`) or the key check
//! [`crate::state::AppState::check_api_key`], recording failures through [`crate::auth::gate`]
//! (verify first, count only failures). Errors are [`ApiError`] (the ARM/Azure
//! `{"error": {...}}` shape).

pub mod normalize;
pub mod openapi;
pub mod table;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The planes whose routes need an authenticated, authorized caller, by name: everything but
/// the token service (the identity plane, public by nature) and the blob service (SAS and
/// shared keys).
fn authorized_planes() -> [(&'static str, table::Routes); 4] {
    [
        ("mgmt", crate::planes::mgmt::router()),
        ("dataplane", crate::planes::dataplane::router()),
        ("authorization", crate::planes::authorization::router()),
        ("directory", crate::planes::directory::router()),
    ]
}

/// The routes that answer without credentials by design, by name: the health probes.
fn unauthenticated_planes() -> [(&'static str, table::Routes); 1] {
    [("health", crate::planes::health::router())]
}

/// Every method and path template of [`unauthenticated_planes`]: the authorization matrix test
/// checks that each answers without credentials and is not in [`route_table`].
pub fn unauthenticated_route_table() -> Vec<table::RouteDef> {
    unauthenticated_planes()
        .iter()
        .flat_map(|(_, routes)| routes.defs().to_vec())
        .collect()
}

/// The router of a `worker` node: the health probes only.
pub fn health_only(state: AppState) -> Router {
    use crate::metrics::tag_plane;
    unauthenticated_planes()
        .into_iter()
        .fold(Router::new(), |all, (name, routes)| {
            all.merge(tag_plane(routes.into_router(), name))
        })
        .fallback(|req: Request| async move { not_found(req.uri().clone()).await.into_response() })
        .layer(axum::middleware::from_fn(crate::metrics::observe_request))
        .with_state(state)
}

/// Every method and path template of [`authorized_planes`], from the routes themselves: the
/// authorization matrix test checks that each has a row.
pub fn route_table() -> Vec<table::RouteDef> {
    authorized_planes()
        .iter()
        .flat_map(|(_, routes)| routes.defs().to_vec())
        .collect()
}

/// The complete application router.
pub fn app(state: AppState) -> Router {
    use crate::metrics::tag_plane;
    let authorized = authorized_planes()
        .into_iter()
        .fold(Router::new(), |all, (name, routes)| {
            all.merge(tag_plane(routes.into_router(), name))
        });
    let unauthenticated = unauthenticated_planes()
        .into_iter()
        .fold(Router::new(), |all, (name, routes)| {
            all.merge(tag_plane(routes.into_router(), name))
        });
    Router::new()
        .merge(unauthenticated)
        .merge(tag_plane(crate::planes::identity::router(), "identity"))
        .merge(authorized)
        // The API description is public, like the token service's metadata documents.
        .merge(tag_plane(
            Router::new().route("/openapi.json", axum::routing::get(openapi::serve)),
            "meta",
        ))
        .merge(tag_plane(
            crate::planes::portal::router(state.clone()),
            "portal",
        ))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed_or_blob)
        // Inside the router, so that it sees the matched route template.
        .layer(axum::middleware::from_fn(crate::metrics::observe_request))
        .with_state(state)
}

/// Unrouted requests: blob requests go to the blob service, the rest get ARM's 404.
async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    if crate::planes::blob::is_blob_request(&req) {
        crate::planes::blob::handle(state, req).await
    } else {
        not_found(req.uri().clone()).await.into_response()
    }
}

/// A blob path can collide with a fixed route (e.g. a blob named `oauth2/token`); blob requests
/// still reach the blob service.
async fn method_not_allowed_or_blob(State(state): State<AppState>, req: Request) -> Response {
    if crate::planes::blob::is_blob_request(&req) {
        crate::planes::blob::handle(state, req).await
    } else {
        method_not_allowed(req.method().clone(), req.uri().clone())
            .await
            .into_response()
    }
}

async fn not_found(uri: Uri) -> ApiError {
    let path = uri.path();
    let lower = path.to_ascii_lowercase();
    if let Some(idx) = lower.find("/providers/microsoft.quantum/") {
        let rest = &path[idx + "/providers/microsoft.quantum/".len()..];
        let ty = rest.split('/').next().unwrap_or("");
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            format!(
                "The resource type '{}' could not be found in the namespace 'Microsoft.Quantum'.",
                ty.chars().take(100).collect::<String>()
            ),
        );
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "No HTTP resource was found that matches the request URI '{}'.",
            path.chars().take(300).collect::<String>()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "The HTTP method '{method}' is not supported for the request URI '{}'.",
            uri.path().chars().take(300).collect::<String>()
        ),
    )
}
