//! [`Stack`]: moto, the Graph simulator (or an external Graph), the provisioned resources, the
//! functions, the HTTP front, the SQS pollers and the schedules, started together and stopped
//! together.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use lifecycle::{Config, ConfigError, HandlerError};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::task::JoinSet;

use crate::front::{self, FrontState, Route};
use crate::functions::{Deployed, Functions, InvokeError};
use crate::jwt::TokenIssuer;
use crate::poller::{self, PollSettings, SqsSource};
use crate::provision::{self, ProvisionError, Provisioned, StackIdentity};
use crate::registry::Registry;
use crate::schedule::{Fired, ScheduleError, Schedules};
use crate::template::{EventSource, Expr, Lookup, Template, TemplateError};

/// Why the stack could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("could not start the AWS emulator: {0}")]
    LocalAws(#[from] local_aws::LocalAwsError),
    #[error("could not start the Graph simulator: {0}")]
    Simulator(#[source] std::io::Error),
    #[error("could not listen on 127.0.0.1:{port}: {source}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("function {function}: its environment does not make a valid configuration: {source}")]
    Config {
        function: String,
        #[source]
        source: ConfigError,
    },
    #[error("function {function} could not be built: {source}")]
    Build {
        function: String,
        #[source]
        source: HandlerError,
    },
    #[error("seeding the platform app secret failed: {detail}")]
    Seed { detail: String },
}

/// Which Microsoft Graph and login service the functions talk to.
#[derive(Debug, Clone)]
pub enum GraphSource {
    /// The Graph simulator, started in-process with this configuration; its platform apps
    /// (read/write and read-only) become the template's `PlatformAppClientId` /
    /// `PlatformReadAppClientId` and their secrets are put into the platform secrets.
    Simulator(graph_sim::SimConfig),
    /// An already running Graph and login service (the real cloud, or a simulator started
    /// elsewhere), with the platform apps' credentials when known.
    External {
        graph_base_url: String,
        login_base_url: String,
        platform_app: Option<AppCredentials>,
        platform_read_app: Option<AppCredentials>,
    },
}

/// Client id and, when known, client secret of an app registration.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: Option<secrecy::SecretString>,
}

impl AppCredentials {
    fn from_sim(app: graph_sim::AppInfo) -> AppCredentials {
        AppCredentials {
            client_id: app.client_id,
            client_secret: Some(secrecy::SecretString::from(app.client_secret)),
        }
    }
}

/// What to start and how.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The SAM template (parsed), usually [`Template::load`] of infra/template.yaml.
    pub template: Template,
    /// Constructors of the functions, by `CodeUri`.
    pub registry: Registry,
    pub graph: GraphSource,
    /// Port of the HTTP front on 127.0.0.1; 0 picks a free one.
    pub api_port: u16,
    /// Schedules fire this many times faster than their rate (1 = real time).
    pub time_scale: f64,
    /// Long-poll wait of the SQS pollers.
    pub sqs_wait: Duration,
    /// How long a failed SQS message stays invisible before it is delivered again (the real
    /// queue's VisibilityTimeout is minutes; locally a retry should take a second).
    pub retry_delay: Duration,
    /// `AWS::StackName`.
    pub stack_name: String,
    /// Template parameters set on top of what the devstack derives (Graph URLs, public URL).
    pub parameters: BTreeMap<String, String>,
    /// Whether the SQS event sources poll their queues. A test that delivers messages itself
    /// ([`Stack::sqs_sources`], e.g. the crash matrix, which kills a handler mid-way and
    /// redelivers) turns them off.
    pub poll_queues: bool,
    /// Invocations at once per SQS event source (at least 1). Lambda runs several pollers per
    /// event source and, on a FIFO queue, as many invocations as there are message groups with
    /// messages ready; SQS itself (moto too) holds back a group's next message while one is in
    /// flight, so order per group holds at any setting. 1 (the default) keeps a test's
    /// deliveries one after another; the job-latency bench runs 10.
    pub pollers: usize,
}

impl GraphSource {
    /// The Graph and login service named by `GRAPH_BASE_URL` and `LOGIN_BASE_URL` when both are
    /// set (with `PLATFORM_APP_CLIENT_ID` / `PLATFORM_APP_CLIENT_SECRET` and
    /// `PLATFORM_READ_APP_CLIENT_ID` / `PLATFORM_READ_APP_CLIENT_SECRET` when set), else the
    /// simulator with its demo tenants.
    pub fn from_env() -> GraphSource {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let app = |id: &str, secret: &str| {
            var(id).map(|client_id| AppCredentials {
                client_id,
                client_secret: var(secret).map(secrecy::SecretString::from),
            })
        };
        match (var("GRAPH_BASE_URL"), var("LOGIN_BASE_URL")) {
            (Some(graph_base_url), Some(login_base_url)) => GraphSource::External {
                graph_base_url,
                login_base_url,
                platform_app: app("PLATFORM_APP_CLIENT_ID", "PLATFORM_APP_CLIENT_SECRET"),
                platform_read_app: app(
                    "PLATFORM_READ_APP_CLIENT_ID",
                    "PLATFORM_READ_APP_CLIENT_SECRET",
                ),
            },
            _ => GraphSource::Simulator(graph_sim::SimConfig::demo()),
        }
    }
}

impl StackOptions {
    /// The given template and Graph, the standard registry, fast local timings.
    pub fn new(template: Template, graph: GraphSource) -> StackOptions {
        StackOptions {
            template,
            registry: Registry::standard(),
            graph,
            api_port: 0,
            time_scale: 1.0,
            sqs_wait: Duration::from_secs(1),
            retry_delay: Duration::from_secs(1),
            stack_name: "m365-lifecycle".into(),
            parameters: BTreeMap::new(),
            poll_queues: true,
            pollers: 1,
        }
    }
}

/// The workspace root (where infra/template.yaml lives).
pub fn workspace_root() -> PathBuf {
    crate::template::normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Path of the real template.
pub fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

/// The whole system, running. Dropping it stops the tasks and kills moto; [`Stack::shutdown`]
/// does the same and waits for it.
pub struct Stack {
    sqs_sources: Vec<SqsSource>,
    tasks: JoinSet<()>,
    sim: Option<graph_sim::SimHandle>,
    moto: local_aws::Moto,
    sdk_config: SdkConfig,
    api_url: String,
    graph_base_url: String,
    login_base_url: String,
    template: Template,
    provisioned: Provisioned,
    functions: Functions,
    schedules: Schedules,
    routes: Vec<Route>,
    config: Config,
    issuer: Arc<TokenIssuer>,
}

/// The audience of the local issuer's tokens (the template's `ApiJwtAudience` locally).
pub const LOCAL_JWT_AUDIENCE: &str = "m365-lifecycle-api";

/// The origins the devstack's HTTP API answers browsers of (`PlatformOrigins`): the platform's web
/// app served locally. A stack's extra parameters (`StackOptions`) replace them.
pub const LOCAL_PLATFORM_ORIGINS: &str = "http://localhost:5173,http://127.0.0.1:5173";

impl Stack {
    /// Starts everything and returns once the front answers and the pollers run.
    pub async fn start(options: StackOptions) -> Result<Stack, StackError> {
        let StackOptions {
            template,
            registry,
            graph,
            api_port,
            time_scale,
            sqs_wait,
            retry_delay,
            stack_name,
            parameters: extra_parameters,
            poll_queues,
            pollers,
        } = options;

        let moto = local_aws::Moto::start().await?;
        let sdk_config = moto.sdk_config().await;
        let region = local_aws::REGION.to_owned();

        let (sim, graph_base_url, login_base_url, platform_app, platform_read_app) =
            start_graph(graph).await?;

        let (listener, api_url) = bind_front(api_port).await?;

        let parameters = stack_parameters(
            &template,
            &api_url,
            (&graph_base_url, &login_base_url),
            (platform_app.as_ref(), platform_read_app.as_ref()),
            extra_parameters,
        );
        let issuer = Arc::new(local_issuer(&parameters, &api_url));
        let identity = StackIdentity {
            stack_name: stack_name.clone(),
            region: region.clone(),
            parameters,
        };
        let provisioned = provision::provision(&template, &sdk_config, &identity).await?;

        let config = resolve_config("Globals", &template.globals_environment, &provisioned)?;
        seed_platform_secrets(&sdk_config, &config, platform_app, platform_read_app).await?;

        let functions = deploy(&template, &registry, &moto, &provisioned, &stack_name).await?;

        let schedules = Schedules::new(functions.clone(), region.clone(), stack_name);
        let routes = front::routes(&template, &provisioned)?;
        let mut tasks = JoinSet::new();

        let info = json!({
            "api_url": api_url,
            "moto_endpoint": moto.endpoint_url(),
            "graph_base_url": graph_base_url,
            "login_base_url": login_base_url,
            "sim_admin_url": sim.as_ref().map(graph_sim::SimHandle::admin_url),
            "routes": routes_info(&routes),
            "auth": {"issuer": issuer.issuer(), "audience": issuer.audience(), "org_claim": config.org_claim, "tokens": format!("POST {api_url}/_devstack/tokens {{\"org_id\": \"...\"}}")},
            "queues": provisioned.queue_urls(),
        });
        let state = Arc::new(FrontState {
            routes: routes.clone(),
            cors: front::cors(&template, &provisioned)?,
            functions: functions.clone(),
            schedules: schedules.clone(),
            issuer: issuer.clone(),
            org_claim: config.org_claim.clone(),
            info,
        });
        let app = front::router(state).into_make_service_with_connect_info::<SocketAddr>();
        tasks.spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the HTTP front stopped");
            }
        });

        let sqs_sources = sqs_sources(&functions, &provisioned);
        if poll_queues {
            let settings = PollSettings {
                wait: sqs_wait,
                retry_delay,
            };
            let sqs = aws_sdk_sqs::Client::new(&sdk_config);
            for source in &sqs_sources {
                for _ in 0..pollers.max(1) {
                    let poller = poller::run(
                        sqs.clone(),
                        functions.clone(),
                        source.clone(),
                        settings,
                        region.clone(),
                    );
                    tasks.spawn(poller);
                }
            }
        }
        schedules.spawn_timers(time_scale, &mut tasks);

        Ok(Stack {
            sqs_sources,
            tasks,
            sim,
            moto,
            sdk_config,
            api_url,
            graph_base_url,
            login_base_url,
            template,
            provisioned,
            functions,
            schedules,
            routes,
            config,
            issuer,
        })
    }

    /// Every SQS event source of the template whose function is built: what the pollers poll
    /// (unless [`StackOptions::poll_queues`] is off).
    pub fn sqs_sources(&self) -> &[SqsSource] {
        &self.sqs_sources
    }

    /// A bearer token for a platform service of organization `org_id`, signed by the stack's
    /// issuer and accepted by the HTTP front's JWT authorizer (send it as
    /// `Authorization: Bearer <token>`).
    pub fn token(&self, org_id: &str) -> String {
        self.issuer.token(&self.config.org_claim, org_id)
    }

    /// [`Self::token`] holding only `scopes` (e.g. `&["lifecycle.read"]` for a read-only
    /// caller; `&[]` for none), to check what the HTTP API's `AuthorizationScopes` refuse.
    pub fn token_with_scopes(&self, org_id: &str, scopes: &[&str]) -> String {
        self.issuer
            .token_with_scope(&self.config.org_claim, org_id, &scopes.join(" "))
    }

    /// The stack's token issuer (tests sign odd tokens with it: expired, other audience).
    pub fn token_issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// Base URL of the HTTP front, `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Endpoint of the AWS emulator (what `AWS_ENDPOINT_URL` would hold).
    pub fn moto_endpoint(&self) -> &str {
        self.moto.endpoint_url()
    }

    /// SDK configuration pointing at the emulator, as the administrator (every action allowed):
    /// for seeding and assertions. A function's code uses [`Stack::function_sdk_config`].
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// SDK configuration with the credentials the function `logical_id` runs with: only its
    /// template policy. A function crate's test that builds its `App` itself uses this, so an
    /// action missing from the template fails that test too.
    pub fn function_sdk_config(&self, logical_id: &str) -> Option<&SdkConfig> {
        self.functions.get(logical_id).map(|f| &f.sdk_config)
    }

    /// The Graph simulator, unless an external Graph was given.
    pub fn sim(&self) -> Option<&graph_sim::SimHandle> {
        self.sim.as_ref()
    }

    /// Graph base URL the functions use.
    pub fn graph_base_url(&self) -> &str {
        &self.graph_base_url
    }

    /// Login base URL the functions use.
    pub fn login_base_url(&self) -> &str {
        &self.login_base_url
    }

    /// The configuration the template's `Globals` resolve to locally.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The parsed template.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// Names, URLs and ARNs of what was provisioned.
    pub fn provisioned(&self) -> &Provisioned {
        &self.provisioned
    }

    /// URL of the queue with this logical id (`SyncQueue`, `OnboardingDeadLetterQueue`).
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.provisioned.queue_url(logical_id)
    }

    /// The HTTP routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The functions and whether each has landed.
    pub fn functions(&self) -> &Functions {
        &self.functions
    }

    /// Invokes a function directly with an event (what the front, pollers and schedules do).
    pub async fn invoke(&self, function: &str, event: Value) -> Result<Value, InvokeError> {
        self.functions.invoke(function, event).await
    }

    /// Fires every schedule of a function once, now.
    pub async fn fire_schedule(&self, function: &str) -> Result<Vec<Fired>, ScheduleError> {
        self.schedules.fire(function).await
    }

    /// Stops the front, pollers and schedules, then the emulator.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
    }
}

/// The function's environment resolved against what was provisioned, as a [`Config`].
fn resolve_config(
    function: &str,
    environment: &BTreeMap<String, Expr>,
    provisioned: &dyn Lookup,
) -> Result<Config, StackError> {
    let mut vars = HashMap::new();
    for (name, expr) in environment {
        let location = format!("{function}.Environment.Variables.{name}");
        vars.insert(name.clone(), expr.resolve(provisioned, &location)?);
    }
    Config::from_map(&vars).map_err(|source| StackError::Config {
        function: function.to_owned(),
        source,
    })
}

async fn seed_secret(
    aws: &SdkConfig,
    secret_id: &str,
    value: secrecy::SecretString,
) -> Result<(), StackError> {
    use secrecy::ExposeSecret;
    aws_sdk_secretsmanager::Client::new(aws)
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value.expose_secret())
        .send()
        .await
        .map_err(|error| StackError::Seed {
            detail: aws_sdk_secretsmanager::error::DisplayErrorContext(&error).to_string(),
        })?;
    Ok(())
}

/// The HTTP front's listener on `api_port` (0: any free port) and its URL.
async fn bind_front(api_port: u16) -> Result<(tokio::net::TcpListener, String), StackError> {
    let listen_failed = |source| StackError::Listen {
        port: api_port,
        source,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", api_port))
        .await
        .map_err(listen_failed)?;
    let port = listener.local_addr().map_err(listen_failed)?.port();
    Ok((listener, format!("http://127.0.0.1:{port}")))
}

/// The local token issuer the JWT authorizer trusts: the template's issuer and audience
/// parameters, else the devstack at `api_url`.
fn local_issuer(parameters: &BTreeMap<String, String>, api_url: &str) -> TokenIssuer {
    TokenIssuer::new(
        parameters
            .get("ApiJwtIssuer")
            .cloned()
            .unwrap_or_else(|| format!("{api_url}/_devstack")),
        parameters
            .get("ApiJwtAudience")
            .cloned()
            .unwrap_or_else(|| LOCAL_JWT_AUDIENCE.to_owned()),
    )
}

/// The platform apps' secrets into the vault, where the functions read them.
async fn seed_platform_secrets(
    sdk_config: &SdkConfig,
    config: &Config,
    platform_app: Option<AppCredentials>,
    platform_read_app: Option<AppCredentials>,
) -> Result<(), StackError> {
    if let Some(secret) = platform_app.and_then(|app| app.client_secret) {
        seed_secret(sdk_config, &config.platform_app_secret_id, secret).await?;
    }
    if let (Some(read_app), Some(secret)) = (
        &config.platform_read_app,
        platform_read_app.and_then(|app| app.client_secret),
    ) {
        seed_secret(sdk_config, &read_app.secret_id, secret).await?;
    }
    Ok(())
}

/// The routes as `GET /_devstack` lists them.
fn routes_info(routes: &[Route]) -> Vec<Value> {
    routes
        .iter()
        .map(|r| json!({"route": r.route_key, "function": r.function, "authorizer": r.auth.as_ref().map(|a| &a.authorizer)}))
        .collect()
}

/// What the stack's Graph is: the simulator started here, or the external Graph and login
/// services named (their base URLs and the platform's app credentials).
type GraphParts = (
    Option<graph_sim::SimHandle>,
    String,
    String,
    Option<AppCredentials>,
    Option<AppCredentials>,
);

/// Starts the simulator, or takes the external Graph as given.
async fn start_graph(graph: GraphSource) -> Result<GraphParts, StackError> {
    let mut sim = None;
    let (graph_base_url, login_base_url, platform_app, platform_read_app) = match graph {
        GraphSource::Simulator(config) => {
            let handle = graph_sim::spawn(config)
                .await
                .map_err(StackError::Simulator)?;
            let started = (
                handle.graph_base_url(),
                handle.login_base_url(),
                Some(AppCredentials::from_sim(handle.platform_app())),
                Some(AppCredentials::from_sim(handle.platform_read_app())),
            );
            sim = Some(handle);
            started
        }
        GraphSource::External {
            graph_base_url,
            login_base_url,
            platform_app,
            platform_read_app,
        } => (
            graph_base_url,
            login_base_url,
            platform_app,
            platform_read_app,
        ),
    };
    Ok((
        sim,
        graph_base_url,
        login_base_url,
        platform_app,
        platform_read_app,
    ))
}

/// The template's parameters for this stack: the Graph and login URLs, the API's own URL, the
/// platform's origins and app ids, the local token issuer; then the caller's `extra`, which win.
fn stack_parameters(
    template: &Template,
    api_url: &str,
    (graph_base_url, login_base_url): (&str, &str),
    (platform_app, platform_read_app): (Option<&AppCredentials>, Option<&AppCredentials>),
    extra: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::from([
        ("GraphBaseUrl".to_owned(), graph_base_url.to_owned()),
        ("LoginBaseUrl".to_owned(), login_base_url.to_owned()),
        ("PublicBaseUrl".to_owned(), api_url.to_owned()),
    ]);
    if template.parameters.contains_key("PlatformOrigins") {
        // The platform's web app while it is developed against the devstack.
        parameters.insert(
            "PlatformOrigins".to_owned(),
            LOCAL_PLATFORM_ORIGINS.to_owned(),
        );
    }
    if let Some(app) = &platform_app {
        parameters.insert("PlatformAppClientId".to_owned(), app.client_id.clone());
    } else if template
        .parameters
        .get("PlatformAppClientId")
        .is_none_or(|p| p.default.is_none())
    {
        // Locally nothing checks it unless a real login service is used.
        parameters.insert(
            "PlatformAppClientId".to_owned(),
            "00000000-0000-0000-0000-000000000000".to_owned(),
        );
    }
    if let Some(app) = &platform_read_app
        && template.parameters.contains_key("PlatformReadAppClientId")
    {
        parameters.insert("PlatformReadAppClientId".to_owned(), app.client_id.clone());
    }
    // The devstack is the API's token issuer: the JWT authorizer's parameters point at it
    // unless the caller set them.
    let issuer_url = format!("{api_url}/_devstack");
    for (name, value) in [
        ("ApiJwtIssuer", issuer_url.as_str()),
        ("ApiJwtAudience", LOCAL_JWT_AUDIENCE),
    ] {
        if template.parameters.contains_key(name) {
            parameters.insert(name.to_owned(), value.to_owned());
        }
    }
    parameters.extend(extra);
    parameters
}

/// Every function of the template with its handler (when the registry builds it), each running
/// with its own policy only, as under its execution role in AWS.
async fn deploy(
    template: &Template,
    registry: &Registry,
    moto: &local_aws::Moto,
    provisioned: &Provisioned,
    stack_name: &str,
) -> Result<Functions, StackError> {
    let root = workspace_root();
    let mut functions = Functions::default();
    for spec in &template.functions {
        let code_key = spec.code_key(&root);
        // The function's code runs with its own policy only, as under its execution role in
        // AWS: an action missing from the template is refused here too.
        let policy = provision::function_policy(spec, provisioned)?;
        let principal = format!("{stack_name}-{}", spec.logical_id);
        let function_aws = moto.sdk_config_for(&principal, &policy).await?;
        let handler = match registry.constructor(&code_key) {
            Some(constructor) => {
                let config = resolve_config(&spec.logical_id, &spec.environment, provisioned)?;
                Some(
                    constructor(config, &function_aws).map_err(|source| StackError::Build {
                        function: spec.logical_id.clone(),
                        source,
                    })?,
                )
            }
            None => {
                tracing::warn!(
                    function = %spec.logical_id,
                    code_uri = %code_key,
                    "no constructor registered: the function has not landed in the devstack"
                );
                None
            }
        };
        functions.insert(Deployed {
            spec: spec.clone(),
            code_key,
            handler,
            sdk_config: function_aws,
        });
    }
    Ok(functions)
}

/// The SQS event sources of the functions that are built.
fn sqs_sources(functions: &Functions, provisioned: &Provisioned) -> Vec<SqsSource> {
    let mut sqs_sources = Vec::new();
    for deployed in functions.iter().filter(|d| d.handler.is_some()) {
        for event in &deployed.spec.events {
            let EventSource::Sqs {
                queue,
                batch_size,
                report_batch_item_failures,
            } = &event.source
            else {
                continue;
            };
            let (Some(queue_url), Some(queue_arn)) =
                (provisioned.queue_url(queue), provisioned.queue_arn(queue))
            else {
                continue;
            };
            let source = SqsSource {
                function: deployed.spec.logical_id.clone(),
                queue_url: queue_url.to_owned(),
                queue_arn,
                batch_size: *batch_size,
                report_batch_item_failures: *report_batch_item_failures,
            };
            sqs_sources.push(source);
        }
    }
    sqs_sources
}
