//! The local stack of one test: infra/template.yaml's table, queues and secrets in moto and the
//! Graph simulator (through the devstack); the sync function built with real clients pointed at
//! both, under its own template IAM policy; and a driver that feeds the queue's messages to the
//! function as Lambda's SQS event source would.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use futures::TryStreamExt as _;
use graph_sim::{SimConfig, SimHandle};
use lifecycle::model::{
    Account, ConnectionMode, ConnectionStatus, Group, Membership, Sku, SyncOptions, SyncRun,
    TenantAuth, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{AppCredential, OrgId, Platform, SyncRunId, TenantId};
use serde_json::{Value, json};
use std::time::Duration;
use sync::{App, Settings};

pub struct Local {
    pub stack: Stack,
    /// What the test itself does (connect, request, read): the stack's full credentials.
    admin: Platform,
    /// The function, with its own template policy only (as under its execution role in AWS).
    pub app: App,
    pub queue_url: String,
    /// Invocations of the function with a non-empty batch so far.
    pub invocations: usize,
    /// The figures of each sync job the function ran so far.
    pub reports: Vec<sync::Report>,
}

/// Settings for tests: the default budget, short waits.
pub fn fast_settings() -> Settings {
    Settings {
        wait_delay: Duration::from_secs(1),
        retry_delay: Duration::from_secs(1),
        ..Settings::default()
    }
}

impl Local {
    /// Starts the local stack (the template's resources in moto, the simulator with `sim`) and
    /// builds the function with its own policy's credentials.
    pub async fn start(sim: SimConfig, settings: Settings) -> Local {
        let template = Template::load(&template_path()).expect("infra/template.yaml loads");
        let mut options = StackOptions::new(template, GraphSource::Simulator(sim));
        // The test delivers the queue's messages itself; no poller or schedule competes.
        options.registry = Registry::empty();
        options.poll_queues = false;
        let stack = Stack::start(options).await.expect("the local stack starts");
        let admin = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
        let function_aws = stack
            .function_sdk_config("SyncFunction")
            .expect("the template has the function");
        let app = App::new(stack.config().clone(), function_aws)
            .expect("app")
            .with_settings(settings);
        let queue_url = stack.config().sync_queue_url.clone();
        Local {
            stack,
            admin,
            app,
            queue_url,
            invocations: 0,
            reports: Vec::new(),
        }
    }

    /// The sync function again, its AWS requests passed through `hook` first (a test plays a
    /// race between two of them this way; see [`local_aws::hook`]).
    pub fn hooked_app(&self, settings: Settings, hook: local_aws::hook::Hook) -> App {
        let function_aws = self
            .stack
            .function_sdk_config("SyncFunction")
            .expect("the template has the function");
        App::new(
            self.stack.config().clone(),
            &local_aws::hook::before(function_aws, hook),
        )
        .expect("app")
        .with_settings(settings)
    }

    /// The Graph simulator.
    pub fn sim(&self) -> &SimHandle {
        self.stack.sim().expect("the simulator runs")
    }

    /// Graph answers `tenant` in pages of at most `size` objects (as Graph may answer fewer than
    /// asked), so a tenant of hundreds pages as one of thousands does, at a tenth of the writes.
    pub fn page_by(&self, tenant: &TenantId, size: usize) {
        self.sim()
            .update_knobs(tenant.as_str(), |k| k.max_page_size = Some(size))
            .expect("knobs");
    }

    /// The same stack with the function's Graph client handing a delta page on in parts of
    /// `size` changes (a group's members counting one each), as it does a page of thousands.
    pub fn with_delta_parts(mut self, size: usize) -> Local {
        let mut platform = self.app.platform().clone();
        let config = self.stack.config();
        let graph = graph::GraphConfig::new(&config.graph_base_url, &config.login_base_url)
            .expect("graph config")
            .with_delta_part_size(size);
        platform.graph = graph::GraphClient::new(graph).expect("graph client");
        let settings = self.app.settings().clone();
        self.app = App::from_platform(platform).with_settings(settings);
        self
    }

    /// The same stack with the function rebuilt with other settings.
    pub fn with_settings(mut self, settings: Settings) -> Local {
        self.app = self.app.clone().with_settings(settings);
        self
    }

    pub fn platform(&self) -> &Platform {
        &self.admin
    }

    /// The simulator's tenant `index` as a connected tenant (its own app registration, whose
    /// secret goes to the vault).
    pub async fn connect(&self, index: usize) -> TenantConnection {
        let info = &self.sim().tenants()[index];
        let tenant_id = TenantId::parse(&info.tenant_id).expect("tenant id");
        self.platform()
            .vault
            .put_app_credential(
                &tenant_id,
                &AppCredential {
                    client_id: info.own_app.client_id.clone(),
                    client_secret: info.own_app.client_secret.clone().into(),
                },
            )
            .await
            .expect("app credential stored");
        let tenant = TenantConnection {
            tenant_id,
            org_id: OrgId::parse("org-1").expect("org"),
            display_name: "pending first sync".into(),
            verified_domains: Vec::new(),
            mode: ConnectionMode::Read,
            auth: TenantAuth::OwnApp {
                client_id: info.own_app.client_id.clone(),
            },
            status: ConnectionStatus::Connected,
            consented_at: Utc::now(),
            last_sync: None,
            next_sync_due: None,
            sync_interval_minutes: 60,
            options: SyncOptions::default(),
            has_p1: None,
            generation: None,
        };
        self.platform()
            .connect_tenant(&tenant)
            .await
            .expect("tenant saved")
    }

    /// Requests a sync of `tenant` (as the API does) and returns its run id.
    pub async fn request(&self, tenant: &TenantId, full: bool) -> SyncRunId {
        let connection = self
            .platform()
            .tenant(tenant)
            .await
            .expect("tenant read")
            .expect("tenant connected");
        sync::request_sync(self.platform(), &connection, full, Utc::now())
            .await
            .expect("sync requested")
            .id
    }

    /// Receives up to `max` messages now (waiting up to `wait_s` for the first).
    pub async fn receive(&self, max: i32, wait_s: i32) -> Vec<lifecycle::ReceivedMessage> {
        self.platform()
            .queue
            .receive(&self.queue_url, max, wait_s, 60)
            .await
            .expect("receive")
    }

    /// Invokes the function with `messages` as one SQS event, deletes the ones it did not report
    /// as failed (and makes those visible again), as Lambda's event source does.
    pub async fn deliver(&mut self, messages: Vec<lifecycle::ReceivedMessage>) -> Value {
        self.invocations += 1;
        // Boxed, as the Lambda runtime boxes each invocation: a debug build's handler future is
        // too large to nest in a test's own future on a test thread's stack.
        let (response, reports) = Box::pin(self.app.handle_reporting(sqs_event(&messages)))
            .await
            .expect("the function answers");
        self.reports.extend(reports);
        let failed: BTreeSet<String> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect();
        for message in &messages {
            if failed.contains(&message.message_id) {
                self.platform()
                    .queue
                    .change_visibility(&self.queue_url, &message.receipt_handle, 0)
                    .await
                    .expect("visible again");
            } else {
                self.platform()
                    .queue
                    .delete(&self.queue_url, &message.receipt_handle)
                    .await
                    .expect("delete");
            }
        }
        response
    }

    /// Invokes the function with `messages` as Lambda's event source does, to the letter: the
    /// ones not reported failed are deleted, the failed ones left as the function hid them (no
    /// early redelivery: SQS counts each receive, as it would in AWS).
    pub async fn deliver_as_lambda(&mut self, messages: Vec<lifecycle::ReceivedMessage>) -> Value {
        self.invocations += 1;
        let response = Box::pin(self.app.handle(sqs_event(&messages)))
            .await
            .expect("the function answers");
        let failed: BTreeSet<String> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect();
        for message in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
            self.platform()
                .queue
                .delete(&self.queue_url, &message.receipt_handle)
                .await
                .expect("delete");
        }
        response
    }

    /// Delivers messages one at a time until the queue stays empty for `idle`.
    pub async fn drain(&mut self) {
        let mut idle_rounds = 0;
        while idle_rounds < 3 {
            let messages = self.receive(1, 1).await;
            if messages.is_empty() {
                idle_rounds += 1;
                continue;
            }
            idle_rounds = 0;
            self.deliver(messages).await;
        }
    }

    /// Requests a sync and runs it to the end; returns the finished run. Stops as soon as the
    /// run has ended and the queue is empty (else, as [`Local::drain`], once it stayed empty).
    pub async fn sync(&mut self, tenant: &TenantId, full: bool) -> SyncRun {
        let run = self.request(tenant, full).await;
        let mut idle_rounds = 0;
        loop {
            let messages = self.receive(1, 1).await;
            if !messages.is_empty() {
                idle_rounds = 0;
                self.deliver(messages).await;
                continue;
            }
            let record = self.run(tenant, &run).await;
            idle_rounds += 1;
            if record.ended_at.is_some() || idle_rounds >= 3 {
                return record;
            }
        }
    }

    /// A run's record.
    pub async fn run(&self, tenant: &TenantId, run: &SyncRunId) -> SyncRun {
        let key = lifecycle::sync_runs::run_key(tenant, run).expect("run id carries its time");
        self.platform()
            .store
            .get::<SyncRun>(&key)
            .await
            .expect("run read")
            .expect("run recorded")
    }

    /// Everything the store holds for `tenant`.
    pub async fn stored(&self, tenant: &TenantId) -> Stored {
        let store = &self.platform().store;
        let mut stored = Stored::default();
        for partition in keys::account_partitions(tenant) {
            let accounts: Vec<Account> = store
                .query(&partition, None)
                .try_collect()
                .await
                .expect("accounts");
            for account in accounts {
                stored.accounts.insert(account.id.to_string(), account);
            }
        }
        for partition in keys::group_partitions(tenant) {
            let groups: Vec<Group> = store
                .query(&partition, None)
                .try_collect()
                .await
                .expect("groups");
            for group in groups {
                stored.groups.insert(group.id.to_string(), group);
            }
        }
        let memberships: Vec<Membership> = store
            .memberships(tenant)
            .try_collect()
            .await
            .expect("memberships");
        for m in memberships {
            stored
                .memberships
                .insert((m.group_id.to_string(), m.account_id.to_string()));
        }
        let skus: Vec<Sku> = store
            .query(&keys::sku_partition(tenant), None)
            .try_collect()
            .await
            .expect("skus");
        stored.skus = skus
            .into_iter()
            .map(|s| (s.sku_id.to_string(), s))
            .collect();
        stored
    }
}

/// The store's picture of one tenant.
#[derive(Debug, Default)]
pub struct Stored {
    pub accounts: BTreeMap<String, Account>,
    pub groups: BTreeMap<String, Group>,
    pub memberships: BTreeSet<(String, String)>,
    pub skus: BTreeMap<String, Sku>,
}

impl Stored {
    /// Accounts not marked deleted.
    pub fn live_accounts(&self) -> BTreeSet<String> {
        self.accounts
            .values()
            .filter(|a| !a.deleted)
            .map(|a| a.id.to_string())
            .collect()
    }

    pub fn live_groups(&self) -> BTreeSet<String> {
        self.groups
            .values()
            .filter(|g| !g.deleted)
            .map(|g| g.id.to_string())
            .collect()
    }
}

/// The simulator's memberships as (group, account) pairs.
pub fn truth_memberships(truth: &graph_sim::Truth) -> BTreeSet<(String, String)> {
    truth
        .groups
        .iter()
        .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
        .collect()
}

/// The SQS event Lambda would deliver for `messages`.
pub fn sqs_event(messages: &[lifecycle::ReceivedMessage]) -> Value {
    json!({
        "Records": messages.iter().map(|m| json!({
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": m.attributes,
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync",
            "awsRegion": "us-east-1",
        })).collect::<Vec<_>>()
    })
}
