//! Every answer these tests see is held against the published contract (docs/openapi.json): the
//! route documents its status, and the body is valid under the status's schema. schemathesis
//! checks the same from outside (`make contract-test`) but reaches only what random input reaches;
//! these tests reach real accounts, groups, runs and finished jobs.

use std::sync::OnceLock;

use serde_json::{Value, json};

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::from_str(include_str!("../../../../docs/openapi.json"))
            .expect("docs/openapi.json is JSON")
    })
}

/// Panics naming the route, the status and what is wrong when the answer is not as documented.
pub fn check(route: &str, status: i64, body: &Value) {
    let (method, path) = route.split_once(' ').expect("a route key: METHOD /path");
    let answers = &document()["paths"][path][method.to_ascii_lowercase()]["responses"];
    assert!(!answers.is_null(), "{route} is not in docs/openapi.json");
    let answer = &answers[status.to_string()];
    assert!(
        !answer.is_null(),
        "{route} answered {status}, which docs/openapi.json does not list: {body}"
    );
    let Some(schema) = answer.pointer("/content/application~1json/schema") else {
        return;
    };
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document()["components"],
    });
    if let (Some(root), Some(schema)) = (root.as_object_mut(), schema.as_object()) {
        root.extend(schema.clone());
    }
    let validator = jsonschema::validator_for(&root).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|error| format!("{error} (at {})", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{route} {status} does not match docs/openapi.json: {errors:#?}\n{body}"
    );
}
