//! A router that remembers what it serves.
//!
//! The planes whose routes are authorized (management, `Microsoft.Authorization`, directory,
//! data plane) declare each method of each path through [`Routes`], which adds it to the axum
//! router *and* to a list of [`RouteDef`]s. The list is therefore the router's own and cannot
//! drift from it: [`crate::routes::route_table`] hands it to the authorization matrix test,
//! which fails when a served route has no row saying which action it needs, and
//! [`crate::routes::openapi`] describes the same list as an OpenAPI document.

use crate::state::AppState;
use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

/// One served method of one path template (in canonical spelling, axum's `{param}` syntax).
#[derive(Debug, Clone)]
pub struct RouteDef {
    /// `GET`, `PUT`, `POST`, `PATCH`, `DELETE` or `HEAD`.
    pub method: &'static str,
    /// The path template, e.g. `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub path: String,
    /// The handler function's full name (`qws_server::planes::mgmt::arm::get_group`).
    pub handler: &'static str,
    /// The handler's extractor types, as one type name: what it reads from the request
    /// (`QuantumApiVersion`, `ArmJson<…>`, …) without a second list to keep in step.
    pub extractors: &'static str,
    /// The success body's schema, where the route declares it ([`Routes::returns`]).
    pub returns: Option<SchemaOf>,
    /// The request body's schema, where the route declares it ([`Routes::accepts`]).
    pub accepts: Option<SchemaOf>,
}

/// A type's JSON schema: adds the named schemas it refers to, returns its own.
pub type SchemaOf = fn(&mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema>;

fn schema_of<T: ToSchema>(components: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    T::schemas(components);
    T::schema()
}

/// An axum router plus the list of what it routes.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    defs: Vec<RouteDef>,
}

macro_rules! method {
    ($($fn:ident => $filter:ident, $name:literal;)*) => {$(
        #[doc = concat!("Serves `", $name, " path` with `handler`.")]
        pub fn $fn<H, T>(self, path: &str, handler: H) -> Routes
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add($name, MethodFilter::$filter, path, handler)
        }
    )*};
}

impl Routes {
    /// No routes.
    pub fn new() -> Routes {
        Routes::default()
    }

    method! {
        get => GET, "GET";
        put => PUT, "PUT";
        post => POST, "POST";
        patch => PATCH, "PATCH";
        delete => DELETE, "DELETE";
        head => HEAD, "HEAD";
    }

    fn add<H, T>(mut self, method: &'static str, filter: MethodFilter, path: &str, h: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // axum merges the method routers of one path; a method declared twice panics there.
        self.router = self.router.route(path, on(filter, h));
        self.defs.push(RouteDef {
            method,
            path: path.to_string(),
            handler: std::any::type_name::<H>(),
            extractors: std::any::type_name::<T>(),
            returns: None,
            accepts: None,
        });
        self
    }

    /// Declares that the route added last answers with a `T` (for the API description).
    pub fn returns<T: ToSchema>(mut self) -> Routes {
        if let Some(last) = self.defs.last_mut() {
            last.returns = Some(schema_of::<T>);
        }
        self
    }

    /// Declares that the route added last reads a `T` body (for the API description).
    pub fn accepts<T: ToSchema>(mut self) -> Routes {
        if let Some(last) = self.defs.last_mut() {
            last.accepts = Some(schema_of::<T>);
        }
        self
    }

    /// Applies `f` (e.g. a body limit layer) to the routes declared so far.
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Routes {
        self.router = f(self.router);
        self
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.defs.extend(other.defs);
        self
    }

    /// What is routed.
    pub fn defs(&self) -> &[RouteDef] {
        &self.defs
    }

    /// The axum router.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
