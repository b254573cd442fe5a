//! Authentication and tenant isolation end to end: the template's JWT authorizer as the devstack
//! emulates it (401 without a valid bearer token), the public routes, and one organization's
//! tenants out of another organization's reach (404, nothing changed).

use devstack::{GraphSource, Stack, StackOptions, Template, TokenIssuer, template_path};
use graph_sim::SimConfig;
use serde_json::{Map, Value, json};

async fn start() -> Stack {
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    Stack::start(StackOptions::new(
        template,
        GraphSource::Simulator(SimConfig::demo()),
    ))
    .await
    .expect("the stack starts")
}

/// Status and JSON (or text) of one request, with `token` as the bearer when given.
async fn call(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", stack.api_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn given_the_stack_when_routes_are_called_without_a_valid_token_then_401_and_only_public_routes_answer()
 {
    // GIVEN the stack, and tokens that are expired, forged (another key), for another audience,
    // and good
    let stack = start().await;
    let issuer = stack.token_issuer();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .cast_signed();
    let expired = issuer.sign(Map::from_iter([
        ("org_id".to_owned(), json!("acme")),
        ("exp".to_owned(), json!(now - 60)),
    ]));
    let forged = TokenIssuer::new(issuer.issuer(), issuer.audience()).token("org_id", "acme");
    let other_audience = issuer.sign(Map::from_iter([
        ("org_id".to_owned(), json!("acme")),
        ("exp".to_owned(), json!(now + 600)),
        ("aud".to_owned(), json!("another-api")),
    ]));
    let good = stack.token("acme");

    // WHEN protected routes are called with each, and the public routes with none
    let mut refused = Vec::new();
    for token in [None, Some(&expired), Some(&forged), Some(&other_audience)] {
        for (method, path) in [
            (reqwest::Method::GET, "/tenants"),
            (reqwest::Method::GET, "/connect?mode=read"),
            (
                reqwest::Method::DELETE,
                "/tenants/0f0f0f0f-0000-4000-8000-00000000dead",
            ),
        ] {
            let answer = call(
                &stack,
                method.clone(),
                path,
                token.map(String::as_str),
                None,
            )
            .await;
            refused.push((format!("{method} {path} token={}", token.is_some()), answer));
        }
    }
    let listed = call(&stack, reqwest::Method::GET, "/tenants", Some(&good), None).await;
    let health = call(&stack, reqwest::Method::GET, "/health", None, None).await;
    let callback = call(&stack, reqwest::Method::GET, "/oauth/callback", None, None).await;

    // THEN every call without a valid token is API Gateway's 401 and never reaches a function
    for (what, (status, body)) in &refused {
        assert_eq!(*status, 401, "{what}: {body}");
        assert_eq!(body, &json!({"message": "Unauthorized"}), "{what}");
    }
    // AND a good token passes; the public routes answer without one (the callback's own check,
    // the signed state, refuses a callback that has none)
    assert_eq!(listed, (200, json!({"tenants": []})));
    assert_eq!(health.0, 200, "{}", health.1);
    assert_eq!(callback.0, 400, "{}", callback.1);
    assert!(
        callback
            .1
            .as_str()
            .is_some_and(|html| html.contains("not valid")),
        "{}",
        callback.1
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn given_a_tenant_of_org_a_when_org_b_reads_submits_tests_or_removes_it_then_404_and_it_is_untouched()
 {
    // GIVEN a tenant connected with its own app by org-a, whose body names org-b (ignored: the
    // organization is the token's)
    let stack = start().await;
    let sim = stack.sim().expect("simulator");
    let tenant = sim.tenants()[2].clone();
    let (org_a, org_b) = (stack.token("org-a"), stack.token("org-b"));
    let (status, connected) = call(
        &stack,
        reqwest::Method::POST,
        "/tenants",
        Some(&org_a),
        Some(json!({
            "tenant_id": tenant.tenant_id, "client_id": tenant.own_app.client_id,
            "client_secret": tenant.own_app.client_secret, "mode": "write", "org_id": "org-b"
        })),
    )
    .await;
    assert_eq!(status, 201, "{connected}");
    assert_eq!(connected["tenant"]["org_id"], "org-a");
    let base = format!("/tenants/{}", tenant.tenant_id);

    // WHEN org-b reads it, submits a job, tests its connection and removes it
    let job = json!({"job_id": "j-cross-org", "type": "offboard",
                     "account": {"user_principal_name": format!("x@{}", tenant.default_domain)},
                     "after": "delete"});
    let mut answers = Vec::new();
    for (method, path, body) in [
        (reqwest::Method::GET, base.clone(), None),
        (reqwest::Method::POST, format!("{base}/jobs"), Some(job)),
        (reqwest::Method::POST, format!("{base}/test"), None),
        (reqwest::Method::GET, format!("{base}/accounts"), None),
        (reqwest::Method::DELETE, base.clone(), None),
    ] {
        let answer = call(&stack, method.clone(), &path, Some(&org_b), body).await;
        answers.push((format!("{method} {path}"), answer));
    }

    // THEN each is the 404 of a tenant that is not connected: nothing says it exists elsewhere
    for (what, (status, body)) in &answers {
        assert_eq!(*status, 404, "{what}: {body}");
        assert_eq!(body["error"]["code"], "tenant_not_found", "{what}: {body}");
    }
    // AND org-b lists no tenant, and org-a still has it, connected
    let (_, listed_b) = call(&stack, reqwest::Method::GET, "/tenants", Some(&org_b), None).await;
    assert_eq!(listed_b, json!({"tenants": []}));
    let (_, listed_a) = call(&stack, reqwest::Method::GET, "/tenants", Some(&org_a), None).await;
    assert_eq!(
        listed_a["tenants"][0]["tenant_id"],
        tenant.tenant_id.as_str()
    );
    let (status, own) = call(&stack, reqwest::Method::GET, &base, Some(&org_a), None).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["status"]["state"], "connected");
    stack.shutdown().await;
}
