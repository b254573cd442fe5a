//! `graph-sim --port P --seed S --users N --groups G [--demo]`: runs the simulator and prints
//! one JSON line with its URLs, tenants and platform app when ready.

use std::process::ExitCode;

use graph_sim::{SimConfig, TenantSpec};

fn usage() -> ExitCode {
    eprintln!(
        "usage: graph-sim [--port P] [--seed S] [--users N] [--groups G] [--no-p1] [--demo] [--latency graph]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut port: u16 = 0;
    let mut seed: u64 = 42;
    let mut users: usize = 1000;
    let mut groups: usize = 50;
    let mut demo = false;
    let mut p1 = true;
    let mut latency = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Option<u64> {
            let v = args.next()?;
            match v.parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    eprintln!("{name} expects a number, got {v:?}");
                    None
                }
            }
        };
        match a.as_str() {
            "--port" => match num("--port").and_then(|n| u16::try_from(n).ok()) {
                Some(n) => port = n,
                None => return usage(),
            },
            "--seed" => match num("--seed") {
                Some(n) => seed = n,
                None => return usage(),
            },
            "--users" => match num("--users") {
                Some(n) => users = n as usize,
                None => return usage(),
            },
            "--groups" => match num("--groups") {
                Some(n) => groups = n as usize,
                None => return usage(),
            },
            "--demo" => demo = true,
            "--no-p1" => p1 = false,
            // Graph's response time, modelled (graph_sim::LatencyModel::graph), for every tenant.
            "--latency" => match args.next().as_deref() {
                Some("graph") => latency = true,
                _ => return usage(),
            },
            _ => return usage(),
        }
    }
    let mut config = if demo {
        SimConfig::demo()
    } else {
        let mut spec = TenantSpec::new(users, groups);
        spec.has_p1 = p1;
        SimConfig {
            seed,
            port,
            tenants: vec![spec],
        }
    };
    config.port = port;
    config.seed = seed;
    let sim = match graph_sim::spawn(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("graph-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if latency {
        for tenant in sim.tenants() {
            let model = Some(graph_sim::LatencyModel::graph());
            if let Err(error) = sim.update_knobs(&tenant.tenant_id, |knobs| knobs.latency = model) {
                eprintln!("graph-sim: cannot set the latency model: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let ready = serde_json::json!({
        "login_base_url": sim.login_base_url(),
        "graph_base_url": sim.graph_base_url(),
        "admin_url": sim.admin_url(),
        "tenants": sim.tenants(),
        "platform_app": sim.platform_app(),
        "platform_read_app": sim.platform_read_app(),
    });
    println!("{ready}");
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}
