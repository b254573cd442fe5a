//! The world a crash scenario runs in: the stack over one simulated tenant, and what the
//! scenarios read of it (the tenant's truth, the store, records, events, dead letters).

use super::*;
use local_aws::subscriber::Subscriber;

/// The whole stack over one simulated tenant, connected read/write; its workers hooked to the
/// switch and fed by the test, not by pollers.
pub(crate) struct World {
    pub(crate) stack: Stack,
    /// The administrator's view of the table and queues (not hooked).
    pub(crate) platform: Platform,
    pub(crate) switch: Arc<CrashSwitch>,
    pub(crate) tenant_id: TenantId,
    pub(crate) domain: String,
    /// Graph answers 10 % of requests 429 and 5 % 503/504 (Retry-After 50 ms), and every
    /// access token issued is expired at the start of each run.
    pub(crate) graph_faults: bool,
    /// The subscriber's queue: every completion event the bus routed to it.
    pub(crate) subscriber: Subscriber,
    /// The functions' AWS calls meet throttling and internal errors ([`CrashSwitch::set_aws_fault_rate`]).
    pub(crate) aws_faults: bool,
    /// The points `make test` crashes at.
    pub(crate) sample: Sample,
    /// Each kill also expires the tenant's delta links: the redelivery's saved link answers 410.
    pub(crate) expire_delta_on_kill: bool,
    /// Every message is delivered twice ([`deliver_all_with`]).
    pub(crate) twice: bool,
}

/// [`start_with`] a tenant of 1,500 accounts: enough accounts of one shape for a run each.
pub(crate) async fn start() -> World {
    start_with(1500).await
}

/// The stack over one simulated tenant of `accounts` accounts and 10 groups. With `PROOF_LOG`
/// set, the functions log (filtered by `RUST_LOG`), to follow a finding.
pub(crate) async fn start_with(accounts: usize) -> World {
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
    let info = e2e::connect_by_consent(&stack, &platform, "org-proof", 0).await;
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

impl World {
    pub(crate) fn truth(&self) -> Truth {
        self.stack
            .sim()
            .expect("sim")
            .truth(self.tenant_id.as_str())
            .expect("truth")
    }

    pub(crate) fn user(&self, upn: &str) -> Vec<TruthUser> {
        self.truth()
            .users
            .into_iter()
            .filter(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
            .collect()
    }

    /// Security groups whose members Graph lets the app change.
    pub(crate) fn groups(&self, count: usize) -> Vec<String> {
        self.truth()
            .groups
            .into_iter()
            .filter(|g| g.kind == "security")
            .take(count)
            .map(|g| g.id)
            .collect()
    }

    pub(crate) fn sku(&self, part: &str) -> String {
        self.truth()
            .skus
            .into_iter()
            .find(|s| s.sku_part_number == part)
            .map(|s| s.sku_id)
            .unwrap_or_else(|| panic!("the simulator has no SKU {part}"))
    }

    pub(crate) async fn record(&self, job: &Job) -> Option<JobRecord> {
        self.platform
            .store
            .get::<JobRecord>(&keys::job(&job.tenant_id, &job.job_id))
            .await
            .expect("job record read")
    }

    /// Deletes the stored SKUs of the tenant (seeding, not under test).
    pub(crate) async fn forget_skus(&self) {
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
    pub(crate) fn members(&self, sku: &str, group: &str) -> Vec<TruthUser> {
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

    /// The account `user_id` as the store holds it, if stored.
    pub(crate) async fn stored_account(&self, user_id: &str) -> Option<Account> {
        let id = lifecycle::AccountId::parse(user_id).expect("an account id");
        self.platform
            .store
            .account(&self.tenant_id, &id)
            .await
            .expect("account read")
    }

    /// The completion events the subscriber got since the last call, of job `job_id` (others
    /// are dropped: runs are one at a time).
    pub(crate) async fn completion_events(&self, job_id: &str) -> Vec<String> {
        self.subscriber
            .bodies(std::time::Duration::ZERO)
            .await
            .into_iter()
            .filter(|body| {
                serde_json::from_str::<Value>(body)
                    .is_ok_and(|event| event["detail"]["job_id"] == job_id)
            })
            .collect()
    }

    /// Every secret value in Secrets Manager (generated passwords, the app's credentials).
    pub(crate) async fn secret_values(&self) -> Vec<String> {
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
    pub(crate) async fn check_events(
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
    pub(crate) async fn dead_letters(&self) -> usize {
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

    /// Every item of `partitions`, read side by side.
    pub(crate) async fn items<T: lifecycle::store::Record + Send + 'static>(
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

    /// Where the store's picture of the tenant differs from the tenant (empty: it equals it).
    pub(crate) async fn store_differs(&self) -> Vec<String> {
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
        let memberships: Vec<Membership> = self
            .platform
            .store
            .memberships(&self.tenant_id)
            .try_collect()
            .await
            .expect("memberships");
        let memberships: BTreeSet<(String, String)> = memberships
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
    pub(crate) async fn matrix(
        &self,
        scenario: &str,
        mut case_for: impl FnMut(&World, usize) -> Case,
    ) -> Row {
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
