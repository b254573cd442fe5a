//! Job intake: `POST /tenants/{tenant_id}/jobs` validates a lifecycle job and puts it on its queue;
//! `GET /tenants/{tenant_id}/jobs/{job_id}` shows its record (status, steps with their Graph
//! request-ids, and for a dry run every validation result and the plan);
//! `GET /tenants/{tenant_id}/jobs/{job_id}/password` hands a generated password back, once;
//! `POST /tenants/{tenant_id}/jobs/{job_id}/retry` queues a job completed with errors again;
//! `DELETE /tenants/{tenant_id}/jobs/{job_id}` cancels a job that has not started (a scheduled
//! leave or onboarding parked until its `start_at`, or a job still on its queue).
//!
//! The body is the job JSON of [`lifecycle::model::Job`] without `tenant_id` (taken from the path)
//! and with an optional `job_id` (generated when absent). A job is (tenant, job id): the same id
//! in another tenant is another job. Sending the same job again (same id, same body) is answered
//! with the job already accepted and nothing is queued twice; the same id with another body
//! answers 409 (the record keeps a keyed digest of the body it accepted, password included). The
//! record is created first, by a conditional put, and only its creator stores the password, in a
//! secret named after (tenant, job) that is created, never overwritten: of concurrent submissions
//! of one job id exactly one wins, and its password is the one used.
//!
//! An onboard job's `password` may be given as `{"source":"value","value":"..."}`: the value is
//! checked against Entra ID's rules and moved into that short-lived secret at once, and only the
//! secret's name travels on the queue. `{"source":"generate"}` makes a password here and answers
//! where to pick it up: once, with a conditional delete, within
//! [`lifecycle::model::PASSWORD_HANDOVER_TTL`].
//!
//! A dry run is queued like any job: the worker validates, records every check and the plan in
//! the job record, and writes nothing; the caller reads the result at the status URL. One path
//! for all jobs (from this API or straight from other services onto SQS) keeps validation in one
//! place, next to the Graph calls it predicts.

mod manage;
mod password;

use crate::answers::{JobAccepted, PasswordPickup};
use crate::tenant_state;
use password::{NewPassword, take_password};
use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt as _;
use hmac::{Hmac, Mac};
use lifecycle::events::Events;
use lifecycle::http::{body_text, error_response, json_response, path_param, require_json};
use lifecycle::model::{
    ConnectionStatus, Job, JobKind, JobRecord, JobStatus, OffboardJob, PasswordSource, Submitter,
    TenantConnection,
};
use lifecycle::schedule;
use lifecycle::{Config, JobId, Platform, PutOutcome, Queue, Store, TenantId, Vault, VaultError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What the job routes need: the store, the queues and the vault.
#[derive(Clone)]
pub struct Intake {
    /// The function's one platform: a scheduled leave is checked against its tenant in Graph.
    platform: Platform,
    store: Store,
    queue: Queue,
    vault: Vault,
    events: Events,
    config: Config,
    /// The key of the body digests, derived from the state-signing key; read once per cold start.
    digest_key: Arc<tokio::sync::OnceCell<SecretString>>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

/// A refusal as an HTTP answer.
type Refusal = Box<ApiGatewayV2httpResponse>;

fn refuse(status: u16, code: &str, message: impl std::fmt::Display) -> Refusal {
    Box::new(error_response(status, code, message))
}

/// A refusal that names the request field at fault (`error.field`).
fn refuse_field(status: u16, code: &str, field: &str, message: impl std::fmt::Display) -> Refusal {
    let body = json!({"error": {"code": code, "message": message.to_string(), "field": field}});
    let mut answer = error_response(status, code, "");
    answer.body = Some(Body::Text(body.to_string()));
    Box::new(answer)
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> Refusal {
    tracing::error!(%error, what, "job intake failed");
    refuse(503, "unavailable", format!("{what}; try again later"))
}

impl Intake {
    /// The routes over the function's one [`Platform`]'s clients (no I/O).
    pub fn new(platform: &Platform) -> Self {
        Self {
            platform: platform.clone(),
            store: platform.store.clone(),
            queue: platform.queue.clone(),
            vault: platform.vault.clone(),
            events: platform.events.clone(),
            config: platform.config.clone(),
            digest_key: Arc::default(),
        }
    }

    /// `POST /tenants/{tenant_id}/jobs`: 202 with the job id and its status URL; 200 when the
    /// same job (same id, same body) was accepted before; 400 for a malformed job or a password
    /// Entra ID would refuse; 404 for a tenant that is not connected; 409 for a write job on a
    /// read-only tenant, or a job id this tenant already used for another body. A body
    /// `{"jobs":[...]}` is a list of up to [`BULK_MAX`] jobs, answered 207 with one result each
    /// (see `submit_many`).
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
    pub async fn submit(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> ApiGatewayV2httpResponse {
        match self.try_submit(request, tenant).await {
            Ok(answer) | Err(answer) => *answer,
        }
    }

    async fn try_submit(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<Refusal, Refusal> {
        let body = read_body(request)?;
        let submitter = lifecycle::http::caller_submitter(request, &self.config.org_claim);
        let submitter = submitter.as_ref();
        match bulk_items(body)? {
            Submission::One(body) => self.submit_one(tenant, body, submitter).await,
            Submission::Many(items) => {
                // The tenant's state is checked once for the whole list (404/409).
                let tenant = tenant_state::connected(tenant)?;
                self.submit_many(tenant, items, submitter).await
            }
        }
    }

    /// A list of jobs (`{"jobs":[...]}`): the tenant is checked once (404/409 for the whole
    /// list), then every job is validated, recorded and queued on its own, [`BULK_CONCURRENCY`]
    /// at a time; 207 with one result per job, in order: its accepted answer (job id, status URL)
    /// or its refusal (HTTP status, code, a message naming the job and the field). One bad job
    /// does not stop the others.
    async fn submit_many(
        &self,
        tenant: &TenantConnection,
        items: Vec<Value>,
        submitter: Option<&Submitter>,
    ) -> Result<Refusal, Refusal> {
        let results: Vec<Value> = futures::stream::iter(items.into_iter().enumerate())
            .map(|(index, item)| async move {
                let answer = match item {
                    Value::Object(body) => match self.submit_one(tenant, body, submitter).await {
                        Ok(answer) | Err(answer) => answer,
                    },
                    _ => refuse(400, "bad_request", "a job is a JSON object"),
                };
                item_result(index, &answer)
            })
            .buffered(BULK_CONCURRENCY)
            .collect()
            .await;
        let accepted = results
            .iter()
            .filter(|result| result.get("job_id").is_some() && result.get("error").is_none())
            .count();
        tracing::info!(
            jobs = results.len(),
            accepted,
            "bulk job submission answered"
        );
        Ok(Box::new(json_response(
            207,
            &json!({
                "accepted": accepted,
                "refused": results.len() - accepted,
                "results": results,
            }),
        )))
    }

    /// One job: validated, recorded and queued. The tenant's state is checked once the job is
    /// found well formed (a malformed job is a 400 whatever the tenant's state).
    async fn submit_one(
        &self,
        tenant: &TenantConnection,
        body: Map<String, Value>,
        submitter: Option<&Submitter>,
    ) -> Result<Refusal, Refusal> {
        let tenant_id = &tenant.tenant_id;
        let (job, password) = self.parse(body, tenant_id)?;
        check_start(&job, Utc::now())?;
        if let Some(NewPassword::Given(value)) = &password {
            lifecycle::password::check(value)
                .map_err(|error| refuse(400, "weak_password", error))?;
        }
        let tenant = tenant_state::connected(tenant)?;
        if job.kind.is_write() {
            tenant_state::writable(tenant, &format!("a {} job cannot run", job.job_type()))?;
        }
        if let JobKind::Offboard(spec) = &job.kind
            && spec.start_at.is_some()
            && !job.dry_run
        {
            self.check_leave(tenant, spec).await?;
        }
        let digest = self.body_digest(&job, password.as_ref()).await?;
        let mut record = JobRecord::queued(&job, Utc::now());
        record.body_digest = Some(digest.clone());
        record.submitted_by = submitter.cloned();
        let status = match self
            .store
            .put_new_job_record(&record)
            .await
            .map_err(|error| unavailable("the job could not be recorded", error))?
        {
            PutOutcome::Created => 202,
            PutOutcome::AlreadyExists => {
                let existing = self
                    .store
                    .job_record(tenant_id, &job.job_id)
                    .await
                    .map_err(|error| unavailable("the job could not be read", error))?
                    .ok_or_else(|| {
                        refuse(
                            409,
                            "job_id_conflict",
                            format!("job {} was just removed; send it again", job.job_id),
                        )
                    })?;
                if existing.body_digest.as_deref() != Some(digest.as_str()) {
                    return Err(refuse(
                        409,
                        "job_id_conflict",
                        format!(
                            "tenant {tenant_id} already has a job {} with another body; a job id names one job: send this one under a new job_id",
                            job.job_id
                        ),
                    ));
                }
                if existing.status != JobStatus::Queued {
                    return Ok(Box::new(accepted(200, &existing, None)));
                }
                // The same job, still queued: an earlier answer may have been lost before its
                // password was stored or it was queued, so both are done again (the secret is
                // create-only, and the queue deduplicates within 5 minutes; the worker skips a
                // job that has already finished).
                record = existing;
                200
            }
        };
        let handover = match password {
            Some(password) => self.store_password(&job, password).await?,
            // A passwordless joiner's pass is made by the worker once the account exists, and
            // waits in the same hand-over.
            None if is_passwordless(&job) => Some(
                self.vault
                    .generated_password_name(&job.tenant_id, &job.job_id),
            ),
            None => None,
        };
        self.withdraw_if_removed(&job).await?;
        if let Err(error) = self.queue.send_job(self.queue_url(&job), &job).await {
            if status == 202 {
                self.abandon(&job, record).await;
            }
            return Err(unavailable("the job could not be queued", error));
        }
        tracing::info!(job_id = %job.job_id, job_type = job.job_type(), dry_run = job.dry_run, "job accepted");
        Ok(Box::new(accepted(status, &record, handover.as_deref())))
    }

    /// Checks a scheduled leave against its tenant when it is submitted
    /// ([`lifecycle::offboarding::verdict::check`]): one that cannot run as asked (its account is not in the
    /// tenant, or is deleted under keep_disabled; an option whose permission is not granted) is
    /// refused with 422 naming the field, instead of failing at its date. 503 when Graph cannot
    /// be read; nothing is accepted then.
    async fn check_leave(
        &self,
        tenant: &TenantConnection,
        spec: &OffboardJob,
    ) -> Result<(), Refusal> {
        let graph = self
            .platform
            .tenant_graph(tenant)
            .await
            .map_err(|error| unavailable("the tenant's credential could not be read", error))?;
        match lifecycle::offboarding::verdict::check(&graph, &tenant.tenant_id, spec).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(doomed)) => Err(refuse_field(
                422,
                "leave_cannot_run",
                doomed.field,
                format!(
                    "the leave cannot run as asked: {}: {}",
                    doomed.field, doomed.reason
                ),
            )),
            Err(error) => Err(unavailable(
                "the tenant could not be read to check the leave",
                error,
            )),
        }
    }

    /// The keyed digest of an accepted body: HMAC-SHA256 of the job as queued and of its
    /// password (value or "generate"), under a key derived from the state-signing key, so the
    /// stored digest cannot be used to guess a password.
    async fn body_digest(
        &self,
        job: &Job,
        password: Option<&NewPassword>,
    ) -> Result<String, Refusal> {
        let key = self
            .digest_key
            .get_or_try_init(|| async {
                let root = self
                    .vault
                    .get_state_signing_key(&self.config.state_signing_key_secret_id)
                    .await?;
                let mut derive = HmacSha256::new_from_slice(root.expose_secret().as_bytes())
                    .map_err(|_| VaultError::Malformed {
                        secret_id: self.config.state_signing_key_secret_id.clone(),
                        expected: "an HMAC key",
                    })?;
                derive.update(b"m365-lifecycle/job-body-digest/v1");
                let derived: String = derive
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                Ok::<_, VaultError>(SecretString::from(derived))
            })
            .await
            .map_err(|error| unavailable("the job could not be checked", error))?;
        let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
            .map_err(|error| unavailable("the job could not be checked", error))?;
        let body = serde_json::to_string(job)
            .map_err(|error| unavailable("the job could not be checked", error))?;
        mac.update(body.as_bytes());
        match password {
            Some(NewPassword::Given(value)) => {
                mac.update(b"\npassword:value\n");
                mac.update(value.expose_secret().as_bytes());
            }
            Some(NewPassword::Generate) => mac.update(b"\npassword:generate"),
            None => {}
        }
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect())
    }

    /// The body as a job of this tenant, with any password value taken out of it.
    fn parse(
        &self,
        mut body: Map<String, Value>,
        tenant_id: &TenantId,
    ) -> Result<(Job, Option<NewPassword>), Refusal> {
        match body.get("tenant_id") {
            None => {}
            Some(Value::String(given))
                if TenantId::parse(given).ok().as_ref() == Some(tenant_id) => {}
            Some(Value::String(given)) => {
                return Err(refuse(
                    400,
                    "bad_request",
                    format!(
                        "the body's tenant_id {given} is not the tenant of the path, {tenant_id}"
                    ),
                ));
            }
            Some(_) => {
                return Err(refuse(
                    400,
                    "bad_request",
                    format!(
                        "the body's tenant_id must be a string, the tenant of the path ({tenant_id}), or left out"
                    ),
                ));
            }
        }
        body.insert("tenant_id".into(), json!(tenant_id));
        let job_id = match body.get("job_id") {
            None | Some(Value::Null) => JobId::new(),
            Some(Value::String(id)) => {
                JobId::parse(id).map_err(|error| refuse(400, "bad_request", error))?
            }
            Some(_) => return Err(refuse(400, "bad_request", "job_id must be a string")),
        };
        body.insert("job_id".into(), json!(job_id));
        let dry_run = body.get("dry_run") == Some(&Value::Bool(true));
        let password = take_password(
            &mut body,
            &self.vault.onboarding_password_name(tenant_id, &job_id),
            dry_run,
        )?;
        if body.get("type").and_then(Value::as_str) == Some("sync") {
            return Err(refuse(
                400,
                "bad_request",
                "sync jobs are not taken here; sync runs are started by the sync schedule and the sync routes",
            ));
        }
        let job = Job::from_value(Value::Object(body)).map_err(|error| {
            refuse(400, "bad_request", format!("the job is not valid: {error}"))
        })?;
        if let JobKind::Onboard(onboard) = &job.kind
            && let PasswordSource::Secret { secret_id } = &onboard.password
            && password.is_none()
            && !self
                .vault
                .is_password_of(&job.tenant_id, &job.job_id, secret_id)
        {
            return Err(refuse(
                400,
                "bad_request",
                format!(
                    "password secret {secret_id} is not the password secret of this job ({}); send the password as {{\"source\":\"value\",\"value\":...}} instead",
                    self.vault
                        .onboarding_password_name(&job.tenant_id, &job.job_id)
                ),
            ));
        }
        Ok((job, password))
    }

    /// Checks the connection again after the job's record and secrets were written: a removal
    /// (`DELETE /tenants/{id}`) may have run between the router's read of the tenant and those writes,
    /// and would then have missed them. Write, then check: when the tenant is no longer
    /// connected, what this submission wrote (record, password secrets, hand-over) is deleted
    /// here and the job is refused with 404 before it is queued; when it still is, a removal
    /// that comes later finds and deletes them itself.
    async fn withdraw_if_removed(&self, job: &Job) -> Result<(), Refusal> {
        let tenant_id = &job.tenant_id;
        let live = self
            .store
            .connection(tenant_id)
            .await
            .map_err(|error| unavailable("the tenant could not be read", error))?
            .is_some_and(|tenant| tenant.status != ConnectionStatus::Removed);
        if live {
            return Ok(());
        }
        let withdrawn =
            |error| unavailable("the job of a removed tenant could not be withdrawn", error);
        self.forget_passwords(job).await.map_err(withdrawn)?;
        self.store
            .delete_job_record(tenant_id, &job.job_id)
            .await
            .map_err(|error| withdrawn(error.to_string()))?;
        tracing::warn!(job_id = %job.job_id, "the tenant was removed while the job was accepted: its record and secrets are deleted");
        Err(refuse(
            404,
            "tenant_not_found",
            format!(
                "tenant {tenant_id} was removed while the job was being accepted; nothing of the job is kept"
            ),
        ))
    }

    /// A job that could not be queued: its record is failed and its password deleted. Unless a
    /// worker wrote the record meanwhile (a send that failed for this caller but reached the
    /// queue): then the job runs, and its record and password are the worker's.
    async fn abandon(&self, job: &Job, mut record: JobRecord) {
        record.status = JobStatus::Failed;
        record.error = Some("the job could not be queued; send it again".into());
        record.completed_at = Some(Utc::now());
        match self.store.put_job_record_revised(&mut record).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "the unqueued job's record was written by a worker meanwhile: it was queued after all, and is left to it"
                );
                return;
            }
            Err(error) => tracing::error!(%error, "could not mark the unqueued job failed"),
        }
        if let Err(error) = self.forget_passwords(job).await {
            tracing::error!(%error, "could not delete the password of an unqueued job");
        }
    }

    /// The queue of a job ([`schedule::queue_url`]).
    fn queue_url(&self, job: &Job) -> &str {
        schedule::queue_url(&self.config, job)
    }
}

/// A job status as the API spells it (`queued`, `running`, …).
fn status_text(status: JobStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// How far in the past a `start_at` may be and still be taken (clocks differ): it then runs at once.
pub const START_AT_SKEW: Duration = Duration::minutes(5);
/// How far ahead a `start_at` may be.
pub const START_AT_HORIZON: Duration = Duration::days(365);

/// Refuses a `start_at` in the past (beyond [`START_AT_SKEW`]) or more than
/// [`START_AT_HORIZON`] ahead, naming the field.
fn check_start(job: &Job, now: DateTime<Utc>) -> Result<(), Refusal> {
    let Some(start_at) = job.start_at() else {
        return Ok(());
    };
    if start_at < now - START_AT_SKEW {
        return Err(refuse(
            400,
            "bad_request",
            format!(
                "start_at {start_at} is in the past; give a time from now on (RFC 3339, e.g. {}), or leave start_at out to run the job now",
                (now + Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ));
    }
    if start_at > now + START_AT_HORIZON {
        return Err(refuse(
            400,
            "bad_request",
            format!(
                "start_at {start_at} is more than {} days ahead; send the job closer to its date",
                START_AT_HORIZON.num_days()
            ),
        ));
    }
    Ok(())
}

/// Most jobs in one request (`{"jobs":[...]}`).
pub const BULK_MAX: usize = lifecycle::model::limits::MAX_JOBS_PER_REQUEST;
/// Jobs of one list recorded and queued at a time.
const BULK_CONCURRENCY: usize = 10;

/// What a `POST /tenants/{tenant_id}/jobs` body holds.
enum Submission {
    /// One job (the body is the job).
    One(Map<String, Value>),
    /// A list of jobs, each still to be read.
    Many(Vec<Value>),
}

/// The request body as a JSON object, or 415/400.
fn read_body(request: &ApiGatewayV2httpRequest) -> Result<Map<String, Value>, Refusal> {
    require_json(request)?;
    let text = body_text(request).map_err(|message| refuse(400, "bad_request", message))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) => Err(refuse(400, "bad_request", "the body must be a JSON object")),
        // Only the position: the text may hold a password.
        Err(error) => Err(refuse(
            400,
            "bad_request",
            format!(
                "the body is not valid JSON (line {}, column {})",
                error.line(),
                error.column()
            ),
        )),
    }
}

/// One job, or the list of `{"jobs":[...]}` (1 to [`BULK_MAX`] jobs, nothing else beside it).
fn bulk_items(mut body: Map<String, Value>) -> Result<Submission, Refusal> {
    let Some(jobs) = body.remove("jobs") else {
        return Ok(Submission::One(body));
    };
    if let Some(other) = body.keys().next() {
        return Err(refuse(
            400,
            "bad_request",
            format!("a list of jobs is {{\"jobs\":[...]}} alone; {other} belongs inside each job"),
        ));
    }
    match jobs {
        Value::Array(items) if items.is_empty() => Err(refuse(
            400,
            "bad_request",
            format!("jobs is empty: give 1 to {BULK_MAX} jobs"),
        )),
        Value::Array(items) if items.len() > BULK_MAX => Err(refuse(
            400,
            "bad_request",
            format!(
                "jobs has {} jobs; at most {BULK_MAX} are taken in one request: split the list",
                items.len()
            ),
        )),
        Value::Array(items) => Ok(Submission::Many(items)),
        _ => Err(refuse(
            400,
            "bad_request",
            "jobs must be a list of job objects",
        )),
    }
}

/// One job's result in a list: its answer's body with its position (`index`) and HTTP status
/// (`http_status`: 202 accepted, 200 accepted before, 4xx refused); a refusal's
/// message names the job as `jobs[index]`.
fn item_result(index: usize, answer: &ApiGatewayV2httpResponse) -> Value {
    let text = match &answer.body {
        Some(Body::Text(text)) => text.as_str(),
        _ => "",
    };
    let mut result = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(fields)) => Value::Object(fields),
        _ => json!({"error": {"code": "internal", "message": "no answer"}}),
    };
    if let Some(message) = result.pointer_mut("/error/message")
        && let Some(text) = message.as_str()
    {
        *message = json!(format!("jobs[{index}]: {text}"));
    }
    result["index"] = json!(index);
    result["http_status"] = json!(answer.status_code);
    result
}

fn ids(request: &ApiGatewayV2httpRequest) -> Result<(TenantId, JobId), Refusal> {
    let tenant_id = TenantId::parse(path_param(request, "tenant_id"))
        .map_err(|error| refuse(400, "bad_request", error))?;
    let job_id = JobId::parse(path_param(request, "job_id"))
        .map_err(|error| refuse(400, "bad_request", error))?;
    Ok((tenant_id, job_id))
}

/// The answer to an accepted job.
fn accepted(
    status: u16,
    record: &JobRecord,
    generated_password: Option<&str>,
) -> ApiGatewayV2httpResponse {
    let status_url = format!("/tenants/{}/jobs/{}", record.tenant_id, record.job_id);
    let generated_password = generated_password.map(|secret_id| PasswordPickup {
        secret_id: secret_id.to_owned(),
        pickup_url: format!("{status_url}/password"),
        note: "handed back once: read it from the pickup URL (or the secret), which deletes it",
    });
    let body = JobAccepted {
        job_id: record.job_id.clone(),
        status: record.status,
        dry_run: record.dry_run,
        status_url,
        start_at: record.job.as_ref().and_then(Job::start_at),
        generated_password,
    };
    json_response(status, &body)
}

/// An onboarding (not a dry run) that asks for a Temporary Access Pass instead of a password.
fn is_passwordless(job: &Job) -> bool {
    matches!(&job.kind, JobKind::Onboard(onboard)
        if !job.dry_run && matches!(onboard.password, PasswordSource::TemporaryAccessPass { .. }))
}
