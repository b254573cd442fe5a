//! The document's component schemas: the error shapes, the request bodies and the answers, each
//! generated from the serde type that parses or writes it (schemars), hoisted into
//! `components/schemas` with every reference pointed there.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::answers;

/// The component schemas: the error shapes, the request bodies (from their serde types) and the
/// answers.
pub(super) fn schemas() -> Map<String, Value> {
    components().0
}

/// The component schemas, and the names two different schemas claimed (each must be empty: a
/// second schema under a taken name would replace the first wherever it is referred to).
pub(super) fn components() -> (Map<String, Value>, Vec<String>) {
    let mut schemas = Map::new();
    let mut clashes = Vec::new();
    schemas.insert(
        "Error".into(),
        json!({
            "description": "The one error shape of the functions' answers.",
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable: bad_request, not_found, unavailable, ..."},
                    "message": {"type": "string", "description": "What is wrong and how to fix it."},
                    "request_id": {"type": "string", "description": "API Gateway's request id: quote it to an operator (access and function logs carry it)."},
                    "field": {"type": "string", "description": "The request field at fault, when one is."}
                }
            }}
        }),
    );
    schemas.insert(
        "GatewayMessage".into(),
        json!({
            "description": "API Gateway's own refusals (before any function runs).",
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}}
        }),
    );
    schemas.insert(
        "Refusal".into(),
        json!({"anyOf": [{"$ref": "#/components/schemas/GatewayMessage"}, {"$ref": "#/components/schemas/Error"}]}),
    );
    schemas.insert("Object".into(), json!({"type": "object"}));
    schemas.insert(
        "Health".into(),
        json!({"type": "object", "required": ["status", "version", "table"],
               "properties": {"status": {"type": "string"}, "version": {"type": "string"}, "table": {"type": "string"}}}),
    );
    schemas.insert(
        "StartLink".into(),
        json!({"type": "object", "required": ["start_url"], "properties": {"start_url": {"type": "string"}}}),
    );
    schemas.insert(
        "BulkResult".into(),
        json!({"type": "object", "required": ["accepted", "refused", "results"],
               "properties": {"accepted": {"type": "integer"}, "refused": {"type": "integer"},
                              "results": {"type": "array", "items": {"type": "object",
                                  "required": ["index", "http_status"],
                                  "properties": {"index": {"type": "integer"}, "http_status": {"type": "integer"}}}}}}),
    );
    for (name, schema) in [
        ("SyncRequest", schema_of::<crate::synced::SyncBody>()),
        (
            "SyncSettings",
            schema_of::<lifecycle::model::SyncSettings>(),
        ),
        (
            "MatchRequest",
            schema_of::<lifecycle::matching::MatchRequest>(),
        ),
        ("ConfirmMatch", schema_of::<crate::matches::ConfirmBody>()),
        (
            "RefreshRequest",
            schema_of::<crate::licenses::RefreshRequest>(),
        ),
        (
            "RestoreRequest",
            schema_of::<crate::restore::RestoreRequest>(),
        ),
        (
            "OwnAppRequest",
            schema_of::<lifecycle::model::OwnAppRequest>(),
        ),
        (
            "ConnectCustomer",
            schema_of::<lifecycle::model::ConnectCustomer>(),
        ),
        (
            "JobSubmission",
            closed_one_job(lifecycle::model::job_request_schema()),
        ),
    ] {
        clashes.extend(hoist(name, schema, &mut schemas));
    }
    // An answer's types are described as they are serialized; one that a body shares but that
    // reads otherwise (a job's password source, as stored) keeps a name of its own.
    for (name, schema) in [
        ("TenantList", answer_of::<answers::TenantList>()),
        (
            "TenantConnection",
            answer_of::<lifecycle::model::TenantConnection>(),
        ),
        ("Removed", answer_of::<crate::removal::Removed>()),
        ("SyncQueued", answer_of::<answers::SyncQueued>()),
        ("SyncRunLog", answer_of::<answers::SyncRunLog>()),
        ("SyncSettingsView", answer_of::<answers::SyncSettingsView>()),
        (
            "MatchReport",
            answer_of::<lifecycle::matching::MatchReport>(),
        ),
        (
            "ConfirmedMatches",
            answer_of::<lifecycle::matching::ConfirmedMatches>(),
        ),
        (
            "ConfirmedView",
            answer_of::<lifecycle::matching::ConfirmedView>(),
        ),
        ("AccountPage", answer_of::<answers::AccountPage>()),
        ("Account", answer_of::<answers::AccountView>()),
        ("GroupPage", answer_of::<answers::GroupPage>()),
        ("GroupMembersPage", answer_of::<answers::GroupMembersPage>()),
        ("Licenses", answer_of::<answers::Licenses>()),
        (
            "LicenseReport",
            answer_of::<lifecycle::license_report::LicenseReport>(),
        ),
        ("RefreshQueued", answer_of::<answers::RefreshQueued>()),
        ("JobAccepted", answer_of::<answers::JobAccepted>()),
        ("JobView", answer_of::<answers::JobView>()),
        (
            "TenantConnected",
            answer_of::<lifecycle::model::TenantConnected>(),
        ),
        (
            "ConnectionTested",
            answer_of::<lifecycle::model::ConnectionTested>(),
        ),
        (
            "PartnerCustomers",
            answer_of::<lifecycle::model::PartnerCustomers>(),
        ),
        (
            "ConsentRequired",
            answer_of::<lifecycle::model::ConsentRequired>(),
        ),
        (
            "RestoreReport",
            answer_of::<lifecycle::offboarding::restore::RestoreReport>(),
        ),
        (
            "PasswordHandedBack",
            answer_of::<answers::PasswordHandedBack<'static>>(),
        ),
        (
            "ReceiptAnswer",
            answer_of::<crate::receipt::ReceiptAnswer>(),
        ),
    ] {
        let schema = rename_taken_defs(schema, &schemas, "AsStored");
        clashes.extend(hoist(name, schema, &mut schemas));
    }
    (schemas, clashes)
}

/// `schema` (an object of envelope `properties` and a `oneOf` of object branches, closed by
/// `unevaluatedProperties: false`) with the envelope's properties copied into every branch and
/// each branch closed by `additionalProperties: false` instead. It accepts exactly the same
/// documents; fuzzers that generate from a schema (schemathesis) cannot generate from the
/// `unevaluatedProperties` form once it has more than a few branches.
fn closed_branches(mut schema: Value) -> Value {
    let Some(root) = schema.as_object_mut() else {
        return schema;
    };
    if root.get("unevaluatedProperties") != Some(&Value::Bool(false)) {
        return schema;
    }
    let envelope = root.get("properties").cloned().unwrap_or_else(|| json!({}));
    let Some(Value::Array(branches)) = root.get_mut("oneOf") else {
        return schema;
    };
    for branch in branches.iter_mut() {
        let Some(branch) = branch.as_object_mut() else {
            continue;
        };
        let properties = branch.entry("properties").or_insert_with(|| json!({}));
        if let (Some(properties), Some(envelope)) =
            (properties.as_object_mut(), envelope.as_object())
        {
            for (name, value) in envelope {
                properties
                    .entry(name.clone())
                    .or_insert_with(|| value.clone());
            }
        }
        branch.insert("additionalProperties".into(), Value::Bool(false));
    }
    root.remove("unevaluatedProperties");
    schema
}

/// The job submission schema with its one-job definition in the [`closed_branches`] form.
fn closed_one_job(mut schema: Value) -> Value {
    if let Some(one) = schema.pointer_mut("/$defs/JobRequest") {
        *one = closed_branches(one.take());
    }
    schema
}

/// A body type's schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
fn schema_of<T: schemars::JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// An answer type's schema: as it is serialized (a field skipped when empty is not required).
fn answer_of<T: schemars::JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// Puts `schema` under `name` in the components, its `$defs` beside it (a `$ref` to
/// `#/$defs/X` becomes `#/components/schemas/X`, which is where it now lives). Answers the names
/// that already held a different schema.
fn hoist(name: &str, mut schema: Value, schemas: &mut Map<String, Value>) -> Vec<String> {
    retarget(&mut schema);
    let mut entries = Vec::new();
    if let Value::Object(root) = &mut schema {
        root.remove("$schema");
        root.remove("$id");
        // The generator titles a root with its type's name, which a `$defs` copy does not carry.
        if root.get("title").and_then(Value::as_str) == Some(name) {
            root.remove("title");
        }
        if let Some(Value::Object(defs)) = root.remove("$defs") {
            entries.extend(defs);
        }
    }
    entries.push((name.to_owned(), schema));
    let mut clashes = Vec::new();
    for (entry, value) in entries {
        if let Some(previous) = schemas.insert(entry.clone(), value)
            && schemas.get(&entry) != Some(&previous)
        {
            clashes.push(entry);
        }
    }
    clashes
}

/// `schema` with each of its `$defs` whose name already holds a different schema renamed to
/// that name and `suffix` (and every `$ref` to it changed to match).
fn rename_taken_defs(mut schema: Value, taken: &Map<String, Value>, suffix: &str) -> Value {
    retarget(&mut schema);
    let Some(Value::Object(defs)) = schema.get("$defs") else {
        return schema;
    };
    let renamed: Vec<String> = defs
        .iter()
        .filter(|(name, value)| taken.get(*name).is_some_and(|held| held != *value))
        .map(|(name, _)| name.clone())
        .collect();
    if renamed.is_empty() {
        return schema;
    }
    let mut text = schema.to_string();
    for name in &renamed {
        text = text.replace(
            &format!("\"#/components/schemas/{name}\""),
            &format!("\"#/components/schemas/{name}{suffix}\""),
        );
    }
    schema = serde_json::from_str(&text).unwrap_or(schema);
    if let Some(Value::Object(defs)) = schema.get_mut("$defs") {
        for name in renamed {
            if let Some(value) = defs.remove(&name) {
                defs.insert(format!("{name}{suffix}"), value);
            }
        }
    }
    schema
}

fn retarget(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "$ref"
                    && let Value::String(target) = inner
                    && let Some(def) = target.strip_prefix("#/$defs/")
                {
                    *target = format!("#/components/schemas/{def}");
                } else {
                    retarget(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(retarget),
        _ => {}
    }
}
