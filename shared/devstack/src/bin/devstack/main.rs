//! `devstack up`: the whole system on this machine until Ctrl-C.
//! `devstack demo`: the same stack, walked through everything the system can do today.
//! `devstack token --org ORG [--scope "SCOPES"]`: a bearer token for the running stack's API, for
//! organization ORG, with every scope or only the given ones.
//! `devstack iam-coverage FILE`: which actions of each function's policy a test run used.

mod choices;
mod connect;
mod demo;
mod groups;
mod mover;
mod offboard;
mod passwordless;
mod scheduled;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use devstack::{GraphSource, Stack, StackOptions, Template, template_path, workspace_root};
use serde_json::json;

const USAGE: &str = "\
usage: devstack up [--port PORT] [--time-scale N]
       devstack demo
       devstack token --org ORG [--scope \"SCOPES\"]
       devstack iam-coverage FILE

  up      start moto, the Graph simulator (unless GRAPH_BASE_URL and LOGIN_BASE_URL are set) and
          every function of infra/template.yaml behind a local HTTP API; stay up until Ctrl-C
  demo    start the same stack, walk through each capability, exit
  token   print a bearer token of the running stack (`devstack up`) for platform organization
          ORG; every API route but /health, /openapi.json, /connect/start and /oauth/callback needs one.
          It holds every scope (lifecycle.read lifecycle.write tenants.admin) unless --scope
          names some, space-separated (\"\" for none)

  iam-coverage  compare the actions each function used in a test run (FILE, written when the
          tests run with LOCAL_AWS_IAM_LOG=FILE) with its policy in infra/template.yaml; fails
          when a granted action was used by no test

  --port PORT        port of the local HTTP API on 127.0.0.1 (default 3000; 0 = any free port)
  --time-scale N     schedules run N times faster (default 1; 60 turns an hour into a minute)";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The demo tells its own story; the functions' logs show only warnings unless RUST_LOG says.
    match args.first().map(String::as_str) {
        Some("demo") => lifecycle::telemetry::init_with_default("warn"),
        _ => lifecycle::telemetry::init(),
    }
    let result = match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]).await,
        Some("demo") => demo::run().await,
        Some("token") => token(&args[1..]).await,
        Some("iam-coverage") => iam_coverage(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devstack: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct UpArgs {
    port: u16,
    time_scale: f64,
}

fn parse_up(args: &[String]) -> anyhow::Result<UpArgs> {
    let mut parsed = UpArgs {
        port: 3000,
        time_scale: 1.0,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        match flag.as_str() {
            "--port" => {
                parsed.port = value
                    .parse()
                    .with_context(|| format!("--port {value:?} is not a port number"))?
            }
            "--time-scale" => {
                parsed.time_scale = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .with_context(|| format!("--time-scale {value:?} is not a positive number"))?
            }
            other => bail!("unknown option {other}\n\n{USAGE}"),
        }
    }
    Ok(parsed)
}

/// The organization `devstack up` prints a token for.
const UP_ORG: &str = "demo";

/// `devstack token --org ORG`: asks the running stack (its URL from the state file) to sign a
/// token; the signing key never leaves that process.
async fn token(args: &[String]) -> anyhow::Result<()> {
    let (org, scope) = match args {
        [flag, org] if flag == "--org" => (org, None),
        [flag, org, scope_flag, scope] if flag == "--org" && scope_flag == "--scope" => {
            (org, Some(scope))
        }
        _ => bail!("devstack token needs --org ORG [--scope \"SCOPES\"]\n\n{USAGE}"),
    };
    let state_file = state_file();
    let state: serde_json::Value = std::fs::read_to_string(&state_file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .with_context(|| {
            format!(
                "no running stack: {} is missing (start one with `make up`)",
                state_file.display()
            )
        })?;
    let api = state["api_url"]
        .as_str()
        .context("the state file names no api_url")?;
    let answer = reqwest::Client::new()
        .post(format!("{api}/_devstack/tokens"))
        .json(&match scope {
            Some(scope) => json!({"org_id": org, "scope": scope}),
            None => json!({"org_id": org}),
        })
        .send()
        .await
        .with_context(|| format!("asking {api} for a token (is `make up` still running?)"))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.context("the answer is not JSON")?;
    match body["token"].as_str() {
        Some(token) if status.is_success() => {
            println!("{token}");
            Ok(())
        }
        _ => bail!("the stack refused: {status} {body}"),
    }
}

/// Starts the stack from the real template, the Graph from the environment (else the simulator).
pub(crate) async fn start(port: u16, time_scale: f64) -> anyhow::Result<Stack> {
    let path = template_path();
    let template = Template::load(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut options = StackOptions::new(template, GraphSource::from_env());
    options.api_port = port;
    options.time_scale = time_scale;
    Stack::start(options).await.context("starting the stack")
}

async fn up(args: &[String]) -> anyhow::Result<()> {
    let args = parse_up(args)?;
    println!("starting moto, the Graph simulator and the functions of infra/template.yaml ...");
    let stack = start(args.port, args.time_scale)
        .await
        .with_context(|| format!("(is port {} taken? try `devstack up --port 0`)", args.port))?;
    print_stack(&stack, args.time_scale);
    let state_file = state_file();
    write_state(&stack, &state_file)?;
    println!("\nURLs written to {}", state_file.display());
    println!("up; Ctrl-C stops everything");

    wait_for_shutdown_signal().await;
    println!("\nstopping ...");
    let _ = std::fs::remove_file(&state_file);
    tokio::time::timeout(Duration::from_secs(10), stack.shutdown())
        .await
        .ok();
    println!("stopped");
    Ok(())
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn print_stack(stack: &Stack, time_scale: f64) {
    let api = stack.api_url();
    println!("\nm365-lifecycle devstack");
    println!("  HTTP API        {api}");
    println!(
        "  AWS (moto)      {}   (AWS_ENDPOINT_URL for the aws CLI / SDK)",
        stack.moto_endpoint()
    );
    println!("  Graph           {}", stack.graph_base_url());
    println!("  Login           {}", stack.login_base_url());
    if let Some(sim) = stack.sim() {
        println!("  Simulator admin {}", sim.admin_url());
    }
    println!("  Table           {}", stack.config().table_name);

    println!("\nauthentication (the template's JWT authorizer; the devstack is the issuer)");
    println!(
        "  every route but GET /health, GET /openapi.json, GET /connect/start and GET /oauth/callback needs a bearer token"
    );
    println!("  token for org {UP_ORG} (valid 12 h; `make token ORG=...` for another):");
    println!("  export TOKEN={}", stack.token(UP_ORG));
    println!("  curl -H \"Authorization: Bearer $TOKEN\" {api}/tenants");

    println!("\nroutes");
    for route in stack.routes() {
        println!("  {:<40} -> {}", route.route_key, route.function);
    }
    println!("\nqueues");
    for (logical_id, url) in stack.provisioned().queue_urls() {
        println!("  {logical_id:<32} {url}");
    }
    let scheduled: Vec<&str> = stack
        .functions()
        .iter()
        .filter(|f| {
            f.spec
                .events
                .iter()
                .any(|e| matches!(e.source, devstack::template::EventSource::Schedule { .. }))
        })
        .map(|f| f.spec.logical_id.as_str())
        .collect();
    if !scheduled.is_empty() {
        println!("\nschedules (time scale x{time_scale}); fire one now with");
        for function in scheduled {
            println!("  curl -X POST {api}/_devstack/schedules/{function}/fire");
        }
    }
    let missing: Vec<String> = stack
        .functions()
        .iter()
        .filter(|f| f.handler.is_none())
        .map(|f| format!("{} ({})", f.spec.logical_id, f.code_key))
        .collect();
    if !missing.is_empty() {
        println!("\nnot landed yet (in the template, no handler registered)");
        for function in missing {
            println!("  {function}");
        }
    }

    if let Some(sim) = stack.sim() {
        let platform = sim.platform_app();
        println!("\nplatform app (multi-tenant, consented through the admin-consent flow)");
        println!("  client id       {}", platform.client_id);
        println!("  client secret   (seeded into Secrets Manager as PLATFORM_APP_SECRET_ID)");
        println!("\nsimulated tenants (demo data; these credentials exist only in the simulator)");
        for tenant in sim.tenants() {
            println!(
                "  {}  tenant {}  domain {}  {} users, {} groups, Entra ID P1: {}",
                tenant.display_name,
                tenant.tenant_id,
                tenant.default_domain,
                tenant.users,
                tenant.groups,
                if tenant.has_p1 { "yes" } else { "no" }
            );
            println!(
                "      own app registration: client id {}  client secret {}",
                tenant.own_app.client_id, tenant.own_app.client_secret
            );
            if !tenant.customers.is_empty() {
                println!("      GDAP partner of {}", tenant.customers.join(", "));
            }
        }
    }
}

/// target/devstack.json (or under CARGO_TARGET_DIR).
fn state_file() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("devstack.json")
}

fn write_state(stack: &Stack, path: &PathBuf) -> anyhow::Result<()> {
    let state = json!({
        "pid": std::process::id(),
        "api_url": stack.api_url(),
        "moto_endpoint": stack.moto_endpoint(),
        "graph_base_url": stack.graph_base_url(),
        "login_base_url": stack.login_base_url(),
        "sim_admin_url": stack.sim().map(|s| s.admin_url()),
        "table_name": stack.config().table_name,
        "queues": stack.provisioned().queue_urls(),
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&state).context("encoding the state file")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `devstack iam-coverage FILE`: each function's policy against the actions its tests used.
fn iam_coverage(args: &[String]) -> anyhow::Result<()> {
    let [file] = args else {
        bail!("iam-coverage needs the file the tests wrote (LOCAL_AWS_IAM_LOG)\n\n{USAGE}");
    };
    let log = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let template = Template::load(&template_path())?;
    let report = devstack::iam_coverage::coverage(&template, &log);
    let mut unused = 0;
    for function in &report {
        println!(
            "{:<24} {:>2} of {:>2} granted actions used{}",
            function.function,
            function.used.len(),
            function.used.len() + function.unused.len(),
            if function.unused.is_empty() {
                String::new()
            } else {
                format!("; never used: {}", function.unused.join(", "))
            }
        );
        unused += function.unused.len();
    }
    if unused > 0 {
        bail!(
            "{unused} granted action(s) were used by no test: drop them from the policy or test the code that needs them"
        );
    }
    Ok(())
}
