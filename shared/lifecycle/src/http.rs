//! Small helpers for API Gateway HTTP API (payload v2) handlers: JSON, HTML and redirect answers,
//! one error shape, and body parsing that turns bad input into a 400 that says what is wrong.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON answer.
pub fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayV2httpResponse {
    match serde_json::to_string(body) {
        Ok(json) => response(status, "application/json", json),
        Err(error) => error_response(
            500,
            "internal",
            format!("response not serialisable: {error}"),
        ),
    }
}

/// The API's one error shape: `{"error":{"code":"...","message":"..."}}`. The message says what is
/// wrong and how to fix it; it never holds a secret.
pub fn error_response(
    status: u16,
    code: &str,
    message: impl std::fmt::Display,
) -> ApiGatewayV2httpResponse {
    let body = serde_json::json!({"error": {"code": code, "message": message.to_string()}});
    response(status, "application/json", body.to_string())
}

/// An HTML page.
pub fn html_response(status: u16, html: String) -> ApiGatewayV2httpResponse {
    response(status, "text/html; charset=utf-8", html)
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> ApiGatewayV2httpResponse {
    let mut answer = response(302, "text/plain; charset=utf-8", String::new());
    match HeaderValue::from_str(location) {
        Ok(value) => {
            answer.headers.insert(header::LOCATION, value);
            answer
        }
        Err(_) => error_response(500, "internal", "redirect location is not a valid header"),
    }
}

/// The request body parsed as JSON `T`, or a 400 that quotes serde's reason (field and position).
pub fn parse_json_body<T: DeserializeOwned>(
    request: &ApiGatewayV2httpRequest,
) -> Result<T, Box<ApiGatewayV2httpResponse>> {
    let text = body_text(request)
        .map_err(|message| Box::new(error_response(400, "bad_request", message)))?;
    if text.trim().is_empty() {
        return Err(Box::new(error_response(
            400,
            "bad_request",
            "the request needs a JSON body",
        )));
    }
    serde_json::from_str(&text).map_err(|error| {
        Box::new(error_response(
            400,
            "bad_request",
            format!("the JSON body is not valid: {error}"),
        ))
    })
}

/// The body as text, decoding base64 when API Gateway encoded it.
pub fn body_text(request: &ApiGatewayV2httpRequest) -> Result<String, String> {
    let Some(body) = request.body.as_deref() else {
        return Ok(String::new());
    };
    if !request.is_base64_encoded {
        return Ok(body.to_owned());
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the body is marked base64 but is not valid base64".to_owned())
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| "the body is not UTF-8 text".to_owned())
        })
}

/// A path parameter (`{tenant_id}`), or `""` when absent (API Gateway only routes matching paths).
pub fn path_param<'a>(request: &'a ApiGatewayV2httpRequest, name: &str) -> &'a str {
    request
        .path_parameters
        .get(name)
        .map(String::as_str)
        .unwrap_or_default()
}

/// A query string parameter.
pub fn query_param<'a>(request: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    request.query_string_parameters.first(name)
}

fn response(status: u16, content_type: &'static str, body: String) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(status);
    answer.headers = headers;
    answer.body = Some(Body::Text(body));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_malformed_body_when_parsed_then_400_names_the_problem() {
        let mut request = ApiGatewayV2httpRequest::default();
        request.body = Some("{\"mode\": 3}".into());
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wanted {
            mode: String,
        }
        let answer = parse_json_body::<Wanted>(&request).unwrap_err();
        assert_eq!(answer.status_code, 400);
        let Some(Body::Text(text)) = &answer.body else {
            panic!("text body expected")
        };
        assert!(text.contains("invalid type: integer `3`"), "{text}");
    }

    #[test]
    fn given_no_body_when_parsed_then_400_asks_for_json() {
        let answer =
            parse_json_body::<serde_json::Value>(&ApiGatewayV2httpRequest::default()).unwrap_err();
        assert_eq!(answer.status_code, 400);
    }
}
