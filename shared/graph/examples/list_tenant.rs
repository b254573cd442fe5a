//! Lists every user and every group with its members, and prints what it cost: the Graph client
//! benchmark (`make bench` runs it against the simulator and adds CPU time and peak RSS).
//!
//! ```text
//! cargo run --release -p graph --example list_tenant -- \
//!     --graph-base-url http://127.0.0.1:PORT/v1.0 --login-base-url http://127.0.0.1:PORT \
//!     --tenant-id TID --client-id CID --client-secret SECRET [--concurrency 8]
//! ```
//! Each flag falls back to its environment variable: GRAPH_BASE_URL, LOGIN_BASE_URL, TENANT_ID,
//! CLIENT_ID, CLIENT_SECRET, LIST_CONCURRENCY; `--only users|groups` lists one half. Items are counted and dropped page by page; nothing
//! is kept. The last line of stdout is one JSON object with the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::process::ExitCode;
use std::time::Instant;

use futures::{StreamExt as _, TryStreamExt as _};
use graph::{AppCredential, GraphClient, GraphConfig, GraphError, SecretString, TenantGraph};

struct Args {
    graph_base_url: String,
    login_base_url: String,
    tenant_id: String,
    client_id: String,
    client_secret: SecretString,
    concurrency: usize,
    /// `users`, `groups` or both (the default).
    only: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut flags = std::collections::HashMap::new();
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let Some(name) = flag.strip_prefix("--") else {
            return Err(format!("unexpected argument {flag:?}"));
        };
        let value = argv
            .next()
            .ok_or_else(|| format!("--{name} needs a value"))?;
        flags.insert(name.to_owned(), value);
    }
    let get = |flag: &str, env: &str| -> Result<String, String> {
        flags
            .get(flag)
            .cloned()
            .or_else(|| std::env::var(env).ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("missing --{flag} (or {env})"))
    };
    let concurrency = get("concurrency", "LIST_CONCURRENCY")
        .ok()
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| format!("--concurrency expects a number, got {v:?}"))
        })
        .transpose()?
        .unwrap_or(8)
        .max(1);
    Ok(Args {
        graph_base_url: get("graph-base-url", "GRAPH_BASE_URL")?,
        login_base_url: get("login-base-url", "LOGIN_BASE_URL")?,
        tenant_id: get("tenant-id", "TENANT_ID")?,
        client_id: get("client-id", "CLIENT_ID")?,
        client_secret: SecretString::from(get("client-secret", "CLIENT_SECRET")?),
        concurrency,
        only: flags.get("only").cloned(),
    })
}

/// Counts the users, page by page.
async fn count_users(graph: &TenantGraph) -> Result<u64, GraphError> {
    graph
        .user_pages(None)
        .try_fold(
            0u64,
            |n, page| async move { Ok(n + page.items.len() as u64) },
        )
        .await
}

/// Counts the groups and their memberships, listing `concurrency` groups' members at a time.
async fn count_groups(graph: &TenantGraph, concurrency: usize) -> Result<(u64, u64), GraphError> {
    let mut groups = 0u64;
    let mut memberships = 0u64;
    let mut pages = std::pin::pin!(graph.group_pages(None));
    while let Some(page) = pages.try_next().await? {
        groups += page.items.len() as u64;
        let counts = futures::stream::iter(page.items.into_iter().map(|group| {
            let graph = graph.clone();
            async move {
                graph
                    .group_member_pages(&group.id, None)
                    .try_fold(
                        0u64,
                        |n, page| async move { Ok(n + page.items.len() as u64) },
                    )
                    .await
            }
        }))
        .buffer_unordered(concurrency)
        .try_fold(0u64, |total, n| async move { Ok(total + n) })
        .await?;
        memberships += counts;
    }
    Ok((groups, memberships))
}

/// This process's CPU seconds and peak RSS in KiB, from /proc (Linux; `None` elsewhere).
fn own_usage() -> (Option<f64>, Option<u64>) {
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) start at ") ".
            let rest = stat.rsplit_once(") ")?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            // USER_HZ is 100 on Linux.
            Some(ticks as f64 / 100.0)
        });
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        });
    (cpu, peak)
}

async fn run(args: Args) -> Result<(), String> {
    let config =
        GraphConfig::new(&args.graph_base_url, &args.login_base_url).map_err(|e| e.to_string())?;
    let client = GraphClient::new(config).map_err(|e| e.to_string())?;
    let graph = client.tenant(
        args.tenant_id,
        AppCredential::new(args.client_id, args.client_secret),
    );

    let started = Instant::now();
    let only = args.only.as_deref();
    let users = match only {
        Some("groups") => 0,
        _ => count_users(&graph).await.map_err(|e| e.to_string())?,
    };
    let users_wall = started.elapsed().as_secs_f64();
    let (groups, memberships) = match only {
        Some("users") => (0, 0),
        _ => count_groups(&graph, args.concurrency)
            .await
            .map_err(|e| e.to_string())?,
    };
    let wall = started.elapsed().as_secs_f64();

    let metrics = graph.metrics();
    let items = users + groups + memberships;
    let (cpu, peak_kib) = own_usage();
    println!("users            {users}  ({users_wall:.2} s)");
    println!("groups           {groups}");
    println!("memberships      {memberships}");
    println!(
        "requests         {}  (+{} token)",
        metrics.requests, metrics.token_requests
    );
    println!(
        "retries          {}  (throttled {})",
        metrics.retries, metrics.throttled
    );
    println!("resource units   {}", metrics.resource_units);
    println!("wall time        {wall:.2} s");
    println!(
        "items/s          {:.0}",
        items as f64 / wall.max(f64::EPSILON)
    );
    if let (Some(cpu), Some(peak)) = (cpu, peak_kib) {
        println!("cpu (self)       {cpu:.2} s");
        println!("peak rss (self)  {:.1} MiB", peak as f64 / 1024.0);
    }
    let figures = serde_json::json!({
        "users": users, "groups": groups, "memberships": memberships,
        "requests": metrics.requests, "token_requests": metrics.token_requests,
        "retries": metrics.retries, "throttled": metrics.throttled,
        "resource_units": metrics.resource_units,
        "wall_s": wall, "items_per_s": items as f64 / wall.max(f64::EPSILON),
        "cpu_s": cpu, "peak_rss_kib": peak_kib,
    });
    println!("{figures}");
    Ok(())
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("list_tenant: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: the work is parsing pages one after another; no cross-thread hand-offs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("list_tenant: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("list_tenant: {e}");
            ExitCode::FAILURE
        }
    }
}
