//! The signed-in portal user ([`Portal`]) and how the portal acts for them: every read and
//! every change is a request to qws's own API (management, data and authorization planes),
//! sent in-process through the same router with a short-lived token minted for the user. So
//! the portal has no authorization logic and no domain logic of its own: a Reader is refused
//! in the portal exactly where the API refuses them, with the API's reason.

use super::html::{self, Chrome};
use super::session::{self, Session};
use crate::auth::AuthenticatedPrincipal;
use crate::http::conn::ConnInfo;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use qws_store::identity::User;
use serde_json::Value;

/// The application id the portal signs its users' tokens with (a fixed GUID, as Entra's
/// portal has one).
pub const PORTAL_APP_ID: &str = "2c5e9a3f-7d41-4e0b-9c6a-51b0f3d8e7a2";

/// ARM api-version of Microsoft.Quantum requests.
pub const QUANTUM_API: &str = "2025-11-01-preview";
/// api-version of ARM's own endpoints (subscriptions, resource groups).
pub const ARM_API: &str = "2022-12-01";
/// api-version of role assignments.
pub const AUTHZ_API: &str = "2022-04-01";
/// api-version of data-plane requests.
pub const DATA_API: &str = "2025-12-01-preview";

/// The largest API answer the portal reads (job lists, job output).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// Which plane a call goes to (which token audience it needs).
#[derive(Debug, Clone, Copy)]
pub enum Plane {
    /// Management and authorization (ARM).
    Arm,
    /// The Azure Quantum data plane.
    Data,
}

/// An API answer: status, headers, body.
pub type Answer = (StatusCode, axum::http::HeaderMap, bytes::Bytes);

/// A refusal or failure, shown to the user as a page that says why.
#[derive(Debug)]
pub struct PortalError {
    /// Status of the page.
    pub status: StatusCode,
    /// What happened, in the API's words.
    pub message: String,
}

impl PortalError {
    /// A failure with a fixed text.
    pub fn new(status: StatusCode, message: impl Into<String>) -> PortalError {
        PortalError {
            status,
            message: message.into(),
        }
    }

    pub fn internal() -> PortalError {
        PortalError::new(StatusCode::INTERNAL_SERVER_ERROR, "The portal failed.")
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let chrome = Chrome {
            user: None,
            csrf: "",
        };
        let title = if self.status == StatusCode::FORBIDDEN {
            "Not allowed"
        } else {
            "Something went wrong"
        };
        html::page(
            self.status,
            title,
            &chrome,
            None,
            &format!(
                "{}<p><a href=\"/portal/\">Back to the portal home</a></p>",
                html::notice("error", &self.message)
            ),
        )
    }
}

/// A signed-in portal request.
pub struct Portal {
    /// Shared state.
    pub state: AppState,
    /// The user.
    pub user: User,
    /// The session.
    pub session: Session,
    /// The connection.
    pub conn: ConnInfo,
    host: Option<HeaderValue>,
}

impl FromRequestParts<AppState> for Portal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let conn = ConnInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let to_signin = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|p| p.starts_with("/portal/"))
                .unwrap_or("/portal/");
            super::signin::start(state, next)
        };
        let Some(session) = session::cookie_value(&parts.headers, session::COOKIE)
            .and_then(|c| state.portal_sessions.touch(c))
        else {
            return Err(to_signin());
        };
        let oid = session.user_oid.clone();
        let user = state
            .db(move |s| s.identity().user(&oid).map_err(qws_store::StoreError::from))
            .await
            .map_err(|_| PortalError::internal().into_response())?;
        match user {
            Some(user) if user.enabled => Ok(Portal {
                state: state.clone(),
                user,
                session,
                conn,
                host: parts.headers.get(header::HOST).cloned(),
            }),
            _ => {
                state.portal_sessions.revoke_user(&session.user_oid);
                Err(to_signin())
            }
        }
    }
}

impl Portal {
    /// The header's view of the user.
    pub fn chrome(&self) -> Chrome<'_> {
        Chrome {
            user: Some((&self.user.display_name, &self.user.user_principal_name)),
            csrf: &self.session.csrf,
        }
    }

    /// A page for this user.
    pub fn page(&self, title: &str, nav: Option<&html::WsNav<'_>>, main: &str) -> Response {
        html::page(StatusCode::OK, title, &self.chrome(), nav, main)
    }

    /// Checks a state-changing request's CSRF token (form field `csrf` or header
    /// `X-CSRF-Token`).
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), PortalError> {
        match presented {
            Some(t) if session::same_token(t, &self.session.csrf) => Ok(()),
            _ => Err(PortalError::new(
                StatusCode::FORBIDDEN,
                "The form was stale or did not come from the portal (missing or wrong CSRF token). Reload the page and try again.",
            )),
        }
    }

    fn token(&self, plane: Plane) -> Result<String, PortalError> {
        let aud = match plane {
            Plane::Arm => crate::auth::MANAGEMENT_AUDIENCES[2],
            Plane::Data => crate::auth::DATA_PLANE_AUDIENCES[0],
        };
        crate::planes::signin::mint_user(
            &self.state,
            &self.state.urls.https,
            crate::planes::identity::Flavor::V2,
            &self.user,
            PORTAL_APP_ID,
            aud,
        )
        .map(|(t, _)| t)
        .map_err(|_| PortalError::internal())
    }

    /// The user as the API sees them, for questions such as "may this user list keys here?"
    /// answered by [`crate::auth::authorize`] itself.
    pub async fn principal(&self) -> Result<AuthenticatedPrincipal, PortalError> {
        let token = self.token(Plane::Arm)?;
        let claims = self
            .state
            .signer
            .verify(&token)
            .map_err(|_| PortalError::internal())?;
        let principal = qws_store::Principal {
            client_id: PORTAL_APP_ID.into(),
            object_id: self.user.object_id.clone(),
            tenant_id: self.user.tenant_id.clone(),
            display_name: self.user.display_name.clone(),
            is_admin: false,
        };
        let access = {
            let principal = principal.clone();
            self.state
                .db(move |s| crate::auth::Access::read(s, &principal))
                .await
                .map_err(|_| PortalError::internal())?
        };
        Ok(AuthenticatedPrincipal {
            principal,
            claims,
            access: std::sync::Arc::new(access),
        })
    }

    /// Sends one API request as the user; returns status, headers and body.
    pub async fn send(
        &self,
        plane: Plane,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Answer, PortalError> {
        let token = self.token(plane)?;
        self.send_with(Some(&token), method, path_and_query, body)
            .await
    }

    /// GETs a blob through its SAS URL (what the job's `inputDataUri`/`outputDataUri` name),
    /// in-process: the SAS itself authorizes it, as it would for any client.
    pub async fn get_sas(&self, url: &str) -> Result<Answer, PortalError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| PortalError::new(StatusCode::NOT_FOUND, "The job names no data there."))?;
        let pq = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        };
        self.send_with(None, Method::GET, &pq, None).await
    }

    async fn send_with(
        &self,
        token: Option<&str>,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Answer, PortalError> {
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path_and_query);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(h) = &self.host {
            req = req.header(header::HOST, h.clone());
        }
        let req = match body {
            Some(v) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => req.body(Body::empty()),
        };
        let mut req = req.map_err(|_| PortalError::internal())?;
        req.extensions_mut().insert(self.conn);
        let app = crate::routes::app(self.state.clone());
        let resp = tower::ServiceExt::oneshot(app, req)
            .await
            .map_err(|e| match e {})?;
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ANSWER)
            .await
            .map_err(|_| PortalError::internal())?;
        Ok((parts.status, parts.headers, bytes))
    }

    /// Sends a request and reads its JSON answer; an error answer becomes a [`PortalError`]
    /// carrying the API's message.
    pub async fn json(
        &self,
        plane: Plane,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, PortalError> {
        let (status, _, bytes) = self.send(plane, method, path_and_query, body).await?;
        let v: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(v);
        }
        let message = v["error"]["message"]
            .as_str()
            .or_else(|| v["message"].as_str())
            .unwrap_or("The request failed.");
        Err(PortalError::new(status, message))
    }

    /// GET from ARM.
    pub async fn arm(&self, path_and_query: &str) -> Result<Value, PortalError> {
        self.json(Plane::Arm, Method::GET, path_and_query, None)
            .await
    }

    /// GET from the data plane.
    pub async fn data(&self, path_and_query: &str) -> Result<Value, PortalError> {
        self.json(Plane::Data, Method::GET, path_and_query, None)
            .await
    }
}

/// A JSON answer of the portal's own script endpoints, never cached.
pub fn json_no_store(v: &Value) -> Response {
    html::secure(
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            v.to_string(),
        )
            .into_response(),
    )
}
