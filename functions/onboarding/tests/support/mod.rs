//! The onboarding function on real parts: infra/template.yaml's table, queues and secrets in moto
//! (through the devstack), reached with the real AWS SDK clients under the function's own IAM
//! policy, and the Graph simulator reached with the real Graph client. Jobs are
//! delivered as the SQS event source would deliver them (`Records` of an onboarding FIFO queue).

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::Utc;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use graph::{AppCredential, GraphClient, GraphConfig, TenantGraph};
use graph_sim::{SimConfig, SimHandle, TenantInfo, Truth, TruthGroup, TruthUser};
use lifecycle::model::{ConnectionMode, ConnectionStatus, JobRecord, TenantAuth, TenantConnection};
use lifecycle::store::keys;
use lifecycle::{DomainName, Function, Invocation, JobId, OrgId, Platform, TenantId};
use onboarding::App;
use secrecy::SecretString;
use serde_json::{Value, json};

pub const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:onboarding.fifo";

/// Every log line every test wrote (JSON, our crates at TRACE, the rest at INFO).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

/// The process-wide log capture (installed once).
pub fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let filter =
            tracing_subscriber::EnvFilter::new("info,onboarding=trace,lifecycle=trace,graph=trace");
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(logs.clone())
            .try_init();
        logs
    })
}

/// The local stack (infra/template.yaml's table, queues and secrets in moto, the Graph
/// simulator), a simulated tenant connected in read/write mode, and the function running with
/// its own template policy.
pub struct World {
    pub stack: Stack,
    pub sdk: SdkConfig,
    pub app: App,
    pub tenant: TenantInfo,
    pub tenant_id: TenantId,
    /// A Graph handle of the test's own, to look at the tenant.
    pub graph: TenantGraph,
}

impl World {
    /// 60 accounts and 40 groups, connected read/write.
    pub async fn start() -> World {
        World::with_mode(ConnectionMode::ReadWrite).await
    }

    pub async fn with_mode(mode: ConnectionMode) -> World {
        World::with_sim(mode, SimConfig::single(60, 40)).await
    }

    /// The world over a simulator of `sim`'s tenants; the first is the one connected.
    pub async fn with_sim(mode: ConnectionMode, sim: SimConfig) -> World {
        logs();
        // The table, queues and secrets of infra/template.yaml in moto (through the devstack);
        // the function runs with its own policy only, as under its execution role in AWS.
        let template = Template::load(&template_path()).expect("infra/template.yaml loads");
        let mut options = StackOptions::new(template, GraphSource::Simulator(sim));
        // The handler is called directly; no poller or schedule competes with the test.
        options.registry = Registry::empty();
        let stack = Stack::start(options).await.expect("the local stack starts");
        let sdk = stack.sdk_config().clone();
        let sim = stack.sim().expect("the simulator runs");
        let tenant = sim.tenants().remove(0);
        sim.grant_consent(&tenant.tenant_id).expect("consent");
        let app_info = sim.platform_app();
        let function_aws = stack
            .function_sdk_config("OnboardingFunction")
            .expect("the template has the function");
        let app = App::new(stack.config().clone(), function_aws).expect("app");
        let admin = Platform::new(stack.config().clone(), &sdk).expect("platform");

        let tenant_id = TenantId::parse(&tenant.tenant_id).expect("tenant id");
        let connection = TenantConnection {
            tenant_id: tenant_id.clone(),
            org_id: OrgId::parse("acme").expect("org"),
            display_name: tenant.display_name.clone(),
            verified_domains: tenant
                .verified_domains
                .iter()
                .map(|d| DomainName::parse(d).expect("domain"))
                .collect(),
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
        admin
            .connect_tenant(&connection)
            .await
            .expect("tenant saved");

        let client = GraphClient::new(
            GraphConfig::new(&sim.graph_base_url(), &sim.login_base_url()).expect("graph config"),
        )
        .expect("graph client");
        let graph = client.tenant(
            tenant.tenant_id.clone(),
            AppCredential::new(
                app_info.client_id.clone(),
                SecretString::from(app_info.client_secret.clone()),
            ),
        );
        World {
            stack,
            sdk,
            app,
            tenant,
            tenant_id,
            graph,
        }
    }

    /// The function's own dependencies: its AWS calls run with its template policy only.
    pub fn platform(&self) -> &Platform {
        self.app.platform()
    }

    /// The Graph simulator of the stack.
    pub fn sim(&self) -> &SimHandle {
        self.stack.sim().expect("the simulator runs")
    }

    /// Delivers `jobs` as one SQS batch; returns the ids of the messages to redeliver.
    pub async fn deliver(&self, jobs: &[Value]) -> Vec<String> {
        let records: Vec<Value> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                json!({
                    "messageId": format!("m-{i}-{}", job["job_id"].as_str().unwrap_or("?")),
                    "receiptHandle": "r",
                    "body": job.to_string(),
                    "attributes": {"MessageGroupId": "g", "ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": QUEUE_ARN,
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        let answer = self
            .app
            .invoke(
                json!({ "Records": records }),
                Invocation::with_timeout(Duration::from_secs(30)),
            )
            .await
            .expect("the function answers");
        answer["batchItemFailures"]
            .as_array()
            .map(|failures| {
                failures
                    .iter()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Receives the jobs waiting on the onboarding queue (as the SQS event source would).
    pub async fn queued_jobs(&self) -> Vec<Value> {
        lifecycle::Queue::new(aws_sdk_sqs::Client::new(&self.sdk))
            .receive(&self.platform().config.onboarding_queue_url, 10, 0, 30)
            .await
            .expect("receive")
            .into_iter()
            .map(|message| serde_json::from_str(&message.body).expect("job JSON"))
            .collect()
    }

    /// Delivers one job and expects no redelivery.
    pub async fn run(&self, job: &Value) -> JobRecord {
        let failures = self.deliver(std::slice::from_ref(job)).await;
        assert!(failures.is_empty(), "redelivery asked for: {failures:?}");
        self.record(job["job_id"].as_str().expect("job id")).await
    }

    pub async fn record(&self, job_id: &str) -> JobRecord {
        self.platform()
            .store
            .get(&keys::job(
                &self.tenant_id,
                &JobId::parse(job_id).expect("job id"),
            ))
            .await
            .expect("store answers")
            .expect("job record exists")
    }

    /// Writes `record` back as the job's record (a test that stands in for the clock moving on).
    pub async fn save_record(&self, record: &JobRecord) {
        self.platform()
            .store
            .put(&keys::job(&self.tenant_id, &record.job_id), record)
            .await
            .expect("store answers");
    }

    pub fn truth(&self) -> Truth {
        self.sim().truth(&self.tenant.tenant_id).expect("truth")
    }

    pub fn user(&self, upn: &str) -> Option<TruthUser> {
        self.truth()
            .users
            .into_iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    /// Groups the account is a direct member of.
    pub fn groups_of(&self, account_id: &str) -> Vec<TruthGroup> {
        self.truth()
            .groups
            .into_iter()
            .filter(|g| g.member_ids.iter().any(|m| m == account_id))
            .collect()
    }

    /// Graph writes the simulator served so far (inner `$batch` requests included).
    pub fn writes(&self) -> u64 {
        self.sim()
            .stats()
            .by_route
            .iter()
            .filter(|(route, _)| {
                (route.starts_with("POST ")
                    || route.starts_with("PATCH ")
                    || route.starts_with("DELETE "))
                    && !route.ends_with("/$batch")
                    && !route.contains("oauth2")
            })
            .map(|(_, n)| *n)
            .sum()
    }

    /// The count of one simulator route.
    pub fn route(&self, name: &str) -> u64 {
        self.sim().stats().by_route.get(name).copied().unwrap_or(0)
    }

    /// Stores an onboarding password where the API would; returns the reference for the job.
    pub async fn put_password(&self, job_id: &str, password: &str) -> String {
        self.platform()
            .vault
            .create_onboarding_password(
                &self.tenant_id,
                &JobId::parse(job_id).expect("job id"),
                &SecretString::from(password.to_owned()),
            )
            .await
            .expect("password stored")
            .name()
            .to_owned()
    }

    /// Every secret's name and value.
    pub async fn secrets(&self) -> Vec<(String, String)> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let listed = client.list_secrets().send().await.expect("list secrets");
        let mut out = Vec::new();
        for secret in listed.secret_list() {
            let name = secret.name().unwrap_or_default().to_owned();
            if let Ok(value) = client.get_secret_value().secret_id(&name).send().await {
                out.push((name, value.secret_string().unwrap_or_default().to_owned()));
            }
        }
        out
    }

    /// Every item of the table, as debug text.
    pub async fn table_dump(&self) -> String {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let scan = client
            .scan()
            .table_name(&self.platform().config.table_name)
            .send()
            .await
            .expect("scan");
        format!("{:?}", scan.items())
    }

    /// Groups whose members Graph can change: security or Microsoft 365, not dynamic, not
    /// synced from on-premises.
    pub async fn assignable_groups(&self) -> Vec<TruthGroup> {
        let request = graph::BatchRequest::new(
            "groups",
            graph::Method::GET,
            "/groups?$select=id,onPremisesSyncEnabled&$top=999",
        );
        let answer = self.graph.batch(vec![request]).await.expect("batch");
        let body: Value = answer
            .into_iter()
            .next()
            .and_then(|outcome| outcome.result.ok())
            .and_then(|response| response.body)
            .expect("groups listed");
        let synced: Vec<String> = body["value"]
            .as_array()
            .map(|groups| {
                groups
                    .iter()
                    .filter(|g| g["onPremisesSyncEnabled"] == json!(true))
                    .filter_map(|g| g["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.truth()
            .groups
            .into_iter()
            .filter(|g| (g.kind == "security" || g.kind == "unified") && !synced.contains(&g.id))
            .collect()
    }

    /// An onboard job for `nickname` on the default domain with the password secret.
    pub fn onboard_job(&self, job_id: &str, nickname: &str, secret_id: &str) -> Value {
        json!({
            "job_id": job_id,
            "tenant_id": self.tenant.tenant_id,
            "type": "onboard",
            "given_name": "Adele",
            "surname": "Vance",
            "display_name": format!("Adele Vance ({nickname})"),
            "mail_nickname": nickname,
            "user_principal_name": format!("{nickname}@{}", self.tenant.default_domain),
            "usage_location": "US",
            "job_title": "Engineer",
            "department": "R&D",
            "password": {"source": "secret", "secret_id": secret_id}
        })
    }
}
