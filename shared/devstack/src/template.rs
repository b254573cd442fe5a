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

mod expr;
mod parse;
mod spec;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_yaml::Value;
use thiserror::Error;

pub use expr::{Expr, Lookup};
pub use spec::{
    CorsSpec, EventSource, EventSpec, FunctionSpec, GenerateSecret, HttpApiSpec, IndexSpec,
    JwtAuthorizer, KeyElement, Parameter, PolicyStatement, QueueSpec, RedrivePolicy,
    ScheduleExpression, SecretSpec, TableSpec,
};

use parse::{as_str, as_u32, environment, function, http_api, queue, secret, table};

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
