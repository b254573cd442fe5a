//! The /_sim admin API over HTTP: tenants, knobs (merged), consent, mutations, truth, stats.

mod common;

use common::Env;
use graph_sim::SimConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn given_the_admin_api_when_knobs_consent_mutations_and_truth_are_used_over_http_then_they_act_like_the_typed_api()
 {
    // GIVEN the demo simulator
    let env = Env::start(SimConfig::demo()).await;
    let admin = env.sim.admin_url();
    let tenants: Vec<Value> = env
        .http
        .get(format!("{admin}/tenants"))
        .send()
        .await
        .expect("tenants")
        .json()
        .await
        .expect("json");
    assert_eq!(tenants.len(), 3);
    assert_eq!(
        tenants[0]["customers"].as_array().expect("customers").len(),
        2
    );
    let tid = tenants[1]["tenant_id"].as_str().expect("tid").to_string();
    // WHEN one knob is PUT
    let k: Value = env
        .http
        .put(format!("{admin}/tenants/{tid}/knobs"))
        .json(&json!({"latency_ms": 0, "ru_per_10s": 77}))
        .send()
        .await
        .expect("put")
        .json()
        .await
        .expect("json");
    // THEN it changes and the others keep their values
    assert_eq!(k["ru_per_10s"], 77);
    assert_eq!(k["writes_per_150s"], 3000);
    assert_eq!(env.sim.knobs(&tid).expect("knobs").ru_per_10s, Some(77));
    // WHEN consent for the platform app is granted over HTTP
    let c: Value = env
        .http
        .post(format!("{admin}/tenants/{tid}/consent"))
        .json(&json!({"granted": true}))
        .send()
        .await
        .expect("consent")
        .json()
        .await
        .expect("json");
    // THEN the app can get a token
    assert_eq!(c["granted"], true);
    let app = env.sim.platform_app();
    assert!(
        env.token_for(&tid, &app.client_id, &app.client_secret)
            .await
            .is_ok()
    );
    // WHEN a mutation is posted
    let before = env.sim.truth_counts(&tid).expect("truth").counts;
    let m: Value = env
        .http
        .post(format!("{admin}/tenants/{tid}/mutate"))
        .json(&json!({"add_users": 2, "delete_users": 1}))
        .send()
        .await
        .expect("mutate")
        .json()
        .await
        .expect("json");
    // THEN the report names the changes and the truth counts follow
    assert_eq!(m["added_users"].as_array().expect("added").len(), 2);
    assert_eq!(m["deleted_users"].as_array().expect("deleted").len(), 1);
    let truth: Value = env
        .http
        .get(format!("{admin}/tenants/{tid}/truth?counts_only=true"))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    assert_eq!(
        truth["counts"]["users"].as_u64(),
        Some(before.users as u64 + 1)
    );
    assert_eq!(
        truth["counts"]["deleted_users"].as_u64(),
        Some(before.deleted_users as u64 + 1)
    );
    let stats: Value = env
        .http
        .get(format!("{admin}/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["tokens_issued"], 1);
}

#[tokio::test]
async fn given_the_same_seed_when_two_simulators_start_and_mutate_then_ids_and_changes_are_identical()
 {
    // GIVEN two simulators from the same seed
    let a = Env::start(SimConfig::single(300, 10)).await;
    let b = Env::start(SimConfig::single(300, 10)).await;
    let (ta, tb) = (a.tenant(0), b.tenant(0));
    // WHEN both apply the same mutation
    let m = graph_sim::Mutation {
        add_users: 3,
        delete_users: 2,
        add_memberships: 4,
        remove_memberships: 2,
        update_users: 1,
    };
    let ra = a.sim.mutate(&ta.tenant_id, &m).expect("mutate");
    let rb = b.sim.mutate(&tb.tenant_id, &m).expect("mutate");
    // THEN tenants, users, groups and the changes are the same
    assert_eq!(ta.tenant_id, tb.tenant_id);
    assert_eq!(ra, rb);
    let (xa, xb) = (
        a.sim.truth(&ta.tenant_id).expect("truth"),
        b.sim.truth(&tb.tenant_id).expect("truth"),
    );
    // Sign-in times are relative to each simulator's start, so compare the rest.
    let users = |t: &graph_sim::Truth| -> Vec<(String, String, Vec<String>)> {
        t.users
            .iter()
            .map(|u| {
                (
                    u.id.clone(),
                    u.user_principal_name.clone(),
                    u.sku_ids.clone(),
                )
            })
            .collect()
    };
    assert_eq!(users(&xa), users(&xb));
    assert_eq!(xa.groups, xb.groups);
    assert_eq!(xa.skus, xb.skus);
}
