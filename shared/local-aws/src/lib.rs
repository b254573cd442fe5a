//! A moto server on a free loopback port, for integration tests and the local stack.
//!
//! moto emulates DynamoDB, SQS and Secrets Manager well enough for the real AWS SDK clients to
//! talk to it, so tests exercise the same code path as production with only the endpoint changed.
//! [`Moto::start`] runs moto's server as a child process (with DynamoDB's operations made atomic,
//! as they are in AWS: see `moto_atomic.py`) and waits until it answers; dropping the
//! [`Moto`] kills the child. A missing `moto_server` is an error, never a silent skip: the Makefile
//! installs it into the project's virtualenv (`make venv`, which `make test` runs).
//!
//! IAM is enforced as in AWS (see [`iam`]): [`Moto::start`] creates an administrator whose
//! credentials [`Moto::sdk_config`] uses (provisioning, seeding, assertions), then turns moto's
//! authorization on. A function's code runs with [`Moto::sdk_config_for`]: credentials of a user
//! whose only permissions are that function's policy, so an action missing from the template fails
//! locally the way it fails in AWS.
//!
//! Tests read what the functions put on the bus through one [`subscriber::Subscriber`] (a queue
//! on an EventBridge rule, as another service subscribes); they intercept the SDK's requests with
//! [`hook`] and [`faults`].

pub mod faults;
pub mod hook;
pub mod iam;
pub mod limits;
mod server;
pub mod subscriber;
pub mod usage;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{Value, json};
use server::Server;
use thiserror::Error;

/// Region every local client uses; moto keeps separate state per region.
pub const REGION: &str = "us-east-1";
/// Account id moto assigns to every resource (queue URLs, ARNs).
pub const ACCOUNT_ID: &str = "123456789012";

/// Why the emulator could not be started.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LocalAwsError {
    #[error("moto_server not found at {path}: run `make venv` (make test does it)")]
    NotFound { path: PathBuf },
    #[error("could not start {path}: {source}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("moto_server exited before it said which port it listens on (status {status})")]
    Exited { status: String },
    #[error("moto_server did not say which port it listens on within {timeout:?}")]
    Timeout { timeout: Duration },
    #[error("IAM {action} against the emulator failed: {detail}")]
    Iam { action: String, detail: String },
}

/// The user whose credentials [`Moto::sdk_config`] carries: every action on every resource.
const ADMIN_USER: &str = "local-aws-admin";

/// A running moto server; stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    _server: Server,
    endpoint: String,
    /// The administrator's access key (moto-local, never a real credential).
    admin: Credentials,
}

impl Moto {
    /// Starts `moto_server` on a loopback port the operating system picks, waits until it has
    /// said which, creates the administrator and turns IAM enforcement on.
    ///
    /// The executable is `$MOTO_SERVER` when set, else `<workspace root>/.venv/bin/moto_server`.
    /// The server is forked from a warm zygote unless `LOCAL_AWS_MOTO_ZYGOTE=0` ([`server`]).
    pub async fn start() -> Result<Moto, LocalAwsError> {
        let zygote = std::env::var_os("LOCAL_AWS_MOTO_ZYGOTE").is_none_or(|value| value != "0");
        Moto::start_with(zygote).await
    }

    /// [`Moto::start`] with a moto process of its own, never forked from the zygote (what
    /// `LOCAL_AWS_MOTO_ZYGOTE=0` makes of every start).
    pub async fn start_alone() -> Result<Moto, LocalAwsError> {
        Moto::start_with(false).await
    }

    async fn start_with(zygote: bool) -> Result<Moto, LocalAwsError> {
        let path = moto_server_path();
        if !path.is_file() {
            return Err(LocalAwsError::NotFound { path });
        }
        // moto's own Python runs it through `moto_atomic.py`, which makes DynamoDB operations
        // atomic as in AWS (moto's threaded server checks a condition, then writes, unlocked),
        // binds port 0 itself and says which port it got: no other process can take it between
        // choosing and binding. A warm zygote forks it when it can ([`server`]).
        let python = path.with_file_name("python3");
        if !python.is_file() {
            return Err(LocalAwsError::NotFound { path: python });
        }
        let (server, port) = Server::start(&python, zygote).await?;
        let endpoint = format!("http://127.0.0.1:{port}");
        // Until enforcement is on, moto accepts any signature: the bootstrap key only signs.
        let bootstrap = Credentials::new("testing", "testing", None, None, "local-aws");
        let mut moto = Moto {
            _server: server,
            endpoint,
            admin: bootstrap,
        };
        let everything = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}
        ]});
        moto.admin = moto.iam().principal(ADMIN_USER, &everything).await?;
        moto.enforce_iam().await?;
        Ok(moto)
    }

    /// Credentials of a new IAM user `name` whose only permissions are `policy` (an IAM policy
    /// document, e.g. a function's statements from the template with ARNs resolved). See
    /// [`iam::moto_policy`] for what moto checks of it.
    pub async fn principal(
        &self,
        name: &str,
        policy: &Value,
    ) -> Result<Credentials, LocalAwsError> {
        self.iam().principal(name, &iam::moto_policy(policy)).await
    }

    /// SDK configuration for code that runs as user `name` with only `policy` (a function of the
    /// template: its `Policies` statements).
    /// Its successful requests are recorded under `name` when `LOCAL_AWS_IAM_LOG` is set
    /// ([`usage`]).
    pub async fn sdk_config_for(
        &self,
        name: &str,
        policy: &Value,
    ) -> Result<SdkConfig, LocalAwsError> {
        let credentials = self.principal(name, policy).await?;
        Ok(self.sdk_config_as(credentials, Some(name)).await)
    }

    /// SDK configuration pointing at this emulator with these credentials. Its HTTP client
    /// refuses the requests over AWS's size limits that moto would take ([`limits`]).
    pub async fn sdk_config_with(&self, credentials: Credentials) -> SdkConfig {
        self.sdk_config_as(credentials, None).await
    }

    /// [`Self::sdk_config_with`], its successful requests recorded under `principal` ([`usage`]).
    async fn sdk_config_as(&self, credentials: Credentials, principal: Option<&str>) -> SdkConfig {
        let http = limits::limits_client_recording(
            aws_smithy_http_client::Builder::new().build_http(),
            principal.map(str::to_owned),
        );
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(REGION))
            .credentials_provider(credentials)
            .endpoint_url(&self.endpoint)
            .load()
            .await
    }

    fn iam(&self) -> iam::IamClient<'_> {
        iam::IamClient {
            endpoint: &self.endpoint,
            credentials: &self.admin,
        }
    }

    /// Makes moto authenticate and authorize every request from now on (moto-api `reset-auth`
    /// with a count of 0 unauthenticated requests).
    async fn enforce_iam(&self) -> Result<(), LocalAwsError> {
        let url = format!("{}/moto-api/reset-auth", self.endpoint);
        let failed = |detail: String| LocalAwsError::Iam {
            action: "reset-auth".to_owned(),
            detail,
        };
        let response = reqwest::Client::new()
            .post(&url)
            .body("0")
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        Ok(())
    }

    /// Base URL of the emulator, `http://127.0.0.1:PORT`; what `AWS_ENDPOINT_URL` should hold.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration pointing every client at this emulator as the administrator (every
    /// action allowed): for provisioning, seeding and assertions, not for a function's own code
    /// (use [`Moto::sdk_config_for`]).
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(self.admin.clone()).await
    }
}

/// The Python program that starts moto with DynamoDB operations serialized (see the file).
pub(crate) const MOTO_ATOMIC: &str = include_str!("moto_atomic.py");

/// Where the `moto_server` executable is expected (its directory's `python3` runs it).
pub fn moto_server_path() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => workspace_root()
            .join(".venv")
            .join("bin")
            .join("moto_server"),
    }
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}
