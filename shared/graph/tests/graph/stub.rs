//! Cases the simulator cannot easily produce, against a tiny local stub server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use futures::TryStreamExt as _;
use graph::{BatchRequest, GraphError, Method, RetryPolicy, UserPatch};
use serde_json::json;

use crate::support::{Answer, Script, Stub, fast_retry, jwt};

fn ok(body: serde_json::Value) -> Answer {
    (200, vec![("request-id", "rid-ok".into())], body.to_string())
}

#[tokio::test]
async fn given_429_with_fractional_retry_after_when_listing_then_the_list_completes_after_one_retry()
 {
    // GIVEN Graph throttles the first request with `Retry-After: 0.2`, then answers
    let script = Script::new(vec![
        (
            429,
            vec![("retry-after", "0.2".into())],
            json!({"error":{"code":"TooManyRequests","message":"Please retry again later."}})
                .to_string(),
        ),
        ok(json!({"value":[{"id":"g1","displayName":"Sales"}]})),
    ]);
    let stub = Stub::start(script.router(), jwt(&["Group.Read.All"])).await;
    // A backoff cap far beyond the deadline: only an honoured Retry-After can fit in it.
    let graph = stub.graph_with(RetryPolicy {
        max_attempts: 3,
        deadline: Duration::from_secs(20),
        base_delay: Duration::from_secs(3600),
        max_delay: Duration::from_secs(3600),
    });
    // WHEN the groups are listed
    let groups: Result<Vec<_>, _> = graph.groups().try_collect().await;
    // THEN the one group arrives, after exactly one throttled answer and one retry
    let groups = groups.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(groups.len(), 1);
    let metrics = graph.metrics();
    assert_eq!(
        (metrics.requests, metrics.retries, metrics.throttled),
        (2, 1, 1)
    );
    // and both attempts carried the same uuid-like client-request-id
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    let ids: Vec<_> = seen
        .iter()
        .map(|s| s.client_request_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0].len(), 36);
}

#[tokio::test]
async fn given_malformed_bodies_when_read_then_unexpected_body_errors_and_no_panic() {
    // GIVEN three success answers that are not the documented collection shape
    for body in [
        "this is not json",
        r#"{"value": 5}"#,
        r#"{"value":[{"displayName":"no id"}]}"#,
    ] {
        let script = Script::new(vec![(
            200,
            vec![("request-id", "rid-bad".into())],
            body.to_owned(),
        )]);
        let stub = Stub::start(script.router(), jwt(&[])).await;
        // WHEN users are listed
        let result: Result<Vec<_>, _> = stub.graph().users().try_collect().await;
        // THEN the list fails with UnexpectedBody naming the request, not a panic
        match result {
            Err(GraphError::UnexpectedBody {
                status: 200,
                request_id,
                ..
            }) => {
                assert_eq!(request_id.as_deref(), Some("rid-bad"));
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn given_unknown_nulls_and_missing_fields_when_listing_then_items_still_parse() {
    // GIVEN a user with unknown properties, nulls for collections and most fields missing
    let script = Script::new(vec![ok(json!({"value":[{
        "id":"u1", "futureProperty": {"x": 1}, "assignedLicenses": null, "accountEnabled": null,
        "signInActivity": {"lastSignInDateTime": "2026-01-02T03:04:05Z", "lastSignInRequestId": "r"}
    }]}))]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    // WHEN users are listed
    let users: Result<Vec<_>, _> = stub.graph().users().try_collect().await;
    // THEN the user parses with empty and absent values
    let users = users.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(users[0].id, "u1");
    assert!(users[0].assigned_licenses.is_empty());
    assert_eq!(users[0].account_enabled, None);
    let last = users[0]
        .sign_in_activity
        .as_ref()
        .and_then(|s| s.last_activity());
    assert_eq!(
        last.map(|t| t.to_rfc3339()),
        Some("2026-01-02T03:04:05+00:00".to_owned())
    );
}

#[tokio::test]
async fn given_next_link_to_another_host_when_listing_then_it_is_refused_and_the_token_stays_home()
{
    // GIVEN a first page whose nextLink points at another origin
    let script = Script::new(vec![ok(json!({
        "value":[{"id":"u1"}],
        "@odata.nextLink":"http://attacker.invalid/v1.0/users?$skiptoken=x"
    }))]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    // WHEN users are listed
    let graph = stub.graph();
    let mut users = std::pin::pin!(graph.users());
    let first = users.try_next().await;
    let second = users.try_next().await;
    // THEN the first page's user arrives and the foreign link is refused, not followed
    assert_eq!(first.ok().flatten().map(|u| u.id), Some("u1".to_owned()));
    assert!(
        matches!(second, Err(GraphError::UntrustedLink { .. })),
        "{second:?}"
    );
    assert_eq!(script.seen().len(), 1);
    assert_eq!(graph.metrics().requests, 1);
}

#[tokio::test]
async fn given_resume_link_when_listing_pages_then_the_list_continues_from_it() {
    // GIVEN a stored nextLink of an interrupted listing
    let script = Script::new(vec![ok(json!({"value":[{"id":"u3"}]}))]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    let link = format!("{}/users?$skiptoken=page2", stub.graph_base());
    // WHEN the pages are resumed from it
    let pages: Result<Vec<_>, _> = stub.graph().user_pages(Some(&link)).try_collect().await;
    // THEN the request goes to exactly that link and the last page has no next link
    let pages = pages.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].next_link, None);
    // (the stub nests Graph under /v1.0, which axum strips from the seen URI)
    assert_eq!(script.seen()[0].uri, "/users?$skiptoken=page2");
}

#[tokio::test]
async fn given_401_once_when_requesting_then_the_token_is_refreshed_once_and_the_call_succeeds() {
    // GIVEN Graph refuses the first token, and a token endpoint that counts its calls
    let script = Script::new(vec![
        (
            401,
            vec![],
            json!({"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired."}}).to_string(),
        ),
        (204, vec![("request-id", "rid-patch".into())], String::new()),
    ]);
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let app = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    axum::Json(json!({"token_type":"Bearer","expires_in":3599,"access_token":format!("token-{n}")}))
                }
            }),
        )
        .nest("/v1.0", script.router());
    let stub = Stub::serve(app).await;
    let graph = stub.graph();
    // WHEN an account is blocked
    let receipt = graph.update_user("u1", &UserPatch::block_sign_in()).await;
    // THEN one refresh happened, the second attempt used the new token, and the receipt has the request-id
    let receipt = receipt.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receipt.request_id.as_deref(), Some("rid-patch"));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(graph.metrics().token_requests, 2);
    let auth: Vec<_> = script
        .seen()
        .into_iter()
        .map(|s| s.authorization.unwrap_or_default())
        .collect();
    assert_eq!(
        auth,
        vec!["Bearer token-1".to_owned(), "Bearer token-2".to_owned()]
    );
    assert_eq!(script.seen()[1].body, r#"{"accountEnabled":false}"#);
}

#[tokio::test]
async fn given_401_twice_when_requesting_then_unauthorized_after_a_single_refresh() {
    // GIVEN Graph refuses every token
    let script = Script::new(vec![(
        401,
        vec![],
        json!({"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}).to_string(),
    )]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    let graph = stub.graph();
    // WHEN a user is read
    let result = graph.user("u1").await;
    // THEN it fails as Unauthorized after exactly two attempts and two token requests
    assert!(
        matches!(result, Err(GraphError::Unauthorized(_))),
        "{result:?}"
    );
    assert_eq!(graph.metrics().requests, 2);
    assert_eq!(graph.metrics().token_requests, 2);
}

#[tokio::test]
async fn given_any_403_on_sign_in_activity_when_listing_then_sign_in_activity_unavailable() {
    // GIVEN a 403 whose code is not the P1 one (e.g. AuditLog.Read.All missing)
    let script = Script::new(vec![(
        403,
        vec![],
        json!({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}).to_string(),
    )]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    // WHEN users with sign-in activity are listed
    let result: Result<Vec<_>, _> = stub
        .graph()
        .users_with_sign_in_activity()
        .try_collect()
        .await;
    // THEN the typed error says sign-in activity is unavailable, and $top was 120
    assert!(
        matches!(result, Err(GraphError::SignInActivityUnavailable(_))),
        "{result:?}"
    );
    assert!(script.seen()[0].uri.contains("$top=120"));
    assert!(script.seen()[0].uri.contains("signInActivity"));
}

#[tokio::test]
async fn given_connection_refused_when_requesting_then_transport_error_after_all_attempts() {
    // GIVEN a token endpoint that works and a Graph base where nothing listens
    let stub = Stub::start(Router::new(), jwt(&[])).await;
    let dead = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dead_port = dead
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    drop(dead);
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    };
    let graph = crate::support::client(
        &format!("http://127.0.0.1:{dead_port}/v1.0"),
        &stub.base,
        policy,
    )
    .tenant(
        "t",
        graph::AppCredential::new("app", graph::SecretString::from("s")),
    );
    // WHEN a user is read
    let result = graph.user("u1").await;
    // THEN a retryable transport error comes back after 3 attempts
    match &result {
        Err(e @ GraphError::Transport { .. }) => assert!(e.is_retryable()),
        other => panic!("{other:?}"),
    }
    assert_eq!((graph.metrics().requests, graph.metrics().retries), (3, 2));
}

#[tokio::test]
async fn given_resource_unit_headers_when_requesting_then_units_are_summed() {
    // GIVEN two pages each charging 2 RU
    let stub_base = Arc::new(std::sync::OnceLock::<String>::new());
    let base = stub_base.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let graph_router = Router::new().fallback(move || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let next = format!(
            "{}/v1.0/groups?$skiptoken=2",
            base.get().cloned().unwrap_or_default()
        );
        async move {
            let body = if n == 0 {
                json!({"value":[{"id":"g1"}],"@odata.nextLink":next})
            } else {
                json!({"value":[{"id":"g2"}]})
            };
            ([("x-ms-resource-unit", "2")], axum::Json(body))
        }
    });
    let stub = Stub::start(graph_router, jwt(&[])).await;
    let _ = stub_base.set(stub.base.clone());
    let graph = stub.graph();
    // WHEN the groups are listed
    let groups: Result<Vec<_>, _> = graph.groups().try_collect().await;
    // THEN both pages arrive and 4 RU are reported
    assert_eq!(groups.map(|g| g.len()).map_err(|e| e.to_string()), Ok(2));
    assert_eq!(graph.metrics().resource_units, 4);
    assert_eq!(graph.metrics().requests, 2);
}

#[tokio::test]
async fn given_batch_with_a_throttled_step_and_its_dependent_when_sent_then_only_those_two_are_resent()
 {
    // GIVEN a $batch answer where step 1 succeeds, step 2 is throttled (Retry-After 0.05) and
    // step 3, which depends on 2, fails with 424; then an answer for 2 and 3
    let first = json!({"responses":[
        {"id":"1","status":204,"headers":{"request-id":"r1"}},
        {"id":"2","status":429,"headers":{"Retry-After":"0.05"},"body":{"error":{"code":"TooManyRequests","message":"Please retry again later."}}},
        {"id":"3","status":424,"body":{"error":{"code":"FailedDependency","message":"Dependency failed."}}}
    ]});
    let second = json!({"responses":[
        {"id":"3","status":204},
        {"id":"2","status":204}
    ]});
    let script = Script::new(vec![ok(first), ok(second)]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    let graph = stub.graph();
    let steps = vec![
        BatchRequest::update_user("1", "u1", &UserPatch::block_sign_in()),
        BatchRequest::revoke_sign_in_sessions("2", "u2"),
        BatchRequest::new("3", Method::DELETE, "/users/u2").after("2"),
    ];
    // WHEN the batch is sent
    let outcomes = graph.batch(steps).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN every step succeeded, in order, and the second $batch carried only steps 2 and 3
    let statuses: Vec<_> = outcomes
        .iter()
        .map(|o| (o.id.as_str(), o.result.as_ref().map(|r| r.status).ok()))
        .collect();
    assert_eq!(
        statuses,
        vec![("1", Some(204)), ("2", Some(204)), ("3", Some(204))]
    );
    let seen = script.seen();
    assert_eq!(seen.len(), 2);
    let resent: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap_or_default();
    let ids: Vec<_> = resent["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("2"), json!("3")]);
    assert_eq!(resent["requests"][1]["dependsOn"], json!(["2"]));
    let first_sent: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap_or_default();
    assert_eq!(
        first_sent["requests"][0]["headers"]["Content-Type"],
        json!("application/json")
    );
    assert_eq!(first_sent["requests"][0]["url"], json!("/users/u1"));
    assert_eq!(graph.metrics().throttled, 1);
}

#[tokio::test]
async fn given_batch_step_failing_for_good_when_sent_then_its_dependent_reports_failed_dependency()
{
    // GIVEN step a is a 404 and step b depends on it
    let answer = json!({"responses":[
        {"id":"a","status":404,"body":{"error":{"code":"Request_ResourceNotFound","message":"Resource 'u9' does not exist."}}},
        {"id":"b","status":424,"body":{"error":{"code":"FailedDependency","message":"Dependency failed."}}}
    ]});
    let script = Script::new(vec![ok(answer)]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    let steps = vec![
        BatchRequest::delete_user("a", "u9"),
        BatchRequest::revoke_sign_in_sessions("b", "u9").after("a"),
    ];
    // WHEN sent
    let outcomes = stub
        .graph()
        .batch(steps)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN a is NotFound, b FailedDependency, and nothing was re-sent
    assert!(matches!(outcomes[0].result, Err(GraphError::NotFound(_))));
    assert!(matches!(
        outcomes[1].result,
        Err(GraphError::FailedDependency(_))
    ));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn given_count_and_list_when_requested_then_consistency_level_is_sent_only_for_the_count() {
    // GIVEN Graph answering a count, then a list
    let script = Script::new(vec![
        (200, vec![], "\u{feff}1234".to_owned()),
        ok(json!({"value":[]})),
    ]);
    let stub = Stub::start(script.router(), jwt(&[])).await;
    let graph = stub.graph();
    // WHEN the users are counted and listed
    let count = graph.user_count().await;
    let listed: Result<Vec<_>, _> = graph.users().try_collect().await;
    // THEN the count is read, and only its request carried `ConsistencyLevel: eventual`
    assert_eq!(count.map_err(|e| e.to_string()), Ok(1234));
    assert!(listed.is_ok());
    let levels: Vec<_> = script
        .seen()
        .into_iter()
        .map(|s| s.consistency_level)
        .collect();
    assert_eq!(levels, vec![Some("eventual".to_owned()), None]);
}

#[tokio::test]
async fn given_a_retry_after_beyond_the_invocation_deadline_when_requesting_then_the_call_fails_throttled_at_once()
 {
    // GIVEN Graph throttles with `Retry-After: 120`, the client's policy would wait up to 5
    // minutes, and the invocation has 20 s left
    let script = Script::new(vec![
        (
            429,
            vec![("retry-after", "120".into())],
            json!({"error":{"code":"TooManyRequests","message":"Please retry again later."}})
                .to_string(),
        ),
        ok(json!({"value":[{"id":"g1","displayName":"Sales"}]})),
    ]);
    let stub = Stub::start(script.router(), jwt(&["Group.Read.All"])).await;
    let graph = stub
        .graph_with(RetryPolicy::default())
        .until(std::time::SystemTime::now() + Duration::from_secs(20));
    // WHEN the groups are listed
    let groups: Result<Vec<_>, _> = graph.groups().try_collect().await;
    // THEN the call fails as throttled (retryable: the job is delivered again later) after the
    // one request, without sleeping into the deadline
    match groups {
        Err(error @ GraphError::Throttled { .. }) => assert!(error.is_retryable()),
        other => panic!("expected a throttled error, got {other:?}"),
    }
    assert_eq!(script.seen().len(), 1);
    assert_eq!(graph.metrics().retries, 0);
}
