//! A router that remembers what it serves.
//!
//! The planes whose routes are authorized (management, `Microsoft.Authorization`, directory,
//! data plane) declare each method of each path through [`Routes`], which adds it to the axum
//! router *and* to a list of [`RouteDef`]s. The list is therefore the router's own and cannot
//! drift from it: [`crate::routes::route_table`] hands it to the authorization matrix test,
//! which fails when a served route has no row saying which action it needs.

use crate::state::AppState;
use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;

/// One served method of one path template (in canonical spelling, axum's `{param}` syntax).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteDef {
    /// `GET`, `PUT`, `POST`, `PATCH`, `DELETE` or `HEAD`.
    pub method: &'static str,
    /// The path template, e.g. `/subscriptions/{sub}/resourceGroups/{rg}`.
    pub path: String,
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
        });
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
