use super::*;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;

struct Params(BTreeMap<String, String>);

impl Lookup for Params {
    fn reference(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn attribute(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// The CORS configuration of the project's template, with `origins` as `PlatformOrigins`.
fn template_cors(origins: &str) -> Cors {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let template = Template::load(&path).expect("the template");
    let lookup = Params(BTreeMap::from([(
        "PlatformOrigins".to_owned(),
        origins.to_owned(),
    )]));
    cors(&template, &lookup)
        .expect("resolved")
        .expect("the HttpApi has a CORS configuration")
}

fn preflight_headers(origin: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(origin).expect("header"));
    headers.insert(
        "access-control-request-method",
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        "access-control-request-headers",
        HeaderValue::from_static("authorization,content-type"),
    );
    headers
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn given_the_templates_cors_when_a_browser_preflights_then_only_the_platforms_origins_are_answered()
{
    // GIVEN the template's CORS configuration with two platform origins
    let cors = template_cors("https://app.example.com, https://admin.example.com");
    assert_eq!(
        cors.origins,
        ["https://app.example.com", "https://admin.example.com"]
    );

    // WHEN the platform's web app preflights a POST
    let answer = cors
        .preflight(
            &Method::OPTIONS,
            &preflight_headers("https://app.example.com"),
        )
        .expect("API Gateway answers the preflight itself");
    // THEN it may: its origin, the methods and headers of the template, and the cache time
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&answer, "access-control-allow-methods"),
        Some("GET,POST,PUT,DELETE")
    );
    assert_eq!(
        header(&answer, "access-control-allow-headers"),
        Some("authorization,content-type")
    );
    assert_eq!(header(&answer, "access-control-max-age"), Some("600"));

    // WHEN a page of another origin preflights THEN the answer allows nothing
    let answer = cors
        .preflight(
            &Method::OPTIONS,
            &preflight_headers("https://evil.example.net"),
        )
        .expect("answered");
    assert!(
        answer
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        answer.headers()
    );
    // AND a plain OPTIONS (no requested method) is not a preflight: it is routed
    assert!(
        cors.preflight(&Method::OPTIONS, &HeaderMap::new())
            .is_none()
    );
    assert!(
        cors.preflight(&Method::GET, &preflight_headers("https://app.example.com"))
            .is_none()
    );
}

#[test]
fn given_a_function_answer_with_its_own_cors_headers_when_decorated_then_the_apis_replace_them() {
    // GIVEN the template's CORS configuration and a function that allows every origin itself
    let cors = template_cors("https://app.example.com");
    let answer = || {
        Response::builder()
            .status(200)
            .header("access-control-allow-origin", "*")
            .header("content-type", "application/json")
            .body(Body::empty())
            .expect("response")
    };

    // WHEN the answer goes to the platform's origin
    let mine = cors.decorate(Some("https://app.example.com"), answer());
    // THEN it carries the API's headers, not the function's
    assert_eq!(
        header(&mine, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&mine, "access-control-expose-headers"),
        Some("location,www-authenticate")
    );
    assert_eq!(header(&mine, "content-type"), Some("application/json"));

    // WHEN it goes to another origin THEN no CORS header is left: the browser withholds it
    let theirs = cors.decorate(Some("https://evil.example.net"), answer());
    assert_eq!(header(&theirs, "access-control-allow-origin"), None);
    // AND a request without Origin (not a browser's cross-origin call) is left as it was
    let plain = cors.decorate(None, answer());
    assert_eq!(header(&plain, "access-control-allow-origin"), Some("*"));
}

fn route_table() -> Vec<Route> {
    let mut routes = vec![
        Route::new("$default", "$default", "Fallback"),
        Route::new("ANY", "/files/{proxy+}", "Files"),
        Route::new("GET", "/tenants/{tenant_id}", "Tenant"),
        Route::new("GET", "/tenants/export", "Export"),
        Route::new("ANY", "/tenants/{tenant_id}", "AnyTenant"),
    ];
    routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
    routes
}

fn route_for(method: &str, path: &str) -> (String, BTreeMap<String, String>) {
    route_table()
        .iter()
        .find_map(|r| r.matches(method, path).map(|p| (r.function.clone(), p)))
        .expect("the $default route catches everything")
}

#[test]
fn given_a_routes_scopes_when_a_token_holds_one_none_or_no_scope_is_needed_then_api_gateways_rule_decides()
 {
    // GIVEN a route that needs lifecycle.write or tenants.admin, and one that needs none
    let auth = |scopes: &[&str]| RouteAuth {
        authorizer: "PlatformJwt".into(),
        header: "authorization".into(),
        issuer: "i".into(),
        audience: vec!["a".into()],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    let write = auth(&["lifecycle.write", "tenants.admin"]);
    let granted =
        |scopes: &[&str]| -> Vec<String> { scopes.iter().map(|s| (*s).to_owned()).collect() };
    // WHEN tokens with various scopes call them
    // THEN one matching scope is enough, none or a prefix of one is refused
    assert!(write.allows(&granted(&["lifecycle.read", "tenants.admin"])));
    assert!(!write.allows(&granted(&["lifecycle.read"])));
    assert!(!write.allows(&granted(&["lifecycle"])));
    assert!(!write.allows(&granted(&[])));
    assert!(auth(&[]).allows(&granted(&[])));
}

#[test]
fn given_literal_and_parameter_routes_when_matching_then_the_most_specific_wins() {
    assert_eq!(route_for("GET", "/tenants/export").0, "Export");
    let (function, params) = route_for("GET", "/tenants/a%20b");
    assert_eq!(function, "Tenant");
    assert_eq!(params["tenant_id"], "a b");
    assert_eq!(route_for("DELETE", "/tenants/x").0, "AnyTenant");
    let (function, params) = route_for("PUT", "/files/a/b/c");
    assert_eq!(
        (function.as_str(), params["proxy"].as_str()),
        ("Files", "a/b/c")
    );
    assert_eq!(route_for("GET", "/tenants/x/extra").0, "Fallback");
}

#[test]
fn given_a_request_when_turned_into_an_event_then_aws_lambda_events_reads_every_part() {
    let route = Route::new("POST", "/tenants/{tenant_id}/jobs", "Api");
    let params = BTreeMap::from([("tenant_id".to_owned(), "t1".to_owned())]);
    let uri: axum::http::Uri = "/tenants/t1/jobs?a=1&b=x%20y&a=2".parse().expect("uri");
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", HeaderValue::from_static("application/json"));
    headers.insert("Cookie", HeaderValue::from_static("s=1; t=2"));
    headers.insert("User-Agent", HeaderValue::from_static("test/1"));
    let peer: SocketAddr = "127.0.0.1:5555".parse().expect("addr");

    let event = http_event(
        &route,
        &params,
        &Method::POST,
        &uri,
        &headers,
        &Bytes::from_static(br#"{"k":1}"#),
        peer,
    );
    let request: ApiGatewayV2httpRequest =
        serde_json::from_value(event.clone()).expect("a valid payload v2 event");

    assert_eq!(event["version"], "2.0");
    assert_eq!(
        request.route_key.as_deref(),
        Some("POST /tenants/{tenant_id}/jobs")
    );
    assert_eq!(request.raw_path.as_deref(), Some("/tenants/t1/jobs"));
    assert_eq!(request.raw_query_string.as_deref(), Some("a=1&b=x%20y&a=2"));
    assert_eq!(request.path_parameters["tenant_id"], "t1");
    assert_eq!(event["queryStringParameters"]["a"], "1,2");
    assert_eq!(request.query_string_parameters.first("b"), Some("x y"));
    assert_eq!(
        request.cookies,
        Some(vec!["s=1".to_owned(), "t=2".to_owned()])
    );
    assert_eq!(request.headers["content-type"], "application/json");
    assert!(request.headers.get("cookie").is_none());
    assert_eq!(request.request_context.http.method, Method::POST);
    assert_eq!(
        request.request_context.http.source_ip.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        request.request_context.http.user_agent.as_deref(),
        Some("test/1")
    );
    assert_eq!(request.body.as_deref(), Some(r#"{"k":1}"#));
    assert!(!request.is_base64_encoded);
}

#[test]
fn given_a_binary_body_when_turned_into_an_event_then_it_is_base64_encoded() {
    let route = Route::new("PUT", "/blob", "Api");
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );

    let event = http_event(
        &route,
        &BTreeMap::new(),
        &Method::PUT,
        &"/blob".parse().expect("uri"),
        &headers,
        &Bytes::from_static(&[0, 159, 146, 150]),
        "127.0.0.1:1".parse().expect("addr"),
    );

    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], BASE64.encode([0u8, 159, 146, 150]));
}

#[tokio::test]
async fn given_a_function_response_when_turned_into_http_then_status_headers_cookies_and_body_survive()
 {
    let response = http_response(json!({
        "statusCode": 302,
        "headers": {"location": "https://example.com/x"},
        "multiValueHeaders": {"x-multi": ["a", "b"]},
        "cookies": ["s=1; HttpOnly", "t=2"],
        "body": "bW92ZWQ=",
        "isBase64Encoded": true
    }));

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "https://example.com/x");
    assert_eq!(response.headers().get_all("x-multi").iter().count(), 2);
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    assert_eq!(&body[..], b"moved");
}

#[test]
fn given_a_plain_json_answer_without_status_code_when_turned_into_http_then_it_is_a_200() {
    let response = http_response(json!({"ok": true}));

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
}
