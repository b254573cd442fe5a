//! JSON batching: 20 at most, dependsOn, 424 for failed dependencies, per-request throttling.

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
        {"id": "3", "method": "POST", "url": format!("/users/{user}/revokeSignInSessions"), "dependsOn": ["2"]},
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
