//! Reads infra/template.yaml (AWS SAM) into what the devstack provisions and wires.
//!
//! The template is the single source of truth: tables, queues (with their dead-letter queues) and
//! secrets to create in moto; functions with their `CodeUri` and their events (HttpApi routes, SQS
//! event sources, schedules); the environment every function gets from `Globals`. A route, queue or
//! schedule added to the template therefore works locally without a change here.
//!
//! CloudFormation intrinsics (`!Ref`, `!GetAtt`, `!Sub`, `!Join`, and their `Fn::` long forms) are
//! kept as [`Expr`] and resolved later, against what was provisioned locally, by
//! [`Expr::resolve`].

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;
use thiserror::Error;

/// Why a template could not be read or resolved.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TemplateError {
    #[error("could not read the template {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("{location}: {reason}")]
    Invalid { location: String, reason: String },
    #[error("{location}: intrinsic function {name} is not supported by the devstack")]
    UnsupportedIntrinsic { location: String, name: String },
    #[error(
        "function {function}, event {event}: event type {kind} is not supported by the devstack"
    )]
    UnsupportedEvent {
        function: String,
        event: String,
        kind: String,
    },
    #[error("{location}: {what} is not known locally (no such parameter or resource)")]
    Unresolved { location: String, what: String },
}

fn invalid(location: impl Into<String>, reason: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        location: location.into(),
        reason: reason.into(),
    }
}

/// A CloudFormation value that may hold intrinsic functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A plain string (numbers and booleans are kept in their YAML spelling).
    Literal(String),
    /// `!Ref Name`: a parameter, a pseudo parameter (`AWS::Region`) or a resource.
    Ref(String),
    /// `!GetAtt Resource.Attribute`.
    GetAtt { resource: String, attribute: String },
    /// `!Sub "text ${Name} ${Resource.Attr}"`, with optional local variables.
    Sub {
        template: String,
        variables: BTreeMap<String, Expr>,
    },
    /// `!Join [separator, [parts]]`.
    Join { separator: String, parts: Vec<Expr> },
}

/// What intrinsic references resolve to: parameter values, pseudo parameters, and for each
/// resource its `Ref` value and attributes.
pub trait Lookup {
    /// The value of `!Ref name`.
    fn reference(&self, name: &str) -> Option<String>;
    /// The value of `!GetAtt resource.attribute`.
    fn attribute(&self, resource: &str, attribute: &str) -> Option<String>;
}

impl Expr {
    fn parse(value: &Value, location: &str) -> Result<Expr, TemplateError> {
        match value {
            Value::String(s) => Ok(Expr::Literal(s.clone())),
            Value::Number(n) => Ok(Expr::Literal(n.to_string())),
            Value::Bool(b) => Ok(Expr::Literal(b.to_string())),
            Value::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                let name = name.trim_start_matches('!');
                let long = if name == "Ref" {
                    "Ref".to_owned()
                } else {
                    format!("Fn::{name}")
                };
                Self::parse_intrinsic(&long, &tagged.value, location)
            }
            Value::Mapping(map) if map.len() == 1 => {
                let Some((Value::String(key), inner)) = map.iter().next() else {
                    return Err(invalid(
                        location,
                        "expected a string or an intrinsic function",
                    ));
                };
                if key == "Ref" || key.starts_with("Fn::") {
                    Self::parse_intrinsic(key, inner, location)
                } else {
                    Err(invalid(
                        location,
                        "expected a string or an intrinsic function",
                    ))
                }
            }
            _ => Err(invalid(
                location,
                "expected a string or an intrinsic function",
            )),
        }
    }

    fn parse_intrinsic(name: &str, value: &Value, location: &str) -> Result<Expr, TemplateError> {
        match name {
            "Ref" => match value {
                Value::String(target) => Ok(Expr::Ref(target.clone())),
                _ => Err(invalid(location, "!Ref takes a logical id")),
            },
            "Fn::GetAtt" => {
                let (resource, attribute) = match value {
                    Value::String(dotted) => dotted
                        .split_once('.')
                        .map(|(r, a)| (r.to_owned(), a.to_owned()))
                        .ok_or_else(|| invalid(location, "!GetAtt takes Resource.Attribute"))?,
                    Value::Sequence(parts) => match parts.as_slice() {
                        [Value::String(r), Value::String(a)] => (r.clone(), a.clone()),
                        _ => return Err(invalid(location, "!GetAtt takes [Resource, Attribute]")),
                    },
                    _ => return Err(invalid(location, "!GetAtt takes Resource.Attribute")),
                };
                Ok(Expr::GetAtt {
                    resource,
                    attribute,
                })
            }
            "Fn::Sub" => match value {
                Value::String(template) => Ok(Expr::Sub {
                    template: template.clone(),
                    variables: BTreeMap::new(),
                }),
                Value::Sequence(parts) => match parts.as_slice() {
                    [Value::String(template), Value::Mapping(vars)] => {
                        let mut variables = BTreeMap::new();
                        for (key, var) in vars {
                            let Value::String(key) = key else {
                                return Err(invalid(location, "!Sub variable names are strings"));
                            };
                            variables.insert(key.clone(), Expr::parse(var, location)?);
                        }
                        Ok(Expr::Sub {
                            template: template.clone(),
                            variables,
                        })
                    }
                    _ => Err(invalid(location, "!Sub takes a string or [string, {vars}]")),
                },
                _ => Err(invalid(location, "!Sub takes a string or [string, {vars}]")),
            },
            "Fn::Join" => match value {
                Value::Sequence(parts) => match parts.as_slice() {
                    [Value::String(separator), Value::Sequence(items)] => Ok(Expr::Join {
                        separator: separator.clone(),
                        parts: items
                            .iter()
                            .map(|item| Expr::parse(item, location))
                            .collect::<Result<_, _>>()?,
                    }),
                    _ => Err(invalid(location, "!Join takes [separator, [parts]]")),
                },
                _ => Err(invalid(location, "!Join takes [separator, [parts]]")),
            },
            other => Err(TemplateError::UnsupportedIntrinsic {
                location: location.to_owned(),
                name: other.to_owned(),
            }),
        }
    }

    /// The logical id this expression points at, when it is `!Ref X` or `!GetAtt X.Attr`.
    pub fn target(&self) -> Option<&str> {
        match self {
            Expr::Ref(target) => Some(target),
            Expr::GetAtt { resource, .. } => Some(resource),
            _ => None,
        }
    }

    /// The string this expression stands for, given what the references resolve to.
    pub fn resolve(&self, lookup: &dyn Lookup, location: &str) -> Result<String, TemplateError> {
        let unresolved = |what: String| TemplateError::Unresolved {
            location: location.to_owned(),
            what,
        };
        match self {
            Expr::Literal(s) => Ok(s.clone()),
            Expr::Ref(name) => lookup
                .reference(name)
                .ok_or_else(|| unresolved(format!("!Ref {name}"))),
            Expr::GetAtt {
                resource,
                attribute,
            } => lookup
                .attribute(resource, attribute)
                .ok_or_else(|| unresolved(format!("!GetAtt {resource}.{attribute}"))),
            Expr::Join { separator, parts } => Ok(parts
                .iter()
                .map(|part| part.resolve(lookup, location))
                .collect::<Result<Vec<_>, _>>()?
                .join(separator)),
            Expr::Sub {
                template,
                variables,
            } => {
                let mut out = String::with_capacity(template.len());
                let mut rest = template.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| invalid(location, "!Sub has an unclosed ${"))?;
                    let name = &after[..end];
                    if let Some(literal) = name.strip_prefix('!') {
                        out.push_str("${");
                        out.push_str(literal);
                        out.push('}');
                    } else if let Some(var) = variables.get(name) {
                        out.push_str(&var.resolve(lookup, location)?);
                    } else if let Some((resource, attribute)) = name.split_once('.') {
                        out.push_str(
                            &lookup.attribute(resource, attribute).ok_or_else(|| {
                                unresolved(format!("${{{resource}.{attribute}}}"))
                            })?,
                        );
                    } else {
                        out.push_str(
                            &lookup
                                .reference(name)
                                .ok_or_else(|| unresolved(format!("${{{name}}}")))?,
                        );
                    }
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
        }
    }
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub default: Option<String>,
}

/// One attribute of a key schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyElement {
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

/// An `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    pub table_name: Option<Expr>,
    /// Attribute name and type (`S`, `N`, `B`).
    pub attribute_definitions: Vec<(String, String)>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// The TTL attribute, when `TimeToLiveSpecification` is enabled.
    pub ttl_attribute: Option<String>,
}

/// Where a queue sends messages received too often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// Usually `!GetAtt XDeadLetterQueue.Arn`.
    pub dead_letter_target_arn: Expr,
    pub max_receive_count: u32,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub queue_name: Option<Expr>,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    pub visibility_timeout: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub delay_seconds: Option<u32>,
    pub redrive_policy: Option<RedrivePolicy>,
}

/// How `GenerateSecretString` asks for a random secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSecret {
    pub length: usize,
    pub exclude_punctuation: bool,
    /// With `GenerateStringKey`: the JSON object the generated value is put into.
    pub secret_string_template: Option<String>,
    pub generate_string_key: Option<String>,
}

/// An `AWS::SecretsManager::Secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub logical_id: String,
    pub name: Option<Expr>,
    pub secret_string: Option<Expr>,
    pub generate: Option<GenerateSecret>,
}

/// When a scheduled event fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `rate(N unit)`.
    Rate(Duration),
    /// `cron(...)`: kept as written; locally it fires only on demand.
    Cron(String),
}

impl ScheduleExpression {
    /// Parses `rate(1 hour)`, `rate(5 minutes)`, `rate(1 day)`, or `cron(...)`.
    pub fn parse(text: &str) -> Option<ScheduleExpression> {
        let text = text.trim();
        if let Some(cron) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
            return Some(ScheduleExpression::Cron(cron.to_owned()));
        }
        let inner = text.strip_prefix("rate(")?.strip_suffix(')')?;
        let (count, unit) = inner.trim().split_once(' ')?;
        let count: u64 = count.parse().ok().filter(|n| *n > 0)?;
        let seconds = match unit.trim() {
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            _ => return None,
        };
        Some(ScheduleExpression::Rate(Duration::from_secs(
            count * seconds,
        )))
    }
}

/// What makes a function run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// An HTTP API route: `method` is upper case or `ANY`, `path` like `/tenants/{tenant_id}`,
    /// or both `$default` for the catch-all route.
    HttpApi { method: String, path: String },
    /// An SQS event source.
    Sqs {
        /// Logical id of the queue.
        queue: String,
        batch_size: u32,
        report_batch_item_failures: bool,
    },
    /// An EventBridge schedule.
    Schedule {
        expression: ScheduleExpression,
        enabled: bool,
        /// `Input`: the JSON EventBridge sends instead of the scheduled event, when set.
        input: Option<String>,
    },
}

/// One entry of a function's `Events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    pub name: String,
    pub source: EventSource,
    /// For an HttpApi event: the `ApiId` it attaches to (`!Ref HttpApi`), when given.
    pub api: Option<String>,
    /// For an HttpApi event: `Auth.Authorizer`, when given (`NONE` makes the route public);
    /// otherwise the API's `DefaultAuthorizer` applies.
    pub authorizer: Option<String>,
}

/// A JWT authorizer of an HttpApi (`Auth.Authorizers.<name>.JwtConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    pub name: String,
    /// `IdentitySource`, e.g. `$request.header.Authorization`.
    pub identity_source: String,
    pub issuer: Expr,
    pub audience: Vec<Expr>,
}

impl JwtAuthorizer {
    /// The request header the token comes from (lower case), when the identity source is a
    /// header (`$request.header.Authorization` -> `authorization`).
    pub fn header(&self) -> Option<String> {
        self.identity_source
            .strip_prefix("$request.header.")
            .map(str::to_ascii_lowercase)
    }
}

/// An `AWS::Serverless::HttpApi` and its `Auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApiSpec {
    pub logical_id: String,
    /// `Auth.DefaultAuthorizer`: applies to every route that does not name its own.
    pub default_authorizer: Option<String>,
    /// `Auth.Authorizers` (JWT authorizers; the only kind the devstack emulates).
    pub authorizers: Vec<JwtAuthorizer>,
}

/// An `AWS::Serverless::Function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `CodeUri` as written.
    pub code_uri: String,
    /// `CodeUri` joined to the template's directory and normalised (no `..`).
    pub code_dir: PathBuf,
    pub timeout: Option<u32>,
    /// Environment: `Globals` merged with the function's own variables (the function wins).
    pub environment: BTreeMap<String, Expr>,
    pub events: Vec<EventSpec>,
}

impl FunctionSpec {
    /// `code_dir` relative to `root` with `/` separators, e.g. `functions/api`; the key the
    /// registry looks constructors up by.
    pub fn code_key(&self, root: &Path) -> String {
        let relative = self
            .code_dir
            .strip_prefix(normalize(root))
            .unwrap_or(&self.code_dir);
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What the devstack needs from the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parameters: BTreeMap<String, Parameter>,
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub secrets: Vec<SecretSpec>,
    /// Logical ids of `AWS::Serverless::HttpApi` resources.
    pub http_apis: Vec<String>,
    /// The same HttpApis with their `Auth`.
    pub http_api_specs: Vec<HttpApiSpec>,
    pub functions: Vec<FunctionSpec>,
    /// `Globals.Function.Environment.Variables`.
    pub globals_environment: BTreeMap<String, Expr>,
}

impl Template {
    /// Reads and parses a template file; `CodeUri`s are relative to its directory.
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Template::from_yaml(&text, dir)
    }

    /// Parses template text; `base_dir` is the directory `CodeUri`s are relative to.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<Template, TemplateError> {
        let document: Value = serde_yaml::from_str(text)?;
        Template::from_value(&document, base_dir)
    }

    /// Parses an already loaded YAML document (tests merge extra resources into the real one).
    pub fn from_value(document: &Value, base_dir: &Path) -> Result<Template, TemplateError> {
        let mut template = Template {
            parameters: BTreeMap::new(),
            tables: Vec::new(),
            queues: Vec::new(),
            secrets: Vec::new(),
            http_apis: Vec::new(),
            http_api_specs: Vec::new(),
            functions: Vec::new(),
            globals_environment: BTreeMap::new(),
        };
        if let Some(parameters) = document.get("Parameters").and_then(Value::as_mapping) {
            for (name, spec) in parameters {
                let name = as_str(name, "Parameters")?;
                let default = spec
                    .get("Default")
                    .map(|d| Expr::parse(d, &format!("Parameters.{name}.Default")))
                    .transpose()?
                    .and_then(|d| match d {
                        Expr::Literal(s) => Some(s),
                        _ => None,
                    });
                template
                    .parameters
                    .insert(name.to_owned(), Parameter { default });
            }
        }
        let globals = document.get("Globals").and_then(|g| g.get("Function"));
        let globals_timeout = globals
            .and_then(|g| g.get("Timeout"))
            .map(|t| as_u32(t, "Globals.Function.Timeout"))
            .transpose()?;
        if let Some(vars) = globals.and_then(|g| g.get("Environment")) {
            template.globals_environment =
                environment(vars, "Globals.Function.Environment.Variables")?;
        }
        let resources = document
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| invalid("Resources", "the template has no Resources mapping"))?;
        for (logical_id, resource) in resources {
            let logical_id = as_str(logical_id, "Resources")?.to_owned();
            let location = format!("Resources.{logical_id}");
            let kind = resource
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&location, "resource without a Type"))?;
            let empty = Value::Mapping(Default::default());
            let properties = resource.get("Properties").unwrap_or(&empty);
            match kind {
                "AWS::DynamoDB::Table" => template
                    .tables
                    .push(table(logical_id, properties, &location)?),
                "AWS::SQS::Queue" => template
                    .queues
                    .push(queue(logical_id, properties, &location)?),
                "AWS::SecretsManager::Secret" => template
                    .secrets
                    .push(secret(logical_id, properties, &location)?),
                "AWS::Serverless::HttpApi" => {
                    template.http_api_specs.push(http_api(
                        logical_id.clone(),
                        properties,
                        &location,
                    )?);
                    template.http_apis.push(logical_id);
                }
                "AWS::Serverless::Function" => {
                    let mut function = function(logical_id, properties, base_dir, &location)?;
                    function.timeout = function.timeout.or(globals_timeout);
                    let mut merged = template.globals_environment.clone();
                    merged.append(&mut function.environment);
                    function.environment = merged;
                    template.functions.push(function);
                }
                _ => {}
            }
        }
        template.check_references()?;
        Ok(template)
    }

    /// The queue with this logical id.
    pub fn queue(&self, logical_id: &str) -> Option<&QueueSpec> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }

    /// The function with this logical id.
    pub fn function(&self, logical_id: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// The JWT authorizer that guards an HttpApi event: its own `Auth.Authorizer`, else its
    /// API's `DefaultAuthorizer`; `None` for a public route (`Authorizer: NONE`, or no authorizer)
    /// and for events that are not HttpApi routes.
    pub fn route_authorizer(&self, event: &EventSpec) -> Option<&JwtAuthorizer> {
        if !matches!(event.source, EventSource::HttpApi { .. }) {
            return None;
        }
        let api = match &event.api {
            Some(id) => self.http_api_specs.iter().find(|a| &a.logical_id == id),
            // An event without ApiId attaches to SAM's implicit API: the only one, if any.
            None => match self.http_api_specs.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        };
        let name = match event.authorizer.as_deref() {
            Some("NONE") => return None,
            Some(name) => name,
            None => api?.default_authorizer.as_deref()?,
        };
        api?.authorizers.iter().find(|a| a.name == name)
    }

    fn check_references(&self) -> Result<(), TemplateError> {
        for api in &self.http_api_specs {
            if let Some(default) = &api.default_authorizer
                && !api.authorizers.iter().any(|a| &a.name == default)
            {
                return Err(TemplateError::Unresolved {
                    location: format!(
                        "Resources.{}.Properties.Auth.DefaultAuthorizer",
                        api.logical_id
                    ),
                    what: format!("authorizer {default}"),
                });
            }
        }
        for function in &self.functions {
            for event in &function.events {
                if let Some(name) = event.authorizer.as_deref().filter(|n| *n != "NONE")
                    && !self
                        .http_api_specs
                        .iter()
                        .any(|api| api.authorizers.iter().any(|a| a.name == name))
                {
                    return Err(TemplateError::Unresolved {
                        location: format!(
                            "Resources.{}.Properties.Events.{}.Properties.Auth.Authorizer",
                            function.logical_id, event.name
                        ),
                        what: format!("authorizer {name}"),
                    });
                }
            }
        }
        for function in &self.functions {
            for event in &function.events {
                if let EventSource::Sqs { queue, .. } = &event.source
                    && self.queue(queue).is_none()
                {
                    return Err(TemplateError::Unresolved {
                        location: format!(
                            "Resources.{}.Properties.Events.{}",
                            function.logical_id, event.name
                        ),
                        what: format!("queue {queue}"),
                    });
                }
            }
        }
        for queue in &self.queues {
            if let Some(redrive) = &queue.redrive_policy {
                let target = redrive.dead_letter_target_arn.target().unwrap_or_default();
                if self.queue(target).is_none() {
                    return Err(TemplateError::Unresolved {
                        location: format!(
                            "Resources.{}.Properties.RedrivePolicy",
                            queue.logical_id
                        ),
                        what: format!("dead-letter queue {target:?}"),
                    });
                }
            }
        }
        Ok(())
    }
}

fn as_str<'a>(value: &'a Value, location: &str) -> Result<&'a str, TemplateError> {
    value
        .as_str()
        .ok_or_else(|| invalid(location, "expected a string"))
}

fn as_u32(value: &Value, location: &str) -> Result<u32, TemplateError> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(location, "expected a whole number"))
}

fn as_bool(value: &Value, location: &str) -> Result<bool, TemplateError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(location, "expected true or false")),
    }
}

fn opt_u32(properties: &Value, key: &str, location: &str) -> Result<Option<u32>, TemplateError> {
    properties
        .get(key)
        .map(|v| as_u32(v, &format!("{location}.{key}")))
        .transpose()
}

fn opt_bool(properties: &Value, key: &str, location: &str) -> Result<Option<bool>, TemplateError> {
    properties
        .get(key)
        .map(|v| as_bool(v, &format!("{location}.{key}")))
        .transpose()
}

fn opt_expr(properties: &Value, key: &str, location: &str) -> Result<Option<Expr>, TemplateError> {
    properties
        .get(key)
        .map(|v| Expr::parse(v, &format!("{location}.{key}")))
        .transpose()
}

fn environment(value: &Value, location: &str) -> Result<BTreeMap<String, Expr>, TemplateError> {
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

fn parse_key_schema(
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

fn table(logical_id: String, p: &Value, location: &str) -> Result<TableSpec, TemplateError> {
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

fn queue(logical_id: String, p: &Value, location: &str) -> Result<QueueSpec, TemplateError> {
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

fn secret(logical_id: String, p: &Value, location: &str) -> Result<SecretSpec, TemplateError> {
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

fn function(
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
        let (api, authorizer) = match source {
            EventSource::HttpApi { .. } => (
                ep.get("ApiId")
                    .map(|id| Expr::parse(id, &format!("{event_location}.ApiId")))
                    .transpose()?
                    .and_then(|id| id.target().map(str::to_owned)),
                ep.get("Auth")
                    .and_then(|auth| auth.get("Authorizer"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
            _ => (None, None),
        };
        events.push(EventSpec {
            name,
            source,
            api,
            authorizer,
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
        logical_id,
    })
}

/// An HttpApi's `Auth`: its default authorizer and its JWT authorizers. Other authorizer kinds
/// (Lambda, IAM) are refused, since the devstack could not enforce them.
fn http_api(logical_id: String, p: &Value, location: &str) -> Result<HttpApiSpec, TemplateError> {
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
    Ok(HttpApiSpec {
        logical_id,
        default_authorizer,
        authorizers,
    })
}

/// Lexical normalisation: drops `.`, folds `..` into its parent (no file system access).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn workspace_root() -> PathBuf {
        normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
    }

    fn real_template() -> Template {
        Template::load(&workspace_root().join("infra/template.yaml")).expect("the real template")
    }

    struct Fixed(HashMap<String, String>);

    impl Lookup for Fixed {
        fn reference(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
        fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
            self.0.get(&format!("{resource}.{attribute}")).cloned()
        }
    }

    #[test]
    fn given_the_real_template_when_parsed_then_the_table_has_pk_sk_and_ttl() {
        let template = real_template();

        let [table] = template.tables.as_slice() else {
            panic!("one table expected, got {:?}", template.tables);
        };
        assert_eq!(
            table.key_schema,
            vec![
                KeyElement {
                    attribute_name: "pk".into(),
                    key_type: "HASH".into()
                },
                KeyElement {
                    attribute_name: "sk".into(),
                    key_type: "RANGE".into()
                },
            ]
        );
        assert_eq!(table.ttl_attribute.as_deref(), Some("expires_at"));
    }

    #[test]
    fn given_the_real_template_when_parsed_then_every_queue_has_a_dead_letter_queue_of_its_kind() {
        let template = real_template();

        for name in [
            "SyncQueue",
            "OnboardingQueue",
            "OffboardingQueue",
            "LicenseRefreshQueue",
        ] {
            let queue = template.queue(name).unwrap_or_else(|| panic!("{name}"));
            let redrive = queue.redrive_policy.as_ref().expect("redrive policy");
            // The jobs runner fails a job for good on its last delivery, so it must know this.
            assert_eq!(
                redrive.max_receive_count,
                lifecycle::MAX_DELIVERIES,
                "{name}: maxReceiveCount and lifecycle::MAX_DELIVERIES must agree"
            );
            let dlq = template
                .queue(redrive.dead_letter_target_arn.target().expect("a GetAtt"))
                .expect("the DLQ is in the template");
            assert_eq!(
                dlq.fifo, queue.fifo,
                "{name}: a FIFO queue needs a FIFO DLQ"
            );
            assert_eq!(dlq.message_retention_period, Some(1_209_600), "{name}");
        }
        let onboarding = template.queue("OnboardingQueue").expect("onboarding");
        assert!(onboarding.fifo && !onboarding.content_based_deduplication);
    }

    #[test]
    fn given_the_real_template_when_parsed_then_the_api_function_serves_get_health() {
        let template = real_template();

        let api = template.function("ApiFunction").expect("ApiFunction");
        assert_eq!(api.code_key(&workspace_root()), "functions/api");
        assert!(api.events.iter().any(|e| e.source
            == EventSource::HttpApi {
                method: "GET".into(),
                path: "/health".into()
            }));
        assert_eq!(api.timeout, Some(30), "Globals.Function.Timeout applies");
    }

    #[test]
    fn given_the_real_template_when_parsed_then_routes_need_the_jwt_authorizer_unless_they_opt_out()
    {
        let template = real_template();
        let authorizer_of = |function: &str, event: &str| {
            let spec = template.function(function).expect(function);
            let event = spec.events.iter().find(|e| e.name == event).expect(event);
            template.route_authorizer(event).map(|a| a.name.clone())
        };

        assert_eq!(authorizer_of("ApiFunction", "Health"), None);
        assert_eq!(
            authorizer_of("OAuthCallbackFunction", "OAuthCallback"),
            None
        );
        for (function, event) in [
            ("ApiFunction", "ListTenants"),
            ("ApiFunction", "GetTenant"),
            ("OAuthCallbackFunction", "Connect"),
            ("OAuthCallbackFunction", "ConnectOwnApp"),
        ] {
            assert_eq!(
                authorizer_of(function, event).as_deref(),
                Some("PlatformJwt"),
                "{function}.{event}"
            );
        }
        let jwt = &template.http_api_specs[0].authorizers[0];
        assert_eq!(jwt.header().as_deref(), Some("authorization"));
        assert_eq!(jwt.issuer, Expr::Ref("ApiJwtIssuer".into()));
        assert_eq!(jwt.audience, [Expr::Ref("ApiJwtAudience".into())]);
    }

    #[test]
    fn given_the_real_template_when_the_environment_is_resolved_then_every_config_variable_is_set()
    {
        let template = real_template();
        let api = template.function("ApiFunction").expect("ApiFunction");
        let mut known: HashMap<String, String> = HashMap::new();
        for name in template.parameters.keys() {
            known.insert(name.clone(), format!("param:{name}"));
        }
        for q in &template.queues {
            known.insert(q.logical_id.clone(), format!("url:{}", q.logical_id));
        }
        for s in &template.secrets {
            known.insert(s.logical_id.clone(), format!("arn:{}", s.logical_id));
        }
        known.insert("Table".into(), "table".into());
        known.insert("AWS::StackName".into(), "stack".into());
        let lookup = Fixed(known);

        let vars: HashMap<String, String> = api
            .environment
            .iter()
            .map(|(k, e)| (k.clone(), e.resolve(&lookup, k).expect(k)))
            .collect();

        assert_eq!(vars["SECRET_PREFIX"], "stack/");
        assert_eq!(vars["ONBOARDING_QUEUE_URL"], "url:OnboardingQueue");
        assert_eq!(vars["PLATFORM_APP_SECRET_ID"], "arn:PlatformAppSecret");
        for name in [
            "TABLE_NAME",
            "SYNC_QUEUE_URL",
            "ONBOARDING_QUEUE_URL",
            "OFFBOARDING_QUEUE_URL",
            "LICENSE_REFRESH_QUEUE_URL",
            "GRAPH_BASE_URL",
            "LOGIN_BASE_URL",
            "SECRET_PREFIX",
            "PLATFORM_APP_CLIENT_ID",
            "PLATFORM_APP_SECRET_ID",
            "STATE_SIGNING_KEY_SECRET_ID",
            "PUBLIC_BASE_URL",
        ] {
            assert!(vars.contains_key(name), "{name} missing from Globals");
        }
    }

    #[test]
    fn given_sqs_and_schedule_events_when_parsed_then_batch_size_failures_and_rate_are_read() {
        let yaml = r#"
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties: { FifoQueue: true }
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Timeout: 900
      Environment:
        Variables: { EXTRA: !Join ["-", [a, !Ref Jobs]] }
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: { "Fn::GetAtt": [Jobs, Arn] }
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Hourly:
          Type: Schedule
          Properties: { Schedule: rate(1 hour) }
        Nightly:
          Type: Schedule
          Properties: { Schedule: "cron(0 3 * * ? *)", Enabled: false }
        Everything:
          Type: HttpApi
"#;
        let template = Template::from_yaml(yaml, Path::new("/repo/infra")).expect("parses");

        let worker = template.function("Worker").expect("Worker");
        assert_eq!(worker.code_key(Path::new("/repo")), "functions/worker");
        assert_eq!(worker.timeout, Some(900));
        assert_eq!(
            worker.events[0].source,
            EventSource::Sqs {
                queue: "Jobs".into(),
                batch_size: 5,
                report_batch_item_failures: true
            }
        );
        assert_eq!(
            worker.events[1].source,
            EventSource::Schedule {
                expression: ScheduleExpression::Rate(Duration::from_secs(3600)),
                enabled: true,
                input: None
            }
        );
        assert_eq!(
            worker.events[2].source,
            EventSource::Schedule {
                expression: ScheduleExpression::Cron("0 3 * * ? *".into()),
                enabled: false,
                input: None
            }
        );
        assert_eq!(
            worker.events[3].source,
            EventSource::HttpApi {
                method: "$default".into(),
                path: "$default".into()
            }
        );
        let lookup = Fixed(HashMap::from([("Jobs".into(), "url".into())]));
        assert_eq!(
            worker.environment["EXTRA"]
                .resolve(&lookup, "EXTRA")
                .expect("resolves"),
            "a-url"
        );
    }

    #[test]
    fn given_an_sqs_event_on_a_queue_not_in_the_template_when_parsed_then_the_error_names_it() {
        let yaml = r#"
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Events:
        Jobs:
          Type: SQS
          Properties: { Queue: !GetAtt Missing.Arn }
"#;
        let err = Template::from_yaml(yaml, Path::new("/repo/infra")).unwrap_err();

        assert!(err.to_string().contains("queue Missing"), "{err}");
    }

    #[test]
    fn given_an_unsupported_event_type_when_parsed_then_the_error_names_function_and_type() {
        let yaml = r#"
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/worker
      Events:
        Upload: { Type: S3, Properties: { Bucket: b, Events: s3:ObjectCreated:* } }
"#;
        let err = Template::from_yaml(yaml, Path::new("/repo/infra")).unwrap_err();

        assert_eq!(
            err.to_string(),
            "function Worker, event Upload: event type S3 is not supported by the devstack"
        );
    }

    #[test]
    fn given_a_sub_with_attributes_and_escapes_when_resolved_then_each_part_is_replaced() {
        let expr = Expr::Sub {
            template: "arn:${AWS::Region}:${Queue.Arn}/${!Literal}/${Name}".into(),
            variables: BTreeMap::from([("Name".into(), Expr::Literal("n".into()))]),
        };
        let lookup = Fixed(HashMap::from([
            ("AWS::Region".into(), "us-east-1".into()),
            ("Queue.Arn".into(), "q".into()),
        ]));

        assert_eq!(
            expr.resolve(&lookup, "x").expect("resolves"),
            "arn:us-east-1:q/${Literal}/n"
        );
        let missing = Expr::Ref("Nope".into())
            .resolve(&lookup, "Env.X")
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "Env.X: !Ref Nope is not known locally (no such parameter or resource)"
        );
    }

    #[test]
    fn given_rate_expressions_when_parsed_then_units_and_bad_input_are_handled() {
        assert_eq!(
            ScheduleExpression::parse("rate(5 minutes)"),
            Some(ScheduleExpression::Rate(Duration::from_secs(300)))
        );
        assert_eq!(
            ScheduleExpression::parse("rate(1 day)"),
            Some(ScheduleExpression::Rate(Duration::from_secs(86_400)))
        );
        assert_eq!(ScheduleExpression::parse("rate(0 minutes)"), None);
        assert_eq!(ScheduleExpression::parse("rate(5 fortnights)"), None);
        assert_eq!(ScheduleExpression::parse("every hour"), None);
    }
}
