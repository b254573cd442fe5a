//! The stack started from the real template answers the template's routes through the HTTP front.

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};

fn options() -> StackOptions {
    let template = Template::load(&template_path()).expect("the real template parses");
    StackOptions::new(
        template,
        GraphSource::External {
            // Nothing here calls Graph; an unreachable address is enough.
            graph_base_url: "http://127.0.0.1:9/v1.0".into(),
            login_base_url: "http://127.0.0.1:9".into(),
            platform_app: None,
            platform_read_app: None,
        },
    )
}

#[tokio::test]
async fn given_the_real_template_when_started_then_get_health_answers_and_unknown_routes_are_404() {
    // GIVEN the stack started from the real template
    let stack = Stack::start(options()).await.expect("the stack starts");
    let http = reqwest::Client::new();

    // WHEN the template's health route and an unknown route are called
    let health = http
        .get(format!("{}/health", stack.api_url()))
        .send()
        .await
        .expect("health answers");
    let status = health.status();
    let body: serde_json::Value = health.json().await.expect("json");
    let unknown = http
        .get(format!("{}/no/such/route", stack.api_url()))
        .send()
        .await
        .expect("answers");

    // THEN health says ok (the table is reachable) and the unknown route is API Gateway's 404
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<serde_json::Value>().await.expect("json"),
        serde_json::json!({"message": "Not Found"})
    );
    stack.shutdown().await;
}
