//! The HTTP API's contract as an OpenAPI 3.1 document, built from the code: every route of the
//! API function and of the connection function (functions/oauth-callback), their parameters,
//! the request bodies' JSON Schemas generated from the same serde types that parse them
//! (schemars), one error shape, and the JWT security scheme with each route's scopes.
//!
//! `docs/openapi.json` is this document; a test fails when the two differ, and another when a
//! route of infra/template.yaml is missing from it (or the other way round), or its scopes differ.
//! `GET /openapi.json` serves it (public, like `GET /health`).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;

use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::Ref;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, Paths, Required,
    ResponseBuilder, ResponsesBuilder,
};

mod routes;
mod schemas;

pub use routes::{Access, ROUTES, Route, SECURITY_SCHEME};
use routes::{Content, text};
use schemas::schemas;

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
        "group_id" => "GroupId",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::path::PathBuf;

    use super::schemas::components;
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
