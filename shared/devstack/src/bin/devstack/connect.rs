//! The demo's connection step: a tenant connected through admin consent as an administrator's
//! browser would (the start link, Entra's consent and sign-in on the simulator, the callback).

use anyhow::Context;
use futures::future::BoxFuture;

use serde_json::Value;

use crate::demo::{DEMO_ORG, Demo, Outcome, get_json};

pub(crate) fn connect(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo
            .state
            .lock()
            .ok()
            .and_then(|state| state.tenant_id.clone())
            .context("no simulated tenant to connect (an external Graph is in use)")?;
        // The platform asks for a start link with its token (the organization is the token's);
        // then the admin's browser, which has no token, goes one hop at a time: the start link
        // (which sets the flow cookie), the consent page, Accept, the callback, the sign-in page
        // (the tenant's Global Administrator), the callback again.
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let api = demo.stack.api_url();
        let admin = demo
            .stack
            .sim()
            .and_then(|sim| sim.tenants().into_iter().find(|t| t.tenant_id == tenant_id))
            .map(|t| format!("admin@{}", t.initial_domain))
            .context("the tenant is not a simulated one")?;
        let (start_status, start) = get_json(demo, "/connect?mode=write").await?;
        let start_url = start["start_url"].as_str().with_context(|| {
            format!("GET /connect answered {start_status} without start_url: {start}")
        })?;
        let opened = browser.get(start_url).send().await?;
        let cookie = opened
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .context("the start link set no flow cookie")?
            .to_owned();
        let consent = location(&opened).context("the start link did not redirect to consent")?;
        let consent_url = url::Url::parse(&consent)?;
        let page = browser.get(consent_url.clone()).send().await?;
        if !page.status().is_success() {
            anyhow::bail!("the consent page answered {}", page.status());
        }
        let accepted = submit(
            &browser,
            &consent_url,
            &[("tenant", tenant_id.as_str()), ("decision", "accept")],
        )
        .await?;
        let callback = location(&accepted).context("Accept did not redirect back")?;
        let to_sign_in = browser
            .get(&callback)
            .header("cookie", &cookie)
            .send()
            .await?;
        let authorize = location(&to_sign_in).context("consent did not lead to the sign-in")?;
        let authorize_url = url::Url::parse(&authorize)?;
        let signed_in = submit(&browser, &authorize_url, &[("username", admin.as_str())]).await?;
        let callback = location(&signed_in).context("the sign-in did not redirect back")?;
        let result = browser
            .get(&callback)
            .header("cookie", &cookie)
            .send()
            .await?;
        let status = result.status().as_u16();
        let html = result.text().await?;
        let title = html
            .split("<h1>")
            .nth(1)
            .and_then(|rest| rest.split("</h1>").next())
            .unwrap_or_default()
            .to_owned();
        if status != 200 {
            anyhow::bail!("the callback answered {status}: {title}");
        }
        let (_, tenant) = get_json(demo, &format!("/tenants/{tenant_id}")).await?;
        let tested = demo
            .http
            .post(format!("{api}/tenants/{tenant_id}/test"))
            .send()
            .await?
            .json::<Value>()
            .await?;
        let granted = tested["report"]["permissions"]
            .as_array()
            .map_or(0, |lines| {
                lines.iter().filter(|l| l["status"] == "granted").count()
            });
        let asked = tested["report"]["permissions"]
            .as_array()
            .map_or(0, Vec::len);
        Ok(Outcome::Done(vec![
            format!(
                "GET /connect?mode=write (bearer token of org {DEMO_ORG}) -> {start_status}, start_url /connect/start"
            ),
            format!(
                "start link -> {} flow cookie __Host-m365-connect, to {}",
                opened.status().as_u16(),
                consent_url.path()
            ),
            format!(
                "admin consent page -> Accept -> {} back to /oauth/callback -> {} to sign in",
                accepted.status().as_u16(),
                to_sign_in.status().as_u16()
            ),
            format!(
                "sign-in as {admin} (Global Administrator) -> {} back to /oauth/callback",
                signed_in.status().as_u16()
            ),
            format!(
                "callback (ID token checked: signature, issuer, audience, nonce, tenant, role) -> {status}: \"{title}\""
            ),
            format!(
                "GET /tenants/{tenant_id} -> {} ({}), domains {}",
                tenant["status"]["state"].as_str().unwrap_or("?"),
                tenant["mode"].as_str().unwrap_or("?"),
                tenant["verified_domains"]
            ),
            format!(
                "POST /tenants/{tenant_id}/test -> ok {}, {granted}/{asked} permissions granted, Entra ID P1: {}",
                tested["ok"], tested["report"]["entra_id_p1"]["available"]
            ),
            format!(
                "first sync queued: run {}",
                tenant["last_sync"]["sync_run_id"].as_str().unwrap_or("?")
            ),
        ]))
    })
}

/// The `Location` of a redirect.
/// Submits the form of the page at `page` as its button does: the page's query parameters and
/// `fields`, posted to the page's own path.
async fn submit(
    browser: &reqwest::Client,
    page: &url::Url,
    fields: &[(&str, &str)],
) -> reqwest::Result<reqwest::Response> {
    let mut form: Vec<(String, String)> = page.query_pairs().into_owned().collect();
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    browser
        .post(format!(
            "{}{}",
            page.origin().ascii_serialization(),
            page.path()
        ))
        .form(&form)
        .send()
        .await
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}
