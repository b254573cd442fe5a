//! The job contract as JSON Schema (draft 2020-12), generated from the job types so that it
//! cannot drift from the parser: `docs/schemas/job.schema.json` is the SQS message body,
//! `docs/schemas/job-request.schema.json` the body of `POST /tenants/{tenant_id}/jobs`. A test
//! fails when the committed files differ from what the types generate.
//!
//! The schema gives the shape and Graph's limits; the parser ([`Job::from_json`]) stays the judge
//! and also checks what a schema cannot say (an officially assigned country code, a
//! mail nickname's characters, a verified domain).

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::model::job::Job;
use crate::model::limits;

/// The schema of a job as it travels on SQS (and as other services send it there).
pub fn job_message_schema() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Job>()
        .to_value();
    if let Value::Object(root) = &mut schema {
        // The envelope's fields are the root's, the type's fields its `oneOf` branch's: only
        // `unevaluatedProperties` sees both, so that a misspelt field is refused as the parser
        // refuses it (`deny_unknown_fields` does not survive serde's flatten in the generator).
        root.insert("unevaluatedProperties".into(), json!(false));
        root.insert(
            "$id".into(),
            json!("https://github.com/m365-lifecycle/docs/schemas/job.schema.json"),
        );
        root.insert(
            "title".into(),
            json!("m365-lifecycle job (SQS message body)"),
        );
    }
    schema
}

/// The schema of the body of `POST /tenants/{tenant_id}/jobs`: the job message, except that
/// `tenant_id` may be left out (the path names the tenant; when given it must be the same),
/// `job_id` may be left out (one is generated), and an onboarding's password may be given as its
/// value (`{"source":"value","value":"..."}`), which the API moves into a secret at once.
pub fn job_request_schema() -> Value {
    let mut schema = job_message_schema();
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|field| field != "tenant_id" && field != "job_id");
    }
    if let Some(one_of) = schema
        .pointer_mut("/$defs/PasswordSource/oneOf")
        .and_then(Value::as_array_mut)
    {
        one_of.push(json!({
            "description": "The password itself: checked against Entra ID's rules, moved into a short-lived secret by the API, never queued.",
            "type": "object",
            "properties": {
                "source": {"type": "string", "const": "value"},
                "value": {"type": "string", "minLength": 8, "maxLength": 256}
            },
            "required": ["source", "value"],
            "additionalProperties": false
        }));
    }
    let Value::Object(mut single) = schema else {
        return schema;
    };
    // One job, or a list of them: the single job moves into `$defs/JobRequest`, which both
    // branches refer to (its own `$ref`s point into the root's `$defs`, which stay where they are).
    let mut defs = match single.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let dialect = single.remove("$schema");
    // Its `$id` would make it a resource of its own, where `#/$defs/...` points nowhere.
    single.remove("title");
    single.remove("$id");
    defs.insert("JobRequest".into(), Value::Object(single));
    let job = json!({"$ref": "#/$defs/JobRequest"});
    let mut root = Map::new();
    if let Some(dialect) = dialect {
        root.insert("$schema".into(), dialect);
    }
    root.insert(
        "$id".into(),
        json!("https://github.com/m365-lifecycle/docs/schemas/job-request.schema.json"),
    );
    root.insert(
        "title".into(),
        json!("m365-lifecycle job or list of jobs (body of POST /tenants/{tenant_id}/jobs)"),
    );
    root.insert(
        "oneOf".into(),
        json!([
            job,
            {
                "description": "A list of jobs: each is validated, recorded and queued on its own; the answer (207) has one result per job, in order.",
                "type": "object",
                "properties": {
                    "jobs": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": limits::MAX_JOBS_PER_REQUEST,
                        "items": job
                    }
                },
                "required": ["jobs"],
                "additionalProperties": false
            }
        ]),
    );
    root.insert("$defs".into(), Value::Object(defs));
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn schemas_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas")
    }

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const GROUP: &str = "0b6f3b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

    /// One job of each type, as README's "Job schema (SQS)" shows them.
    fn examples() -> Vec<Value> {
        vec![
            json!({"job_id": "j-1", "tenant_id": TENANT, "type": "sync", "sync_run_id": "r-1", "full": false}),
            json!({"job_id": "j-2", "tenant_id": TENANT, "type": "onboard",
                   "given_name": "Adele", "surname": "Vance", "display_name": "Adele Vance",
                   "mail_nickname": "adele", "user_principal_name": "adele@contoso.com",
                   "usage_location": "US", "job_title": "Engineer", "department": "R&D",
                   "groups": [GROUP], "licenses": ["SPE_E5"],
                   "start_at": "2027-01-06T08:00:00Z", "password": {"source": "generate"}}),
            json!({"job_id": "j-3", "tenant_id": TENANT, "type": "update_memberships",
                   "account": "adele@contoso.com", "add_groups": [GROUP], "remove_licenses": ["SPE_E5"]}),
            json!({"job_id": "j-4", "tenant_id": TENANT, "type": "offboard",
                   "account": "adele@contoso.com", "policy": "keep_disabled",
                   "start_at": "2027-03-31T17:00:00Z"}),
            json!({"job_id": "j-5", "tenant_id": TENANT, "type": "license_refresh", "inactive_after_days": 30}),
            json!({"job_id": "j-6", "tenant_id": TENANT, "type": "update_account",
                   "account": "adele@contoso.com", "job_title": "Lead Engineer",
                   "office_location": "Building 4", "employee_id": "E-10442",
                   "usage_location": "DE", "manager": "alex@contoso.com",
                   "user_principal_name": "adele.vance@contoso.com"}),
            json!({"job_id": "j-7", "tenant_id": TENANT, "type": "set_sign_in",
                   "account": "adele@contoso.com", "sign_in": "blocked", "revoke_sessions": true}),
            json!({"job_id": "g-1", "tenant_id": TENANT, "type": "create_group",
                   "group_type": "microsoft365", "display_name": "Finance Approvers",
                   "mail_nickname": "finance-approvers", "description": "Invoices over 10k",
                   "owners": ["adele@contoso.com"]}),
            json!({"job_id": "g-2", "tenant_id": TENANT, "type": "update_group",
                   "group": GROUP, "display_name": "Finance Approvers (EMEA)"}),
            json!({"job_id": "g-3", "tenant_id": TENANT, "type": "set_group_members",
                   "group": GROUP, "members": ["adele@contoso.com", GROUP]}),
            json!({"job_id": "g-4", "tenant_id": TENANT, "type": "delete_group", "group": GROUP}),
        ]
    }

    fn validator(schema: &Value) -> jsonschema::Validator {
        jsonschema::draft202012::new(schema).expect("the generated schema is valid JSON Schema")
    }

    #[test]
    fn given_the_job_types_when_the_schemas_are_generated_then_they_equal_the_committed_files() {
        // GIVEN the schemas the job types generate today
        let generated = [
            ("job.schema.json", job_message_schema()),
            ("job-request.schema.json", job_request_schema()),
        ];

        for (file, schema) in generated {
            let path = schemas_dir().join(file);
            let text = serde_json::to_string_pretty(&schema).expect("JSON") + "\n";
            if std::env::var_os("UPDATE_SCHEMAS").is_some() {
                std::fs::write(&path, &text).expect("write the schema");
            }
            // WHEN the committed file is read
            let committed = std::fs::read_to_string(&path).unwrap_or_default();

            // THEN it is exactly what the types say: a change of a job type changes the contract
            assert!(
                committed == text,
                "docs/schemas/{file} differs from the job types: regenerate it with \
                 `UPDATE_SCHEMAS=1 cargo test -p lifecycle --lib job_schema` and review the diff"
            );
        }
    }

    #[test]
    fn given_a_job_of_each_type_then_the_schema_and_the_parser_both_accept_it() {
        let message = validator(&job_message_schema());
        let request = validator(&job_request_schema());
        for job in examples() {
            // GIVEN a valid job, WHEN it is checked by the message schema, the request schema
            // and the parser, THEN all three accept it
            let errors: Vec<String> = message.iter_errors(&job).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{job}: {errors:?}");
            assert!(request.is_valid(&job), "{job}");
            Job::from_value(job.clone()).unwrap_or_else(|e| panic!("{job}: {e}"));
        }
    }

    #[test]
    fn given_jobs_that_break_a_limit_then_the_schema_and_the_parser_both_refuse_them() {
        let schema = validator(&job_message_schema());
        let onboard = examples()[1].clone();
        let with = |mut job: Value, field: &str, value: Value| {
            job[field] = value;
            job
        };
        let bad = [
            // a misspelt field is not silently ignored
            with(examples()[3].clone(), "licences", json!(true)),
            with(onboard.clone(), "display_name", json!("x".repeat(257))),
            with(onboard.clone(), "given_name", json!("x".repeat(65))),
            with(onboard.clone(), "groups", json!(vec![GROUP; 101])),
            with(onboard.clone(), "user_principal_name", json!("not-an-upn")),
            with(
                examples()[4].clone(),
                "inactive_after_days",
                json!(999_999_999),
            ),
            with(examples()[4].clone(), "inactive_after_days", json!(0)),
            with(examples()[3].clone(), "policy", json!("shred")),
            with(examples()[3].clone(), "type", json!("offbaord")),
            with(examples()[5].clone(), "employee_id", json!("x".repeat(17))),
            with(
                examples()[5].clone(),
                "office_location",
                json!("x".repeat(129)),
            ),
            with(examples()[5].clone(), "display_name", json!("")),
            with(examples()[5].clone(), "manager", json!("not an account")),
            with(examples()[6].clone(), "sign_in", json!("paused")),
        ];
        for job in bad {
            // GIVEN a job outside the contract, WHEN checked, THEN both refuse it
            assert!(!schema.is_valid(&job), "the schema accepts {job}");
            assert!(
                Job::from_value(job.clone()).is_err(),
                "the parser accepts {job}"
            );
        }
    }

    #[test]
    fn given_an_api_body_without_tenant_or_id_and_with_a_password_value_then_only_the_request_schema_accepts_it()
     {
        // GIVEN an onboarding as the API takes it: no tenant_id or job_id, the password's value
        let mut body = examples()[1].clone();
        let fields = body.as_object_mut().expect("object");
        fields.remove("tenant_id");
        fields.remove("job_id");
        fields.insert(
            "password".into(),
            json!({"source": "value", "value": "Correct-Horse-9"}),
        );

        // WHEN both schemas check it
        // THEN the request schema accepts it and the queue's refuses it (a value never travels)
        assert!(validator(&job_request_schema()).is_valid(&body));
        assert!(!validator(&job_message_schema()).is_valid(&body));
    }

    #[test]
    fn given_a_list_of_jobs_then_the_request_schema_takes_1_to_100_and_nothing_beside_them() {
        // GIVEN the request schema and lists of the example jobs
        let request = validator(&job_request_schema());
        let jobs: Vec<Value> = examples().into_iter().skip(1).collect();

        // WHEN lists are checked, THEN one of 1..=100 jobs is accepted; an empty one, one of
        // 101, one with a field beside `jobs` or with a bad job inside are refused
        assert!(request.is_valid(&json!({ "jobs": jobs })));
        assert!(!request.is_valid(&json!({ "jobs": [] })));
        let too_many: Vec<Value> = (0..=limits::MAX_JOBS_PER_REQUEST)
            .map(|_| examples()[3].clone())
            .collect();
        assert!(!request.is_valid(&json!({ "jobs": too_many })));
        assert!(!request.is_valid(&json!({ "jobs": jobs, "type": "offboard" })));
        let mut bad = examples()[3].clone();
        bad["policy"] = json!("shred");
        assert!(!request.is_valid(&json!({ "jobs": [bad] })));
    }
}
