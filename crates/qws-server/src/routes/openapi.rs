//! `GET /openapi.json`: an OpenAPI 3.1 description of the management plane, the
//! `Microsoft.Authorization` and directory APIs and the data plane.
//!
//! The document is generated, never written: its operations are the [`RouteDef`]s that the
//! [`Routes`](super::table::Routes) builder recorded while building the router, so a route
//! cannot be served and undocumented (or documented and unserved). What each operation reads
//! comes from the handler's own extractor types: an `api-version` parameter where the handler
//! takes `QuantumApiVersion` (with the versions qws serves) or `ArmApiVersion`, the data
//! plane's optional `api-version` and paging parameters where it takes `ListQuery`, a key or
//! a bearer token where it takes the data plane's `Caller`, a body where it takes one. Bodies
//! that a route declares ([`Routes::returns`](super::table::Routes::returns)) carry the schema
//! derived from the `qws-core` model type; every operation's error answer is the ARM
//! `ErrorResponse`, derived from `qws_core::error::ErrorResponse`.
//!
//! The route list rather than per-handler annotations is the source because the list *is* the
//! router: an annotation repeats the path and method and can disagree with them.

use super::table::RouteDef;
use crate::api_version::QUANTUM_API_VERSIONS;
use qws_core::error::ErrorResponse;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Paths,
    Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// Name of the API key security scheme (the data plane's `x-ms-quantum-api-key` header).
pub const API_KEY_SCHEME: &str = "apiKey";
/// Name of the bearer token security scheme (tokens from the token service).
pub const BEARER_SCHEME: &str = "bearer";
/// The header a workspace access key travels in.
pub const API_KEY_HEADER: &str = "x-ms-quantum-api-key";

/// The document as served, built once.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string(&document(&super::route_table()))
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    });
    &JSON
}

/// Serves [`json`].
pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json(),
    )
        .into_response()
}

/// The OpenAPI document of `routes`.
pub fn document(routes: &[RouteDef]) -> OpenApi {
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    ErrorResponse::schemas(&mut schemas);
    schemas.push((ErrorResponse::name().into_owned(), ErrorResponse::schema()));

    let ids = operation_ids(routes);
    let mut paths = Paths::new();
    for (route, id) in routes.iter().zip(ids) {
        let op = operation(route, id, &mut schemas);
        paths.add_path_operation(&route.path, vec![http_method(route.method)], op);
    }

    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from qws's token service (OAuth2 client credentials, \
                         device code, authorization code or managed identity), for the \
                         audience of the plane called.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                API_KEY_HEADER,
                "A workspace access key (primary or secondary), where the workspace allows keys.",
            ))),
        )
        .build();

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("qws")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The routes of a qws server: the Azure Resource Manager compatible \
                     management plane (subscriptions, resource groups, Microsoft.Quantum \
                     workspaces, storage accounts, deployments), Microsoft.Authorization role \
                     assignments and definitions, the qws directory API and the Azure Quantum \
                     data plane (jobs, sessions, quotas, provider status, storage). Generated \
                     from the server's route table.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

fn http_method(m: &str) -> HttpMethod {
    match m {
        "PUT" => HttpMethod::Put,
        "POST" => HttpMethod::Post,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "HEAD" => HttpMethod::Head,
        _ => HttpMethod::Get,
    }
}

/// `module_function` of each route's handler, with the method appended where one handler
/// serves several routes, and a number where it serves one method at several paths
/// (operation ids must be unique).
fn operation_ids(routes: &[RouteDef]) -> Vec<String> {
    let base: Vec<String> = routes
        .iter()
        .map(|r| {
            let mut parts = r.handler.rsplit("::");
            let function = parts.next().unwrap_or("handler");
            match parts.next() {
                Some(module) => format!("{module}_{function}"),
                None => function.to_string(),
            }
        })
        .collect();
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &base {
        *uses.entry(b.as_str()).or_insert(0) += 1;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    base.iter()
        .zip(routes)
        .map(|(b, r)| {
            if uses[b.as_str()] == 1 {
                return b.clone();
            }
            let id = format!("{b}_{}", r.method.to_ascii_lowercase());
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                id
            } else {
                format!("{id}_{n}")
            }
        })
        .collect()
}

/// The tag of a handler: its module under `planes` (`mgmt.workspaces`, `dataplane.jobs`).
fn tag(handler: &str) -> String {
    let parts: Vec<&str> = handler.split("::").collect();
    let from = parts
        .iter()
        .position(|p| *p == "planes")
        .map_or(0, |i| i + 1);
    let to = parts.len().saturating_sub(1).max(from);
    let t = parts[from..to].join(".");
    if t.is_empty() {
        "other".into()
    } else {
        t
    }
}

/// Whether the handler takes an extractor of this type (by its last path segment).
fn takes(route: &RouteDef, type_name: &str) -> bool {
    route
        .extractors
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .any(|t| t.rsplit("::").next() == Some(type_name))
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A query parameter.
fn query(name: &str, required: bool, description: &str, schema: ObjectBuilder) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
}

/// `YYYY-MM-DD` with an optional `-preview`/`-beta`/`-alpha`.
const API_VERSION_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}(-(preview|beta|alpha))?$";

fn operation(
    route: &RouteDef,
    id: String,
    schemas: &mut Vec<(String, RefOr<Schema>)>,
) -> Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(id))
        .tag(tag(route.handler));

    for name in path_params(&route.path) {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string_schema())),
        );
    }

    if takes(route, "QuantumApiVersion") {
        let versions = QUANTUM_API_VERSIONS.iter().map(|v| v.to_string());
        op = op.parameter(query(
            "api-version",
            true,
            "A Microsoft.Quantum api-version that qws serves.",
            string_schema().enum_values(Some(versions)),
        ));
    } else if takes(route, "ArmApiVersion") {
        op = op.parameter(query(
            "api-version",
            true,
            "Any well-formed api-version (these endpoints are the same in every version).",
            string_schema().pattern(Some(API_VERSION_PATTERN)),
        ));
    } else if takes(route, "ListQuery") {
        op = op.parameter(query(
            "api-version",
            false,
            "The data-plane api-version (any well-formed version is served).",
            string_schema().pattern(Some(API_VERSION_PATTERN)),
        ));
        if route.method == "GET" && !route.path.ends_with('}') {
            op = op
                .parameter(query(
                    "filter",
                    false,
                    "OData-style filter, e.g. `Status eq 'Succeeded'` (also `$filter`).",
                    string_schema(),
                ))
                .parameter(query(
                    "orderby",
                    false,
                    "Sort order, e.g. `CreationTime desc` (also `$orderby`).",
                    string_schema(),
                ))
                .parameter(query(
                    "skip",
                    false,
                    "Items to skip (also `$skip`).",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .parameter(query(
                    "top",
                    false,
                    "Page size (also `$top`).",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ));
        }
    }

    if takes(route, "PreferWait") {
        op = op.parameter(
            ParameterBuilder::new()
                .name("Prefer")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "`wait=N` (RFC 7240): answer once the job has ended or N seconds (at most 60) have passed; the answer then carries `Preference-Applied`.",
                ))
                .schema(Some(string_schema())),
        );
    }

    if let Some(body) = request_body(route, schemas) {
        op = op.request_body(Some(body));
    }

    let mut success = ResponseBuilder::new().description("Success");
    if let Some(returns) = route.returns {
        success = success.content(
            "application/json",
            ContentBuilder::new().schema(Some(returns(schemas))).build(),
        );
    }
    let error = ResponseBuilder::new()
        .description("An error in the ARM shape (`{\"error\": {\"code\", \"message\"}}`).")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorResponse::name())))
                .build(),
        );
    op = op.responses(
        ResponsesBuilder::new()
            .response("2XX", success)
            .response("default", error),
    );

    op = op.security(SecurityRequirement::new(
        BEARER_SCHEME,
        Vec::<String>::new(),
    ));
    if takes(route, "Caller") {
        op = op.security(SecurityRequirement::new(
            API_KEY_SCHEME,
            Vec::<String>::new(),
        ));
    }
    op.build()
}

/// The request body the handler reads, if any.
fn request_body(
    route: &RouteDef,
    schemas: &mut Vec<(String, RefOr<Schema>)>,
) -> Option<utoipa::openapi::request_body::RequestBody> {
    let (content_type, schema): (&str, RefOr<Schema>) = if let Some(accepts) = route.accepts {
        ("application/json", accepts(schemas))
    } else if takes(route, "ArmJson") || takes(route, "Json") || takes(route, "Bytes") {
        // A JSON document whose model is not declared on the route.
        ("application/json", ObjectBuilder::new().into())
    } else if takes(route, "Request") {
        // The handler reads the raw request (the storage proxy relays any body).
        ("*/*", ObjectBuilder::new().into())
    } else {
        return None;
    };
    Some(
        RequestBodyBuilder::new()
            .content(
                content_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build(),
    )
}

/// The `{name}` parameters of a path template.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}
