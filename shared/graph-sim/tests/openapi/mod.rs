//! A small validator over the OpenAPI subset's component schemas: required properties present,
//! types right (nullable honoured, enums, int32 ranges, date-time and uuid formats), and no
//! property outside the schema's properties. OData annotations (`@odata.*`, `members@delta`,
//! `@removed`) are allowed; `@odata.type` switches to the derived type, as OData polymorphism does.

#![allow(dead_code)]

use serde_json::{Map, Value};

pub struct Spec {
    doc: Value,
}

const FIXTURE: &str = include_str!("../fixtures/graph-v1.0-subset.yaml");
const LICENSE_DETAILS: &str = include_str!("../fixtures/license-details.yaml");

impl Spec {
    pub fn load() -> Spec {
        let mut doc: Value = serde_yaml::from_str(FIXTURE).expect("subset parses");
        let extra: Value = serde_yaml::from_str(LICENSE_DETAILS).expect("fixture parses");
        let schemas = doc["components"]["schemas"]
            .as_object_mut()
            .expect("schemas");
        for (k, v) in extra.as_object().expect("map") {
            schemas.insert(format!("microsoft.graph.{k}"), v.clone());
        }
        Spec { doc }
    }

    /// The response schema the subset gives for a path, method and status (or `default`).
    pub fn response_schema(&self, path: &str, method: &str, status: u16) -> Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "subset has no {method} {path}");
        let responses = &op["responses"];
        let r = responses
            .get(status.to_string())
            .unwrap_or_else(|| &responses["default"]);
        let r = self.resolve(r);
        r["content"]["application/json"]["schema"].clone()
    }

    pub fn schema(&self, name: &str) -> Value {
        let s = &self.doc["components"]["schemas"][name];
        assert!(s.is_object(), "no schema {name}");
        s.clone()
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let mut cur = &self.doc;
                for part in r.trim_start_matches("#/").split('/') {
                    cur = &cur[part];
                }
                self.resolve(cur)
            }
            None => v,
        }
    }

    /// Validates a value; returns every violation with its JSON path.
    pub fn validate(&self, value: &Value, schema: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(value, schema, "$", &mut errors);
        errors
    }

    /// Properties, required names and whether extra properties are allowed, after allOf.
    fn object_shape(
        &self,
        schema: &Value,
        props: &mut Map<String, Value>,
        required: &mut Vec<String>,
        open: &mut bool,
    ) {
        let schema = self.resolve(schema);
        if let Some(parts) = schema["allOf"].as_array() {
            for p in parts {
                self.object_shape(p, props, required, open);
            }
            // Entities list every property; extra ones are what the contract forbids.
            *open = false;
        }
        if let Some(p) = schema["properties"].as_object() {
            for (k, v) in p {
                props.insert(k.clone(), v.clone());
            }
        }
        if let Some(r) = schema["required"].as_array() {
            required.extend(r.iter().filter_map(|x| x.as_str().map(String::from)));
        }
        if schema["allOf"].is_null() && schema.get("additionalProperties").is_some() {
            *open = true;
        }
    }

    fn nullable(&self, schema: &Value) -> bool {
        let s = self.resolve(schema);
        s["nullable"] == true
            || s["anyOf"]
                .as_array()
                .is_some_and(|a| a.iter().any(|b| self.nullable(b)))
    }

    fn check(&self, value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            if !self.nullable(schema) && !schema.as_object().is_some_and(|o| o.is_empty()) {
                errors.push(format!("{path}: null where the schema is not nullable"));
            }
            return;
        }
        if let Some(branches) = schema["anyOf"].as_array() {
            let real: Vec<&Value> = branches
                .iter()
                .filter(|b| {
                    !(b["type"] == "object"
                        && b["nullable"] == true
                        && b.get("properties").is_none())
                })
                .collect();
            let ok = real.iter().any(|b| {
                let mut e = Vec::new();
                self.check(value, b, path, &mut e);
                e.is_empty()
            });
            if !ok {
                let mut e = Vec::new();
                if let Some(b) = real.first() {
                    self.check(value, b, path, &mut e);
                }
                errors.push(format!("{path}: matches no anyOf branch: {e:?}"));
            }
            return;
        }
        let is_object_schema = schema["type"] == "object"
            || schema.get("allOf").is_some()
            || schema.get("properties").is_some();
        if is_object_schema {
            let Some(obj) = value.as_object() else {
                errors.push(format!("{path}: expected object, got {value}"));
                return;
            };
            // OData polymorphism: a derived type named in @odata.type.
            let mut schema = schema.clone();
            if let Some(t) = obj.get("@odata.type").and_then(Value::as_str) {
                let name = t.trim_start_matches('#');
                if self.doc["components"]["schemas"][name].is_object() {
                    schema = self.schema(name);
                }
            }
            let (mut props, mut required, mut open) = (Map::new(), Vec::new(), false);
            self.object_shape(&schema, &mut props, &mut required, &mut open);
            for r in &required {
                if !obj.contains_key(r) {
                    errors.push(format!("{path}: required property {r} missing"));
                }
            }
            for (k, v) in obj {
                let p = format!("{path}.{k}");
                if k == "members@delta" {
                    for (i, m) in v.as_array().into_iter().flatten().enumerate() {
                        self.check(
                            m,
                            &self.schema("microsoft.graph.directoryObject"),
                            &format!("{p}[{i}]"),
                            errors,
                        );
                    }
                    continue;
                }
                if k.starts_with("@odata.") && !props.contains_key(k) || k == "@removed" {
                    continue;
                }
                match props.get(k) {
                    Some(s) => self.check(v, s, &p, errors),
                    None if open => {}
                    None => errors.push(format!("{p}: not a property of the schema")),
                }
            }
            return;
        }
        match schema["type"].as_str() {
            Some("string") => match value.as_str() {
                None => errors.push(format!("{path}: expected string, got {value}")),
                Some(s) => {
                    if let Some(e) = schema["enum"].as_array()
                        && !e.iter().any(|x| x == s)
                    {
                        errors.push(format!("{path}: {s:?} not in enum"));
                    }
                    match schema["format"].as_str() {
                        Some("date-time") if !is_date_time(s) => {
                            errors.push(format!("{path}: {s:?} is not a date-time"))
                        }
                        Some("uuid") if uuid::Uuid::parse_str(s).is_err() => {
                            errors.push(format!("{path}: {s:?} is not a uuid"))
                        }
                        _ => {}
                    }
                }
            },
            Some("boolean") if !value.is_boolean() => {
                errors.push(format!("{path}: expected boolean, got {value}"))
            }
            Some("integer") => match value.as_i64() {
                None => errors.push(format!("{path}: expected integer, got {value}")),
                Some(n) => {
                    if schema["format"] == "int32" && i32::try_from(n).is_err() {
                        errors.push(format!("{path}: {n} out of int32 range"));
                    }
                }
            },
            Some("number") if !value.is_number() => {
                errors.push(format!("{path}: expected number, got {value}"))
            }
            Some("array") => match value.as_array() {
                None => errors.push(format!("{path}: expected array, got {value}")),
                Some(items) => {
                    if let Some(max) = schema["maxItems"].as_u64()
                        && items.len() as u64 > max
                    {
                        errors.push(format!("{path}: more than {max} items"));
                    }
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, &schema["items"], &format!("{path}[{i}]"), errors);
                    }
                }
            },
            _ => {}
        }
    }
}

/// RFC 3339, or the offset-less form Graph writes in `innerError.date`.
fn is_date_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
}
