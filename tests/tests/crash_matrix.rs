//! Proof under faults: every job kind is killed at each of its failure points in turn, before and
//! after the write, then redelivered as SQS does until it ends; the tenant, the job record and
//! the Graph request log must then say the job was done once, as asked.
//!
//! The failure points are not listed here: the clean run of a job counts them through the hooks
//! of the AWS SDK client and of the Graph client (every write to DynamoDB, SQS, Secrets Manager,
//! EventBridge and Graph is one), so a step added to a worker is covered without touching this
//! file. `PROOF=full` (make proof) crashes at every point; the default (make test) at every
//! fifth point, each way, and always at the first and the last. The scenarios that take tens of
//! seconds even sampled (AWS faults, the full sync, the delta sync with 410s, the restore, the
//! duplicates) are ignored by `make test` and run by `make proof` (`--include-ignored`).
//!
//! Every run also reads the completion events a subscriber got (an EventBridge rule on the bus
//! to a queue, as a customer would subscribe): each finished job puts one, with the record's
//! status and no secret in it. Delivery is at least once by design (the event goes out before
//! the record is written, so a crash in between puts it again on redelivery); a second event is
//! accepted only for a kill in that window, and the table counts them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use e2e::faults::{
    Crash, CrashSwitch, Deliveries, Moment, deliver_all, deliver_all_with, hooked_registry,
    sim_routes,
};
use graph_sim::{SimConfig, Truth, TruthUser};
use lifecycle::model::{
    Account, Group, Job, JobRecord, JobStatus, Membership, Sku, SyncRunStatus, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{Platform, TenantId};
use serde_json::{Value, json};

/// The whole stack over one simulated tenant, connected read/write; its workers hooked to the
/// switch and fed by the test, not by pollers.
struct World {
    stack: Stack,
    /// The administrator's view of the table and queues (not hooked).
    platform: Platform,
    switch: Arc<CrashSwitch>,
    tenant_id: TenantId,
    domain: String,
    /// Graph answers 10 % of requests 429 and 5 % 503/504 (Retry-After 50 ms), and every
    /// access token issued is expired at the start of each run.
    graph_faults: bool,
    /// The subscriber's queue: every completion event the bus routed to it.
    subscriber: String,
    /// The functions' AWS calls meet throttling and internal errors ([`CrashSwitch::set_aws_fault_rate`]).
    aws_faults: bool,
    /// The points `make test` crashes at.
    sample: Sample,
    /// Each kill also expires the tenant's delta links: the redelivery's saved link answers 410.
    expire_delta_on_kill: bool,
    /// Every message is delivered twice ([`deliver_all_with`]).
    twice: bool,
}

/// [`start_with`] a tenant of 1,500 accounts: enough accounts of one shape for a run each.
async fn start() -> World {
    start_with(1500).await
}

/// The stack over one simulated tenant of `accounts` accounts and 10 groups. With `PROOF_LOG`
/// set, the functions log (filtered by `RUST_LOG`), to follow a finding.
async fn start_with(accounts: usize) -> World {
    if std::env::var_os("PROOF_LOG").is_some() {
        lifecycle::telemetry::init();
    }
    let switch = Arc::new(CrashSwitch::default());
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let mut options = StackOptions::new(
        template,
        GraphSource::Simulator(SimConfig::single(accounts, 10)),
    );
    options.registry = hooked_registry(&switch);
    options.poll_queues = false;
    // No schedule fires during the matrix (a rate of 5 minutes becomes years).
    options.time_scale = 1e-6;
    let stack = Stack::start(options).await.expect("the stack starts");
    let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
    let sim = stack.sim().expect("sim");
    let info = sim.tenants().remove(0);
    sim.grant_consent(&info.tenant_id).expect("consent");
    let tenant: TenantConnection = serde_json::from_value(json!({
        "tenant_id": info.tenant_id, "org_id": "org-proof", "display_name": info.display_name,
        "verified_domains": info.verified_domains, "mode": "read_write",
        "auth": {"kind": "consent"}, "status": {"state": "connected"},
        "consented_at": "2026-01-05T09:00:00Z", "sync_interval_minutes": 60
    }))
    .expect("a tenant connection");
    platform
        .connect_tenant(&tenant)
        .await
        .expect("tenant saved");
    let subscriber = e2e::faults::subscribe(&stack).await;
    World {
        tenant_id: TenantId::parse(&info.tenant_id).expect("tenant id"),
        domain: info.default_domain,
        graph_faults: false,
        aws_faults: false,
        sample: Sample::Every(5),
        expire_delta_on_kill: false,
        twice: false,
        subscriber,
        stack,
        platform,
        switch,
    }
}

/// One job of a scenario and what its end must look like.
struct Case {
    job: Value,
    /// The worker that runs it (logical id) and its queue.
    function: &'static str,
    queue: &'static str,
    check: Check,
}

/// What the tenant must show once the job ended.
enum Check {
    /// One account under this UPN, with these SKUs and exactly these direct groups.
    Onboarded {
        upn: String,
        skus: BTreeSet<String>,
        groups: BTreeSet<String>,
    },
    /// The account is in `group` and holds `sku`, given by one assignLicense.
    Memberships {
        user_id: String,
        group: String,
        sku: String,
    },
    /// The account is deleted (soft) or kept disabled, without its licenses.
    Offboarded { user_id: String, delete: bool },
    /// The stored SKUs equal the tenant's subscribed SKUs.
    Refreshed,
    /// The sync run ended OK (full when `full`), and the store equals the tenant: live
    /// accounts with their state and licenses, groups, memberships and SKUs. A sync has its own
    /// log (the run), not a job record, and puts no completion event.
    Synced { full: bool },
    /// The account, offboarded (deleted) first, is restored through the API (`enable: true`)
    /// by one undelete, with the groups and licenses it had before, and stored as Graph says.
    Restored {
        user_id: String,
        groups: BTreeSet<String>,
        skus: BTreeSet<String>,
    },
}

/// One row of the proof table.
#[derive(Debug, Default)]
struct Row {
    scenario: String,
    points: usize,
    crashes: usize,
    deliveries: usize,
    lost: usize,
    doubled: usize,
    /// Completion events the subscriber got.
    events: usize,
    /// Jobs whose completion event came twice (a kill between the event and the record).
    repeated: usize,
    /// Runs with a crash planned.
    runs: u64,
    /// Graph 429 and 5xx answers and token expiries injected.
    faults: u64,
    /// AWS throttling and internal errors injected (DynamoDB, SQS, EventBridge, Secrets Manager).
    aws_faults: u64,
    /// Runs that met Graph's 410 for an expired delta link (counted with the Graph faults).
    gone: u64,
    /// Planned kills a run did not reach (it had fewer failure points than the clean run).
    unreached: usize,
    failures: Vec<String>,
    seconds: f64,
}

/// What one run of a job came to.
struct Outcome {
    deliveries: Deliveries,
    /// What is wrong with the end state (empty: the job was done once, as asked).
    wrong: Vec<String>,
    /// Failure points counted in the run.
    points: usize,
    /// The job did not end (no record, or not finished).
    lost: bool,
    /// A write Graph does not repeat harmlessly was done twice.
    doubled: bool,
    /// The planned kill did not happen: the run had fewer failure points than the clean run.
    missed: bool,
    /// Completion events of the job the subscriber got.
    events: usize,
    /// Graph answered 410 (a delta run became a full resync).
    gone: bool,
    /// The failure points of the run, in order.
    labels: Vec<String>,
}

impl Row {
    fn add(&mut self, outcome: &Outcome, run: &str) {
        self.crashes += outcome.deliveries.killed;
        self.deliveries += outcome.deliveries.messages;
        self.lost += usize::from(outcome.lost);
        self.doubled += usize::from(outcome.doubled);
        self.unreached += usize::from(outcome.missed);
        self.events += outcome.events;
        self.gone += u64::from(outcome.gone);
        self.repeated += usize::from(outcome.events > 1);
        self.failures
            .extend(outcome.wrong.iter().map(|w| format!("{run}: {w}")));
    }

    fn line(&self) -> String {
        format!(
            "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} ({} repeated) | {} | {:.1} s |",
            self.scenario,
            self.points,
            self.crashes,
            match self.unreached {
                0 => String::new(),
                n => format!(" ({n} not reached)"),
            },
            self.deliveries,
            self.faults,
            self.aws_faults,
            self.lost,
            self.doubled,
            self.events,
            self.repeated,
            if self.failures.is_empty() {
                "yes"
            } else {
                "NO"
            },
            self.seconds
        )
    }
}

fn full_matrix() -> bool {
    std::env::var("PROOF").is_ok_and(|v| v == "full")
}

/// Which failure points `make test` crashes at (`make proof` crashes at all of them).
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// Every n-th point, and the last.
    Every(usize),
    /// The first point of this name (`AmazonSQS.SendMessage`: a sync's first continuation).
    First(&'static str),
}

/// The points to crash at: those listed in `PROOF_POINTS` (`7,8`: to replay a finding), all
/// (`PROOF=full`), else those of `sample`; `labels` name the points of the clean run.
fn sampled(labels: &[String], sample: Sample) -> Vec<usize> {
    let points = labels.len();
    if let Ok(listed) = std::env::var("PROOF_POINTS") {
        return listed
            .split(',')
            .filter_map(|point| point.trim().parse().ok())
            .collect();
    }
    if full_matrix() {
        return (1..=points).collect();
    }
    match sample {
        Sample::Every(stride) => (1..=points)
            .filter(|k| k % stride == 1 % stride || *k == points)
            .collect(),
        Sample::First(name) => labels
            .iter()
            .position(|label| label == name)
            .map(|index| vec![index + 1])
            .unwrap_or_else(|| panic!("the clean run has no {name}: {labels:?}")),
    }
}

impl World {
    fn truth(&self) -> Truth {
        self.stack
            .sim()
            .expect("sim")
            .truth(self.tenant_id.as_str())
            .expect("truth")
    }

    fn user(&self, upn: &str) -> Vec<TruthUser> {
        self.truth()
            .users
            .into_iter()
            .filter(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
            .collect()
    }

    /// Security groups whose members Graph lets the app change.
    fn groups(&self, count: usize) -> Vec<String> {
        self.truth()
            .groups
            .into_iter()
            .filter(|g| g.kind == "security")
            .take(count)
            .map(|g| g.id)
            .collect()
    }

    fn sku(&self, part: &str) -> String {
        self.truth()
            .skus
            .into_iter()
            .find(|s| s.sku_part_number == part)
            .map(|s| s.sku_id)
            .unwrap_or_else(|| panic!("the simulator has no SKU {part}"))
    }

    async fn record(&self, job: &Job) -> Option<JobRecord> {
        self.platform
            .store
            .get::<JobRecord>(&keys::job(&job.tenant_id, &job.job_id))
            .await
            .expect("job record read")
    }

    /// Deletes the stored SKUs of the tenant (seeding, not under test).
    async fn forget_skus(&self) {
        use futures::TryStreamExt as _;
        let keys: Vec<_> = self
            .platform
            .store
            .query::<Sku>(&keys::sku_partition(&self.tenant_id), None)
            .map_ok(|sku| keys::sku(&self.tenant_id, &sku.sku_id))
            .try_collect()
            .await
            .expect("SKUs listed");
        self.platform
            .store
            .batch_delete(keys)
            .await
            .expect("SKUs deleted");
    }

    /// Enabled members of the tenant that Graph lets the app change, with a usage location,
    /// without `sku`, and not in `group`, all of one shape (as many groups and licenses, so
    /// that their jobs have the same failure points): one per run of a matrix.
    fn members(&self, sku: &str, group: &str) -> Vec<TruthUser> {
        let truth = self.truth();
        let shape = |u: &TruthUser| {
            let groups = truth
                .groups
                .iter()
                .filter(|g| g.member_ids.contains(&u.id))
                .map(|g| g.kind.clone())
                .collect::<Vec<_>>();
            (groups, u.sku_ids.len(), u.manager_id.is_some())
        };
        let eligible: Vec<TruthUser> = truth
            .users
            .iter()
            .filter(|u| u.account_enabled && u.user_type == "Member")
            .filter(|u| !u.on_premises_sync_enabled && u.usage_location.is_some())
            .filter(|u| !u.sku_ids.iter().any(|s| s == sku))
            .filter(|u| {
                !truth
                    .groups
                    .iter()
                    .any(|g| g.id == group && g.member_ids.contains(&u.id))
            })
            .filter(|u| !truth.roles.iter().any(|r| r.member_ids.contains(&u.id)))
            .cloned()
            .collect();
        let mut shapes: std::collections::BTreeMap<_, Vec<TruthUser>> = Default::default();
        for user in eligible {
            let mut key = shape(&user);
            key.0.sort();
            shapes.entry(key).or_default().push(user);
        }
        shapes
            .into_values()
            .max_by_key(Vec::len)
            .unwrap_or_default()
    }

    /// The completion events the subscriber got since the last call, of job `job_id` (others
    /// are dropped: runs are one at a time).
    async fn completion_events(&self, job_id: &str) -> Vec<String> {
        e2e::faults::received_events(&self.stack, &self.subscriber)
            .await
            .into_iter()
            .filter(|body| {
                serde_json::from_str::<Value>(body)
                    .is_ok_and(|event| event["detail"]["job_id"] == job_id)
            })
            .collect()
    }

    /// Every secret value in Secrets Manager (generated passwords, the app's credentials).
    async fn secret_values(&self) -> Vec<String> {
        let secrets = aws_sdk_secretsmanager::Client::new(self.stack.sdk_config());
        let mut values = Vec::new();
        let mut next = None;
        loop {
            let page = secrets
                .list_secrets()
                .set_next_token(next)
                .send()
                .await
                .expect("secrets listed");
            for entry in page.secret_list() {
                let Some(name) = entry.name() else { continue };
                if let Ok(value) = secrets.get_secret_value().secret_id(name).send().await {
                    values.extend(value.secret_string().map(str::to_owned));
                }
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return values;
            }
        }
    }

    /// What is wrong with the completion events of a job that ended as `record` says. `window`:
    /// the run was killed between putting the event and writing the record, so the redelivery
    /// put it again (at least once, by design).
    async fn check_events(
        &self,
        events: &[String],
        record: Option<&JobRecord>,
        window: bool,
    ) -> Vec<String> {
        let mut wrong = Vec::new();
        // (under AWS faults the record's write after the event may be refused too, three times
        // over the SDK's retries: the redelivery then puts the event again, as after a kill)
        let allowed = if self.aws_faults {
            lifecycle::jobs::MAX_DELIVERIES as usize
        } else if window {
            2
        } else {
            1
        };
        if events.is_empty() || events.len() > allowed {
            wrong.push(format!(
                "{} completion events (expected {})",
                events.len(),
                if allowed > 1 {
                    format!("1 to {allowed}")
                } else {
                    "1".into()
                }
            ));
        }
        let status = record.map(|r| serde_json::to_value(r.status).expect("a status"));
        for event in events {
            let event: Value = serde_json::from_str(event).expect("an event is JSON");
            if Some(&event["detail"]["status"]) != status.as_ref() {
                wrong.push(format!(
                    "completion event says {}, the record {status:?}",
                    event["detail"]["status"]
                ));
            }
        }
        for secret in self.secret_values().await {
            // (every secret this bundle keeps is a JSON document or a generated password)
            let parts: Vec<String> = match serde_json::from_str::<Value>(&secret) {
                Ok(Value::Object(fields)) => fields
                    .values()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => vec![secret],
            };
            for part in parts.iter().filter(|p| p.len() >= 8) {
                if events.iter().any(|e| e.contains(part.as_str())) {
                    wrong.push("a completion event carries a secret value".into());
                }
            }
        }
        wrong
    }

    /// Messages left in every dead-letter queue (jobs lost to operators).
    async fn dead_letters(&self) -> usize {
        let sqs = aws_sdk_sqs::Client::new(self.stack.sdk_config());
        let mut count = 0;
        for (name, url) in self.stack.provisioned().queue_urls() {
            if !name.contains("DeadLetter") {
                continue;
            }
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .expect("queue attributes");
            for attribute in [
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ] {
                count += attributes
                    .attributes()
                    .and_then(|a| a.get(&attribute))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
            }
        }
        count
    }

    /// Sends the case's job, delivers until the queues are empty with `crash` planned, and
    /// returns what is wrong with the outcome (nothing, when the job was done once as asked).
    async fn run(&self, case: &Case, crash: Option<Crash>) -> Outcome {
        if let Check::Synced { full } = case.check {
            return self.run_sync(case, full, crash).await;
        }
        if let Check::Restored { .. } = case.check {
            return self.run_restore(case, crash).await;
        }
        let job: Job = serde_json::from_value(case.job.clone()).expect("a job");
        if matches!(case.check, Check::Refreshed) {
            // Each run must find work: the stored SKUs go, so the refresh writes them again.
            self.forget_skus().await;
        }
        let url = self.stack.queue_url(case.queue).expect("queue");
        self.platform.queue.send_job(url, &job).await.expect("sent");
        if self.graph_faults {
            self.stack
                .sim()
                .expect("sim")
                .update_knobs(self.tenant_id.as_str(), |k| k.expire_tokens = true)
                .expect("tokens expired");
        }
        let before = sim_routes(&self.stack);
        self.switch.arm(crash);
        let deliveries = deliver_all_with(
            &self.stack,
            &[case.function],
            &self.switch,
            &|| {},
            self.twice,
        )
        .await;
        let labels = self.switch.points();
        if crash.is_none() {
            for (index, label) in labels.iter().enumerate() {
                println!("  failure point {}: {label}", index + 1);
            }
        }
        let points = labels.len();
        let missed = self.switch.pending();
        self.switch.disarm();
        let after = sim_routes(&self.stack);
        let delta = |route: &str| {
            after.get(route).copied().unwrap_or(0) - before.get(route).copied().unwrap_or(0)
        };
        let mut wrong = Vec::new();
        if missed {
            println!("  {crash:?} not reached: this run had {points} failure points");
        }
        if deliveries.stuck {
            wrong.push(format!("still undelivered after {deliveries:?}"));
        }
        let mut lost = false;
        let mut doubled = false;
        let events = self.completion_events(job.job_id.as_str()).await;
        // Killed after the event went out and before the record said so: the event is put again.
        let window = crash.is_some_and(|crash| {
            let at = |point: usize| point.checked_sub(1).and_then(|i| labels.get(i));
            let put = |label: Option<&String>| label.is_some_and(|l| l == "AWSEvents.PutEvents");
            match crash.moment {
                Moment::After => put(at(crash.point)),
                Moment::Before => put(at(crash.point - 1)),
            }
        });
        let record = self.record(&job).await;
        wrong.extend(self.check_events(&events, record.as_ref(), window).await);
        match record {
            Some(record) if record.status == JobStatus::Succeeded => {}
            Some(record) => {
                lost = !record.status.is_finished();
                wrong.push(format!("job ended {:?}: {:?}", record.status, record.error));
            }
            None => {
                lost = true;
                wrong.push("no job record".into());
            }
        }
        match &case.check {
            Check::Onboarded { upn, skus, groups } => {
                let users = self.user(upn);
                let created = delta("POST /v1.0/users");
                let assigned = delta("POST /v1.0/users/{id}/assignLicense");
                // (under injected 503s Graph refused some requests unapplied, and the client
                // sent them again: the request log then counts refusals too)
                let exact = !self.graph_faults;
                doubled |= users.len() > 1 || (exact && (created > 1 || assigned > 1));
                if exact && created != 1 {
                    wrong.push(format!("POST /users sent {created} times"));
                }
                if exact && assigned != 1 {
                    wrong.push(format!("assignLicense sent {assigned} times"));
                }
                match users.as_slice() {
                    [user] => {
                        let have: BTreeSet<String> = user.sku_ids.iter().cloned().collect();
                        // (a group may carry licenses of its own: those come on top)
                        if !skus.is_subset(&have) {
                            wrong.push(format!("licenses {have:?}, asked {skus:?}"));
                        }
                        let member_of: BTreeSet<String> = self
                            .truth()
                            .groups
                            .iter()
                            .filter(|g| g.member_ids.contains(&user.id))
                            .map(|g| g.id.clone())
                            .collect();
                        if &member_of != groups {
                            wrong.push(format!("groups {member_of:?}, asked {groups:?}"));
                        }
                    }
                    other => wrong.push(format!("{} accounts named {upn}", other.len())),
                }
            }
            Check::Memberships {
                user_id,
                group,
                sku,
            } => {
                let truth = self.truth();
                let assigned = delta("POST /v1.0/users/{id}/assignLicense");
                doubled |= assigned > 1;
                if assigned != 1 {
                    wrong.push(format!("assignLicense sent {assigned} times"));
                }
                let in_group = truth
                    .groups
                    .iter()
                    .any(|g| &g.id == group && g.member_ids.contains(user_id));
                if !in_group {
                    wrong.push(format!("{user_id} is not in group {group}"));
                }
                let holds = truth
                    .users
                    .iter()
                    .any(|u| &u.id == user_id && u.sku_ids.contains(sku));
                if !holds {
                    wrong.push(format!("{user_id} does not hold {sku}"));
                }
            }
            Check::Offboarded { user_id, delete } => {
                let truth = self.truth();
                let deleted = delta("DELETE /v1.0/users/{id}");
                doubled |= deleted > 1;
                let user = truth.users.iter().find(|u| &u.id == user_id);
                match (delete, user) {
                    (true, None) if truth.deleted_user_ids.contains(user_id) => {}
                    (true, _) => wrong.push(format!("{user_id} was not deleted")),
                    (false, Some(user)) if !user.account_enabled && user.sku_ids.is_empty() => {}
                    (false, other) => {
                        wrong.push(format!("{user_id} not disabled and unlicensed: {other:?}"))
                    }
                }
                if *delete && deleted != 1 {
                    wrong.push(format!("DELETE /users sent {deleted} times"));
                }
                // A group the job could not change (synced from on-premises) stays, and the
                // job record says so.
                let record = self.record(&job).await;
                let said = |name: &str| {
                    record.as_ref().is_some_and(|r| {
                        r.steps.iter().any(|s| {
                            s.detail
                                .as_deref()
                                .is_some_and(|d| d.contains(&format!("cannot remove from {name}")))
                        })
                    })
                };
                let left: Vec<&str> = truth
                    .groups
                    .iter()
                    .filter(|g| g.kind == "security" || g.kind == "unified")
                    .filter(|g| g.member_ids.contains(user_id))
                    .map(|g| g.display_name.as_str())
                    .filter(|name| !said(name))
                    .collect();
                if !*delete && !left.is_empty() {
                    wrong.push(format!("{user_id} still in {left:?}, unexplained"));
                }
            }
            // (run by `run_sync` and `run_restore`)
            Check::Synced { .. } | Check::Restored { .. } => {}
            Check::Refreshed => {
                for sku in self.truth().skus {
                    let id = lifecycle::SkuId::parse(&sku.sku_id).expect("a SKU id");
                    let stored: Option<Sku> = self
                        .platform
                        .store
                        .get(&keys::sku(&self.tenant_id, &id))
                        .await
                        .expect("SKU read");
                    let same = stored.as_ref().is_some_and(|s| {
                        i64::from(s.consumed) == sku.consumed && i64::from(s.enabled) == sku.enabled
                    });
                    if !same {
                        wrong.push(format!("stored {stored:?}, tenant {sku:?}"));
                    }
                }
            }
        }
        Outcome {
            deliveries,
            wrong,
            points,
            lost,
            doubled,
            missed,
            events: events.len(),
            gone: false,
            labels,
        }
    }

    /// Queues one sync run of the tenant (`full`, or a delta run) as the API does, delivers the
    /// sync queue until it is empty with `crash` planned (every page ends the invocation's
    /// budget, so the run is a chain of continuations), and checks the run and the store.
    async fn run_sync(&self, case: &Case, full: bool, crash: Option<Crash>) -> Outcome {
        let tenant = self
            .platform
            .tenant(&self.tenant_id)
            .await
            .expect("tenant read")
            .expect("tenant");
        let run =
            lifecycle::sync_runs::request_sync(&self.platform, &tenant, full, chrono::Utc::now())
                .await
                .expect("sync queued");
        self.switch.arm(crash);
        let sim = self.stack.sim().expect("sim");
        let expire_on_kill = self.expire_delta_on_kill;
        let on_kill = || {
            if expire_on_kill {
                // The redelivery comes after the delta links it saved expired: Graph answers 410.
                sim.update_knobs(self.tenant_id.as_str(), |k| k.expire_delta_tokens = true)
                    .expect("delta links expired");
            }
        };
        let deliveries = deliver_all_with(
            &self.stack,
            &[case.function],
            &self.switch,
            &on_kill,
            self.twice,
        )
        .await;
        let labels = self.switch.points();
        if crash.is_none() {
            for (index, label) in labels.iter().enumerate() {
                println!("  failure point {}: {label}", index + 1);
            }
        }
        let points = labels.len();
        let missed = self.switch.pending();
        self.switch.disarm();
        if missed {
            println!("  {crash:?} not reached: this run had {points} failure points");
        }
        let mut wrong = Vec::new();
        if deliveries.stuck {
            wrong.push(format!("still undelivered after {deliveries:?}"));
        }
        let ended = lifecycle::sync_runs::find_run(&self.platform.store, &self.tenant_id, &run.id)
            .await
            .expect("run read")
            .map(|(_, run)| run);
        let lost = !ended.as_ref().is_some_and(|r| r.status.is_finished());
        let gone = !full
            && deliveries.killed > 0
            && self.expire_delta_on_kill
            && ended.as_ref().is_some_and(|r| r.full);
        match &ended {
            Some(ended) if ended.status == SyncRunStatus::Ok => {
                if full && !ended.full {
                    wrong.push("a full sync ended as a delta run".into());
                }
            }
            other => wrong.push(format!(
                "sync run ended {:?}: {:?}",
                other.as_ref().map(|r| r.status),
                other.as_ref().and_then(|r| r.error.clone())
            )),
        }
        wrong.extend(self.store_differs().await);
        let events = self.completion_events(run.id.as_str()).await;
        if !events.is_empty() {
            wrong.push(format!("{} completion events for a sync run", events.len()));
        }
        Outcome {
            deliveries,
            wrong,
            points,
            lost,
            doubled: false,
            missed,
            events: events.len(),
            gone,
            labels,
        }
    }

    /// Every item of `partitions`, read side by side.
    async fn items<T: lifecycle::store::Record + Send + 'static>(
        &self,
        partitions: Vec<lifecycle::store::PartitionKey>,
    ) -> Vec<T> {
        use futures::TryStreamExt as _;
        let store = &self.platform.store;
        let pages = futures::future::try_join_all(
            partitions
                .iter()
                .map(|partition| store.query::<T>(partition, None).try_collect::<Vec<T>>()),
        )
        .await
        .expect("partitions read");
        pages.into_iter().flatten().collect()
    }

    /// Offboards the case's account (delete policy, through its queue, nothing killed), then asks
    /// the API to restore it with `crash` planned: a killed request is asked again, as a caller
    /// retries a dropped connection or a 5xx, until it is answered.
    async fn run_restore(&self, case: &Case, crash: Option<Crash>) -> Outcome {
        let Check::Restored {
            user_id,
            groups,
            skus,
        } = &case.check
        else {
            unreachable!("a restore case")
        };
        // GIVEN (not under test) the account offboarded and deleted
        let job: Job = serde_json::from_value(case.job.clone()).expect("a job");
        let url = self.stack.queue_url("OffboardingQueue").expect("queue");
        self.platform.queue.send_job(url, &job).await.expect("sent");
        deliver_all(&self.stack, &["OffboardingFunction"], &self.switch).await;
        let offboarded = self.record(&job).await.map(|r| r.status);
        assert_eq!(offboarded, Some(JobStatus::Succeeded), "the offboarding");
        self.completion_events(job.job_id.as_str()).await;
        let before = sim_routes(&self.stack);
        let http = e2e::api_client(&self.stack, "org-proof");
        let path = format!(
            "{}/tenants/{}/accounts/{user_id}/restore",
            self.stack.api_url(),
            self.tenant_id
        );
        self.switch.arm(crash);
        let mut deliveries = Deliveries::default();
        let mut answer = None;
        for _ in 0..8 {
            let crashes = self.switch.crashes();
            let response = http
                .post(&path)
                .json(&json!({"enable": true}))
                .send()
                .await
                .expect("the API answers");
            deliveries.invocations += 1;
            deliveries.messages += 1;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if self.switch.crashes() > crashes {
                // The function died mid-request: the caller saw a dropped connection.
                deliveries.killed += 1;
                self.switch.revive();
                continue;
            }
            if status >= 500 {
                continue;
            }
            answer = Some((status, body));
            break;
        }
        let labels = self.switch.points();
        if crash.is_none() {
            for (index, label) in labels.iter().enumerate() {
                println!("  failure point {}: {label}", index + 1);
            }
        }
        let missed = self.switch.pending();
        self.switch.disarm();
        let after = sim_routes(&self.stack);
        let delta = |route: &str| {
            after.get(route).copied().unwrap_or(0) - before.get(route).copied().unwrap_or(0)
        };
        let mut wrong = Vec::new();
        let lost = match &answer {
            Some((200, body)) if body["complete"] == true => false,
            Some((status, body)) => {
                wrong.push(format!("the restore answered {status}: {body}"));
                false
            }
            None => {
                wrong.push(format!("no answer after {deliveries:?}"));
                true
            }
        };
        let undeleted = delta("POST /v1.0/directory/deletedItems/{id}/restore");
        let assigned = delta("POST /v1.0/users/{id}/assignLicense");
        let doubled = undeleted > 1 || assigned > 1;
        if undeleted != 1 {
            wrong.push(format!("the undelete was sent {undeleted} times"));
        }
        if assigned > 1 {
            wrong.push(format!("assignLicense sent {assigned} times"));
        }
        let truth = self.truth();
        match truth.users.iter().find(|u| &u.id == user_id) {
            Some(user) => {
                if !user.account_enabled {
                    wrong.push(format!("{user_id} restored but not enabled"));
                }
                let held: BTreeSet<String> = user.sku_ids.iter().cloned().collect();
                if &held != skus {
                    wrong.push(format!(
                        "licenses {held:?}, before the offboarding {skus:?}"
                    ));
                }
                let member_of: BTreeSet<String> = truth
                    .groups
                    .iter()
                    .filter(|g| g.member_ids.contains(user_id))
                    .map(|g| g.id.clone())
                    .collect();
                if &member_of != groups {
                    wrong.push(format!(
                        "groups {member_of:?}, before the offboarding {groups:?}"
                    ));
                }
            }
            None => wrong.push(format!("{user_id} is not back in the tenant")),
        }
        // State follows the tenant: the stored account says what Graph says.
        let id = lifecycle::AccountId::parse(user_id).expect("an account id");
        let stored: Option<Account> = self
            .platform
            .store
            .get(&keys::account(&self.tenant_id, &id))
            .await
            .expect("account read");
        match stored {
            Some(account) if !account.deleted && account.enabled => {}
            other => wrong.push(format!(
                "stored account {:?}",
                other.map(|a| (a.deleted, a.enabled))
            )),
        }
        Outcome {
            deliveries,
            wrong,
            points: labels.len(),
            lost,
            doubled,
            missed,
            events: 0,
            gone: false,
            labels,
        }
    }

    /// Where the store's picture of the tenant differs from the tenant (empty: it equals it).
    async fn store_differs(&self) -> Vec<String> {
        use futures::TryStreamExt as _;
        let store = &self.platform.store;
        let truth = self.truth();
        let mut wrong = Vec::new();
        let accounts: BTreeMap<String, Account> = self
            .items::<Account>(keys::account_partitions(&self.tenant_id))
            .await
            .into_iter()
            .filter(|a| !a.deleted)
            .map(|a| (a.id.to_string(), a))
            .collect();
        let live: BTreeSet<&String> = accounts.keys().collect();
        let users: BTreeSet<&String> = truth.users.iter().map(|u| &u.id).collect();
        if live != users {
            wrong.push(format!(
                "live accounts differ: {} stored not in the tenant, {} of the tenant not stored",
                live.difference(&users).count(),
                users.difference(&live).count()
            ));
        }
        for user in &truth.users {
            let Some(account) = accounts.get(&user.id) else {
                continue;
            };
            let licenses: BTreeSet<String> = account
                .licenses
                .iter()
                .map(|l| l.sku_id.to_string())
                .collect();
            let held: BTreeSet<String> = user.sku_ids.iter().cloned().collect();
            if account.enabled != user.account_enabled || licenses != held {
                wrong.push(format!("account {} differs from the tenant", user.id));
            }
        }
        let groups: BTreeSet<String> = self
            .items::<Group>(keys::group_partitions(&self.tenant_id))
            .await
            .into_iter()
            .filter(|g| !g.deleted)
            .map(|g| g.id.to_string())
            .collect();
        let truth_groups: BTreeSet<String> = truth.groups.iter().map(|g| g.id.clone()).collect();
        if groups != truth_groups {
            wrong.push("live groups differ".into());
        }
        let memberships: BTreeSet<(String, String)> = self
            .items::<Membership>(keys::membership_partitions(&self.tenant_id))
            .await
            .into_iter()
            .map(|m| (m.group_id.to_string(), m.account_id.to_string()))
            .collect();
        let truth_memberships: BTreeSet<(String, String)> = truth
            .groups
            .iter()
            .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
            .collect();
        if memberships != truth_memberships {
            wrong.push(format!(
                "memberships differ: {} stored not in the tenant, {} of the tenant not stored",
                memberships.difference(&truth_memberships).count(),
                truth_memberships.difference(&memberships).count()
            ));
        }
        let skus: Vec<Sku> = store
            .query(&keys::sku_partition(&self.tenant_id), None)
            .try_collect()
            .await
            .expect("SKUs");
        let stored_skus: BTreeSet<(String, i64)> = skus
            .iter()
            .map(|s| (s.sku_id.to_string(), i64::from(s.consumed)))
            .collect();
        let truth_skus: BTreeSet<(String, i64)> = truth
            .skus
            .iter()
            .map(|s| (s.sku_id.clone(), s.consumed))
            .collect();
        if stored_skus != truth_skus {
            wrong.push(format!(
                "SKUs differ: stored {stored_skus:?}, tenant {truth_skus:?}"
            ));
        }
        wrong
    }

    /// The clean run, then one run per sampled point and moment.
    async fn matrix(&self, scenario: &str, mut case_for: impl FnMut(&World, usize) -> Case) -> Row {
        let started = Instant::now();
        let stats_before = self.stack.sim().expect("sim").stats();
        let mut row = Row {
            scenario: scenario.to_owned(),
            ..Row::default()
        };
        // Two clean runs: the first may find work later runs do not (a first refresh stores
        // every SKU); the second counts the failure points every later run passes.
        let first = self.run(&case_for(self, 0), None).await;
        row.add(&first, "first clean run");
        let clean = self.run(&case_for(self, 1), None).await;
        row.points = clean.points;
        row.add(&clean, "clean run");
        let mut index = 1;
        for point in sampled(&clean.labels, self.sample) {
            for moment in [Moment::Before, Moment::After] {
                index += 1;
                let case = case_for(self, index);
                let crash = Crash { point, moment };
                let outcome = self.run(&case, Some(crash)).await;
                for wrong in &outcome.wrong {
                    println!("  crash {moment:?} point {point}: {wrong}");
                }
                row.runs += 1;
                row.add(&outcome, &format!("crash {moment:?} point {point}"));
            }
        }
        row.lost += self.dead_letters().await;
        let stats = self.stack.sim().expect("sim").stats();
        row.faults = (stats.throttled - stats_before.throttled)
            + (stats.injected_5xx - stats_before.injected_5xx);
        if self.graph_faults {
            row.faults += row.runs;
        }
        row.faults += row.gone;
        row.aws_faults = self.switch.aws_faults();
        row.seconds = started.elapsed().as_secs_f64();
        row
    }
}

fn report(row: &Row) {
    println!(
        "| scenario | failure points | crashes injected | deliveries | Graph faults injected | AWS faults injected | jobs lost | jobs doubled | completion events | state == truth | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!("{}", row.line());
    assert!(
        row.failures.is_empty() && row.lost == 0,
        "{}\n{}",
        row.line(),
        row.failures.join("\n")
    );
}

fn onboard_case(world: &World, index: usize, groups: &[String], skus: &[String]) -> Case {
    let nickname = format!("crash{index}");
    let upn = format!("{nickname}@{}", world.domain);
    Case {
        job: json!({
            "job_id": format!("onboard-{index}"), "tenant_id": world.tenant_id, "type": "onboard",
            "given_name": "Crash", "surname": "Test", "display_name": format!("Crash Test {index}"),
            "mail_nickname": nickname, "user_principal_name": upn, "usage_location": "US",
            "password": {"source": "generate"},
            "groups": groups, "licenses": skus,
        }),
        function: "OnboardingFunction",
        queue: "OnboardingQueue",
        check: Check::Onboarded {
            upn,
            skus: skus.iter().cloned().collect(),
            groups: groups.iter().cloned().collect(),
        },
    }
}

#[tokio::test]
async fn given_an_onboarding_with_groups_and_a_license_when_killed_at_each_failure_point_then_one_account_is_made_as_asked()
 {
    // GIVEN a connected tenant, two of its groups and two of its SKUs
    let world = start_with(60).await;
    let groups = world.groups(2);
    // (the SKU with units for every run of the full matrix)
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then once killed at each failure point (before and after)
    // and redelivered until it ends
    let row = world
        .matrix("onboard (2 groups, 1 license)", |world, index| {
            onboard_case(world, index, &groups, &skus)
        })
        .await;

    // THEN every run made one account, with its licenses and groups, in one POST /users and
    // one assignLicense, and the job succeeded
    report(&row);
}

/// Users for the runs of one matrix (a clean run and two per point at most).
fn take_users(world: &World, sku: &str, group: &str) -> Vec<TruthUser> {
    let users = world.members(sku, group);
    println!("  {} accounts of one shape for the runs", users.len());
    assert!(
        users.len() >= 12,
        "only {} accounts of one shape",
        users.len()
    );
    users
}

#[tokio::test]
async fn given_membership_updates_when_killed_at_each_failure_point_then_each_account_gets_its_group_and_one_license_assignment()
 {
    // GIVEN a connected tenant, a group and a SKU, and accounts in neither
    let world = start().await;
    let group = world.groups(1).remove(0);
    let sku = world.sku("FLOW_FREE");
    let users = take_users(&world, &sku, &group);

    // WHEN each account's update (add the group, assign the license) runs clean or is killed at
    // a failure point and redelivered until it ends
    let row = world
        .matrix("update memberships (1 group, 1 license)", |world, index| {
            let user = &users[index % users.len()];
            Case {
                job: json!({
                    "job_id": format!("members-{index}"), "tenant_id": world.tenant_id,
                    "type": "update_memberships", "account": user.user_principal_name,
                    "add_groups": [group], "assign_licenses": [sku],
                }),
                function: "OnboardingFunction",
                queue: "OnboardingQueue",
                check: Check::Memberships {
                    user_id: user.id.clone(),
                    group: group.clone(),
                    sku: sku.clone(),
                },
            }
        })
        .await;

    // THEN each account is in the group with the license, assigned once, and the job succeeded
    report(&row);
}

async fn offboard_matrix(policy: &str) {
    // GIVEN a connected tenant and licensed accounts in groups
    let world = start().await;
    let users = take_users(&world, "none", "none");

    // WHEN each account's offboarding runs clean or is killed at a failure point and
    // redelivered until it ends
    let delete = policy == "delete";
    let row = world
        .matrix(&format!("offboard ({policy})"), |world, index| {
            let user = &users[index % users.len()];
            Case {
                job: json!({
                    "job_id": format!("offboard-{index}"), "tenant_id": world.tenant_id,
                    "type": "offboard", "account": user.id, "policy": policy,
                }),
                function: "OffboardingFunction",
                queue: "OffboardingQueue",
                check: Check::Offboarded {
                    user_id: user.id.clone(),
                    delete,
                },
            }
        })
        .await;

    // THEN each account ends deleted (one DELETE) or disabled without licenses or groups, and
    // the job succeeded
    report(&row);
}

#[tokio::test]
async fn given_offboardings_that_delete_when_killed_at_each_failure_point_then_each_account_is_deleted_once()
 {
    offboard_matrix("delete").await;
}

#[tokio::test]
async fn given_offboardings_that_keep_disabled_when_killed_at_each_failure_point_then_each_account_is_disabled_without_licenses_or_groups()
 {
    offboard_matrix("keep_disabled").await;
}

#[tokio::test]
async fn given_a_license_refresh_when_killed_at_each_failure_point_then_the_stored_skus_equal_the_tenant()
 {
    // GIVEN a connected tenant
    let world = start_with(60).await;

    // WHEN its license refresh runs clean or is killed at a failure point and redelivered
    let row = world
        .matrix("license refresh", |world, index| Case {
            job: json!({
                "job_id": format!("refresh-{index}"), "tenant_id": world.tenant_id,
                "type": "license_refresh",
            }),
            function: "LicenseRefreshFunction",
            queue: "LicenseRefreshQueue",
            check: Check::Refreshed,
        })
        .await;

    // THEN the stored SKUs equal the tenant's and the job succeeded
    report(&row);
}

#[tokio::test]
async fn given_graph_throttling_5xx_and_expired_tokens_when_an_onboarding_is_killed_at_each_failure_point_then_one_account_is_made_as_asked()
 {
    // GIVEN a tenant whose Graph answers 10 % of requests 429 and 5 % 503/504 (Retry-After
    // 50 ms), and whose access tokens all expire as each run starts
    let mut world = start_with(60).await;
    world
        .stack
        .sim()
        .expect("sim")
        .update_knobs(world.tenant_id.as_str(), |k| {
            k.fail_rate_429 = 0.10;
            k.fail_rate_5xx = 0.05;
            k.retry_after_s = 0.05;
        })
        .expect("knobs");
    world.graph_faults = true;
    let groups = world.groups(2);
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then killed at each failure point and redelivered
    let row = world
        .matrix(
            "onboard under Graph 429/5xx and expired tokens",
            |world, index| onboard_case(world, index, &groups, &skus),
        )
        .await;

    // THEN every run made one account with its groups and license, and the job succeeded
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_aws_throttling_and_internal_errors_when_an_onboarding_is_killed_at_each_failure_point_then_one_account_is_made_as_asked()
 {
    // GIVEN a connected tenant, and AWS answering 8 % of the functions' calls with its
    // throttling and internal errors: DynamoDB ProvisionedThroughputExceeded, ThrottlingException
    // and 5xx, SQS and Secrets Manager ThrottlingException/InternalFailure/ServiceUnavailable,
    // EventBridge failed puts (whole, or the entry refused in a 200)
    let mut world = start_with(60).await;
    world.switch.set_aws_fault_rate(0.08);
    world.aws_faults = true;
    // (the SDK's back-off between its retries takes time: make test samples three points)
    world.sample = Sample::Every(12);
    let groups = world.groups(2);
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then killed at each failure point and redelivered
    let row = world
        .matrix("onboard under AWS throttling and 5xx", |world, index| {
            onboard_case(world, index, &groups, &skus)
        })
        .await;

    // THEN every run made one account with its groups and license, in one POST /users and one
    // assignLicense, the job succeeded, and its completion event said so
    assert!(row.aws_faults > 0, "no AWS fault was injected");
    report(&row);
}

/// A sync matrix: every run first changes the tenant (an account deleted, one added, a
/// membership added and one removed), so each run has changes to find and the sweep to do.
async fn sync_matrix(world: &World, scenario: &str, full: bool) -> Row {
    // The matrix syncs the tenant dozens of times in ten minutes, more than Graph's usage-report
    // limit allows (14 reports per 10 minutes per app: its 429s would outlast the deliveries).
    // Graph's windows are shortened 100 times, so the scenario is about kills and 410s;
    // throttling has its own scenarios.
    world
        .stack
        .sim()
        .expect("sim")
        .update_knobs(world.tenant_id.as_str(), |k| k.throttle_window_ms = 100)
        .expect("knobs");
    world
        .matrix(scenario, |world, _| {
            world
                .stack
                .sim()
                .expect("sim")
                .mutate(
                    world.tenant_id.as_str(),
                    &graph_sim::Mutation {
                        add_users: 1,
                        delete_users: 1,
                        add_memberships: 1,
                        remove_memberships: 1,
                        update_users: 1,
                    },
                )
                .expect("the tenant changes");
            Case {
                job: Value::Null,
                function: "SyncFunction",
                queue: "SyncQueue",
                check: Check::Synced { full },
            }
        })
        .await
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_a_full_sync_that_continues_page_after_page_when_killed_at_each_failure_point_then_the_store_equals_the_tenant()
 {
    // GIVEN a synced tenant of 1,000 accounts (two users pages: the rounds run side by side, so
    // a run continues only where a round has a page more) whose sync spends its budget on every
    // page, so each run is a chain of continuations (one invocation per page)
    let mut world = start_with(1_000).await;
    // (each run syncs the whole tenant: make test crashes at the first continuation only)
    world.sample = Sample::First("AmazonSQS.SendMessage");

    // WHEN the tenant changes and a full sync runs clean, then killed at each failure point
    // (before and after every page write, checkpoint, continuation sent, lease) and redelivered
    let row = sync_matrix(&world, "full sync over continuations", true).await;

    // THEN every run ended OK and left the store equal to the tenant
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it (it paid for the sync's new tests in make test)"]
async fn given_delta_links_that_expire_at_each_kill_when_a_delta_sync_is_killed_at_each_failure_point_then_the_store_equals_the_tenant()
 {
    // GIVEN a synced tenant whose delta links expire whenever the sync is killed, so the
    // redelivery resumes from a saved link that Graph answers 410 syncStateNotFound (a delta run
    // of this tenant is one invocation: its rounds run side by side, a page each, so make test
    // crashes at every sixth point rather than at a continuation)
    let mut world = start_with(60).await;
    world.expire_delta_on_kill = true;
    world.sample = Sample::Every(6);

    // WHEN the tenant changes and a delta sync runs clean, then killed at each failure point
    let row = sync_matrix(&world, "delta sync, 410 after each kill", false).await;

    // THEN every run ended OK (a full resync where Graph said 410) and the store equals the
    // tenant, what vanished swept
    assert!(row.gone > 0, "no run met Graph's 410");
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_offboarded_accounts_when_their_restore_through_the_api_is_killed_at_each_failure_point_and_asked_again_then_each_is_back_once_as_before()
 {
    // GIVEN a connected tenant and licensed accounts in groups, stored here (a first sync)
    let mut world = start_with(400).await;
    let users = take_users(&world, "none", "none");
    world
        .run(
            &Case {
                job: Value::Null,
                function: "SyncFunction",
                queue: "SyncQueue",
                check: Check::Synced { full: true },
            },
            None,
        )
        .await;
    world.sample = Sample::Every(4);

    // WHEN each account is offboarded (delete), then restored through the API with sign-in
    // enabled, clean or killed at a failure point, and asked again until answered
    let truth = world.truth();
    let row = world
        .matrix("restore (API, after offboard delete)", |world, index| {
            let user = &users[index % users.len()];
            Case {
                job: json!({
                    "job_id": format!("leave-{index}"), "tenant_id": world.tenant_id,
                    "type": "offboard", "account": user.id, "policy": "delete",
                }),
                function: "ApiFunction",
                queue: "OffboardingQueue",
                check: Check::Restored {
                    user_id: user.id.clone(),
                    groups: truth
                        .groups
                        .iter()
                        .filter(|g| g.member_ids.contains(&user.id))
                        .map(|g| g.id.clone())
                        .collect(),
                    skus: user.sku_ids.iter().cloned().collect(),
                },
            }
        })
        .await;

    // THEN each account is back, enabled, with the groups and licenses it had, from one undelete,
    // the API answered complete, and the stored account says what Graph says
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_every_message_delivered_twice_when_an_onboarding_is_killed_at_each_failure_point_then_one_account_is_made_and_one_event_put()
 {
    // GIVEN a connected tenant whose onboarding queue delivers every message twice (one after
    // the other: a FIFO queue redelivers a message whose delete failed)
    let mut world = start_with(60).await;
    world.twice = true;
    world.sample = Sample::Every(12);
    let groups = world.groups(2);
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then killed at each failure point and redelivered
    let row = world
        .matrix("onboard, every message delivered twice", |world, index| {
            onboard_case(world, index, &groups, &skus)
        })
        .await;

    // THEN every run made one account in one POST /users and one assignLicense, and put one
    // completion event
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_every_sync_message_delivered_to_two_invocations_at_once_when_killed_at_a_continuation_then_the_store_equals_the_tenant()
 {
    // GIVEN a tenant whose sync queue (a standard queue) delivers every message to two
    // invocations at the same time
    let mut world = start_with(60).await;
    world.twice = true;
    world.sample = Sample::First("AmazonSQS.SendMessage");

    // WHEN the tenant changes and a delta sync runs clean, then killed at a failure point
    let row = sync_matrix(
        &world,
        "delta sync, every message to two invocations at once",
        false,
    )
    .await;

    // THEN every run ended OK and the store equals the tenant
    report(&row);
}

/// Writes the job's record as the API does when the job is submitted, at `at`.
async fn submit_at(world: &World, job: &Job, at: chrono::DateTime<chrono::Utc>) {
    world
        .platform
        .store
        .put_new(
            &keys::job(&job.tenant_id, &job.job_id),
            &JobRecord::queued(job, at),
        )
        .await
        .expect("the record written at submission");
}

/// Sends the job to the onboarding queue and delivers what the queue holds.
async fn deliver(world: &World, job: &Job) {
    let queue = world.stack.queue_url("OnboardingQueue").expect("queue");
    world
        .platform
        .queue
        .send_job(queue, job)
        .await
        .expect("sent");
    deliver_all(&world.stack, &["OnboardingFunction"], &world.switch).await;
}

#[tokio::test]
async fn given_two_updates_of_one_account_when_the_older_is_delivered_after_the_newer_ran_then_it_is_refused_as_superseded_and_the_account_keeps_what_the_newer_asked()
 {
    // GIVEN an account outside a group and two updates of it, submitted in this order (their
    // records written at submission, as the API does): the older adds the group, the newer
    // takes it out again
    let world = start_with(60).await;
    let group = world.groups(1).remove(0);
    let user = world.members("none", &group).remove(0);
    let update = |job_id: &str, change: &str| -> Job {
        serde_json::from_value(json!({
            "job_id": job_id, "tenant_id": world.tenant_id, "type": "update_memberships",
            "account": user.user_principal_name, change: [group],
        }))
        .expect("a job")
    };
    let (older, newer) = (
        update("older-add", "add_groups"),
        update("newer-remove", "remove_groups"),
    );
    let submitted = chrono::Utc::now() - chrono::Duration::seconds(10);
    for (job, at) in [
        (&older, submitted),
        (&newer, submitted + chrono::Duration::seconds(1)),
    ] {
        submit_at(&world, job, at).await;
    }
    let in_group = || {
        world
            .truth()
            .groups
            .iter()
            .any(|g| g.id == group && g.member_ids.contains(&user.id))
    };

    // WHEN the newer job is delivered and runs, and only then the older one (a dead-letter
    // redrive, or a resend, brings it late)
    for job in [&newer, &older] {
        deliver(&world, job).await;
    }

    // THEN the newer job succeeded, the older one failed as superseded without a Graph write,
    // and the account is outside the group, as the newer job asked
    let newer_record = world.record(&newer).await.expect("newer record");
    assert_eq!(
        newer_record.status,
        JobStatus::Succeeded,
        "{newer_record:?}"
    );
    let older_record = world.record(&older).await.expect("older record");
    assert_eq!(older_record.status, JobStatus::Failed, "{older_record:?}");
    let reason = older_record.error.clone().unwrap_or_default();
    assert!(reason.contains("superseded: job newer-remove"), "{reason}");
    assert!(
        !in_group(),
        "the older job put the account back in the group"
    );

    // WHEN a job submitted after both asks for the group again
    let latest = update("latest-add", "add_groups");
    deliver(&world, &latest).await;

    // THEN it runs: only older jobs are refused
    let latest_record = world.record(&latest).await.expect("latest record");
    assert_eq!(
        latest_record.status,
        JobStatus::Succeeded,
        "{latest_record:?}"
    );
    assert!(in_group());

    // GIVEN a removal, and then a dry run of the same removal, submitted after all of those
    let base = chrono::Utc::now();
    let removal = update("real-remove", "remove_groups");
    let mut dry_run = update("dry-remove", "remove_groups");
    dry_run.dry_run = true;
    for (job, at) in [
        (&removal, base + chrono::Duration::seconds(1)),
        (&dry_run, base + chrono::Duration::seconds(2)),
    ] {
        submit_at(&world, job, at).await;
    }

    // WHEN the dry run is delivered and runs first, and then the removal
    for job in [&dry_run, &removal] {
        deliver(&world, job).await;
    }

    // THEN the removal runs: a dry run changed nothing, so it supersedes nothing
    let removal_record = world.record(&removal).await.expect("removal record");
    assert_eq!(
        removal_record.status,
        JobStatus::Succeeded,
        "{removal_record:?}"
    );
    assert!(!in_group(), "the removal did not run after a dry run of it");
}
