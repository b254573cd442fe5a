//! Interleavings on demand: run something of a test's choosing just before a chosen AWS request
//! of the code under test reaches the emulator.
//!
//! A race between two requests (a removal landing between a worker's check and its write) is
//! played deterministically by [`before`]: the hook sees each request of one SDK configuration
//! (target header and body, as [`Request`]) and may answer with a future, which is run to its end
//! before that request is sent. Only test code builds such a configuration; production code is
//! the same code that runs in AWS.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
    http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

/// What a hook sees of a request: the JSON protocols' target (`DynamoDB_20120810.PutItem`,
/// `secretsmanager.CreateSecret`, `AmazonSQS.SendMessage`) and the body as text.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: String,
    pub body: String,
}

/// What runs before a request: `None` lets it through at once.
pub type Interleaving = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A hook: called for every request, in the order the code under test sends them.
pub type Hook = Arc<dyn Fn(&Request) -> Option<Interleaving> + Send + Sync>;

/// `sdk` with `hook` run before each of its requests (see the module documentation). The
/// requests then go on through `sdk`'s own HTTP client (AWS's limits still apply).
pub fn before(sdk: &SdkConfig, hook: Hook) -> SdkConfig {
    let Some(inner) = sdk.http_client() else {
        return sdk.clone();
    };
    let client: SharedHttpClient = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Hooked {
            inner: inner.http_connector(settings, components),
            hook: hook.clone(),
        })
    });
    sdk.to_builder().http_client(client).build()
}

struct Hooked {
    inner: SharedHttpConnector,
    hook: Hook,
}

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooked").finish_non_exhaustive()
    }
}

impl HttpConnector for Hooked {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let seen = Request {
            target: request
                .headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .to_owned(),
            body: request
                .body()
                .bytes()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default(),
        };
        let Some(interleaving) = (self.hook)(&seen) else {
            return self.inner.call(request);
        };
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            interleaving.await;
            inner.call(request).await
        })
    }
}
