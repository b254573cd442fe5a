//! What the template declares, as the devstack needs it: tables, queues, secrets, functions,
//! their events and the HttpApi authorizers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Expr, normalize};

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
    /// For an HttpApi event: `Auth.AuthorizationScopes`. API Gateway lets a token through only
    /// when its `scope` (or `scp`) claim holds at least one of them; empty: no scope needed.
    pub scopes: Vec<String>,
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
    /// `CorsConfiguration`, when the API answers browsers of other origins.
    pub cors: Option<CorsSpec>,
}

/// An HttpApi's `CorsConfiguration`: API Gateway answers preflight requests itself and puts these
/// headers on the integration's answers (ignoring any CORS headers the function sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSpec {
    /// `AllowOrigins`: literals, or one `!Ref` to a `CommaDelimitedList` parameter.
    pub allow_origins: Vec<Expr>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u32>,
}

/// One statement of a function's inline policy (`Policies: - Statement: [...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatement {
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: String,
    /// `service:Action` names as written (wildcards kept).
    pub actions: Vec<String>,
    /// Resource ARNs, usually `!GetAtt`/`!Ref`/`!Sub` expressions.
    pub resources: Vec<Expr>,
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
    /// Every statement of the function's `Policies`: what its execution role may do, and so
    /// what the devstack's credentials for it allow.
    pub policy: Vec<PolicyStatement>,
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
