//! The one parser of a job's JSON, at every edge (an SQS message body, an API request body): it
//! refuses unknown fields (naming the nearest known one), values outside Graph's and AWS's limits
//! and bodies without a job type, and says what could still be read so the refusal can be
//! recorded on the job.

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::ids::{JobId, TenantId};
use crate::model::job::{Job, JobKind};

/// The fields every job has, whatever its type.
const ENVELOPE_FIELDS: [&str; 4] = ["job_id", "tenant_id", "dry_run", "type"];
/// The job types, as `type` names them.
pub(crate) const JOB_TYPES: [&str; 11] = [
    "sync",
    "onboard",
    "update_memberships",
    "offboard",
    "license_refresh",
    "update_account",
    "set_sign_in",
    "create_group",
    "update_group",
    "set_group_members",
    "delete_group",
];
/// Longest refusal reason kept: serde may quote a value, and the reason is stored and logged.
pub(crate) const REASON_MAX: usize = 1_000;

/// Why a job's JSON was refused: what is wrong, with the field named (and the nearest known field
/// for a misspelt one), plus whatever could still be read of the job, so that the refusal can be
/// recorded on the job.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct JobParseError {
    /// What is wrong and how to fix it; never a password, at most 1,000 characters.
    pub reason: String,
    /// The job's tenant, when `tenant_id` is a valid tenant id.
    pub tenant_id: Option<TenantId>,
    /// The job's id, when `job_id` is a valid job id.
    pub job_id: Option<JobId>,
    /// The job's `type`, when it names a job type.
    pub job_type: Option<&'static str>,
}

impl JobParseError {
    fn bare(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            tenant_id: None,
            job_id: None,
            job_type: None,
        }
    }
}

impl Job {
    /// Parses a job from its JSON text: the one parser of every edge (an SQS message body, the
    /// API's `POST /tenants/{id}/jobs` after it fills in the tenant and id). Unknown fields are
    /// refused, every text is held to Graph's limits and every list to its cap ([`limits`]).
    pub fn from_json(text: &str) -> Result<Job, JobParseError> {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Self::from_value(value),
            // Only the position: a syntax error says nothing more useful, and quotes nothing.
            Err(error) => Err(JobParseError::bare(format!(
                "the job is not valid JSON (line {}, column {})",
                error.line(),
                error.column()
            ))),
        }
    }

    /// Parses a job from JSON already read (see [`Self::from_json`]). The envelope and the
    /// fields of the job's type are read apart, so every refusal names its field's path.
    pub fn from_value(value: Value) -> Result<Job, JobParseError> {
        let Value::Object(mut fields) = value else {
            return Err(JobParseError::bare(
                "a job is a JSON object with job_id, tenant_id and type",
            ));
        };
        let text = |name: &str| fields.get(name).and_then(Value::as_str);
        let mut refusal = JobParseError {
            reason: String::new(),
            tenant_id: text("tenant_id").and_then(|id| TenantId::parse(id).ok()),
            job_id: text("job_id").and_then(|id| JobId::parse(id).ok()),
            job_type: text("type").and_then(|given| JOB_TYPES.into_iter().find(|t| *t == given)),
        };
        let envelope: serde_json::Map<String, Value> = ENVELOPE_FIELDS
            .into_iter()
            .filter_map(|name| fields.remove(name).map(|value| (name.to_owned(), value)))
            .collect();
        let rest = Value::Object(fields);
        let parsed = read::<Envelope>(Value::Object(envelope)).and_then(|envelope| {
            let kind = match envelope.job_type.as_str() {
                "sync" => read(rest).map(JobKind::Sync),
                "onboard" => read(rest).map(JobKind::Onboard),
                "update_memberships" => read(rest).map(JobKind::UpdateMemberships),
                "offboard" => read(rest).map(JobKind::Offboard),
                "license_refresh" => read(rest).map(JobKind::LicenseRefresh),
                "update_account" => read(rest).map(JobKind::UpdateAccount),
                "set_sign_in" => read(rest).map(JobKind::SetSignIn),
                "create_group" => read(rest).map(JobKind::CreateGroup),
                "update_group" => read(rest).map(JobKind::UpdateGroup),
                "set_group_members" => read(rest).map(JobKind::SetGroupMembers),
                "delete_group" => read(rest).map(JobKind::DeleteGroup),
                other => {
                    let known: Vec<String> = JOB_TYPES.iter().map(|t| format!("`{t}`")).collect();
                    Err(describe(
                        "type",
                        &format!(
                            "unknown variant `{other}`, expected one of {}",
                            known.join(", ")
                        ),
                    ))
                }
            }?;
            Ok(Job {
                job_id: envelope.job_id,
                tenant_id: envelope.tenant_id,
                dry_run: envelope.dry_run,
                kind,
            })
        });
        parsed.map_err(|reason| {
            refusal.reason = reason;
            refusal
        })
    }
}

/// The fields every job has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    job_id: JobId,
    tenant_id: TenantId,
    #[serde(default)]
    dry_run: bool,
    #[serde(rename = "type")]
    job_type: String,
}

/// Deserialises `value`, or the refusal reason with the failing field's path.
fn read<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        describe(&path, &error.into_inner().to_string())
    })
}

/// A refusal reason from serde's: the field's path first, a suggestion for a misspelt field or
/// type, nothing of a password, and no more than [`REASON_MAX`] characters.
fn describe(path: &str, message: &str) -> String {
    let field = path.trim_start_matches('.');
    // The password object itself: serde would quote a value sent in its place.
    if field == "password" {
        // Only the pass's own bounds are repeated: they quote no value of the caller's.
        if message.starts_with("lifetime_minutes is ") {
            return format!("password.{message}");
        }
        return "password must be {\"source\":\"secret\",\"secret_id\":\"<onboarding secret>\"}, \
                {\"source\":\"generate\"} or {\"source\":\"temporary_access_pass\",\
                \"lifetime_minutes\":60,\"one_time_use\":true}"
            .to_owned();
    }
    let message = suggest(message).unwrap_or_else(|| message.to_owned());
    let named = message.starts_with(field) || message.contains(&format!("`{field}`"));
    let reason = if field.is_empty() || field == "?" || named {
        message
    } else {
        format!("{field}: {message}")
    };
    if reason.chars().count() > REASON_MAX {
        let cut: String = reason.chars().take(REASON_MAX).collect();
        format!("{cut}…")
    } else {
        reason
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant"): "unknown
/// field `x`; did you mean `a`?" when a known name is within a couple of typos.
fn suggest(message: &str) -> Option<String> {
    let kind = ["unknown field", "unknown variant"]
        .into_iter()
        .find(|kind| message.starts_with(kind))?;
    let mut quoted = message.split('`').skip(1).step_by(2);
    let given = quoted.next()?;
    let known: Vec<&str> = quoted.collect();
    let envelope: &[&str] = if kind == "unknown field" {
        &ENVELOPE_FIELDS
    } else {
        &[]
    };
    let candidates = known.iter().chain(envelope).copied();
    let (distance, nearest) = candidates
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .min()?;
    let close = distance <= 2.max(given.chars().count() / 3);
    close.then(|| format!("{kind} `{given}`; did you mean `{nearest}`?"))
}

/// Levenshtein distance, ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
