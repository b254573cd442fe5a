//! Two hostile platform organizations on one whole local stack: the world of the suites that play
//! one organization against another (hostile.rs) and of those that schedule, cancel and bulk-submit
//! jobs through the HTTP API (leave_and_bulk.rs).
//!
//! `alpha` and `beta` each own one tenant (the simulator's second and third), connected read/write
//! by admin consent; each calls the API with a token of its own organization.

use chrono::{DateTime, Utc};
use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use futures::TryStreamExt as _;
use graph_sim::SimConfig;
use lifecycle::model::JobRecord;
use lifecycle::store::keys;
use lifecycle::{JobId, Platform, TenantId};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::eventually;

/// The function whose schedule releases parked jobs.
const SCHEDULER: &str = "OnboardingFunction";

/// The stack and the two organizations' tenants.
pub struct World {
    pub stack: Stack,
    pub platform: Platform,
    pub alpha: Org,
    pub beta: Org,
}

/// One organization: its API client and its tenant.
pub struct Org {
    http: reqwest::Client,
    api_url: String,
    pub tenant_id: TenantId,
    /// The tenant's default verified domain.
    pub domain: String,
}

impl World {
    /// Starts the stack of infra/template.yaml on the demo simulator and connects both
    /// organizations.
    pub async fn start() -> World {
        let template = Template::load(&template_path()).expect("infra/template.yaml loads");
        let options = StackOptions::new(template, GraphSource::Simulator(SimConfig::demo()));
        let stack = Stack::start(options).await.expect("the stack starts");
        let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
        let alpha = connect(&stack, &platform, "alpha", 1).await;
        let beta = connect(&stack, &platform, "beta", 2).await;
        World {
            stack,
            platform,
            alpha,
            beta,
        }
    }

    /// A stored secret's value, `None` when there is none.
    pub async fn secret(&self, name: &str) -> Option<String> {
        self.platform
            .vault
            .get_secret(name)
            .await
            .ok()
            .map(|value| value.expose_secret().to_owned())
    }

    /// The job's record once it satisfies `done`.
    pub async fn record_when(
        &self,
        org: &Org,
        job_id: &str,
        what: &str,
        done: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let key = keys::job(&org.tenant_id, &JobId::parse(job_id).expect("job id"));
        eventually(what, || async {
            self.platform
                .store
                .get::<JobRecord>(&key)
                .await
                .ok()
                .flatten()
                .filter(&done)
        })
        .await
    }

    /// The keys of the jobs parked until their start time (every tenant's).
    pub async fn parked(&self) -> Vec<lifecycle::Key> {
        self.platform
            .store
            .query_keys(&keys::scheduled_jobs(), None)
            .try_collect()
            .await
            .expect("parked jobs read")
    }

    /// The schedule's run at `time`, as EventBridge invokes it; how many jobs it sent.
    pub async fn schedule_runs_at(&self, time: DateTime<Utc>) -> u64 {
        let event = json!({
            "version": "0", "id": "e2e-schedule", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012",
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": "us-east-1", "resources": [], "detail": {}
        });
        let answer = self
            .stack
            .invoke(SCHEDULER, event)
            .await
            .expect("the schedule runs");
        answer["sent"]
            .as_u64()
            .expect("the schedule answers how many it sent")
    }

    /// Whether the simulator's account `upn` of `org`'s tenant may sign in.
    pub fn enabled(&self, org: &Org, upn: &str) -> bool {
        self.stack
            .sim()
            .expect("simulator")
            .truth(org.tenant_id.as_str())
            .expect("truth")
            .users
            .iter()
            .find(|user| user.user_principal_name.eq_ignore_ascii_case(upn))
            .unwrap_or_else(|| panic!("account {upn} exists"))
            .account_enabled
    }

    /// `count` accounts of `org`'s tenant that may sign in.
    pub fn members(&self, org: &Org, count: usize) -> Vec<String> {
        let truth = self
            .stack
            .sim()
            .expect("simulator")
            .truth(org.tenant_id.as_str())
            .expect("truth");
        let upns: Vec<String> = truth
            .users
            .iter()
            .filter(|u| u.account_enabled)
            .map(|u| u.user_principal_name.clone())
            .take(count)
            .collect();
        assert_eq!(upns.len(), count, "the tenant has {count} such accounts");
        upns
    }
}

/// Connects the simulator's tenant `index` to organization `org` (admin consent granted there).
async fn connect(stack: &Stack, platform: &Platform, org: &str, index: usize) -> Org {
    let info = crate::connect_by_consent(stack, platform, org, index).await;
    Org {
        http: crate::api_client(stack, org),
        api_url: stack.api_url().to_owned(),
        tenant_id: TenantId::parse(&info.tenant_id).expect("tenant id"),
        domain: info.default_domain.clone(),
    }
}

impl Org {
    /// The same organization and tenant, calling with another client (say, a token of fewer
    /// scopes).
    pub fn with_client(&self, http: reqwest::Client) -> Org {
        Org {
            http,
            api_url: self.api_url.clone(),
            tenant_id: self.tenant_id.clone(),
            domain: self.domain.clone(),
        }
    }

    /// Calls the API as this organization; `{tenant}` in `path` is its tenant. The status and the
    /// body (JSON, or the text as a JSON string).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let path = path.replace("{tenant}", self.tenant_id.as_str());
        let mut request = self.http.request(method, format!("{}{path}", self.api_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /tenants/{tenant}/jobs` with `job`.
    pub async fn submit(&self, job: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/tenants/{tenant}/jobs", Some(job))
            .await
    }

    /// `DELETE /tenants/{tenant}/jobs/{job_id}`.
    pub async fn cancel(&self, job_id: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/tenants/{{tenant}}/jobs/{job_id}"),
            None,
        )
        .await
    }

    /// An onboard job of this organization's tenant; with `parked` its start is a day ahead, so it
    /// is validated and then parked, and its password secret stays until the start.
    pub fn onboard(&self, job_id: &str, nickname: &str, password: Value, parked: bool) -> Value {
        let mut job = json!({
            "job_id": job_id, "type": "onboard",
            "given_name": "New", "surname": "Hire", "display_name": format!("New Hire {nickname}"),
            "mail_nickname": nickname,
            "user_principal_name": format!("{nickname}@{}", self.domain),
            "usage_location": "US", "password": password,
        });
        if parked {
            job["start_at"] = json!((Utc::now() + chrono::Duration::days(1)).to_rfc3339());
        }
        job
    }
}
