//! Job intake on real parts: moto (DynamoDB, SQS, Secrets Manager) through the real AWS SDK
//! clients; for the end-to-end case the onboarding function against the Graph simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

mod documented;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use chrono::Utc;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use lifecycle::model::{ConnectionMode, ConnectionStatus, TenantAuth, TenantConnection};
use lifecycle::{Config, DomainName, Function, Invocation, OrgId, Platform, Queue, TenantId};
use serde_json::{Value, json};

const PASSWORD: &str = "Welcome-2025!intake";

/// The local stack (infra/template.yaml's table, queues and secrets in moto, the Graph
/// simulator), a tenant connected to organization `acme`, and the API function running with its
/// own template policy.
struct Local {
    stack: Stack,
    /// The stack's full credentials: what the test itself reads (queues, secrets).
    sdk: SdkConfig,
    config: Config,
    api: api::App,
    platform: Platform,
    with_sim: bool,
    tenant: String,
    domain: String,
}

async fn start(mode: ConnectionMode, with_sim: bool) -> Local {
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let mut options = StackOptions::new(
        template,
        GraphSource::Simulator(graph_sim::SimConfig::single(30, 20)),
    );
    // The handlers are called directly; no poller or schedule competes with the test.
    options.registry = Registry::empty();
    options.poll_queues = false;
    let stack = Stack::start(options).await.expect("the local stack starts");
    let sdk = stack.sdk_config().clone();
    let config = stack.config().clone();
    // Without the simulator's part, a tenant Graph never hears of (no Graph call is made).
    let (tenant, domain) = if with_sim {
        let sim = stack.sim().expect("the simulator runs");
        let info = sim.tenants().remove(0);
        sim.grant_consent(&info.tenant_id).expect("consent");
        (info.tenant_id.clone(), info.default_domain.clone())
    } else {
        (
            "72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned(),
            "contoso.com".to_owned(),
        )
    };
    let platform = Platform::new(config.clone(), &sdk).expect("platform");
    let connection = TenantConnection {
        tenant_id: TenantId::parse(&tenant).expect("tenant"),
        org_id: OrgId::parse("acme").expect("org"),
        display_name: "Contoso".into(),
        verified_domains: vec![DomainName::parse(&domain).expect("domain")],
        mode,
        auth: TenantAuth::Consent,
        status: ConnectionStatus::Connected,
        consented_at: Utc::now(),
        last_sync: None,
        next_sync_due: None,
        sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
        options: Default::default(),
        has_p1: None,
        generation: None,
    };
    platform
        .connect_tenant(&connection)
        .await
        .expect("tenant saved");
    let api = api::App::new(config.clone(), api_aws(&stack)).expect("api");
    Local {
        stack,
        sdk,
        config,
        api,
        platform,
        with_sim,
        tenant,
        domain,
    }
}

/// The API function's credentials: only its template policy, as its role in AWS.
fn api_aws(stack: &Stack) -> &SdkConfig {
    stack
        .function_sdk_config("ApiFunction")
        .expect("the template has the API function")
}

fn request(route: &str, params: &[(&str, &str)], body: Option<Value>) -> ApiGatewayV2httpRequest {
    let mut request = ApiGatewayV2httpRequest::default();
    request.route_key = Some(route.to_owned());
    request.path_parameters = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if body.is_some() {
        request.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    request.body = body.map(|b| b.to_string());
    // The claims API Gateway's JWT authorizer hands over for a caller of organization acme.
    request.request_context.authorizer =
        serde_json::from_value(serde_json::json!({"jwt": {"claims": {"org_id": "acme"}}}))
            .expect("authorizer context");
    request
}

fn body(response: &ApiGatewayV2httpResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).expect("JSON body"),
        other => panic!("text body expected, got {other:?}"),
    }
}

impl Local {
    /// The Graph simulator, for the tests that connected its tenant.
    fn sim(&self) -> Option<&graph_sim::SimHandle> {
        self.stack.sim().filter(|_| self.with_sim)
    }

    async fn submit(&self, job: Value) -> (i64, Value) {
        let response = self
            .api
            .handle(request(
                "POST /tenants/{tenant_id}/jobs",
                &[("tenant_id", &self.tenant)],
                Some(job),
            ))
            .await;
        let answer = body(&response);
        documented::check(
            "POST /tenants/{tenant_id}/jobs",
            response.status_code,
            &answer,
        );
        (response.status_code, answer)
    }

    async fn get(&self, route: &str, job_id: &str) -> (i64, Value) {
        let response = self
            .api
            .handle(request(
                route,
                &[("tenant_id", &self.tenant), ("job_id", job_id)],
                None,
            ))
            .await;
        let answer = body(&response);
        documented::check(route, response.status_code, &answer);
        (response.status_code, answer)
    }

    fn onboard(&self, job_id: &str, password: Value) -> Value {
        json!({
            "job_id": job_id, "type": "onboard",
            "given_name": "Adele", "surname": "Vance", "display_name": "Adele Vance",
            "mail_nickname": job_id, "user_principal_name": format!("{job_id}@{}", self.domain),
            "usage_location": "US", "password": password
        })
    }

    async fn messages(&self, queue_url: &str) -> Vec<lifecycle::ReceivedMessage> {
        Queue::new(aws_sdk_sqs::Client::new(&self.sdk))
            .receive(queue_url, 10, 0, 30)
            .await
            .expect("receive")
    }

    async fn secrets(&self) -> Vec<(String, String)> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let mut out = Vec::new();
        for secret in client
            .list_secrets()
            .send()
            .await
            .expect("list")
            .secret_list()
        {
            let name = secret.name().unwrap_or_default().to_owned();
            if let Ok(value) = client.get_secret_value().secret_id(&name).send().await {
                out.push((name, value.secret_string().unwrap_or_default().to_owned()));
            }
        }
        out
    }
}

#[tokio::test]
async fn given_an_onboard_job_with_a_password_when_submitted_then_only_a_secret_reference_is_queued()
 {
    // GIVEN
    let local = start(ConnectionMode::ReadWrite, false).await;
    // WHEN
    let (status, answer) = local
        .submit(local.onboard("j-1", json!({"source": "value", "value": PASSWORD})))
        .await;
    // THEN
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["job_id"], "j-1");
    assert_eq!(answer["status"], "queued");
    let messages = local.messages(&local.config.onboarding_queue_url).await;
    assert_eq!(messages.len(), 1);
    assert!(
        !messages[0].body.contains(PASSWORD),
        "the password travelled on the queue"
    );
    let queued: Value = serde_json::from_str(&messages[0].body).expect("job JSON");
    let secret_id = queued["password"]["secret_id"]
        .as_str()
        .expect("secret reference")
        .to_owned();
    assert_eq!(
        secret_id,
        format!(
            "{}onboarding/{}/j-1/password",
            local.config.secret_prefix, local.tenant
        )
    );
    assert_eq!(
        messages[0].message_group_id(),
        Some(format!("{}:j-1@{}", local.tenant, local.domain).as_str())
    );
    let secrets = local.secrets().await;
    assert!(
        secrets
            .iter()
            .any(|(name, value)| name == &secret_id && value == PASSWORD)
    );
    let (status, record) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}", "j-1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(record["status"], "queued");
    assert!(!record.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn given_a_read_only_tenant_when_a_write_job_is_submitted_then_409_says_to_reconnect_and_nothing_is_stored()
 {
    let local = start(ConnectionMode::Read, false).await;
    let (status, answer) = local
        .submit(local.onboard("j-ro", json!({"source": "value", "value": PASSWORD})))
        .await;
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("read-only") && message.contains("reconnect it in read/write mode"),
        "{message}"
    );
    assert!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .is_empty()
    );
    assert!(
        local
            .secrets()
            .await
            .iter()
            .all(|(name, _)| !name.contains("j-ro"))
    );
}

#[tokio::test]
async fn given_bad_jobs_when_submitted_then_400_says_what_is_wrong_without_echoing_the_password() {
    let local = start(ConnectionMode::ReadWrite, false).await;
    let (status, answer) = local
        .submit(local.onboard(
            "j-weak",
            json!({"source": "value", "value": "weakpassword"}),
        ))
        .await;
    assert_eq!(status, 400);
    assert!(answer.to_string().contains("character classes"), "{answer}");
    assert!(!answer.to_string().contains("weakpassword"));

    let mut bad_country = local.onboard("j-country", json!({"source": "value", "value": PASSWORD}));
    bad_country["usage_location"] = json!("XX");
    let (status, answer) = local.submit(bad_country).await;
    assert_eq!(status, 400);
    assert!(
        answer.to_string().contains("ISO 3166-1 alpha-2"),
        "{answer}"
    );
    assert!(!answer.to_string().contains(PASSWORD));

    let (status, answer) = local.submit(json!({"type": "reboot"})).await;
    assert_eq!(status, 400);
    assert!(answer.to_string().contains("unknown variant"), "{answer}");
    assert!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .is_empty()
    );
    assert!(
        local
            .secrets()
            .await
            .iter()
            .all(|(name, _)| !name.contains("onboarding/"))
    );
}

#[tokio::test]
async fn given_jobs_graph_or_dynamodb_would_refuse_when_submitted_then_400_names_the_field_and_nothing_is_queued()
 {
    // GIVEN a connected read/write tenant
    let local = start(ConnectionMode::ReadWrite, false).await;
    let onboard = || local.onboard("j-limits", json!({"source": "generate"}));
    let group = |n: usize| format!("0b9f1c2e-0000-4000-8000-{n:012}");
    let mut misspelt = onboard();
    misspelt["licences"] = json!(["SPE_E5"]);
    let mut huge_name = onboard();
    huge_name["display_name"] = json!("x".repeat(1 << 20));
    let mut long_name = onboard();
    long_name["given_name"] = json!("x".repeat(10_000));
    let mut many_groups = onboard();
    many_groups["groups"] = json!((0..5_000).map(group).collect::<Vec<_>>());
    let membership = json!({"job_id": "j-member", "type": "update_memberships",
        "account": format!("adele@{}", local.domain), "group": [group(1)]});
    let days = json!({"job_id": "j-days", "type": "license_refresh",
        "inactive_after_days": 999_999_999});
    let mut tenant_object = onboard();
    tenant_object["tenant_id"] = json!({});

    // WHEN each is submitted THEN 400 names the field and what to send
    for (job, expected) in [
        (
            misspelt,
            "unknown field `licences`; did you mean `licenses`?",
        ),
        (
            huge_name,
            "display_name is 1048576 characters long; Microsoft Graph accepts a displayName of at most 256",
        ),
        (
            long_name,
            "given_name is 10000 characters long; Microsoft Graph accepts a givenName of at most 64",
        ),
        (
            many_groups,
            "groups has 5000 items; a job takes at most 100",
        ),
        (
            membership,
            "unknown field `group`, expected one of `account`, `add_groups`",
        ),
        (
            days,
            "inactive_after_days is 999999999; expected a whole number of days from 1 to 3650",
        ),
        (tenant_object, "the body's tenant_id must be a string"),
    ] {
        let (status, answer) = local.submit(job).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{message}");
        assert!(
            message.len() < 400,
            "the refusal echoes the input: {} bytes",
            message.len()
        );
    }

    // AND nothing was queued, stored or put in a secret
    for queue in [
        &local.config.onboarding_queue_url,
        &local.config.license_refresh_queue_url,
    ] {
        assert!(local.messages(queue).await.is_empty());
    }
    let (status, _) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}", "j-limits")
        .await;
    assert_eq!(status, 404);
    assert!(
        local
            .secrets()
            .await
            .iter()
            .all(|(name, _)| !name.contains("onboarding/"))
    );
}

#[tokio::test]
async fn given_a_body_not_sent_as_json_when_submitted_then_415_names_the_content_type_to_send() {
    // GIVEN a valid job
    let local = start(ConnectionMode::ReadWrite, false).await;
    let job = local.onboard("j-type", json!({"source": "generate"}));
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        // WHEN it is sent without Content-Type: application/json
        let mut request = request(
            "POST /tenants/{tenant_id}/jobs",
            &[("tenant_id", &local.tenant)],
            Some(job.clone()),
        );
        request.headers.remove(http::header::CONTENT_TYPE);
        if let Some(value) = content_type {
            request.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(value),
            );
        }
        let response = local.api.handle(request).await;

        // THEN 415 says what to send, and nothing is queued
        assert_eq!(response.status_code, 415, "{content_type:?}");
        let answer = body(&response);
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Content-Type: application/json")),
            "{answer}"
        );
    }
    assert!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .is_empty()
    );
    // AND with a charset parameter it is accepted
    let mut request = request(
        "POST /tenants/{tenant_id}/jobs",
        &[("tenant_id", &local.tenant)],
        Some(job),
    );
    request.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    assert_eq!(local.api.handle(request).await.status_code, 202);
}

#[tokio::test]
async fn given_the_same_job_id_twice_when_submitted_then_it_is_queued_once() {
    let local = start(ConnectionMode::ReadWrite, false).await;
    let job = local.onboard("j-twice", json!({"source": "value", "value": PASSWORD}));
    let (first, _) = local.submit(job.clone()).await;
    let (second, answer) = local.submit(job).await;
    assert_eq!((first, second), (202, 200), "{answer}");
    assert_eq!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn given_each_job_type_when_submitted_then_it_lands_on_its_own_queue() {
    let local = start(ConnectionMode::ReadWrite, false).await;
    let account = format!("someone@{}", local.domain);
    for job in [
        json!({"job_id": "j-upd", "type": "update_memberships", "account": account, "add_groups": []}),
        json!({"job_id": "j-off", "type": "offboard", "account": account}),
        json!({"job_id": "j-lic", "type": "license_refresh"}),
        json!({"job_id": "j-move", "type": "update_account", "account": account, "job_title": "Lead"}),
        json!({"job_id": "j-leave", "type": "set_sign_in", "account": account, "sign_in": "blocked"}),
    ] {
        let (status, answer) = local.submit(job).await;
        assert_eq!(status, 202, "{answer}");
    }
    let ids = |messages: Vec<lifecycle::ReceivedMessage>| -> Vec<String> {
        messages
            .into_iter()
            .map(|m| {
                serde_json::from_str::<Value>(&m.body).expect("json")["job_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        ids(local.messages(&local.config.onboarding_queue_url).await),
        ["j-upd", "j-move", "j-leave"]
    );
    assert_eq!(
        ids(local.messages(&local.config.offboarding_queue_url).await),
        ["j-off"]
    );
    assert_eq!(
        ids(local
            .messages(&local.config.license_refresh_queue_url)
            .await),
        ["j-lic"]
    );
}

#[tokio::test]
async fn given_a_generated_password_when_the_job_ran_then_it_is_handed_back_once_and_the_job_record_shows_the_steps()
 {
    // GIVEN: the onboarding function behind the queue
    let local = start(ConnectionMode::ReadWrite, true).await;
    let worker = onboarding::App::from_platform(local.platform.clone());
    // WHEN: submitted, then delivered from SQS to the worker as Lambda would
    let (status, answer) = local
        .submit(local.onboard("j-gen", json!({"source": "generate"})))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["generated_password"]["pickup_url"],
        format!("/tenants/{}/jobs/j-gen/password", local.tenant)
    );
    let messages = local.messages(&local.config.onboarding_queue_url).await;
    let records: Vec<Value> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id, "body": m.body, "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:onboarding.fifo"}))
        .collect();
    let answer = worker
        .invoke(
            json!({"Records": records}),
            Invocation::with_timeout(Duration::from_secs(30)),
        )
        .await
        .expect("worker answers");
    assert_eq!(answer["batchItemFailures"], json!([]));
    // THEN
    let (status, record) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}", "j-gen")
        .await;
    assert_eq!(status, 200);
    assert_eq!(record["status"], "succeeded", "{record:#}");
    let create = record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == "create_account"))
        .cloned()
        .unwrap_or_default();
    assert!(create["graph_request_id"].is_string(), "{record:#}");
    assert!(record["checks"].as_array().is_some_and(|c| !c.is_empty()));
    let (status, handed) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}/password", "j-gen")
        .await;
    assert_eq!(status, 200);
    let password = handed["password"].as_str().unwrap_or_default().to_owned();
    assert_eq!(lifecycle::password::check(&password.clone().into()), Ok(()));
    let (again, _) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}/password", "j-gen")
        .await;
    assert_eq!(again, 404, "handed back twice");
    assert!(
        local
            .secrets()
            .await
            .iter()
            .all(|(_, value)| value != &password)
    );
    assert!(local.sim().is_some());
}

#[tokio::test]
async fn given_a_dry_run_when_submitted_and_run_then_the_plan_is_in_the_record_and_nothing_is_stored_or_written()
 {
    // GIVEN
    let local = start(ConnectionMode::ReadWrite, true).await;
    let worker = onboarding::App::from_platform(local.platform.clone());
    let mut job = local.onboard("j-dry", json!({"source": "generate"}));
    job["dry_run"] = json!(true);
    job["licenses"] = json!(["SPE_E3"]);
    // WHEN
    let (status, answer) = local.submit(job).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer.get("generated_password").is_none());
    let messages = local.messages(&local.config.onboarding_queue_url).await;
    let records: Vec<Value> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id, "body": m.body, "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:onboarding.fifo"}))
        .collect();
    worker
        .invoke(
            json!({"Records": records}),
            Invocation::with_timeout(Duration::from_secs(30)),
        )
        .await
        .expect("worker answers");
    // THEN
    let (_, record) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}", "j-dry")
        .await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    let plan: Vec<&str> = record["plan"]
        .as_array()
        .map(|plan| plan.iter().filter_map(|p| p["detail"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(plan.len(), 2, "{record:#}");
    assert!(plan[1].contains("assign SPE_E3"));
    assert!(
        local
            .secrets()
            .await
            .iter()
            .all(|(name, _)| !name.contains("j-dry"))
    );
    let sim = local.sim().expect("simulator");
    let writes: u64 = sim
        .stats()
        .by_route
        .iter()
        .filter(|(route, _)| route.starts_with("POST /v1.0/users") || route.contains("members"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn given_a_job_completed_with_errors_when_retried_by_id_then_only_the_failed_step_is_redone()
{
    // GIVEN: an onboarding whose account exists but whose license step failed for good
    let local = start(ConnectionMode::ReadWrite, true).await;
    let sim = local.sim().expect("simulator");
    let worker = onboarding::App::from_platform(local.platform.clone());
    let mut body = local.onboard(
        "j-retry",
        json!({"source": "secret", "secret_id": format!("{}onboarding/{}/j-retry/password", local.config.secret_prefix, local.tenant)}),
    );
    body["tenant_id"] = json!(local.tenant);
    body["licenses"] = json!(["SPE_E3"]);
    let job: lifecycle::model::Job = serde_json::from_value(body.clone()).expect("job");
    let graph = local
        .platform
        .tenant_graph(
            &local
                .platform
                .tenant(&job.tenant_id)
                .await
                .expect("store")
                .expect("tenant"),
        )
        .await
        .expect("graph");
    let created = graph
        .create_user(&graph::NewUser {
            account_enabled: true,
            display_name: "Adele Vance".into(),
            mail_nickname: "j-retry".into(),
            user_principal_name: format!("j-retry@{}", local.domain),
            password_profile: graph::PasswordProfile::temporary(PASSWORD.to_owned().into()),
            given_name: None,
            surname: None,
            usage_location: Some("US".into()),
            job_title: None,
            department: None,
            on_premises_immutable_id: None,
        })
        .await
        .expect("account")
        .value;
    let mut record = lifecycle::model::JobRecord::queued(&job, Utc::now());
    record.status = lifecycle::model::JobStatus::CompletedWithErrors;
    record.completed_at = Some(Utc::now());
    for (name, outcome) in [
        ("validate", lifecycle::model::StepOutcome::Done),
        ("create_account", lifecycle::model::StepOutcome::Done),
        ("delete_password", lifecycle::model::StepOutcome::Done),
        ("assign_licenses", lifecycle::model::StepOutcome::Failed),
    ] {
        record.steps.push(lifecycle::model::JobStep {
            name: name.into(),
            outcome,
            graph_request_id: None,
            detail: None,
            at: Some(Utc::now()),
            observed: Vec::new(),
            not_done: Vec::new(),
        });
    }
    local
        .platform
        .store
        .put(
            &lifecycle::store::keys::job(&job.tenant_id, &job.job_id),
            &record,
        )
        .await
        .expect("record");
    let creates = sim
        .stats()
        .by_route
        .get("POST /v1.0/users")
        .copied()
        .unwrap_or(0);

    // WHEN: retried by id
    let response = local
        .api
        .handle(request(
            "POST /tenants/{tenant_id}/jobs/{job_id}/retry",
            &[("tenant_id", &local.tenant), ("job_id", "j-retry")],
            None,
        ))
        .await;
    assert_eq!(response.status_code, 202, "{}", body_of(&response));
    let messages = local.messages(&local.config.onboarding_queue_url).await;
    assert_eq!(messages.len(), 1);
    let records: Vec<Value> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id, "body": m.body, "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:onboarding.fifo"}))
        .collect();
    worker
        .invoke(
            json!({"Records": records}),
            Invocation::with_timeout(Duration::from_secs(30)),
        )
        .await
        .expect("worker answers");

    // THEN
    let (_, after) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}", "j-retry")
        .await;
    assert_eq!(after["status"], "succeeded", "{after:#}");
    assert_eq!(
        sim.stats()
            .by_route
            .get("POST /v1.0/users")
            .copied()
            .unwrap_or(0),
        creates
    );
    let truth = sim.truth(&local.tenant).expect("truth");
    let account = truth
        .users
        .iter()
        .find(|u| u.id == created.id)
        .expect("account");
    assert_eq!(account.sku_ids.len(), 1);
    // A finished job is not retried twice.
    let again = local
        .api
        .handle(request(
            "POST /tenants/{tenant_id}/jobs/{job_id}/retry",
            &[("tenant_id", &local.tenant), ("job_id", "j-retry")],
            None,
        ))
        .await;
    assert_eq!(again.status_code, 409, "{}", body_of(&again));
}

fn body_of(response: &ApiGatewayV2httpResponse) -> String {
    match &response.body {
        Some(Body::Text(text)) => text.clone(),
        _ => String::new(),
    }
}

/// `request` as organization `org` (claims of API Gateway's JWT authorizer), or with no claims.
fn request_as(
    org: Option<&str>,
    route: &str,
    params: &[(&str, &str)],
    body: Option<Value>,
) -> ApiGatewayV2httpRequest {
    let mut request = request(route, params, body);
    request.request_context.authorizer = org.map(|org| {
        serde_json::from_value(json!({"jwt": {"claims": {"org_id": org}}}))
            .expect("authorizer context")
    });
    request
}

#[tokio::test]
async fn given_a_tenant_of_acme_when_globex_reads_submits_or_removes_it_then_404_and_nothing_changes()
 {
    // GIVEN a read/write tenant connected for organization acme
    let local = start(ConnectionMode::ReadWrite, false).await;
    let tenant = [("tenant_id", local.tenant.as_str())];

    // WHEN organization globex reads it, submits a job for it, asks its license report and
    // removes it
    let mut answers = Vec::new();
    for (route, body) in [
        ("GET /tenants/{tenant_id}", None),
        (
            "POST /tenants/{tenant_id}/jobs",
            Some(local.onboard("j-globex", json!({"source": "value", "value": PASSWORD}))),
        ),
        ("GET /tenants/{tenant_id}/licenses/report", None),
        ("DELETE /tenants/{tenant_id}", None),
    ] {
        let response = local
            .api
            .handle(request_as(Some("globex"), route, &tenant, body))
            .await;
        answers.push((route, response.status_code, body_of(&response)));
    }

    // THEN each is the 404 of a tenant that is not connected (nothing says it exists elsewhere)
    for (route, status, text) in &answers {
        assert_eq!(*status, 404, "{route}: {text}");
        assert!(text.contains("tenant_not_found"), "{route}: {text}");
    }
    // AND no job was queued and the tenant is still connected for acme
    assert!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .is_empty()
    );
    let stored = local
        .platform
        .tenant(&TenantId::parse(&local.tenant).expect("tenant id"))
        .await
        .expect("store")
        .expect("still connected");
    assert_eq!(stored.org_id.as_str(), "acme");
    // AND GET /tenants lists it for acme only
    let listed = |org: &'static str| {
        let api = &local.api;
        async move {
            body(
                &api.handle(request_as(Some(org), "GET /tenants", &[], None))
                    .await,
            )
        }
    };
    assert_eq!(
        listed("acme").await["tenants"][0]["tenant_id"],
        local.tenant
    );
    assert_eq!(listed("globex").await["tenants"], json!([]));
}

#[tokio::test]
async fn given_no_token_claims_when_a_route_is_called_then_401_and_no_job_is_queued() {
    // GIVEN a connected tenant
    let local = start(ConnectionMode::ReadWrite, false).await;

    // WHEN a job arrives without the authorizer's claims
    let response = local
        .api
        .handle(request_as(
            None,
            "POST /tenants/{tenant_id}/jobs",
            &[("tenant_id", &local.tenant)],
            Some(local.onboard("j-anon", json!({"source": "value", "value": PASSWORD}))),
        ))
        .await;

    // THEN 401 and nothing was queued
    assert_eq!(response.status_code, 401, "{}", body_of(&response));
    assert!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn given_a_removal_that_lands_between_the_tenant_check_and_the_job_record_when_a_job_is_submitted_then_nothing_of_it_remains()
 {
    // GIVEN: an intake whose AWS requests pass a hook that, just before the job record of
    // j-race is written (after the intake saw the tenant connected), removes the tenant
    let local = start(ConnectionMode::ReadWrite, false).await;
    let remover = local.api.clone();
    let tenant = local.tenant.clone();
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook: local_aws::hook::Hook =
        std::sync::Arc::new(move |seen: &local_aws::hook::Request| {
            let is_record = seen.target == "DynamoDB_20120810.PutItem"
                && seen.body.contains("#JOBS")
                && seen.body.contains("j-race");
            if !is_record || fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            let (remover, tenant) = (remover.clone(), tenant.clone());
            // A task of its own: the removal runs to its end, then the held request goes on.
            let removal = tokio::spawn(async move {
                remover
                    .handle(request(
                        "DELETE /tenants/{tenant_id}",
                        &[("tenant_id", &tenant)],
                        None,
                    ))
                    .await
            });
            Some(Box::pin(async move {
                let removed = removal.await.expect("the removal ran");
                assert_eq!(removed.status_code, 200, "{:?}", removed.body);
            }) as local_aws::hook::Interleaving)
        });
    let hooked = local_aws::hook::before(api_aws(&local.stack), hook);
    let intake = api::App::new(local.config.clone(), &hooked).expect("api");

    // WHEN: an onboarding with a generated password is submitted through it
    let response = Box::pin(intake.handle(request(
        "POST /tenants/{tenant_id}/jobs",
        &[("tenant_id", &local.tenant)],
        Some(local.onboard("j-race", json!({"source": "generate"}))),
    )))
    .await;

    // THEN: it is refused as the removed tenant's, and no record, hand-over, secret or message
    // of it outlives the removal
    assert_eq!(response.status_code, 404, "{:?}", response.body);
    assert_eq!(body(&response)["error"]["code"], "tenant_not_found");
    let (status, _) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}", "j-race")
        .await;
    assert_eq!(status, 404, "the job record of a removed tenant remains");
    let (status, _) = local
        .get("GET /tenants/{tenant_id}/jobs/{job_id}/password", "j-race")
        .await;
    assert_eq!(
        status, 404,
        "the password hand-over of a removed tenant remains"
    );
    let left: Vec<String> = local
        .secrets()
        .await
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.contains(&local.tenant))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "secrets of a removed tenant remain"
    );
    assert!(
        local
            .messages(&local.config.onboarding_queue_url)
            .await
            .is_empty(),
        "a job of a removed tenant was queued"
    );
}
