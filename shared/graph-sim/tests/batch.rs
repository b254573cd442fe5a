//! JSON batching: 20 at most, dependsOn, 424 for failed dependencies, per-request throttling,
//! and the envelope rules Graph checks before running anything. Rules from
//! https://learn.microsoft.com/graph/json-batching ("Creating a batch request": id required,
//! unique, not case-sensitive; url relative; headers required when body is given, with a
//! Content-Type; a write without parameters still sends `"body": {}`) and
//! shared/reference/graph/graph-facts.md "Paging, delta, batching".

mod common;

use common::Env;
use graph_sim::SimConfig;
use serde_json::{Value, json};

async fn batch(env: &Env, token: &str, body: Value) -> (u16, Value) {
    let resp = env
        .http
        .post(format!("{}/$batch", env.sim.graph_base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("batch");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

fn by_id<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .find(|r| r["id"] == id)
        .expect("response for id")
}

#[tokio::test]
async fn given_a_batch_with_a_failing_step_when_sent_then_that_step_fails_alone_and_its_dependant_gets_424()
 {
    // GIVEN a batch: a good read, a write to an unknown group, and a step depending on it
    let env = Env::start(SimConfig::single(20, 3)).await;
    let token = env.token(0).await;
    let user = env
        .sim
        .truth(&env.tenant(0).tenant_id)
        .expect("truth")
        .users[1]
        .id
        .clone();
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users?$select=id&$top=5"},
        {"id": "2", "method": "POST", "url": "/groups/00000000-0000-0000-0000-000000000000/members/$ref",
         "headers": {"Content-Type": "application/json"},
         "body": {"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")}},
        {"id": "3", "method": "POST", "url": format!("/users/{user}/revokeSignInSessions"), "dependsOn": ["2"],
         "headers": {"Content-Type": "application/json"}, "body": {}},
    ]});
    // WHEN it is sent
    let (status, body) = batch(&env, &token, body).await;
    // THEN the batch is 200 and each step has its own outcome
    assert_eq!(status, 200, "{body}");
    assert_eq!(by_id(&body, "1")["status"], 200);
    assert_eq!(
        by_id(&body, "1")["body"]["value"]
            .as_array()
            .expect("value")
            .len(),
        5
    );
    assert_eq!(by_id(&body, "2")["status"], 404);
    assert_eq!(
        by_id(&body, "2")["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    assert_eq!(by_id(&body, "3")["status"], 424);
}

#[tokio::test]
async fn given_21_requests_when_batched_then_400() {
    // GIVEN 21 requests
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let reqs: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    // WHEN batched
    let (status, body) = batch(&env, &token, json!({"requests": reqs})).await;
    // THEN 400
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn given_a_small_budget_when_a_batch_exceeds_it_then_inner_requests_get_their_own_429() {
    // GIVEN an RU budget of 4 per window
    let env = Env::start(SimConfig::single(10, 1)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    env.sim
        .update_knobs(&tid, |k| k.ru_per_10s = Some(4))
        .expect("knobs");
    let reqs: Vec<Value> = (0..6)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/organization"}))
        .collect();
    // WHEN six 1-RU reads are batched
    let (status, body) = batch(&env, &token, json!({"requests": reqs})).await;
    // THEN the batch is 200, four succeed and two are 429 with their own Retry-After
    assert_eq!(status, 200);
    let statuses: Vec<u64> = body["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| r["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 4);
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 2);
    let throttled = body["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .find(|r| r["status"] == 429)
        .expect("429");
    assert!(throttled["headers"]["retry-after"].is_string());
    assert_eq!(throttled["body"]["error"]["code"], "TooManyRequests");
}

/// A 400 for the whole batch with Graph's message.
fn refused(status: u16, body: &Value, message: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "BadRequest", "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
}

#[tokio::test]
async fn given_a_write_step_without_body_and_content_type_when_batched_then_the_whole_batch_is_400()
{
    // GIVEN a batch that blocks sign-in (PATCH with body and Content-Type) and revokes sessions
    // without body and headers, as Graph's doc says a write must not
    // [learn: graph/json-batching: "you must still specify the headers and body parameters
    // where only body can be an empty object"]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let user = env.sim.truth(&tid).expect("truth").users[1].clone();
    assert!(user.account_enabled);
    let body = json!({"requests": [
        {"id": "block", "method": "PATCH", "url": format!("/users/{}", user.id),
         "headers": {"Content-Type": "application/json"}, "body": {"accountEnabled": false}},
        {"id": "revoke", "method": "POST", "url": format!("/users/{}/revokeSignInSessions", user.id)},
    ]});
    // WHEN it is sent
    let (status, answer) = batch(&env, &token, body).await;
    // THEN Graph's 400 names the step, and no step ran (the account is still enabled)
    refused(
        status,
        &answer,
        "Write request id : revoke does not contain Content-Type header or body.",
    );
    let after = env.sim.truth(&tid).expect("truth").users[1].clone();
    assert!(after.account_enabled);
}

#[tokio::test]
async fn given_write_steps_missing_either_body_or_content_type_when_batched_then_400() {
    // GIVEN a tenant [learn: graph/json-batching, properties `headers` and `body`]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let user = env
        .sim
        .truth(&env.tenant(0).tenant_id)
        .expect("truth")
        .users[1]
        .id
        .clone();
    let url = format!("/users/{user}/revokeSignInSessions");
    for (what, step) in [
        (
            "a body without Content-Type",
            json!({"id": "1", "method": "POST", "url": url, "body": {}}),
        ),
        (
            "Content-Type without body",
            json!({"id": "1", "method": "POST", "url": url, "headers": {"Content-Type": "application/json"}}),
        ),
        (
            "a PUT without body",
            json!({"id": "1", "method": "put", "url": url}),
        ),
        (
            "a GET with a body and no Content-Type",
            json!({"id": "1", "method": "GET", "url": "/users", "body": {}}),
        ),
    ] {
        // WHEN such a step is batched
        let (status, answer) = batch(&env, &token, json!({"requests": [step]})).await;
        // THEN the batch is refused
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(
            answer["error"]["message"],
            "Write request id : 1 does not contain Content-Type header or body.",
            "{what}"
        );
    }
    // AND the same write with `"body": {}` and Content-Type runs (200 {"value": true})
    let ok = json!({"requests": [{"id": "1", "method": "POST", "url": url,
        "headers": {"Content-Type": "application/json"}, "body": {}}]});
    let (status, answer) = batch(&env, &token, ok).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(by_id(&answer, "1")["status"], 200, "{answer}");
    assert_eq!(by_id(&answer, "1")["body"]["value"], true);
}

#[tokio::test]
async fn given_malformed_envelopes_when_batched_then_each_is_refused_with_400() {
    // GIVEN a tenant [learn: graph/json-batching: id required, a string, unique and not
    // case-sensitive; method required; url required and relative; at most 20 requests]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let get = |id: Value| json!({"id": id, "method": "GET", "url": "/organization"});
    let cases = [
        (
            "ids equal but for case",
            json!([get(json!("a")), get(json!("A"))]),
        ),
        ("an id that is a number", json!([get(json!(1))])),
        ("an empty id", json!([get(json!(""))])),
        ("no method", json!([{"id": "1", "url": "/users"}])),
        (
            "an unknown method",
            json!([{"id": "1", "method": "TRACE", "url": "/users"}]),
        ),
        (
            "an absolute url",
            json!([{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}]),
        ),
        ("no url", json!([{"id": "1", "method": "GET"}])),
        (
            "dependsOn an unknown step",
            json!([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]),
        ),
        (
            "dependsOn itself",
            json!([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["1"]}]),
        ),
        (
            "dependsOn not an array of ids",
            json!([{"id": "1", "method": "GET", "url": "/users", "dependsOn": "2"}]),
        ),
        (
            "a dependsOn cycle",
            json!([
                {"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
                {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
            ]),
        ),
        (
            "headers not an object",
            json!([{"id": "1", "method": "GET", "url": "/users", "headers": ["x"]}]),
        ),
        ("no requests", json!([])),
    ];
    for (what, requests) in cases {
        // WHEN the batch is sent
        let (status, answer) = batch(&env, &token, json!({"requests": requests})).await;
        // THEN 400 BadRequest for the whole batch
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "BadRequest", "{what}");
    }
}

#[tokio::test]
async fn given_a_url_with_the_version_segment_when_batched_then_that_step_is_400() {
    // GIVEN a step whose url repeats the version (the url is relative to /v1.0: `/users`)
    // [learn: graph/json-batching, property `url`]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/v1.0/organization"},
        {"id": "2", "method": "GET", "url": "organization"},
    ]});
    // WHEN batched
    let (status, answer) = batch(&env, &token, body).await;
    // THEN the batch runs; the versioned url does not resolve, the relative one does
    assert_eq!(status, 200, "{answer}");
    assert_eq!(by_id(&answer, "1")["status"], 400, "{answer}");
    assert_eq!(by_id(&answer, "2")["status"], 200, "{answer}");
}
