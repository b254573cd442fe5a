//! The sync benchmark (`make bench`): one tenant of 100,000 accounts and 2,000 groups in the Graph
//! simulator, the sync function on moto, and three runs:
//!
//! 1. a full sync: Graph requests against the floor (pages needed at the documented page sizes),
//!    wall time per phase, items/s, DynamoDB records written and their write units, peak RSS of this process;
//! 2. a delta sync after 1 % of the accounts and memberships changed: its requests and wall time
//!    as a share of the full sync's, and its writes against the items that changed;
//! 3. a full sync into a fresh store with the simulator's resource-unit budget at a third of what
//!    the full sync asked for (at most 10 % of Graph's tier; or `--ru-per-10s`), so it is
//!    throttled: lost items (store against the simulator's ground truth), throttled answers and
//!    the wall time they cost.
//!
//! With `GRAPH_BASE_URL`, `LOGIN_BASE_URL`, `TENANT_ID`, `CLIENT_ID` and `CLIENT_SECRET` set (as
//! `make up` prints them), the bench syncs that tenant of that Graph instead of its own simulator:
//! a full sync and a delta sync, with what needs the simulator's admin routes left out.
//!
//! With `--latency graph` the simulator answers in Graph's modelled time
//! (`graph_sim::LatencyModel::graph`), and the full sync also prints where its Graph time went and
//! its critical path: the longest chain of requests that must run one after another (a delta
//! chain's pages depend on each other; the users and groups chains do not depend on each other,
//! nor do the single reads), beside the wall time and peak RSS. (Sign-in activity, 120 users a
//! page, is the license refresh's read, not the sync's.)
//!
//! With `--largest-group N` the tenant's largest group has N members (at most the tenant's
//! accounts), and the simulator sends every group's `members@delta` whole, in one delta page
//! (`graph_sim::Knobs::delta_member_refs`; Graph documents no fixed split): the full sync's peak
//! RSS then shows whether memory follows the largest page.
//!
//! With `--graph-only` (bench-only; best with `--latency graph`) nothing is stored: the Graph
//! client makes a full sync's reads in the sync's shape (the users chain with its mailbox report,
//! the groups chain, organization and SKUs, all at once; a delta stream reads its next page
//! while the current one is handed on) and drops what it reads. Its wall time beside the critical
//! path is what the sync's pipeline reaches when its store keeps up; it says nothing of the
//! store, whose cost the full sync's wall shows (moto here).
//!
//! ```text
//! cargo run --release -p sync --example bench_sync -- [--users 100000] [--groups 2000] \
//!     [--ru-per-10s 800] [--throttled-only] [--latency graph] [--full-only] \
//!     [--largest-group 200000] [--graph-only]
//! ```
//! The simulator runs in a child process (this program with `--serve-sim`), so the peak RSS is the
//! sync's alone; moto is its own process too. The last line of stdout is one JSON object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead as _;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use lifecycle::model::{
    Account, ConnectionMode, ConnectionStatus, Membership, SyncRun, TenantAuth, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{AccountId, AppCredential, Config, GroupId, OrgId, Platform, TenantId};
use serde_json::{Value, json};
use sync::state::hash_str;
use sync::{App, Report};

const TABLE: &str = "bench-sync";
/// Graph's page size for /users/delta and /groups/delta [learn: graph/api/user-delta].
const PAGE: u64 = 999;
/// Member references per groups-delta page in the simulator (Graph splits big groups too).
const MEMBER_REFS_PER_PAGE: u64 = 2_000;
/// Graph's resource units per 10 s for a tenant of more than 500 users.
const RU_TIER_LARGE: u64 = 8_000;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn flag(name: &str, default: usize) -> Result<usize, BoxError> {
    let argv: Vec<String> = std::env::args().collect();
    match argv.iter().position(|a| a == name) {
        Some(i) => Ok(argv
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name} expects a number"))?),
        None => Ok(default),
    }
}

/// Whether `--latency graph` was given.
fn latency_modelled() -> bool {
    let argv: Vec<String> = std::env::args().collect();
    argv.windows(2)
        .any(|pair| pair[0] == "--latency" && pair[1] == "graph")
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = if std::env::args().nth(1).as_deref() == Some("--serve-sim") {
        serve_sim().await
    } else {
        bench().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_sync: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The child: the simulator, until stdin closes.
async fn serve_sim() -> Result<(), BoxError> {
    let users = flag("--users", 100_000)?;
    let groups = flag("--groups", 2_000)?;
    let largest_group = flag("--largest-group", 0)?;
    let sim = graph_sim::spawn(graph_sim::SimConfig::single(users, groups)).await?;
    let tenant = sim.tenants().remove(0);
    if largest_group > 0 {
        sim.grow_group(&tenant.tenant_id, largest_group)?;
        // `--member-refs N`: at most N member references per delta page instead (the same
        // tenant paged as the simulator pages by default: 2,000).
        let refs = flag("--member-refs", usize::MAX)?;
        sim.update_knobs(&tenant.tenant_id, |knobs| {
            knobs.delta_member_refs = Some(refs);
        })?;
    }
    if latency_modelled() {
        sim.update_knobs(&tenant.tenant_id, |knobs| {
            knobs.latency = Some(graph_sim::LatencyModel::graph());
        })?;
    }
    println!(
        "{}",
        json!({
            "graph_base_url": sim.graph_base_url(),
            "login_base_url": sim.login_base_url(),
            "admin_url": sim.admin_url(),
            "tenant_id": tenant.tenant_id,
            "client_id": tenant.own_app.client_id,
            "client_secret": tenant.own_app.client_secret,
        })
    );
    // Commands on stdin: `snapshot` keeps a digest of the tenant, `changed` prints how many items
    // differ from it; end of input ends the simulator.
    let tenant_id = tenant.tenant_id.clone();
    let mut snapshot = Digest::default();
    let mut lines = std::io::stdin().lock().lines();
    while let Some(Ok(line)) = lines.next() {
        let truth = sim.truth(&tenant_id)?;
        match line.trim() {
            "snapshot" => {
                snapshot = Digest::of(&truth);
                println!("ok");
            }
            "changed" => println!("{}", snapshot.changed_items(&Digest::of(&truth))),
            other => eprintln!("unknown command {other:?}"),
        }
    }
    Ok(())
}

/// Talks to the simulator child.
struct SimChild {
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl SimChild {
    fn ask(&mut self, command: &str) -> Result<String, BoxError> {
        use std::io::Write as _;
        writeln!(self.stdin, "{command}")?;
        let mut answer = String::new();
        self.stdout.read_line(&mut answer)?;
        Ok(answer.trim().to_owned())
    }
}

struct Bench {
    app: App,
    platform: Platform,
    queue_url: String,
    tenant: TenantId,
    admin: String,
    http: reqwest::Client,
}

/// The Graph named by `GRAPH_BASE_URL`, `LOGIN_BASE_URL`, `TENANT_ID`, `CLIENT_ID` and
/// `CLIENT_SECRET` (as `make up` and `make bench` export them for the simulator), when all are set:
/// the bench then syncs that tenant instead of starting its own simulator.
fn graph_from_env() -> Option<Value> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    Some(json!({
        "graph_base_url": var("GRAPH_BASE_URL")?,
        "login_base_url": var("LOGIN_BASE_URL")?,
        "tenant_id": var("TENANT_ID")?,
        "client_id": var("CLIENT_ID")?,
        "client_secret": var("CLIENT_SECRET")?,
        "admin_url": "",
    }))
}

async fn bench() -> Result<(), BoxError> {
    if let Some(graph) = graph_from_env() {
        eprintln!(
            "syncing tenant {} of the Graph at {} (GRAPH_BASE_URL) ...",
            graph["tenant_id"], graph["graph_base_url"]
        );
        let (_moto, bench) = Bench::start(&graph).await?;
        return bench.run_against_any_graph().await;
    }
    let users = flag("--users", 100_000)?;
    let groups = flag("--groups", 2_000)?;
    eprintln!("starting the simulator ({users} accounts, {groups} groups) and moto ...");
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--serve-sim",
            "--users",
            &users.to_string(),
            "--groups",
            &groups.to_string(),
            "--latency",
            if latency_modelled() { "graph" } else { "none" },
            "--largest-group",
            &flag("--largest-group", 0)?.to_string(),
            "--member-refs",
            &flag("--member-refs", usize::MAX)?.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no simulator stdout")?;
    let stdin = child.stdin.take().ok_or("no simulator stdin")?;
    let mut child_io = SimChild {
        stdin,
        stdout: std::io::BufReader::new(stdout),
    };
    let mut ready = String::new();
    child_io.stdout.read_line(&mut ready)?;
    let sim: Value = serde_json::from_str(&ready)?;
    if std::env::args().any(|a| a == "--graph-only") {
        let result = graph_only(&sim).await;
        drop(child_io);
        let _ = child.wait();
        return result;
    }
    let (_moto, bench) = Bench::start(&sim).await?;
    let result = bench
        .run(&sim, &mut child_io, users as u64, groups as u64)
        .await;
    drop(child_io);
    let _ = child.wait();
    result
}

impl Bench {
    /// A fresh moto (table, sync queue, the tenant's credential and connection) and the sync
    /// function over it, for the simulator described by `sim`.
    async fn start(sim: &Value) -> Result<(local_aws::Moto, Bench), BoxError> {
        let text = |key: &str| {
            sim[key]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("simulator: no {key}"))
        };
        let moto = local_aws::Moto::start().await?;
        let sdk = moto.sdk_config().await;
        create_table(&sdk).await?;
        let queue_url = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name("sync")
            .send()
            .await?
            .queue_url
            .ok_or("no queue url")?;
        let vars: HashMap<String, String> = [
            ("TABLE_NAME", TABLE.to_owned()),
            ("SYNC_QUEUE_URL", queue_url.clone()),
            (
                "ONBOARDING_QUEUE_URL",
                "http://127.0.0.1:9/q/o.fifo".to_owned(),
            ),
            (
                "OFFBOARDING_QUEUE_URL",
                "http://127.0.0.1:9/q/f.fifo".to_owned(),
            ),
            (
                "LICENSE_REFRESH_QUEUE_URL",
                "http://127.0.0.1:9/q/l".to_owned(),
            ),
            ("GRAPH_BASE_URL", text("graph_base_url")?),
            ("LOGIN_BASE_URL", text("login_base_url")?),
            ("SECRET_PREFIX", "bench/".to_owned()),
            ("PLATFORM_APP_CLIENT_ID", "unused".to_owned()),
            ("PLATFORM_APP_SECRET_ID", "bench/platform".to_owned()),
            ("STATE_SIGNING_KEY_SECRET_ID", "bench/state".to_owned()),
            ("PUBLIC_BASE_URL", "http://127.0.0.1:3000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = Config::from_map(&vars)?;
        let platform = Platform::new(config.clone(), &sdk)?;
        let tenant = TenantId::parse(&text("tenant_id")?)?;
        platform
            .vault
            .put_app_credential(
                &tenant,
                &AppCredential {
                    client_id: text("client_id")?,
                    client_secret: text("client_secret")?.into(),
                },
            )
            .await?;
        platform
            .connect_tenant(&TenantConnection {
                tenant_id: tenant.clone(),
                org_id: OrgId::parse("bench")?,
                display_name: "bench".into(),
                verified_domains: Vec::new(),
                mode: ConnectionMode::Read,
                auth: TenantAuth::OwnApp {
                    client_id: text("client_id")?,
                },
                status: ConnectionStatus::Connected,
                consented_at: Utc::now(),
                last_sync: None,
                next_sync_due: None,
                sync_interval_minutes: 60,
                options: Default::default(),
                has_p1: None,
                generation: None,
            })
            .await?;
        let bench = Bench {
            app: App::new(config, &sdk)?,
            platform,
            queue_url,
            tenant,
            admin: text("admin_url")?,
            http: reqwest::Client::new(),
        };
        Ok((moto, bench))
    }

    async fn run(
        &self,
        sim: &Value,
        child: &mut SimChild,
        users: u64,
        groups: u64,
    ) -> Result<(), BoxError> {
        if std::env::args().any(|a| a == "--throttled-only") {
            return self
                .throttled(sim, None, None)
                .await
                .map(|summary| println!("{summary}"));
        }
        // 1. Full sync.
        let counts = self.truth_json(true).await?;
        let memberships = counts["counts"]["memberships"].as_u64().unwrap_or(0);
        reset_peak_rss();
        let modelled_before = self.modelled_ms().await?;
        let (full, full_reports, full_wall) = self.sync(false).await?;
        let full_rss = peak_rss_mb();
        let modelled = modelled_since(&modelled_before, &self.modelled_ms().await?);
        let floor = 1 // organization
            + 1 // subscribedSkus
            + 1 // mailbox usage report
            + users.div_ceil(PAGE) // users/delta
            + if flag("--largest-group", 0)? > 0 {
                groups.div_ceil(PAGE) // groups/delta, members whole
            } else {
                groups.div_ceil(PAGE).max(memberships.div_ceil(MEMBER_REFS_PER_PAGE))
            };
        let full_items = users + groups + memberships;
        let full_writes = writes(&full_reports);
        let full_units = write_units(&full_reports);
        println!("full sync: {users} accounts, {groups} groups, {memberships} memberships");
        let largest = flag("--largest-group", 0)?;
        if largest > 0 {
            let refs = flag("--member-refs", usize::MAX)?;
            println!(
                "  largest group: {} members; member references per delta page: {}",
                largest.min(users as usize),
                if refs == usize::MAX {
                    "all (whole in one page)".to_owned()
                } else {
                    refs.to_string()
                }
            );
        }
        println!(
            "  Graph requests {} vs floor {floor} ({:.3} x), retries {}, throttled {}",
            full.graph.requests,
            full.graph.requests as f64 / floor as f64,
            full.graph.retries,
            full.graph.throttled
        );
        println!(
            "  wall {:.1} s ({}), {:.0} items/s, DynamoDB records written {full_writes} in {full_units} write units (memberships {}), peak RSS {full_rss:.1} MB",
            full_wall.as_secs_f64(),
            phases(&full_reports),
            full_items as f64 / full_wall.as_secs_f64(),
            membership_units(&full_reports)
        );
        if latency_modelled() {
            print_critical_path(&modelled, full_wall);
        }
        if std::env::args().any(|a| a == "--full-only") {
            return Ok(());
        }

        // 2. Delta sync after 1 % of accounts and memberships changed.
        child.ask("snapshot")?;
        let change = users / 100;
        let membership_change = memberships / 100;
        let mutation = json!({
            "add_users": change * 3 / 10, "update_users": change * 4 / 10,
            "delete_users": change * 3 / 10,
            "add_memberships": membership_change / 2, "remove_memberships": membership_change / 2,
        });
        self.admin_send(
            reqwest::Method::POST,
            &format!("tenants/{}/mutate", self.tenant),
            &mutation,
        )
        .await?;
        reset_peak_rss();
        let (delta, delta_reports, delta_wall) = self.sync(false).await?;
        let delta_rss = peak_rss_mb();
        let changed_items: usize = child.ask("changed")?.parse()?;
        let delta_writes = writes(&delta_reports);
        let delta_units = write_units(&delta_reports);
        println!("delta sync after {mutation}");
        println!(
            "  Graph requests {} ({:.2} % of full), wall {:.2} s ({:.1} % of full; {}), peak RSS {delta_rss:.1} MB",
            delta.graph.requests,
            100.0 * delta.graph.requests as f64 / full.graph.requests as f64,
            delta_wall.as_secs_f64(),
            100.0 * delta_wall.as_secs_f64() / full_wall.as_secs_f64(),
            phases(&delta_reports)
        );
        println!(
            "  DynamoDB records written {delta_writes} in {delta_units} write units (memberships {}) for {changed_items} changed items in the tenant (accounts added, deleted or with other licenses; memberships added or removed; SKU seat counts); counts {:?}",
            membership_units(&delta_reports),
            delta.counts
        );

        // What the full run asked of Graph's budget, per 10 s of its wall time: at least 1 RU a
        // request (a delta page with `$select` costs 1).
        let demand = (full.graph.requests * 10).div_ceil(full_wall.as_secs().max(1));
        let throttled = self.throttled(sim, Some(demand), Some(full_wall)).await?;
        println!(
            "{}",
            json!({
                "full": {"requests": full.graph.requests, "floor": floor,
                         "ratio": full.graph.requests as f64 / floor as f64,
                         "wall_s": full_wall.as_secs_f64(), "items_per_s": full_items as f64 / full_wall.as_secs_f64(),
                         "dynamodb_writes": full_writes, "write_units": full_units, "peak_rss_mb": full_rss},
                "delta": {"requests": delta.graph.requests, "requests_share": delta.graph.requests as f64 / full.graph.requests as f64,
                          "wall_s": delta_wall.as_secs_f64(), "wall_share": delta_wall.as_secs_f64() / full_wall.as_secs_f64(),
                          "dynamodb_writes": delta_writes, "write_units": delta_units, "changed_items": changed_items, "peak_rss_mb": delta_rss},
                "throttled": throttled,

            })
        );
        Ok(())
    }

    /// Against a Graph other than the bench's own simulator: a full sync, then a delta sync of
    /// whatever changed meanwhile. What needs the simulator's admin routes (the tenant's truth,
    /// a 1 % change, the RU budget) is left out, and said so.
    async fn run_against_any_graph(&self) -> Result<(), BoxError> {
        reset_peak_rss();
        let (full, full_reports, full_wall) = self.sync(false).await?;
        let full_rss = peak_rss_mb();
        let counts = &full.counts;
        let items = counts.accounts.added + counts.groups.added + counts.memberships.added;
        println!(
            "full sync: {} accounts, {} groups, {} memberships stored",
            counts.accounts.added, counts.groups.added, counts.memberships.added
        );
        println!(
            "  Graph requests {}, retries {}, throttled {}; wall {:.1} s ({}), {:.0} items/s, DynamoDB records written {} in {} write units, peak RSS {full_rss:.1} MB",
            full.graph.requests,
            full.graph.retries,
            full.graph.throttled,
            full_wall.as_secs_f64(),
            phases(&full_reports),
            items as f64 / full_wall.as_secs_f64(),
            writes(&full_reports),
            write_units(&full_reports)
        );
        reset_peak_rss();
        let (delta, delta_reports, delta_wall) = self.sync(false).await?;
        println!(
            "delta sync (whatever changed in the tenant meanwhile): Graph requests {}, throttled {}, wall {:.2} s ({}), DynamoDB records written {} in {} write units, peak RSS {:.1} MB",
            delta.graph.requests,
            delta.graph.throttled,
            delta_wall.as_secs_f64(),
            phases(&delta_reports),
            writes(&delta_reports),
            write_units(&delta_reports),
            peak_rss_mb()
        );
        println!(
            "  (left out against another Graph: the request floor, the 1 % change, lost items against the truth and the throttled run need the bench's simulator)"
        );
        Ok(())
    }

    /// A full sync into a fresh store with the simulator's RU budget below what the sync asks
    /// for, so Graph's 429s are met: a third of the full run's demand (`demand`, RU per 10 s),
    /// at most 10 % of Graph's tier, or `--ru-per-10s`; its summary, with the throttled answers
    /// and the time they cost against `unthrottled` (the full run's wall time).
    async fn throttled(
        &self,
        sim: &Value,
        demand: Option<u64>,
        unthrottled: Option<Duration>,
    ) -> Result<Value, BoxError> {
        let default = demand
            .map(|ru| (ru / 3).clamp(1, RU_TIER_LARGE / 10))
            .unwrap_or(RU_TIER_LARGE / 10);
        let budget = flag("--ru-per-10s", default as usize)? as u64;
        self.admin_send(
            reqwest::Method::PUT,
            &format!("tenants/{}/knobs", self.tenant),
            &json!({"ru_per_10s": budget}),
        )
        .await?;
        let (_moto, fresh) = Bench::start(sim).await?;
        let (throttled, throttled_reports, throttled_wall) = fresh.sync(false).await?;
        let truth = fresh.truth_sets().await?;
        let lost = fresh.lost_items(&truth).await?;
        // In a fresh store every live item was added once: more than the tenant has is extra.
        let counts = &throttled.counts;
        let extra = (counts
            .accounts
            .added
            .saturating_sub(counts.accounts.removed)
            + counts
                .memberships
                .added
                .saturating_sub(counts.memberships.removed))
        .saturating_sub((truth.accounts.len() + truth.memberships.len()) as u64);
        let lost_time = unthrottled.map(|wall| throttled_wall.saturating_sub(wall));
        println!(
            "full sync into a fresh store at {budget} RU per 10 s (Graph's tier: {RU_TIER_LARGE}; the unthrottled run asked for at least {} RU per 10 s)",
            demand.map_or("?".to_owned(), |ru| ru.to_string())
        );
        if let Some(lost) = lost_time {
            println!(
                "  {} throttled answers cost {:.1} s of wall time against the unthrottled full sync",
                throttled.graph.throttled,
                lost.as_secs_f64()
            );
        }
        println!(
            "  status {:?}, wall {:.1} s ({}), Graph requests {}, throttled {}, retries {}; lost items {lost}, extra items {extra}",
            throttled.status,
            throttled_wall.as_secs_f64(),
            phases(&throttled_reports),
            throttled.graph.requests,
            throttled.graph.throttled,
            throttled.graph.retries
        );
        Ok(
            json!({"ru_per_10s": budget, "status": throttled.status, "wall_s": throttled_wall.as_secs_f64(),
                  "requests": throttled.graph.requests, "throttled": throttled.graph.throttled,
                  "retries": throttled.graph.retries, "lost_items": lost, "extra_items": extra,
                  "time_lost_s": lost_time.map(|lost| lost.as_secs_f64())}),
        )
    }

    /// Requests a sync and delivers the queue's messages to the function until it has ended.
    async fn sync(&self, full: bool) -> Result<(SyncRun, Vec<Report>, Duration), BoxError> {
        let tenant = self
            .platform
            .tenant(&self.tenant)
            .await?
            .ok_or("tenant gone")?;
        let started = Instant::now();
        let run = sync::request_sync(&self.platform, &tenant, full, Utc::now()).await?;
        let key = lifecycle::sync_runs::run_key(&self.tenant, &run.id).ok_or("run key")?;
        let mut reports = Vec::new();
        loop {
            let messages = self
                .platform
                .queue
                .receive(&self.queue_url, 1, 1, 900)
                .await?;
            for message in messages {
                let event = json!({"Records": [{
                    "messageId": message.message_id, "receiptHandle": message.receipt_handle,
                    "body": message.body, "attributes": message.attributes, "messageAttributes": {},
                    "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync"}]});
                let (_, mut done) = self.app.handle_reporting(event).await?;
                reports.append(&mut done);
                self.platform
                    .queue
                    .delete(&self.queue_url, &message.receipt_handle)
                    .await?;
            }
            let record: SyncRun = self.platform.store.get(&key).await?.ok_or("run record")?;
            if record.status.is_finished() {
                return Ok((record, reports, started.elapsed()));
            }
        }
    }

    /// The simulator's modelled Graph time so far, by kind of request (ms).
    async fn modelled_ms(&self) -> Result<BTreeMap<String, u64>, BoxError> {
        modelled_ms(&self.http, &self.admin).await
    }

    async fn truth_json(&self, counts_only: bool) -> Result<Value, BoxError> {
        Ok(self
            .http
            .get(format!(
                "{}/tenants/{}/truth?counts_only={counts_only}",
                self.admin, self.tenant
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, BoxError> {
        Ok(self
            .http
            .request(method, format!("{}/{path}", self.admin))
            .json(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn truth_sets(&self) -> Result<Sets, BoxError> {
        let truth = self.truth_json(false).await?;
        let mut sets = Sets::default();
        for user in truth["users"].as_array().into_iter().flatten() {
            sets.accounts
                .insert(user["id"].as_str().unwrap_or_default().to_owned());
        }
        for group in truth["groups"].as_array().into_iter().flatten() {
            let id = group["id"].as_str().unwrap_or_default();
            for member in group["member_ids"].as_array().into_iter().flatten() {
                sets.memberships
                    .insert(format!("{id}#{}", member.as_str().unwrap_or_default()));
            }
        }
        Ok(sets)
    }

    /// The simulator's accounts and memberships missing from the store (or marked deleted),
    /// looked up by key 100 at a time (moto answers a Query or Scan by reading the whole table).
    async fn lost_items(&self, truth: &Sets) -> Result<usize, BoxError> {
        let store = &self.platform.store;
        let mut lost = 0;
        let accounts: Vec<_> = truth
            .accounts
            .iter()
            .filter_map(|id| AccountId::parse(id).ok())
            .map(|id| keys::account(&self.tenant, &id))
            .collect();
        for chunk in accounts.chunks(1_000) {
            let found = store.batch_get::<Account>(chunk).await?;
            lost += chunk.len() - found.iter().filter(|(_, a)| !a.deleted).count();
        }
        let memberships: Vec<_> = truth
            .memberships
            .iter()
            .filter_map(|pair| {
                let (group, account) = pair.split_once('#')?;
                Some(Membership {
                    group_id: GroupId::parse(group).ok()?,
                    account_id: AccountId::parse(account).ok()?,
                })
            })
            .collect();
        lost += memberships.len()
            - store
                .stored_memberships(&self.tenant, &memberships)
                .await?
                .len();
        Ok(lost)
    }
}

#[derive(Default)]
struct Digest {
    accounts: HashMap<u64, u64>,
    memberships: std::collections::HashSet<u64>,
    skus: HashMap<String, String>,
}

impl Digest {
    /// Per account a hash of its fields and SKUs, per membership a hash, per SKU its figures.
    fn of(truth: &graph_sim::Truth) -> Digest {
        let mut digest = Digest::default();
        for user in &truth.users {
            let mut skus = user.sku_ids.clone();
            skus.sort_unstable();
            let content = json!([
                user.user_principal_name,
                user.display_name,
                user.account_enabled,
                user.user_type,
                user.usage_location,
                user.on_premises_sync_enabled,
                skus
            ]);
            digest
                .accounts
                .insert(hash_str(&user.id), hash_str(&content.to_string()));
        }
        for group in &truth.groups {
            for member in &group.member_ids {
                digest
                    .memberships
                    .insert(hash_str(&format!("{}#{member}", group.id)));
            }
        }
        for sku in &truth.skus {
            digest.skus.insert(
                sku.sku_id.clone(),
                format!(
                    "{}/{}/{}/{}",
                    sku.enabled, sku.suspended, sku.warning, sku.consumed
                ),
            );
        }
        digest
    }

    /// Items that differ between two states of the tenant.
    fn changed_items(&self, after: &Digest) -> usize {
        let accounts = self
            .accounts
            .iter()
            .filter(|(id, content)| after.accounts.get(id) != Some(content))
            .count()
            + after
                .accounts
                .keys()
                .filter(|id| !self.accounts.contains_key(id))
                .count();
        let memberships = self
            .memberships
            .symmetric_difference(&after.memberships)
            .count();
        let skus = after
            .skus
            .iter()
            .filter(|(id, sku)| self.skus.get(*id) != Some(sku))
            .count();
        accounts + memberships + skus
    }
}

/// Live accounts and memberships (`{group}#{account}`).
#[derive(Default)]
struct Sets {
    accounts: BTreeSet<String>,
    memberships: BTreeSet<String>,
}

fn writes(reports: &[Report]) -> u64 {
    reports
        .iter()
        .map(|r| r.items_written + r.items_deleted)
        .sum()
}

/// DynamoDB write units of the directory's writes in `reports` (one per KB of each item).
fn write_units(reports: &[Report]) -> u64 {
    reports.iter().map(|r| r.write_units).sum()
}

fn membership_units(reports: &[Report]) -> u64 {
    reports.iter().map(|r| r.membership_write_units).sum()
}

/// Wall time per phase, summed over the run's invocations.
fn phases(reports: &[Report]) -> String {
    let mut totals: Vec<(&str, Duration)> = Vec::new();
    for (name, took) in reports.iter().flat_map(|r| r.phases.iter()) {
        match totals.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total += *took,
            None => totals.push((name, *took)),
        }
    }
    let parts: Vec<String> = totals
        .iter()
        .map(|(name, took)| format!("{name} {:.1} s", took.as_secs_f64()))
        .collect();
    format!("{} invocation(s): {}", reports.len(), parts.join(", "))
}

/// Peak resident set of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Starts a new peak-RSS measurement (Linux: `5` to /proc/self/clear_refs resets VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The table as infra/template.yaml makes it (the devstack's provisioning of that table).
async fn create_table(sdk: &aws_config::SdkConfig) -> Result<(), BoxError> {
    let template = devstack::Template::load(&devstack::template_path())?;
    devstack::provision::table(&template, sdk, TABLE).await?;
    Ok(())
}

/// The simulator's modelled Graph time so far, by kind of request (ms).
async fn modelled_ms(
    http: &reqwest::Client,
    admin: &str,
) -> Result<BTreeMap<String, u64>, BoxError> {
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(serde_json::from_value(stats["modelled_ms"].clone()).unwrap_or_default())
}

/// `--graph-only`: a full sync's Graph reads in the sync's shape, nothing stored (see the
/// module's note): the wall time the pipeline reaches when the store keeps up.
async fn graph_only(sim: &Value) -> Result<(), BoxError> {
    use futures::TryStreamExt as _;
    let text = |key: &str| {
        sim[key]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("simulator: no {key}"))
    };
    let client = graph::GraphClient::new(graph::GraphConfig::new(
        &text("graph_base_url")?,
        &text("login_base_url")?,
    )?)?;
    let tenant = client.tenant(
        text("tenant_id")?,
        graph::AppCredential::new(
            text("client_id")?,
            graph::SecretString::from(text("client_secret")?),
        ),
    );
    let http = reqwest::Client::new();
    let admin = text("admin_url")?;
    let before = modelled_ms(&http, &admin).await?;
    reset_peak_rss();
    let started = Instant::now();
    let users = async {
        tenant.granted_roles().await?;
        // The sync notes an unreadable report and goes on; so does this.
        let _ = tenant.mailbox_usage(graph::MailboxUsagePeriod::D7).await;
        let mut changes = 0;
        let mut pages = std::pin::pin!(tenant.users_delta_pages(None));
        while let Some(page) = pages.try_next().await? {
            changes += page.changes.len();
        }
        Ok::<_, graph::GraphError>(changes)
    };
    let groups = async {
        let mut changes = 0;
        let mut pages = std::pin::pin!(tenant.groups_delta_pages(None));
        while let Some(page) = pages.try_next().await? {
            for change in &page.changes {
                changes += match change {
                    graph::GroupChange::Upserted { members, .. } => 1 + members.len(),
                    graph::GroupChange::Removed { .. } => 1,
                };
            }
        }
        Ok::<_, graph::GraphError>(changes)
    };
    let singles = async {
        tenant.organization().await?;
        let skus: Vec<_> = tenant.subscribed_skus().try_collect().await?;
        Ok::<_, graph::GraphError>(skus.len())
    };
    let (users, groups, _) = futures::try_join!(users, groups, singles)?;
    let wall = started.elapsed();
    let rss = peak_rss_mb();
    let modelled = modelled_since(&before, &modelled_ms(&http, &admin).await?);
    println!(
        "Graph side alone (--graph-only: a full sync's reads, nothing stored; not a sync): \
         {users} user changes, {groups} groups and member changes, {} Graph requests, \
         wall {:.1} s, peak RSS {rss:.1} MB",
        tenant.metrics().requests,
        wall.as_secs_f64()
    );
    print_critical_path(&modelled, wall);
    Ok(())
}

/// The modelled time of each kind of request between two readings of the simulator's stats.
fn modelled_since(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(kind, ms)| (kind.clone(), ms - before.get(kind).copied().unwrap_or(0)))
        .filter(|(_, ms)| *ms > 0)
        .collect()
}

/// Prints where the full sync's Graph time went and its critical path: the chains whose requests
/// depend on each other (users delta, groups delta) each run one
/// request after another; the single reads (organization, SKUs, report, token) need not wait
/// for anything. The critical path is the longest of them; the wall time against it is what
/// running the independent work concurrently could still save.
fn print_critical_path(modelled: &BTreeMap<String, u64>, wall: Duration) {
    let chains = ["GET /users/delta", "GET /users", "GET /groups/delta"];
    let ms = |kind: &str| modelled.get(kind).copied().unwrap_or(0);
    let longest_chain = chains.iter().map(|kind| ms(kind)).max().unwrap_or(0);
    let singles = modelled
        .iter()
        .filter(|(kind, _)| !chains.contains(&kind.as_str()))
        .map(|(_, ms)| *ms)
        .max()
        .unwrap_or(0);
    let critical = Duration::from_millis(longest_chain.max(singles));
    let total: u64 = modelled.values().sum();
    println!("  Graph time modelled (graph_sim::LatencyModel::graph), by kind of request:");
    for (kind, ms) in modelled {
        println!("    {kind:<24} {:>8.1} s", *ms as f64 / 1_000.0);
    }
    println!(
        "  sum {:.1} s; critical path {:.1} s (the longest chain); wall {:.1} s = {:.2} x the critical path",
        total as f64 / 1_000.0,
        critical.as_secs_f64(),
        wall.as_secs_f64(),
        wall.as_secs_f64() / critical.as_secs_f64().max(0.001)
    );
}
