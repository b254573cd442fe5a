//! The HTTP API's contract as an OpenAPI 3.1 document, built from the code: every route of the
//! API function and of the connection function (functions/oauth-callback), their parameters,
//! the request bodies' JSON Schemas generated from the same serde types that parse them
//! (schemars), one error shape, and the JWT security scheme with each route's scopes.
//!
//! `docs/openapi.json` is this document; a test fails when the two differ, and another when a
//! route of infra/template.yaml is missing from it (or the other way round), or its scopes differ.
//! `GET /openapi.json` serves it (public, like `GET /health`).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use schemars::generate::SchemaSettings;

use crate::answers;
use serde_json::{Map, Value, json};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, Paths, Required,
    ResponseBuilder, ResponsesBuilder,
};

/// The security scheme's name in the document.
pub const SECURITY_SCHEME: &str = "PlatformJwt";

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// No token (API Gateway's `Authorizer: NONE`).
    Public,
    /// A platform JWT whose `scope` (or `scp`) claim holds one of these scopes.
    Scopes(&'static [&'static str]),
}

/// What a route answers with a status.
#[derive(Debug, Clone, Copy)]
enum Content {
    /// JSON of the named component schema.
    Json(&'static str),
    /// An HTML page (the admin's browser reads it).
    Html,
    /// A redirect: no body, a `Location` header.
    Redirect,
}

/// A query parameter: name, what it is, its schema.
type Query = (&'static str, &'static str, fn() -> ObjectBuilder);

/// One route of the HTTP API, as the document describes it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'static str,
    /// The path as API Gateway routes it (`/tenants/{tenant_id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    operation_id: &'static str,
    summary: &'static str,
    query: &'static [Query],
    /// The JSON body's component schema and whether a body is required.
    body: Option<(&'static str, bool)>,
    /// The answers it gives besides the common errors.
    answers: &'static [(u16, &'static str, Content)],
    /// The error statuses it answers in the error shape.
    errors: &'static [u16],
}

const READ: Access = Access::Scopes(&["lifecycle.read"]);
const WRITE: Access = Access::Scopes(&["lifecycle.write"]);
const ADMIN: Access = Access::Scopes(&["tenants.admin"]);

fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn boolean() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["true", "false"]))
}

fn items_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(crate::synced::MAX_LIMIT))
}

fn runs_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(crate::synced::MAX_RUNS))
}

fn days() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(3650))
}

fn mode() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["read", "write", "read_only", "read_write"]))
}

const PAGE: &[Query] = &[
    ("limit", "Items per page (default 100).", items_limit),
    ("cursor", "The `next_cursor` of the previous page.", text),
    (
        "include_deleted",
        "`true` to list soft-deleted items too.",
        boolean,
    ),
];

/// Every route of the HTTP API: the API function's, then the connection function's.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/health",
        access: Access::Public,
        operation_id: "health",
        summary: "Liveness: ok and the version when the table answers.",
        query: &[],
        body: None,
        answers: &[
            (
                200,
                "The function and its table answer.",
                Content::Json("Health"),
            ),
            (503, "The table does not answer.", Content::Json("Health")),
        ],
        errors: &[],
    },
    Route {
        method: "GET",
        path: "/openapi.json",
        access: Access::Public,
        operation_id: "openapi",
        summary: "This document.",
        query: &[],
        body: None,
        answers: &[(200, "The OpenAPI 3.1 document.", Content::Json("Object"))],
        errors: &[],
    },
    Route {
        method: "GET",
        path: "/tenants",
        access: READ,
        operation_id: "listTenants",
        summary: "The caller organization's connected tenants.",
        query: &[],
        body: None,
        answers: &[(200, "The tenants.", Content::Json("TenantList"))],
        errors: &[503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}",
        access: READ,
        operation_id: "getTenant",
        summary: "A tenant's connection: status, mode, domains, last sync.",
        query: &[],
        body: None,
        answers: &[(200, "The connection.", Content::Json("TenantConnection"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "DELETE",
        path: "/tenants/{tenant_id}",
        access: ADMIN,
        operation_id: "removeTenant",
        summary: "Removes a tenant: its data and secrets here, the app's access there.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "What was deleted and revoked.",
            Content::Json("Removed"),
        )],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/sync",
        access: WRITE,
        operation_id: "requestSync",
        summary: "Requests a sync run (merged into a pending one).",
        query: &[("full", "`true` for a full sync.", boolean)],
        body: Some(("SyncRequest", false)),
        answers: &[(
            202,
            "The sync run, queued or merged.",
            Content::Json("SyncQueued"),
        )],
        errors: &[400, 404, 409, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/sync-runs",
        access: READ,
        operation_id: "listSyncRuns",
        summary: "The tenant's sync runs, newest first.",
        query: &[("limit", "Runs to list (default 20).", runs_limit)],
        body: None,
        answers: &[(200, "A page of sync runs.", Content::Json("SyncRunLog"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/matches",
        access: READ,
        operation_id: "matchPeople",
        summary: "Matches the platform's people (at most 200) to the tenant's synced accounts.",
        query: &[],
        body: Some(("MatchRequest", true)),
        answers: &[(
            200,
            "Each person's match or suggestions, and the accounts matched to nobody.",
            Content::Json("MatchReport"),
        )],
        errors: &[400, 404, 413, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/matches",
        access: READ,
        operation_id: "listConfirmedMatches",
        summary: "The confirmed matches, each confirmed or broken.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "The confirmed matches.",
            Content::Json("ConfirmedMatches"),
        )],
        errors: &[400, 404, 503],
    },
    Route {
        method: "PUT",
        path: "/tenants/{tenant_id}/matches/{person_id}",
        access: WRITE,
        operation_id: "confirmMatch",
        summary: "Confirms that a person is a synced account of the tenant.",
        query: &[],
        body: Some(("ConfirmMatch", true)),
        answers: &[(200, "The confirmed match.", Content::Json("ConfirmedView"))],
        errors: &[400, 404, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/sync-settings",
        access: READ,
        operation_id: "getSyncSettings",
        summary: "What the tenant's sync keeps (kinds, which accounts) and how often.",
        query: &[],
        body: None,
        answers: &[(200, "The sync settings.", Content::Json("SyncSettingsView"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "PUT",
        path: "/tenants/{tenant_id}/sync-settings",
        access: WRITE,
        operation_id: "putSyncSettings",
        summary: "Replaces the tenant's sync settings; a change of what is kept makes the next run full.",
        query: &[],
        body: Some(("SyncSettings", true)),
        answers: &[(
            200,
            "The sync settings as stored (and the full run queued for the change).",
            Content::Json("SyncSettingsView"),
        )],
        errors: &[400, 404, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/accounts",
        access: READ,
        operation_id: "listAccounts",
        summary: "The tenant's synced accounts.",
        query: PAGE,
        body: None,
        answers: &[(200, "A page of accounts.", Content::Json("AccountPage"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/accounts/{account_id}",
        access: READ,
        operation_id: "getAccount",
        summary: "One synced account, by object id or user principal name.",
        query: &[],
        body: None,
        answers: &[(200, "The account.", Content::Json("Account"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/accounts/{account_id}/restore",
        access: WRITE,
        operation_id: "restoreAccount",
        summary: "Restores a deleted account within Entra's 30-day window.",
        query: &[],
        body: Some(("RestoreRequest", false)),
        answers: &[(
            200,
            "The steps taken (or planned).",
            Content::Json("RestoreReport"),
        )],
        errors: &[400, 404, 409, 415, 502, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/groups",
        access: READ,
        operation_id: "listGroups",
        summary: "The tenant's synced groups.",
        query: PAGE,
        body: None,
        answers: &[(200, "A page of groups.", Content::Json("GroupPage"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/licenses",
        access: READ,
        operation_id: "listLicenses",
        summary: "Per-SKU seats: total, consumed, unused, suspended.",
        query: &[],
        body: None,
        answers: &[(200, "The SKUs and their totals.", Content::Json("Licenses"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/licenses/report",
        access: READ,
        operation_id: "licenseReport",
        summary: "Licensed accounts that are inactive (seats to reclaim).",
        query: &[("inactive_after_days", "Days without a sign-in.", days)],
        body: None,
        answers: &[(200, "The report.", Content::Json("LicenseReport"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/licenses/refresh",
        access: WRITE,
        operation_id: "refreshLicenses",
        summary: "Queues a license refresh job.",
        query: &[],
        body: Some(("RefreshRequest", false)),
        answers: &[(202, "The job.", Content::Json("RefreshQueued"))],
        errors: &[400, 404, 409, 415, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/jobs",
        access: WRITE,
        operation_id: "submitJobs",
        summary: "Submits a lifecycle job, or a list of up to 100.",
        query: &[],
        body: Some(("JobSubmission", true)),
        answers: &[
            (
                200,
                "The same job was submitted before.",
                Content::Json("JobAccepted"),
            ),
            (
                202,
                "The job is recorded and queued.",
                Content::Json("JobAccepted"),
            ),
            (
                207,
                "A list of jobs: one result each, in order.",
                Content::Json("BulkResult"),
            ),
        ],
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/jobs/{job_id}",
        access: READ,
        operation_id: "getJob",
        summary: "A job's status, steps, checks, plan and warnings.",
        query: &[],
        body: None,
        answers: &[(200, "The job record.", Content::Json("JobView"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "DELETE",
        path: "/tenants/{tenant_id}/jobs/{job_id}",
        access: WRITE,
        operation_id: "cancelJob",
        summary: "Cancels a job not yet started.",
        query: &[],
        body: None,
        answers: &[(200, "The job, cancelled.", Content::Json("JobView"))],
        errors: &[400, 404, 409, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/jobs/{job_id}/password",
        access: WRITE,
        operation_id: "takePassword",
        summary: "Hands an onboarding's generated password over once, then deletes it.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "The password (once).",
            Content::Json("PasswordHandedBack"),
        )],
        errors: &[400, 404, 409, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/jobs/{job_id}/retry",
        access: WRITE,
        operation_id: "retryJob",
        summary: "Queues a failed job again.",
        query: &[],
        body: None,
        answers: &[(202, "The job, queued again.", Content::Json("JobAccepted"))],
        errors: &[400, 404, 409, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/jobs/{job_id}/receipt",
        access: READ,
        operation_id: "jobReceipt",
        summary: "A job's receipt: what was asked, by whom, what Graph answered, and digests.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "The receipt and its digest checks.",
            Content::Json("ReceiptAnswer"),
        )],
        errors: &[400, 404, 503],
    },
    // The connection function (functions/oauth-callback).
    Route {
        method: "GET",
        path: "/connect",
        access: ADMIN,
        operation_id: "startConsent",
        summary: "A single-use start link for the admin consent flow.",
        query: &[
            ("mode", "The access to grant.", mode),
            (
                "return_to",
                "Where the result page links back to (an allowed origin).",
                text,
            ),
            (
                "tenant",
                "The tenant id the admin should sign in to (a hint).",
                text,
            ),
        ],
        body: None,
        answers: &[(200, "`{\"start_url\"}`.", Content::Json("StartLink"))],
        errors: &[400, 503],
    },
    Route {
        method: "GET",
        path: "/connect/start",
        access: Access::Public,
        operation_id: "openConsent",
        summary: "The admin's browser opens the start link: flow cookie, redirect to consent.",
        query: &[("flow", "The signed, single-use start state.", text)],
        body: None,
        answers: &[
            (302, "To Microsoft's admin consent.", Content::Redirect),
            (
                400,
                "The link is not valid (a page that says so).",
                Content::Html,
            ),
            (
                503,
                "The flow could not start (a page that says so).",
                Content::Html,
            ),
        ],
        errors: &[],
    },
    Route {
        method: "GET",
        path: "/oauth/callback",
        access: Access::Public,
        operation_id: "consentCallback",
        summary: "Where Microsoft returns the admin's browser after consent and sign-in.",
        query: &[
            ("state", "The signed, single-use state.", text),
            (
                "code",
                "The authorization code of the admin's sign-in.",
                text,
            ),
            ("tenant", "The tenant that consented.", text),
            ("admin_consent", "`True` after consent.", text),
            ("error", "The identity platform's error code.", text),
            (
                "error_description",
                "The identity platform's error text.",
                text,
            ),
        ],
        body: None,
        answers: &[
            (200, "The result page.", Content::Html),
            (302, "To the admin's sign-in.", Content::Redirect),
            (400, "A page that says what went wrong.", Content::Html),
            (403, "A page that says what went wrong.", Content::Html),
            (409, "A page that says what went wrong.", Content::Html),
            (502, "A page that says what went wrong.", Content::Html),
            (503, "A page that says what went wrong.", Content::Html),
        ],
        errors: &[],
    },
    Route {
        method: "POST",
        path: "/tenants",
        access: ADMIN,
        operation_id: "connectOwnApp",
        summary: "Connects a tenant with the customer's own app registration.",
        query: &[],
        body: Some(("OwnAppRequest", true)),
        answers: &[(
            201,
            "The connection and its permission report.",
            Content::Json("TenantConnected"),
        )],
        errors: &[400, 409, 415, 422, 502, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/test",
        access: WRITE,
        operation_id: "testConnection",
        summary: "Tests a connection: a report per permission.",
        query: &[],
        body: None,
        answers: &[(200, "The report.", Content::Json("ConnectionTested"))],
        errors: &[400, 404, 409, 422, 502, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/customers",
        access: READ,
        operation_id: "listPartnerCustomers",
        summary: "A partner tenant's GDAP customer tenants.",
        query: &[],
        body: None,
        answers: &[(200, "The customers.", Content::Json("PartnerCustomers"))],
        errors: &[400, 404, 409, 502, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/customers/{customer_id}/connect",
        access: ADMIN,
        operation_id: "connectPartnerCustomer",
        summary: "Connects one GDAP customer of a partner tenant.",
        query: &[],
        body: Some(("ConnectCustomer", false)),
        answers: &[
            (
                201,
                "The customer is connected.",
                Content::Json("TenantConnected"),
            ),
            (
                202,
                "The customer has not consented yet: a partner administrator opens start_url.",
                Content::Json("ConsentRequired"),
            ),
        ],
        errors: &[400, 404, 409, 415, 422, 502, 503],
    },
];

/// The document, built from [`ROUTES`] and the request body types.
pub fn document() -> Value {
    let mut paths = Paths::new();
    for route in ROUTES {
        paths.add_path_operation(route.path, vec![method(route.method)], operation(route));
    }
    let components = ComponentsBuilder::new()
        .security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A platform token, verified by API Gateway's JWT authorizer (issuer, \
                         audience, signature, expiry). The caller's organization is its org claim \
                         (ORG_CLAIM); its `scope` (or `scp`) claim must hold one of the route's \
                         scopes, else API Gateway answers 403.",
                    ))
                    .build(),
            ),
        )
        .build();
    let api = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("m365-lifecycle HTTP API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Connect Microsoft 365 tenants, read what was synced, and run lifecycle jobs. \
                     Every error the functions answer has one shape (`Error`); API Gateway's own \
                     refusals (no or bad token, a missing scope, an unknown route) are \
                     `{\"message\": ...}` (`GatewayMessage`).",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build();
    let mut document = serde_json::to_value(&api).unwrap_or(Value::Null);
    if let Some(components) = document
        .get_mut("components")
        .and_then(Value::as_object_mut)
    {
        components.insert("schemas".into(), Value::Object(schemas()));
    }
    document
}

/// `GET /openapi.json`: the document.
pub fn serve() -> ApiGatewayV2httpResponse {
    lifecycle::http::json_response(200, &document())
}

fn method(name: &str) -> HttpMethod {
    match name {
        "POST" => HttpMethod::Post,
        "DELETE" => HttpMethod::Delete,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

fn json_content(
    schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let mut operation = OperationBuilder::new()
        .operation_id(Some(route.operation_id))
        .summary(Some(route.summary));
    for name in path_parameters(route.path) {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(Ref::from_schema_name(path_schema(route, name)))),
        );
    }
    for (name, description, schema) in route.query {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(*description))
                .schema(Some(schema())),
        );
    }
    if let Some((schema, required)) = route.body {
        operation = operation.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .content(
                    "application/json",
                    json_content(Ref::from_schema_name(schema).into()),
                )
                .build(),
        ));
    }
    let mut responses = ResponsesBuilder::new();
    for (status, description, content) in route.answers {
        let response = ResponseBuilder::new().description(*description);
        let response = match content {
            Content::Json(schema) => response.content(
                "application/json",
                json_content(Ref::from_schema_name(*schema).into()),
            ),
            Content::Html => response.content("text/html", json_content(text().into())),
            Content::Redirect => response.header(
                "Location",
                utoipa::openapi::HeaderBuilder::new()
                    .schema(text())
                    .description(Some("Where the browser goes next."))
                    .build(),
            ),
        };
        responses = responses.response(status.to_string(), response);
    }
    for status in route.errors {
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(error_description(*status))
                .content(
                    "application/json",
                    json_content(Ref::from_schema_name("Error").into()),
                ),
        );
    }
    match route.access {
        Access::Public => {
            operation = operation.securities(Some([SecurityRequirement::default()]));
        }
        Access::Scopes(scopes) => {
            for (status, description) in [
                (401, "No bearer token, or one API Gateway does not accept."),
                (
                    403,
                    "The token holds none of the route's scopes, or names no organization.",
                ),
            ] {
                responses = responses.response(
                    status.to_string(),
                    ResponseBuilder::new().description(description).content(
                        "application/json",
                        json_content(Ref::from_schema_name("Refusal").into()),
                    ),
                );
            }
            operation = operation.security(SecurityRequirement::new(
                SECURITY_SCHEME,
                scopes.iter().copied(),
            ));
        }
    }
    operation.responses(responses.build()).build()
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "A parameter or the body is not valid: the message names it and how to fix it.",
        404 => "Not found (a tenant of another organization is not found either).",
        409 => "The state does not allow it (e.g. the tenant needs reconnection).",
        413 => "The body is too large.",
        415 => "The body is not sent as application/json.",
        422 => "The request is well formed but cannot be done (the message says why).",
        502 => "Microsoft Graph or the identity platform refused or failed.",
        503 => "A dependency did not answer; try again later.",
        _ => "An error.",
    }
}

/// The schema of a path parameter: the id type the handler parses it as.
fn path_schema(route: &Route, name: &str) -> &'static str {
    match name {
        "tenant_id" | "customer_id" => "TenantId",
        "job_id" => "JobId",
        "person_id" => "PersonId",
        // By object id or user principal name; a restore names a deleted account by its id.
        "account_id" if route.operation_id == "getAccount" => "AccountRef",
        "account_id" => "AccountId",
        _ => "Object",
    }
}

/// The `{name}` parameters of a path, in order.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The component schemas: the error shapes, the request bodies (from their serde types) and the
/// answers.
fn schemas() -> Map<String, Value> {
    components().0
}

/// The component schemas, and the names two different schemas claimed (each must be empty: a
/// second schema under a taken name would replace the first wherever it is referred to).
fn components() -> (Map<String, Value>, Vec<String>) {
    let mut schemas = Map::new();
    let mut clashes = Vec::new();
    schemas.insert(
        "Error".into(),
        json!({
            "description": "The one error shape of the functions' answers.",
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable: bad_request, not_found, unavailable, ..."},
                    "message": {"type": "string", "description": "What is wrong and how to fix it."},
                    "request_id": {"type": "string", "description": "API Gateway's request id: quote it to an operator (access and function logs carry it)."},
                    "field": {"type": "string", "description": "The request field at fault, when one is."}
                }
            }}
        }),
    );
    schemas.insert(
        "GatewayMessage".into(),
        json!({
            "description": "API Gateway's own refusals (before any function runs).",
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}}
        }),
    );
    schemas.insert(
        "Refusal".into(),
        json!({"anyOf": [{"$ref": "#/components/schemas/GatewayMessage"}, {"$ref": "#/components/schemas/Error"}]}),
    );
    schemas.insert("Object".into(), json!({"type": "object"}));
    schemas.insert(
        "Health".into(),
        json!({"type": "object", "required": ["status", "version", "table"],
               "properties": {"status": {"type": "string"}, "version": {"type": "string"}, "table": {"type": "string"}}}),
    );
    schemas.insert(
        "StartLink".into(),
        json!({"type": "object", "required": ["start_url"], "properties": {"start_url": {"type": "string"}}}),
    );
    schemas.insert(
        "BulkResult".into(),
        json!({"type": "object", "required": ["accepted", "refused", "results"],
               "properties": {"accepted": {"type": "integer"}, "refused": {"type": "integer"},
                              "results": {"type": "array", "items": {"type": "object",
                                  "required": ["index", "http_status"],
                                  "properties": {"index": {"type": "integer"}, "http_status": {"type": "integer"}}}}}}),
    );
    for (name, schema) in [
        ("SyncRequest", schema_of::<crate::synced::SyncBody>()),
        (
            "SyncSettings",
            schema_of::<lifecycle::model::SyncSettings>(),
        ),
        (
            "MatchRequest",
            schema_of::<lifecycle::matching::MatchRequest>(),
        ),
        ("ConfirmMatch", schema_of::<crate::matches::ConfirmBody>()),
        (
            "RefreshRequest",
            schema_of::<crate::licenses::RefreshRequest>(),
        ),
        (
            "RestoreRequest",
            schema_of::<crate::restore::RestoreRequest>(),
        ),
        (
            "OwnAppRequest",
            schema_of::<lifecycle::model::OwnAppRequest>(),
        ),
        (
            "ConnectCustomer",
            schema_of::<lifecycle::model::ConnectCustomer>(),
        ),
        (
            "JobSubmission",
            closed_one_job(lifecycle::model::job_request_schema()),
        ),
    ] {
        clashes.extend(hoist(name, schema, &mut schemas));
    }
    // An answer's types are described as they are serialized; one that a body shares but that
    // reads otherwise (a job's password source, as stored) keeps a name of its own.
    for (name, schema) in [
        ("TenantList", answer_of::<answers::TenantList>()),
        (
            "TenantConnection",
            answer_of::<lifecycle::model::TenantConnection>(),
        ),
        ("Removed", answer_of::<crate::removal::Removed>()),
        ("SyncQueued", answer_of::<answers::SyncQueued>()),
        ("SyncRunLog", answer_of::<answers::SyncRunLog>()),
        ("SyncSettingsView", answer_of::<answers::SyncSettingsView>()),
        (
            "MatchReport",
            answer_of::<lifecycle::matching::MatchReport>(),
        ),
        (
            "ConfirmedMatches",
            answer_of::<lifecycle::matching::ConfirmedMatches>(),
        ),
        (
            "ConfirmedView",
            answer_of::<lifecycle::matching::ConfirmedView>(),
        ),
        ("AccountPage", answer_of::<answers::AccountPage>()),
        ("Account", answer_of::<answers::AccountView>()),
        ("GroupPage", answer_of::<answers::GroupPage>()),
        ("Licenses", answer_of::<answers::Licenses>()),
        (
            "LicenseReport",
            answer_of::<lifecycle::license_report::LicenseReport>(),
        ),
        ("RefreshQueued", answer_of::<answers::RefreshQueued>()),
        ("JobAccepted", answer_of::<answers::JobAccepted>()),
        ("JobView", answer_of::<answers::JobView>()),
        (
            "TenantConnected",
            answer_of::<lifecycle::model::TenantConnected>(),
        ),
        (
            "ConnectionTested",
            answer_of::<lifecycle::model::ConnectionTested>(),
        ),
        (
            "PartnerCustomers",
            answer_of::<lifecycle::model::PartnerCustomers>(),
        ),
        (
            "ConsentRequired",
            answer_of::<lifecycle::model::ConsentRequired>(),
        ),
        (
            "RestoreReport",
            answer_of::<lifecycle::offboarding::restore::RestoreReport>(),
        ),
        (
            "PasswordHandedBack",
            answer_of::<answers::PasswordHandedBack<'static>>(),
        ),
        (
            "ReceiptAnswer",
            answer_of::<crate::receipt::ReceiptAnswer>(),
        ),
    ] {
        let schema = rename_taken_defs(schema, &schemas, "AsStored");
        clashes.extend(hoist(name, schema, &mut schemas));
    }
    (schemas, clashes)
}

/// `schema` (an object of envelope `properties` and a `oneOf` of object branches, closed by
/// `unevaluatedProperties: false`) with the envelope's properties copied into every branch and
/// each branch closed by `additionalProperties: false` instead. It accepts exactly the same
/// documents; fuzzers that generate from a schema (schemathesis) cannot generate from the
/// `unevaluatedProperties` form once it has more than a few branches.
fn closed_branches(mut schema: Value) -> Value {
    let Some(root) = schema.as_object_mut() else {
        return schema;
    };
    if root.get("unevaluatedProperties") != Some(&Value::Bool(false)) {
        return schema;
    }
    let envelope = root.get("properties").cloned().unwrap_or_else(|| json!({}));
    let Some(Value::Array(branches)) = root.get_mut("oneOf") else {
        return schema;
    };
    for branch in branches.iter_mut() {
        let Some(branch) = branch.as_object_mut() else {
            continue;
        };
        let properties = branch.entry("properties").or_insert_with(|| json!({}));
        if let (Some(properties), Some(envelope)) =
            (properties.as_object_mut(), envelope.as_object())
        {
            for (name, value) in envelope {
                properties
                    .entry(name.clone())
                    .or_insert_with(|| value.clone());
            }
        }
        branch.insert("additionalProperties".into(), Value::Bool(false));
    }
    root.remove("unevaluatedProperties");
    schema
}

/// The job submission schema with its one-job definition in the [`closed_branches`] form.
fn closed_one_job(mut schema: Value) -> Value {
    if let Some(one) = schema.pointer_mut("/$defs/JobRequest") {
        *one = closed_branches(one.take());
    }
    schema
}

/// A body type's schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
fn schema_of<T: schemars::JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// An answer type's schema: as it is serialized (a field skipped when empty is not required).
fn answer_of<T: schemars::JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// Puts `schema` under `name` in the components, its `$defs` beside it (a `$ref` to
/// `#/$defs/X` becomes `#/components/schemas/X`, which is where it now lives). Answers the names
/// that already held a different schema.
fn hoist(name: &str, mut schema: Value, schemas: &mut Map<String, Value>) -> Vec<String> {
    retarget(&mut schema);
    let mut entries = Vec::new();
    if let Value::Object(root) = &mut schema {
        root.remove("$schema");
        root.remove("$id");
        // The generator titles a root with its type's name, which a `$defs` copy does not carry.
        if root.get("title").and_then(Value::as_str) == Some(name) {
            root.remove("title");
        }
        if let Some(Value::Object(defs)) = root.remove("$defs") {
            entries.extend(defs);
        }
    }
    entries.push((name.to_owned(), schema));
    let mut clashes = Vec::new();
    for (entry, value) in entries {
        if let Some(previous) = schemas.insert(entry.clone(), value)
            && schemas.get(&entry) != Some(&previous)
        {
            clashes.push(entry);
        }
    }
    clashes
}

/// `schema` with each of its `$defs` whose name already holds a different schema renamed to
/// that name and `suffix` (and every `$ref` to it changed to match).
fn rename_taken_defs(mut schema: Value, taken: &Map<String, Value>, suffix: &str) -> Value {
    retarget(&mut schema);
    let Some(Value::Object(defs)) = schema.get("$defs") else {
        return schema;
    };
    let renamed: Vec<String> = defs
        .iter()
        .filter(|(name, value)| taken.get(*name).is_some_and(|held| held != *value))
        .map(|(name, _)| name.clone())
        .collect();
    if renamed.is_empty() {
        return schema;
    }
    let mut text = schema.to_string();
    for name in &renamed {
        text = text.replace(
            &format!("\"#/components/schemas/{name}\""),
            &format!("\"#/components/schemas/{name}{suffix}\""),
        );
    }
    schema = serde_json::from_str(&text).unwrap_or(schema);
    if let Some(Value::Object(defs)) = schema.get_mut("$defs") {
        for name in renamed {
            if let Some(value) = defs.remove(&name) {
                defs.insert(format!("{name}{suffix}"), value);
            }
        }
    }
    schema
}

fn retarget(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(target) = inner
                    && let Some(def) = target.strip_prefix("#/$defs/")
                {
                    *target = format!("#/components/schemas/{def}");
                } else {
                    retarget(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(retarget),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn given_the_routes_and_types_when_the_document_is_built_then_it_equals_docs_openapi_json() {
        // GIVEN the document the code builds today
        let text = serde_json::to_string_pretty(&document()).expect("JSON") + "\n";
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &text).expect("write docs/openapi.json");
        }
        // WHEN the committed document is read
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        // THEN it is exactly the code's: a changed route, parameter or body changes the contract
        assert!(
            committed == text,
            "docs/openapi.json differs from the code: regenerate it with \
             `UPDATE_OPENAPI=1 cargo test -p api --lib openapi` and review the diff"
        );
    }

    #[test]
    fn given_every_body_and_answer_type_when_their_schemas_are_gathered_then_no_two_claim_one_name()
    {
        // GIVEN the schemas of every body and answer, each with the definitions it refers to
        // WHEN they are gathered under one components map
        let (schemas, clashes) = components();
        // THEN no name was claimed twice: the body of POST /jobs once replaced the one-job schema
        // it refers to, and the contract's job body referred to itself only
        assert!(clashes.is_empty(), "schemas claimed twice: {clashes:?}");
        let one_job = schemas["JobRequest"].to_string();
        assert!(
            one_job.contains("\"type\""),
            "the one-job schema is {one_job}"
        );
    }

    #[test]
    fn given_the_document_then_every_reference_resolves_and_it_is_openapi_3_1() {
        // GIVEN the document
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        // WHEN every $ref in it is followed
        let text = document.to_string();
        let refs: Vec<&str> = text
            .split("\"$ref\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(!refs.is_empty());
        for route in ROUTES {
            for name in path_parameters(route.path) {
                assert_ne!(path_schema(route, name), "Object", "{} {name}", route.path);
            }
        }
        for target in refs {
            // THEN it points at a component schema that exists
            let pointer = target.strip_prefix('#').expect("a local reference");
            assert!(
                document.pointer(pointer).is_some(),
                "{target} resolves nowhere"
            );
        }
    }
}
