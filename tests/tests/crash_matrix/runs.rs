//! One run of a case: a job (or a sync, or a restore through the API) delivered until it ends,
//! killed at one failure point on the way, and what it left.

use super::*;

impl World {
    /// Sends the case's job, delivers until the queues are empty with `crash` planned, and
    /// returns what is wrong with the outcome (nothing, when the job was done once as asked).
    pub(crate) async fn run(&self, case: &Case, crash: Option<Crash>) -> Outcome {
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
            Check::Updated {
                user_id,
                display_name,
            } => {
                let truth = self.truth();
                let named = truth
                    .users
                    .iter()
                    .find(|u| &u.id == user_id)
                    .map(|u| u.display_name.clone());
                if named.as_ref() != Some(display_name) {
                    wrong.push(format!(
                        "{user_id} is named {named:?}, asked {display_name}"
                    ));
                }
                // State follows the tenant: a stored account says what Graph says.
                if let Some(account) = self.stored_account(user_id).await
                    && &account.display_name != display_name
                {
                    wrong.push(format!("stored as {:?}", account.display_name));
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
    pub(crate) async fn run_sync(&self, case: &Case, full: bool, crash: Option<Crash>) -> Outcome {
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

    /// Offboards the case's account (delete policy, through its queue, nothing killed), then asks
    /// the API to restore it with `crash` planned: a killed request is asked again, as a caller
    /// retries a dropped connection or a 5xx, until it is answered.
    pub(crate) async fn run_restore(&self, case: &Case, crash: Option<Crash>) -> Outcome {
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
        match self.stored_account(user_id).await {
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
}
