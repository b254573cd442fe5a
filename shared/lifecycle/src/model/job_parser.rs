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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::job::*;
    use crate::model::limits;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn onboard_json() -> serde_json::Value {
        serde_json::json!({
            "job_id":"j-2","tenant_id":TENANT,"type":"onboard",
            "given_name":"Adele","surname":"Vance","display_name":"Adele Vance","mail_nickname":"adele",
            "user_principal_name":"adele@contoso.com","usage_location":"US",
            "password":{"source":"generate"}
        })
    }

    fn refusal(json: serde_json::Value) -> JobParseError {
        match Job::from_value(json) {
            Ok(job) => panic!("expected a refusal, got {job:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn given_a_misspelt_field_when_parsed_then_it_is_refused_with_the_field_and_its_right_name() {
        // GIVEN an onboard job with `licences`, and a membership job with `group`
        let mut onboard = onboard_json();
        onboard["licences"] = serde_json::json!(["SPE_E5"]);
        let offboard = serde_json::json!({"job_id":"j-4","tenant_id":TENANT,"type":"offboard",
            "account":"adele@contoso.com","remove_group":true});
        let mut dry = onboard_json();
        dry["dryrun"] = serde_json::json!(true);

        // WHEN parsed THEN each is refused naming the field and the one meant
        let error = refusal(onboard);
        assert_eq!(
            error.reason,
            "unknown field `licences`; did you mean `licenses`?"
        );
        // AND what identifies the job is still read, so the refusal can be recorded on it
        assert_eq!(error.tenant_id.as_ref().map(TenantId::as_str), Some(TENANT));
        assert_eq!(error.job_id.as_ref().map(JobId::as_str), Some("j-2"));
        assert_eq!(error.job_type, Some("onboard"));
        assert_eq!(
            refusal(offboard).reason,
            "unknown field `remove_group`; did you mean `remove_groups`?"
        );
        assert_eq!(
            refusal(dry).reason,
            "unknown field `dryrun`; did you mean `dry_run`?"
        );
        let mut far = onboard_json();
        far["favourite_colour"] = serde_json::json!("blue");
        let reason = refusal(far).reason;
        assert!(
            reason.starts_with("unknown field `favourite_colour`, expected one of"),
            "{reason}"
        );
    }

    #[test]
    fn given_offboard_options_when_parsed_then_they_are_kept_and_a_bad_reply_is_refused_naming_its_field()
     {
        // GIVEN an offboard job with every option
        let mut body = serde_json::json!({
            "job_id": "job-1", "tenant_id": "8c5f1d2e-0a4b-4c3d-9e8f-7a6b5c4d3e2f",
            "type": "offboard", "account": "adele@contoso.com",
            "remove_authentication_methods": true, "remove_app_role_assignments": true,
            "remove_permission_grants": true,
            "automatic_reply": {"internal_message": "Adele has left", "external_message": "Gone"}
        });
        // WHEN parsed THEN each option is kept
        let job = Job::from_value(body.clone()).unwrap();
        let JobKind::Offboard(spec) = &job.kind else {
            panic!("an offboard job")
        };
        assert!(spec.remove_authentication_methods && spec.remove_app_role_assignments);
        assert!(spec.remove_permission_grants);
        assert_eq!(
            spec.automatic_reply
                .as_ref()
                .map(|r| r.internal_message.as_str()),
            Some("Adele has left")
        );
        // ... and an empty or oversized reply is refused naming its field
        body["automatic_reply"]["internal_message"] = serde_json::json!(" ");
        let reason = refusal(body.clone()).reason;
        assert!(
            reason.contains("automatic_reply.internal_message is empty"),
            "{reason}"
        );
        body["automatic_reply"]["internal_message"] = serde_json::json!("ok");
        body["automatic_reply"]["external_message"] =
            serde_json::json!("x".repeat(limits::REPLY_MESSAGE_MAX + 1));
        let reason = refusal(body).reason;
        assert!(
            reason.contains("automatic_reply.external_message is 8001 characters long"),
            "{reason}"
        );
    }

    #[test]
    fn given_texts_over_graphs_limits_when_parsed_then_each_is_refused_naming_field_and_limit() {
        let cases = [
            (
                "display_name",
                "x".repeat(257),
                "display_name is 257 characters long; Microsoft Graph accepts a displayName of at most 256",
            ),
            (
                "given_name",
                "x".repeat(65),
                "given_name is 65 characters long; Microsoft Graph accepts a givenName of at most 64",
            ),
            (
                "surname",
                "x".repeat(65),
                "surname is 65 characters long; Microsoft Graph accepts a surname of at most 64",
            ),
            (
                "mail_nickname",
                "x".repeat(65),
                "mail_nickname is 65 characters long; Microsoft Graph accepts a mailNickname of at most 64",
            ),
            (
                "job_title",
                "x".repeat(129),
                "job_title is 129 characters long; Microsoft Graph accepts a jobTitle of at most 128",
            ),
            (
                "department",
                "x".repeat(65),
                "department is 65 characters long; Microsoft Graph accepts a department of at most 64",
            ),
            (
                "display_name",
                " ".into(),
                "display_name is empty; Microsoft Graph needs a displayName of 1 to 256 characters",
            ),
        ];
        for (field, value, expected) in cases {
            let mut job = onboard_json();
            job[field] = serde_json::json!(value);
            assert_eq!(refusal(job).reason, expected);
        }
        // AND the limits themselves pass (characters, not bytes)
        let mut longest = onboard_json();
        longest["display_name"] = serde_json::json!("é".repeat(256));
        longest["job_title"] = serde_json::json!("x".repeat(128));
        assert!(Job::from_value(longest).is_ok());
    }

    #[test]
    fn given_a_one_megabyte_display_name_when_parsed_then_the_short_refusal_does_not_echo_it() {
        let mut job = onboard_json();
        job["display_name"] = serde_json::json!("x".repeat(1 << 20));
        let reason = refusal(job).reason;
        assert!(reason.len() < 200, "{}", reason.len());
        assert!(reason.contains("1048576 characters long"), "{reason}");
    }

    #[test]
    fn given_mail_nicknames_graph_refuses_when_parsed_then_the_character_is_named() {
        for bad in ["adele vance", "adele@x", "a(b)", "a;b", "adèle"] {
            let mut job = onboard_json();
            job["mail_nickname"] = serde_json::json!(bad);
            let reason = refusal(job).reason;
            assert!(reason.starts_with("mail_nickname holds"), "{bad}: {reason}");
        }
        let mut ok = onboard_json();
        ok["mail_nickname"] = serde_json::json!("o'brien.adele-v_1");
        assert!(Job::from_value(ok).is_ok());
    }

    #[test]
    fn given_lists_over_their_caps_when_parsed_then_the_refusal_names_list_length_and_cap() {
        let groups: Vec<String> = (0..5_000)
            .map(|n| format!("0b9f1c2e-0000-4000-8000-{n:012}"))
            .collect();
        let mut onboard = onboard_json();
        onboard["groups"] = serde_json::json!(groups);
        assert_eq!(
            refusal(onboard).reason,
            "groups has 5000 items; a job takes at most 100: split the change over several jobs"
        );
        let licenses = vec!["SPE_E5"; limits::MAX_LICENSES + 1];
        let update = serde_json::json!({"job_id":"j-3","tenant_id":TENANT,"type":"update_memberships",
            "account":"adele@contoso.com","set_licenses":licenses});
        assert!(
            refusal(update)
                .reason
                .contains("set_licenses has 51 items; a job takes at most 50"),
        );
        let mut at_cap = onboard_json();
        at_cap["groups"] = serde_json::json!(groups[..limits::MAX_GROUPS]);
        assert!(Job::from_value(at_cap).is_ok());
    }

    #[test]
    fn given_inactive_after_days_out_of_range_when_parsed_then_refused_with_the_range() {
        for days in [
            serde_json::json!(0),
            serde_json::json!(999_999_999),
            serde_json::json!(3651),
        ] {
            let job = serde_json::json!({"job_id":"j-5","tenant_id":TENANT,"type":"license_refresh",
                "inactive_after_days":days});
            let reason = refusal(job).reason;
            assert!(
                reason.ends_with("expected a whole number of days from 1 to 3650 (ten years)"),
                "{reason}"
            );
        }
        let job = serde_json::json!({"job_id":"j-5","tenant_id":TENANT,"type":"license_refresh",
            "inactive_after_days":3650});
        assert!(Job::from_value(job).is_ok());
    }

    #[test]
    fn given_a_password_value_in_the_wrong_shape_when_parsed_then_the_refusal_does_not_quote_it() {
        let mut job = onboard_json();
        job["password"] = serde_json::json!("Hunter2-Secret!");
        let reason = refusal(job).reason;
        assert!(!reason.contains("Hunter2"), "{reason}");
        assert!(reason.starts_with("password must be"), "{reason}");
    }

    #[test]
    fn given_malformed_json_or_a_misspelt_type_when_parsed_then_the_reason_says_where() {
        assert_eq!(
            Job::from_json("{\"job_id\":").unwrap_err().reason,
            "the job is not valid JSON (line 1, column 10)"
        );
        assert_eq!(
            Job::from_json("[]").unwrap_err().reason,
            "a job is a JSON object with job_id, tenant_id and type"
        );
        let job = serde_json::json!({"job_id":"j","tenant_id":TENANT,"type":"ofboard"});
        assert_eq!(
            refusal(job).reason,
            "type: unknown variant `ofboard`; did you mean `offboard`?"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                ".{0,80}".prop_map(serde_json::Value::from),
                Just(serde_json::Value::from(TENANT)),
                Just(serde_json::Value::from("adele@contoso.com")),
                prop::sample::select(JOB_TYPES.to_vec()).prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                    prop::collection::btree_map(field_name(), inner, 0..10)
                        .prop_map(|map| { serde_json::Value::Object(map.into_iter().collect()) }),
                ]
            })
        }

        /// Field names a job has (so the parser gets deep), misspelt ones and random ones.
        fn field_name() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "job_id",
                    "tenant_id",
                    "type",
                    "dry_run",
                    "given_name",
                    "surname",
                    "display_name",
                    "mail_nickname",
                    "user_principal_name",
                    "usage_location",
                    "groups",
                    "licenses",
                    "password",
                    "source",
                    "secret_id",
                    "account",
                    "add_groups",
                    "set_licenses",
                    "inactive_after_days",
                    "sync_run_id",
                    "resume",
                    "phase",
                    "link",
                    "policy",
                    "licences",
                ])
                .prop_map(str::to_owned),
                ".{0,12}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            #[test]
            fn no_json_text_panics_the_job_parser(text in ".{0,400}") {
                let _ = Job::from_json(&text);
            }

            #[test]
            fn no_json_value_panics_the_job_parser(value in json_value()) {
                match Job::from_value(value) {
                    // THEN an accepted job reads back as itself
                    Ok(job) => {
                        let again = Job::from_json(&serde_json::to_string(&job).unwrap());
                        prop_assert_eq!(again, Ok(job));
                    }
                    // THEN a refusal is short
                    Err(error) => prop_assert!(error.reason.chars().count() <= REASON_MAX + 1),
                }
            }

            #[test]
            fn no_envelope_with_any_fields_panics_the_job_parser(
                job_type in prop::sample::select(JOB_TYPES.to_vec()),
                fields in prop::collection::btree_map(field_name(), json_value(), 0..12),
            ) {
                let mut body: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
                body.insert("job_id".into(), "j-1".into());
                body.insert("tenant_id".into(), TENANT.into());
                body.insert("type".into(), job_type.into());
                if let Err(error) = Job::from_value(serde_json::Value::Object(body)) {
                    prop_assert_eq!(error.job_type, Some(job_type));
                    prop_assert!(error.tenant_id.is_some() && error.job_id.is_some());
                }
            }
        }
    }
}
