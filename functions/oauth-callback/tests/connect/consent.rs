//! Admin consent: the redirect round trip, every bad state, denied consent, reinstall.

use chrono::{Duration, Utc};
use futures::TryStreamExt as _;
use lifecycle::model::{
    Account, ConnectionMode, ConnectionStatus, JobKind, LastSignIn, SyncRun, SyncRunStatus,
    TenantAuth, TenantIndexEntry,
};
use lifecycle::store::keys;
use lifecycle::{AccountId, OrgId, TenantId, Upn};
use oauth_callback::state::{StateClaims, StateSigner};
use secrecy::SecretString;

use crate::support::{Harness, PUBLIC_BASE_URL, Request, STATE_KEY};

fn query_value(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {name} in {pairs:?}"))
}

fn signer() -> StateSigner {
    StateSigner::new(SecretString::from(STATE_KEY.to_owned())).expect("key")
}

#[tokio::test]
async fn given_read_mode_when_the_admin_accepts_then_the_tenant_is_recorded_and_its_first_sync_queued()
 {
    // GIVEN the stack and a customer tenant with P1
    let h = Harness::start().await;
    let tenant = h.tenant(1);

    // WHEN /connect starts read-only consent
    let start = h
        .call(
            "GET /connect",
            Request::default().query(&[
                ("mode", "read"),
                ("return_to", "https://app.example.com/settings/tenants"),
            ]),
        )
        .await;

    // THEN it answers a start link on the API's own origin
    assert_eq!(start.status(), 200, "{}", start.text());
    assert!(
        start
            .location()
            .starts_with(&format!("{PUBLIC_BASE_URL}/connect/start?flow=")),
        "{}",
        start.text()
    );

    // WHEN the admin's browser opens it
    let opened = h.open_start_link_answer(&start.location()).await;

    // THEN it sets the flow cookie (__Host-, Secure, HttpOnly, SameSite=Lax, Path=/) and
    // redirects to Entra's admin consent URL for the read-only app, with the registered
    // redirect URI and a state bound to the caller's organization (from its token) and the cookie
    assert_eq!(opened.status(), 302, "{}", opened.text());
    let cookie = opened.0.cookies.first().expect("a cookie").clone();
    assert!(cookie.starts_with("__Host-m365-connect="), "{cookie}");
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert_eq!(opened.0.headers["cache-control"], "no-store");
    let location = url::Url::parse(&opened.location()).expect("absolute URL");
    assert_eq!(
        location.as_str().split('?').next(),
        Some(
            format!(
                "{}/organizations/v2.0/adminconsent",
                h.sim().login_base_url()
            )
            .as_str()
        )
    );
    let params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert_eq!(
        query_value(&params, "client_id"),
        h.sim().platform_read_app().client_id
    );
    assert_eq!(
        query_value(&params, "scope"),
        "https://graph.microsoft.com/.default"
    );
    assert_eq!(
        query_value(&params, "redirect_uri"),
        format!("{PUBLIC_BASE_URL}/oauth/callback")
    );
    let state = query_value(&params, "state");
    let claims = signer()
        .verify(&state, Utc::now())
        .expect("a state we signed");
    assert_eq!(claims.org_id.as_str(), "acme");
    assert_eq!(claims.mode, ConnectionMode::Read);
    assert!(claims.browser.is_some());
    assert!(h.state_item_exists(&claims.nonce).await);

    // WHEN the admin accepts on the consent page and the browser comes back
    let back = h
        .consent_round_trip(
            &[
                ("mode", "read"),
                ("return_to", "https://app.example.com/settings/tenants"),
            ],
            &tenant.tenant_id,
            "accept",
        )
        .await;
    assert_eq!(query_value(&back, "admin_consent"), "True");
    let page = h.callback(&back).await;

    // THEN a pleasant success page names the tenant, the organization and the administrator who
    // signed in, links back, and carries the page security headers
    assert_eq!(page.status(), 200, "{}", page.text());
    assert!(page.content_type().starts_with("text/html"));
    for header in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
        "cache-control",
    ] {
        assert!(page.0.headers.contains_key(header), "{header}");
    }
    assert_eq!(page.0.headers["x-frame-options"], "DENY");
    let html = page.text();
    assert!(
        html.contains("<dt>Platform organization</dt><dd>acme</dd>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("admin@{}", tenant.initial_domain)),
        "{html}"
    );
    assert!(
        html.contains(&format!("{} is connected", tenant.display_name)),
        "{html}"
    );
    assert!(html.contains("read-only"));
    assert!(html.contains("href=\"https://app.example.com/settings/tenants\""));
    assert!(html.contains("The first sync has started"));

    // AND the connection is recorded with name, verified domains, mode, consent time and status
    let stored = h.stored(&tenant.tenant_id).await.expect("recorded");
    assert_eq!(stored.org_id.as_str(), "acme");
    assert_eq!(stored.display_name, tenant.display_name);
    let mut domains: Vec<String> = stored
        .verified_domains
        .iter()
        .map(|d| d.to_string())
        .collect();
    let mut expected: Vec<String> = tenant
        .verified_domains
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    domains.sort();
    expected.sort();
    assert_eq!(domains, expected);
    assert_eq!(stored.mode, ConnectionMode::Read);
    assert!(!stored.allows_writes());
    assert_eq!(stored.auth, TenantAuth::Consent);
    assert_eq!(stored.status, ConnectionStatus::Connected);
    assert!(Utc::now() - stored.consented_at < Duration::minutes(5));
    assert_eq!(stored.has_p1, Some(true));
    let index: TenantIndexEntry = h
        .platform()
        .store
        .get(&keys::tenant_index_entry(&stored.tenant_id))
        .await
        .expect("readable")
        .expect("indexed");
    assert_eq!(index.status, ConnectionStatus::Connected);

    // AND exactly one sync job is queued, full, with a Queued sync run
    let jobs = h.sync_jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let JobKind::Sync(sync) = &jobs[0].kind else {
        panic!("a sync job, got {:?}", jobs[0])
    };
    assert!(sync.full);
    assert_eq!(jobs[0].tenant_id, stored.tenant_id);
    assert_eq!(
        stored.last_sync.as_ref().map(|s| &s.sync_run_id),
        Some(&sync.sync_run_id)
    );
    let runs: Vec<SyncRun> = h
        .platform()
        .store
        .query(&keys::sync_run_partition(&stored.tenant_id), None)
        .try_collect()
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, SyncRunStatus::Queued);
    assert_eq!(runs[0].id, sync.sync_run_id);
}

#[tokio::test]
async fn given_a_state_used_once_when_the_callback_is_replayed_then_400_and_nothing_more_happens() {
    // GIVEN a completed consent
    let h = Harness::start().await;
    let tenant = h.tenant(1);
    let back = h
        .consent_round_trip(&[("mode", "read")], &tenant.tenant_id, "accept")
        .await;
    assert_eq!(h.callback(&back).await.status(), 200);
    assert_eq!(h.sync_jobs().await.len(), 1);

    // WHEN the same callback URL is opened again
    let replay = h.callback(&back).await;

    // THEN it is refused and no second sync is queued
    assert_eq!(replay.status(), 400);
    assert!(replay.text().contains("already used"), "{}", replay.text());
    assert!(h.sync_jobs().await.is_empty());
}

#[tokio::test]
async fn given_forged_tampered_or_missing_states_when_the_callback_comes_then_400_and_no_tenant() {
    // GIVEN a tenant that consented in Entra (so only the state stands between it and a
    // connection)
    let h = Harness::start().await;
    let tenant = h.tenant(1);
    h.sim()
        .consent(
            &tenant.tenant_id,
            &graph_sim::ConsentChange {
                granted: true,
                roles: Vec::new(),
                client_id: Some(h.sim().platform_read_app().client_id),
            },
        )
        .expect("consent");
    let now = Utc::now();
    let claims = StateClaims::new(
        OrgId::parse("acme").expect("org"),
        ConnectionMode::Read,
        None,
        None,
        now,
    );
    let forged = StateSigner::new(SecretString::from(
        "an attacker's key of thirty-two bytes".to_owned(),
    ))
    .expect("key")
    .sign(&claims);
    let genuine = signer().sign(&claims);
    let (payload, signature) = genuine.split_once('.').expect("two parts");
    let mut other = claims.clone();
    other.org_id = OrgId::parse("mallory").expect("org");
    let other_payload = signer().sign(&other);
    let tampered = format!(
        "{}.{signature}",
        other_payload.split_once('.').expect("two parts").0
    );
    assert_ne!(payload, tampered.split_once('.').expect("two parts").0);

    for (case, state) in [
        ("forged", Some(forged)),
        ("tampered", Some(tampered)),
        ("garbage", Some("garbage".to_owned())),
        ("missing", None),
    ] {
        // WHEN the callback comes with it
        let mut query = vec![
            ("admin_consent".to_owned(), "True".to_owned()),
            ("tenant".to_owned(), tenant.tenant_id.clone()),
        ];
        if let Some(state) = state {
            query.push(("state".to_owned(), state));
        }
        let page = h.callback(&query).await;
        // THEN 400 with a page, and nothing is recorded
        assert_eq!(page.status(), 400, "{case}");
        assert!(page.content_type().starts_with("text/html"), "{case}");
        assert!(page.text().contains("not valid"), "{case}: {}", page.text());
    }
    assert!(h.stored(&tenant.tenant_id).await.is_none());
    assert!(h.sync_jobs().await.is_empty());
}

#[tokio::test]
async fn given_a_state_older_than_ten_minutes_when_the_callback_comes_then_400_expired_and_no_tenant()
 {
    // GIVEN a correctly signed state whose flow started 11 minutes ago (its item still there)
    let h = Harness::start().await;
    let tenant = h.tenant(1);
    h.sim().grant_consent(&tenant.tenant_id).expect("consent");
    let started = Utc::now() - Duration::minutes(11);
    let claims = StateClaims::new(
        OrgId::parse("acme").expect("org"),
        ConnectionMode::ReadWrite,
        None,
        None,
        started,
    );
    h.platform()
        .store
        .put(&keys::oauth_state(&claims.nonce), &claims.pending(started))
        .await
        .expect("state item");

    // WHEN the callback comes with it
    let page = h
        .callback(&[
            ("admin_consent".into(), "True".into()),
            ("tenant".into(), tenant.tenant_id.clone()),
            ("state".into(), signer().sign(&claims)),
        ])
        .await;

    // THEN 400, expired, starting again from the platform (a /connect link would need the
    // platform's token), and nothing recorded
    assert_eq!(page.status(), 400);
    assert!(page.text().contains("expired"), "{}", page.text());
    assert!(
        page.text().contains("Start again from the platform"),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("/connect?"), "{}", page.text());
    assert!(h.stored(&tenant.tenant_id).await.is_none());
}

#[tokio::test]
async fn given_the_admin_cancels_when_the_callback_comes_then_a_page_says_declined_and_how_to_retry()
 {
    // GIVEN
    let h = Harness::start().await;
    let tenant = h.tenant(1);

    // WHEN the admin presses Cancel on the consent page
    let back = h
        .consent_round_trip(&[("mode", "write")], &tenant.tenant_id, "cancel")
        .await;
    assert_eq!(query_value(&back, "error"), "access_denied");
    let page = h.callback(&back).await;

    // THEN the page says consent was declined and offers to try again; nothing is connected
    assert_eq!(page.status(), 403);
    let html = page.text();
    assert!(html.contains("Consent was declined"), "{html}");
    assert!(html.contains("Start again from the platform"), "{html}");
    assert!(!html.contains("/connect?"), "{html}");
    assert!(
        html.contains("AADSTS65004"),
        "Microsoft's message is shown: {html}"
    );
    assert!(h.stored(&tenant.tenant_id).await.is_none());
    assert!(h.sync_jobs().await.is_empty());
}

#[tokio::test]
async fn given_consent_required_when_the_callback_comes_then_the_page_asks_for_an_administrator() {
    // GIVEN a valid state
    let h = Harness::start().await;
    let start = h
        .call(
            "GET /connect",
            Request::default().query(&[("mode", "read")]),
        )
        .await;
    let location = url::Url::parse(&h.open_start_link(&start.location()).await).expect("url");
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");

    // WHEN Entra answers consent_required
    let page = h
        .callback(&[
            ("error".into(), "consent_required".into()),
            (
                "error_description".into(),
                "AADSTS90094: admin consent needed".into(),
            ),
            ("state".into(), state),
        ])
        .await;

    // THEN
    assert_eq!(page.status(), 403);
    assert!(page.text().contains("An administrator must give consent"));
}

#[tokio::test]
async fn given_a_valid_state_but_no_consent_in_the_named_tenant_when_the_callback_comes_then_nothing_is_connected()
 {
    // GIVEN a genuine state, and a callback URL edited to name a tenant that never consented
    let h = Harness::start().await;
    let victim = h.tenant(2);
    let start = h
        .call(
            "GET /connect",
            Request::default().query(&[("mode", "read")]),
        )
        .await;
    let location = url::Url::parse(&h.open_start_link(&start.location()).await).expect("url");
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");

    // WHEN
    let page = h
        .callback(&[
            ("admin_consent".into(), "True".into()),
            ("tenant".into(), victim.tenant_id.clone()),
            ("state".into(), state),
        ])
        .await;

    // THEN the sign-in to that tenant fails (the app has no consent there): nothing is recorded
    assert_eq!(page.status(), 403);
    assert!(page.text().contains("did not sign in"), "{}", page.text());
    assert!(h.stored(&victim.tenant_id).await.is_none());
}

#[tokio::test]
async fn given_bad_connect_requests_when_called_then_400_says_what_is_wrong() {
    let h = Harness::start().await;
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("mode", "admin")], "mode=read"),
        (
            &[("mode", "read"), ("return_to", "https://evil.example/")],
            "not on an allowed origin",
        ),
        (&[("mode", "read"), ("tenant", "not a tenant")], "tenant"),
    ];
    for (query, expected) in cases {
        let answer = h
            .call("GET /connect", Request::default().query(query))
            .await;
        assert_eq!(answer.status(), 400, "{query:?}");
        assert!(
            answer.text().contains(expected),
            "{query:?}: {}",
            answer.text()
        );
    }
}

#[tokio::test]
async fn given_no_token_or_a_token_without_a_valid_org_when_connect_is_called_then_401_or_403_and_no_state()
 {
    // GIVEN the function
    let h = Harness::start().await;

    // WHEN /connect is called without the authorizer's claims, and with an org claim that is no
    // organization id
    let anonymous = h
        .call(
            "GET /connect",
            Request::default()
                .anonymous()
                .query(&[("org", "acme"), ("mode", "read")]),
        )
        .await;
    let bad_org = h
        .call(
            "GET /connect",
            Request::default().org("ac/me").query(&[("mode", "read")]),
        )
        .await;

    // THEN 401 and 403, and no consent URL
    assert_eq!(anonymous.status(), 401, "{}", anonymous.text());
    assert_eq!(bad_org.status(), 403, "{}", bad_org.text());
    assert!(anonymous.location().is_empty() && bad_org.location().is_empty());
}

#[tokio::test]
async fn given_an_org_in_the_query_when_connect_is_called_then_the_state_is_bound_to_the_tokens_org()
 {
    // GIVEN a caller of globex that names acme in the query (an attempt to attach a tenant to
    // another organization)
    let h = Harness::start().await;

    // WHEN it starts consent
    let start = h
        .call(
            "GET /connect",
            Request::default()
                .org("globex")
                .query(&[("org", "acme"), ("mode", "read")]),
        )
        .await;

    // THEN the signed state names globex, the token's organization
    assert_eq!(start.status(), 200, "{}", start.text());
    let location =
        url::Url::parse(&h.open_start_link(&start.location()).await).expect("consent url");
    let params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    let claims = signer()
        .verify(&query_value(&params, "state"), Utc::now())
        .expect("a state we signed");
    assert_eq!(claims.org_id.as_str(), "globex");
}

#[tokio::test]
async fn given_write_mode_when_connected_then_the_read_write_app_is_used_and_writes_are_allowed() {
    // GIVEN / WHEN
    let h = Harness::start().await;
    let tenant = h.tenant(2);
    let start = h
        .call(
            "GET /connect",
            Request::default().query(&[("mode", "write")]),
        )
        .await;
    assert!(
        h.open_start_link(&start.location())
            .await
            .contains(&format!("client_id={}", h.sim().platform_app().client_id))
    );
    let page = h.connect_by_consent(2, "write", "acme").await;

    // THEN
    assert_eq!(page.status(), 200, "{}", page.text());
    let stored = h.stored(&tenant.tenant_id).await.expect("recorded");
    assert_eq!(stored.mode, ConnectionMode::ReadWrite);
    assert!(stored.allows_writes());
    // The third demo tenant has no P1: recorded, and sign-in is skipped rather than failing.
    assert_eq!(stored.has_p1, Some(false));
    assert!(stored.options.skip_sign_in);
    assert!(
        page.text()
            .contains("last sign-in will show as not available")
    );
}

#[tokio::test]
async fn given_a_removed_tenant_with_leftovers_when_connected_again_then_it_starts_clean() {
    // GIVEN a connected tenant that was removed (its connection is gone), with an account and a
    // delta link left behind
    let h = Harness::start().await;
    let info = h.tenant(1);
    assert_eq!(h.connect_by_consent(1, "read", "acme").await.status(), 200);
    h.sync_jobs().await;
    let tenant_id = TenantId::parse(&info.tenant_id).expect("tenant");
    h.platform()
        .store
        .delete(&keys::tenant_meta(&tenant_id))
        .await
        .expect("removed");
    let account_id = AccountId::parse("00000000-0000-4000-8000-000000000001").expect("id");
    let leftover = Account {
        id: account_id.clone(),
        upn: Upn::parse("left.over@contoso.com").expect("upn"),
        display_name: "Left Over".into(),
        enabled: true,
        usage_location: None,
        user_type: "Member".into(),
        on_premises_synced: false,
        licenses: Vec::new(),
        last_sign_in: LastSignIn::NotAvailable {
            reason: "test".into(),
        },
        mailbox: None,
        deleted: false,
        profile: Default::default(),
    };
    h.platform()
        .store
        .put(&keys::account(&tenant_id, &account_id), &leftover)
        .await
        .expect("leftover account");

    // WHEN it is connected again (by another organization, which a removal allows)
    let page = h.connect_by_consent(1, "write", "globex").await;

    // THEN the old data is gone, the connection is new, and a full sync is queued
    assert_eq!(page.status(), 200, "{}", page.text());
    let gone: Option<Account> = h
        .platform()
        .store
        .get(&keys::account(&tenant_id, &account_id))
        .await
        .expect("readable");
    assert!(gone.is_none(), "leftover account removed");
    let stored = h.stored(&info.tenant_id).await.expect("connected");
    assert_eq!(stored.status, ConnectionStatus::Connected);
    assert_eq!(stored.org_id.as_str(), "globex");
    assert_eq!(stored.mode, ConnectionMode::ReadWrite);
    let jobs = h.sync_jobs().await;
    assert!(matches!(&jobs[..], [job] if matches!(&job.kind, JobKind::Sync(s) if s.full)));
}

#[tokio::test]
async fn given_a_tenant_of_another_organization_when_consent_comes_back_then_409_and_it_is_untouched()
 {
    // GIVEN tenant 1 connected to acme
    let h = Harness::start().await;
    let info = h.tenant(1);
    assert_eq!(h.connect_by_consent(1, "read", "acme").await.status(), 200);

    // WHEN globex goes through consent for the same tenant
    let page = h.connect_by_consent(1, "write", "globex").await;

    // THEN 409, and the page names only globex, never acme
    assert_eq!(page.status(), 409);
    assert!(
        page.text().contains("cannot be connected here"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("<dd>globex</dd>"), "{}", page.text());
    assert!(!page.text().contains("acme"), "{}", page.text());
    let stored = h.stored(&info.tenant_id).await.expect("still there");
    assert_eq!(stored.org_id.as_str(), "acme");
    assert_eq!(stored.mode, ConnectionMode::Read);
}
