//! A real browser through the consent flow: headless Chromium opens the start link `/connect`
//! answered on the local stack (which sets the `__Host-` flow cookie), follows the redirect to the
//! simulator's consent page, whose Accept button is pressed (the simulator's
//! `auto_accept_consent` knob makes the page click it, since a headless
//! `--dump-dom`/`--screenshot` run cannot), posts the form, follows Entra's redirect to
//! `/oauth/callback`, which sends it to the sign-in page (submitted by the same knob, as the
//! tenant's Global Administrator), back to `/oauth/callback` with the cookie, and renders the
//! result page. The test reads the final DOM and saves a
//! screenshot under target/browser/ for a person to look at.
//!
//! Chromium is the Debian package `chromium` (`make test` installs it when missing); without it
//! this test fails, it never skips. `CHROMIUM` overrides the executable.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use devstack::{GraphSource, Stack, StackOptions, Template, template_path, workspace_root};
use graph_sim::SimConfig;

/// How long one Chromium run may take (a cold start on a loaded 2-core machine takes seconds).
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium not found on PATH: install the Debian package (`apt-get install -y chromium`; \
             `make test` does it) or set CHROMIUM"
        )
    })
}

/// Runs headless Chromium on `url` with `output` (`--dump-dom` or `--screenshot=...`) and
/// returns its standard output.
async fn run_chromium(url: &str, output: &str, profile: &Path) -> String {
    let child = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1100,900",
            // Virtual time lets the page's own navigations (the consent form post, the
            // redirects) finish before the DOM is dumped or the screenshot taken.
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(output)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", chromium().display()));
    let finished = tokio::time::timeout(CHROMIUM_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {CHROMIUM_TIMEOUT:?}"))
        .expect("chromium output");
    assert!(
        finished.status.success(),
        "chromium failed ({}): {}",
        finished.status,
        String::from_utf8_lossy(&finished.stderr)
    );
    String::from_utf8_lossy(&finished.stdout).into_owned()
}

#[tokio::test]
async fn given_a_browser_when_it_follows_connect_through_the_consent_page_then_the_result_page_shows_the_tenant_connected()
 {
    // GIVEN the local stack, a tenant the consent page signs in to, and its Accept pressed for us
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let stack = Stack::start(StackOptions::new(
        template,
        GraphSource::Simulator(SimConfig::demo()),
    ))
    .await
    .expect("the stack starts");
    let sim = stack.sim().expect("the simulator runs in the stack");
    let tenant = sim.tenants()[1].clone();
    sim.set_signed_in_tenant(&tenant.tenant_id)
        .expect("signed-in tenant");
    sim.update_knobs(&tenant.tenant_id, |knobs| knobs.auto_accept_consent = true)
        .expect("auto-accept");
    let return_to = format!("{}/health", stack.api_url());
    // The platform (with its bearer token) asks for a start link; the browser only follows it.
    let api = e2e::api_client(&stack, "demo");
    let connect_url = || async {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/connect", stack.api_url()),
            [("mode", "write"), ("return_to", &return_to)],
        )
        .expect("connect URL");
        let answer: serde_json::Value = api
            .get(url)
            .send()
            .await
            .expect("GET /connect")
            .json()
            .await
            .expect("JSON");
        answer["start_url"].as_str().expect("start_url").to_owned()
    };
    let connect = connect_url().await;
    let dir = workspace_root().join("target").join("browser");
    std::fs::create_dir_all(&dir).expect("target/browser");
    let profile = std::env::temp_dir().join(format!("m365-browser-test-{}", std::process::id()));

    // WHEN Chromium opens the start link (which sets its flow cookie), is sent through consent
    // and the tenant administrator's sign-in, and the DOM it ends on is read
    let dom = run_chromium(&connect, "--dump-dom", &profile).await;

    // THEN it ended on our result page, which names the tenant and links back to return_to
    assert!(
        dom.contains(&format!("<h1>{} is connected</h1>", tenant.display_name)),
        "the browser did not end on the success page:\n{dom}"
    );
    assert!(dom.contains("read/write"), "{dom}");
    assert!(
        dom.contains("<dd>demo</dd>"),
        "the organization is named: {dom}"
    );
    assert!(dom.contains("Global Administrator"), "who signed in: {dom}");
    assert!(
        dom.contains(&format!("href=\"{return_to}\"")),
        "link back: {dom}"
    );
    let api_view: serde_json::Value = api
        .get(format!("{}/tenants/{}", stack.api_url(), tenant.tenant_id))
        .send()
        .await
        .expect("GET /tenants/{id}")
        .json()
        .await
        .expect("JSON");
    assert_eq!(api_view["status"]["state"], "connected");

    // WHEN the flow is walked once more for a screenshot of the result page
    let screenshot = dir.join("connect-result.png");
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &connect_url().await,
        &format!("--screenshot={}", screenshot.display()),
        &profile,
    )
    .await;

    // THEN a PNG is saved for a person to look at
    let png = std::fs::read(&screenshot).expect("the screenshot is written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(png.len() > 10_000, "a rendered page, not a blank one");
    println!("screenshot: {}", screenshot.display());
    let _ = std::fs::remove_dir_all(&profile);
    stack.shutdown().await;
}
