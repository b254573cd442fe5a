//! Reading each resource kind's `Properties` into its spec.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::*;

pub(super) fn as_str<'a>(value: &'a Value, location: &str) -> Result<&'a str, TemplateError> {
    value
        .as_str()
        .ok_or_else(|| invalid(location, "expected a string"))
}

pub(super) fn as_u32(value: &Value, location: &str) -> Result<u32, TemplateError> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(location, "expected a whole number"))
}

pub(super) fn as_bool(value: &Value, location: &str) -> Result<bool, TemplateError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(location, "expected true or false")),
    }
}

pub(super) fn opt_u32(
    properties: &Value,
    key: &str,
    location: &str,
) -> Result<Option<u32>, TemplateError> {
    properties
        .get(key)
        .map(|v| as_u32(v, &format!("{location}.{key}")))
        .transpose()
}

pub(super) fn opt_bool(
    properties: &Value,
    key: &str,
    location: &str,
) -> Result<Option<bool>, TemplateError> {
    properties
        .get(key)
        .map(|v| as_bool(v, &format!("{location}.{key}")))
        .transpose()
}

pub(super) fn opt_expr(
    properties: &Value,
    key: &str,
    location: &str,
) -> Result<Option<Expr>, TemplateError> {
    properties
        .get(key)
        .map(|v| Expr::parse(v, &format!("{location}.{key}")))
        .transpose()
}

pub(super) fn environment(
    value: &Value,
    location: &str,
) -> Result<BTreeMap<String, Expr>, TemplateError> {
    let mut out = BTreeMap::new();
    if let Some(vars) = value.get("Variables").and_then(Value::as_mapping) {
        for (name, expr) in vars {
            let name = as_str(name, location)?;
            out.insert(
                name.to_owned(),
                Expr::parse(expr, &format!("{location}.{name}"))?,
            );
        }
    }
    Ok(out)
}

pub(super) fn parse_key_schema(
    value: Option<&Value>,
    location: &str,
) -> Result<Vec<KeyElement>, TemplateError> {
    let Some(elements) = value.and_then(Value::as_sequence) else {
        return Err(invalid(location, "KeySchema must be a list"));
    };
    elements
        .iter()
        .map(|element| {
            Ok(KeyElement {
                attribute_name: as_str(
                    element.get("AttributeName").unwrap_or(&Value::Null),
                    location,
                )?
                .to_owned(),
                key_type: as_str(element.get("KeyType").unwrap_or(&Value::Null), location)?
                    .to_owned(),
            })
        })
        .collect()
}

pub(super) fn table(
    logical_id: String,
    p: &Value,
    location: &str,
) -> Result<TableSpec, TemplateError> {
    let attribute_definitions = p
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| invalid(location, "AttributeDefinitions must be a list"))?
        .iter()
        .map(|d| {
            Ok((
                as_str(d.get("AttributeName").unwrap_or(&Value::Null), location)?.to_owned(),
                as_str(d.get("AttributeType").unwrap_or(&Value::Null), location)?.to_owned(),
            ))
        })
        .collect::<Result<Vec<_>, TemplateError>>()?;
    let key_schema = parse_key_schema(p.get("KeySchema"), &format!("{location}.KeySchema"))?;
    let mut global_secondary_indexes = Vec::new();
    for index in p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let index_location = format!("{location}.GlobalSecondaryIndexes");
        let projection = index.get("Projection");
        global_secondary_indexes.push(IndexSpec {
            index_name: as_str(
                index.get("IndexName").unwrap_or(&Value::Null),
                &index_location,
            )?
            .to_owned(),
            key_schema: parse_key_schema(index.get("KeySchema"), &index_location)?,
            projection_type: projection
                .and_then(|p| p.get("ProjectionType"))
                .and_then(Value::as_str)
                .unwrap_or("ALL")
                .to_owned(),
            non_key_attributes: projection
                .and_then(|p| p.get("NonKeyAttributes"))
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
        });
    }
    let ttl = p.get("TimeToLiveSpecification");
    let ttl_enabled = ttl
        .and_then(|t| t.get("Enabled"))
        .map(|e| as_bool(e, &format!("{location}.TimeToLiveSpecification.Enabled")))
        .transpose()?
        .unwrap_or(false);
    let ttl_attribute = ttl
        .filter(|_| ttl_enabled)
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(TableSpec {
        table_name: opt_expr(p, "TableName", location)?,
        logical_id,
        attribute_definitions,
        key_schema,
        global_secondary_indexes,
        ttl_attribute,
    })
}

pub(super) fn queue(
    logical_id: String,
    p: &Value,
    location: &str,
) -> Result<QueueSpec, TemplateError> {
    let redrive_policy = match p.get("RedrivePolicy") {
        None => None,
        Some(redrive) => {
            let redrive_location = format!("{location}.RedrivePolicy");
            let target = redrive
                .get("deadLetterTargetArn")
                .ok_or_else(|| invalid(&redrive_location, "deadLetterTargetArn is missing"))?;
            Some(RedrivePolicy {
                dead_letter_target_arn: Expr::parse(target, &redrive_location)?,
                max_receive_count: opt_u32(redrive, "maxReceiveCount", &redrive_location)?
                    .ok_or_else(|| invalid(&redrive_location, "maxReceiveCount is missing"))?,
            })
        }
    };
    Ok(QueueSpec {
        queue_name: opt_expr(p, "QueueName", location)?,
        fifo: opt_bool(p, "FifoQueue", location)?.unwrap_or(false),
        content_based_deduplication: opt_bool(p, "ContentBasedDeduplication", location)?
            .unwrap_or(false),
        visibility_timeout: opt_u32(p, "VisibilityTimeout", location)?,
        message_retention_period: opt_u32(p, "MessageRetentionPeriod", location)?,
        delay_seconds: opt_u32(p, "DelaySeconds", location)?,
        redrive_policy,
        logical_id,
    })
}

pub(super) fn secret(
    logical_id: String,
    p: &Value,
    location: &str,
) -> Result<SecretSpec, TemplateError> {
    let generate = match p.get("GenerateSecretString") {
        None => None,
        Some(g) => {
            let g_location = format!("{location}.GenerateSecretString");
            Some(GenerateSecret {
                length: opt_u32(g, "PasswordLength", &g_location)?.unwrap_or(32) as usize,
                exclude_punctuation: opt_bool(g, "ExcludePunctuation", &g_location)?
                    .unwrap_or(false),
                secret_string_template: g
                    .get("SecretStringTemplate")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                generate_string_key: g
                    .get("GenerateStringKey")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
    };
    Ok(SecretSpec {
        name: opt_expr(p, "Name", location)?,
        secret_string: opt_expr(p, "SecretString", location)?,
        generate,
        logical_id,
    })
}

pub(super) fn function(
    logical_id: String,
    p: &Value,
    base_dir: &Path,
    location: &str,
) -> Result<FunctionSpec, TemplateError> {
    let code_uri = p
        .get("CodeUri")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(location, "CodeUri must be a local path"))?
        .to_owned();
    let mut events = Vec::new();
    for (name, event) in p
        .get("Events")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = as_str(name, location)?.to_owned();
        let event_location = format!("{location}.Events.{name}");
        let kind = event
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&event_location, "event without a Type"))?;
        let empty = Value::Mapping(Default::default());
        let ep = event.get("Properties").unwrap_or(&empty);
        let source = match kind {
            "HttpApi" => {
                let method = ep.get("Method").and_then(Value::as_str);
                let path = ep.get("Path").and_then(Value::as_str);
                match (method, path) {
                    (None, None) => EventSource::HttpApi {
                        method: "$default".into(),
                        path: "$default".into(),
                    },
                    (Some(method), Some(path)) => EventSource::HttpApi {
                        method: method.to_ascii_uppercase(),
                        path: path.to_owned(),
                    },
                    _ => {
                        return Err(invalid(
                            &event_location,
                            "an HttpApi event needs both Method and Path (or neither)",
                        ));
                    }
                }
            }
            "SQS" => {
                let queue = Expr::parse(
                    ep.get("Queue").unwrap_or(&Value::Null),
                    &format!("{event_location}.Queue"),
                )?;
                let queue = queue
                    .target()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&event_location, "Queue must be !GetAtt <Queue>.Arn"))?;
                let report_batch_item_failures = ep
                    .get("FunctionResponseTypes")
                    .and_then(Value::as_sequence)
                    .is_some_and(|types| {
                        types
                            .iter()
                            .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                    });
                EventSource::Sqs {
                    queue,
                    // Lambda's default batch size for SQS.
                    batch_size: opt_u32(ep, "BatchSize", &event_location)?.unwrap_or(10),
                    report_batch_item_failures,
                }
            }
            "Schedule" | "ScheduleV2" => {
                let key = if kind == "Schedule" {
                    "Schedule"
                } else {
                    "ScheduleExpression"
                };
                let text = ep
                    .get(key)
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&event_location, format!("{key} is missing")))?;
                let expression = ScheduleExpression::parse(text).ok_or_else(|| {
                    invalid(
                        &event_location,
                        format!("{text:?} is neither rate(N unit) nor cron(...)"),
                    )
                })?;
                let enabled = match (
                    opt_bool(ep, "Enabled", &event_location)?,
                    ep.get("State").and_then(Value::as_str),
                ) {
                    (Some(enabled), _) => enabled,
                    (None, Some(state)) => state == "ENABLED",
                    (None, None) => true,
                };
                EventSource::Schedule {
                    expression,
                    enabled,
                    input: ep.get("Input").and_then(Value::as_str).map(str::to_owned),
                }
            }
            other => {
                return Err(TemplateError::UnsupportedEvent {
                    function: logical_id,
                    event: name,
                    kind: other.to_owned(),
                });
            }
        };
        let (api, authorizer, scopes) = match source {
            EventSource::HttpApi { .. } => (
                ep.get("ApiId")
                    .map(|id| Expr::parse(id, &format!("{event_location}.ApiId")))
                    .transpose()?
                    .and_then(|id| id.target().map(str::to_owned)),
                ep.get("Auth")
                    .and_then(|auth| auth.get("Authorizer"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                authorization_scopes(
                    ep.get("Auth")
                        .and_then(|auth| auth.get("AuthorizationScopes")),
                    &format!("{event_location}.Auth.AuthorizationScopes"),
                )?,
            ),
            _ => (None, None, Vec::new()),
        };
        events.push(EventSpec {
            name,
            source,
            api,
            authorizer,
            scopes,
        });
    }
    let environment = match p.get("Environment") {
        Some(vars) => environment(vars, &format!("{location}.Environment.Variables"))?,
        None => BTreeMap::new(),
    };
    Ok(FunctionSpec {
        code_dir: normalize(&base_dir.join(&code_uri)),
        code_uri,
        timeout: opt_u32(p, "Timeout", location)?,
        environment,
        events,
        policy: policies(p.get("Policies"), &format!("{location}.Policies"))?,
        logical_id,
    })
}

/// A function's `Policies`: inline `Statement` documents only. SAM policy templates and managed
/// policy names are refused, since the devstack could not grant exactly what they grant.
fn policies(value: Option<&Value>, location: &str) -> Result<Vec<PolicyStatement>, TemplateError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let entries = value
        .as_sequence()
        .ok_or_else(|| invalid(location, "expected a list of policies"))?;
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry_location = format!("{location}[{index}]");
        let statements = entry
            .get("Statement")
            .and_then(Value::as_sequence)
            .ok_or_else(|| {
                invalid(
                    &entry_location,
                    "only inline policies (`- Statement: [...]`) are supported by the devstack",
                )
            })?;
        for (number, statement) in statements.iter().enumerate() {
            let here = format!("{entry_location}.Statement[{number}]");
            let effect = statement
                .get("Effect")
                .and_then(Value::as_str)
                .filter(|e| *e == "Allow" || *e == "Deny")
                .ok_or_else(|| invalid(&here, "Effect must be Allow or Deny"))?
                .to_owned();
            let actions = match statement.get("Action") {
                Some(Value::String(action)) => vec![action.clone()],
                Some(Value::Sequence(actions)) => actions
                    .iter()
                    .map(|a| as_str(a, &format!("{here}.Action")).map(str::to_owned))
                    .collect::<Result<_, _>>()?,
                _ => return Err(invalid(&here, "Action must be a name or a list of names")),
            };
            let resources = match statement.get("Resource") {
                Some(Value::Sequence(items)) => items
                    .iter()
                    .map(|r| Expr::parse(r, &format!("{here}.Resource")))
                    .collect::<Result<_, _>>()?,
                Some(single) => vec![Expr::parse(single, &format!("{here}.Resource"))?],
                None => return Err(invalid(&here, "a statement needs a Resource")),
            };
            out.push(PolicyStatement {
                sid: statement
                    .get("Sid")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                effect,
                actions,
                resources,
            });
        }
    }
    Ok(out)
}

/// An HttpApi's `Auth`: its default authorizer and its JWT authorizers. Other authorizer kinds
/// (Lambda, IAM) are refused, since the devstack could not enforce them.
pub(super) fn http_api(
    logical_id: String,
    p: &Value,
    location: &str,
) -> Result<HttpApiSpec, TemplateError> {
    let auth = p.get("Auth");
    let default_authorizer = auth
        .and_then(|a| a.get("DefaultAuthorizer"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut authorizers = Vec::new();
    for (name, spec) in auth
        .and_then(|a| a.get("Authorizers"))
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = as_str(name, location)?.to_owned();
        let here = format!("{location}.Properties.Auth.Authorizers.{name}");
        let jwt = spec.get("JwtConfiguration").ok_or_else(|| {
            invalid(
                &here,
                "only JWT authorizers (JwtConfiguration) are emulated by the devstack",
            )
        })?;
        let issuer = Expr::parse(
            jwt.get("issuer").unwrap_or(&Value::Null),
            &format!("{here}.JwtConfiguration.issuer"),
        )?;
        let audience = jwt
            .get("audience")
            .and_then(Value::as_sequence)
            .ok_or_else(|| invalid(&here, "JwtConfiguration.audience must be a list"))?
            .iter()
            .map(|a| Expr::parse(a, &format!("{here}.JwtConfiguration.audience")))
            .collect::<Result<Vec<_>, _>>()?;
        let identity_source = spec
            .get("IdentitySource")
            .and_then(Value::as_str)
            .unwrap_or("$request.header.Authorization")
            .to_owned();
        authorizers.push(JwtAuthorizer {
            name,
            identity_source,
            issuer,
            audience,
        });
    }
    let cors = p
        .get("CorsConfiguration")
        .map(|c| cors(c, &format!("{location}.Properties.CorsConfiguration")))
        .transpose()?;
    Ok(HttpApiSpec {
        logical_id,
        default_authorizer,
        authorizers,
        cors,
    })
}

/// An HttpApi's `CorsConfiguration`.
fn cors(c: &Value, location: &str) -> Result<CorsSpec, TemplateError> {
    let strings = |key: &str| -> Result<Vec<String>, TemplateError> {
        c.get(key)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(|v| as_str(v, &format!("{location}.{key}")).map(str::to_owned))
            .collect()
    };
    let allow_origins = match c.get("AllowOrigins") {
        None => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| Expr::parse(v, &format!("{location}.AllowOrigins")))
            .collect::<Result<_, _>>()?,
        Some(other) => vec![Expr::parse(other, &format!("{location}.AllowOrigins"))?],
    };
    Ok(CorsSpec {
        allow_origins,
        allow_methods: strings("AllowMethods")?,
        allow_headers: strings("AllowHeaders")?,
        expose_headers: strings("ExposeHeaders")?,
        allow_credentials: c
            .get("AllowCredentials")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        max_age: c
            .get("MaxAge")
            .map(|v| as_u32(v, &format!("{location}.MaxAge")))
            .transpose()?,
    })
}

/// A route's `Auth.AuthorizationScopes`: a list of scope names (none when absent).
fn authorization_scopes(
    value: Option<&Value>,
    location: &str,
) -> Result<Vec<String>, TemplateError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let invalid = || TemplateError::Invalid {
        location: location.to_owned(),
        reason: "AuthorizationScopes must be a list of scope names (strings without spaces)".into(),
    };
    value
        .as_sequence()
        .ok_or_else(invalid)?
        .iter()
        .map(|scope| {
            scope
                .as_str()
                .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
                .map(str::to_owned)
                .ok_or_else(invalid)
        })
        .collect()
}
