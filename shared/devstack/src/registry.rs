//! Which Rust constructor builds the function a template's `CodeUri` points at.
//!
//! Every function crate exports `App::new(config, &sdk_config)`; the devstack builds each function
//! of the template in-process through this table, keyed by the workspace-relative `CodeUri`
//! (`functions/api`). Tests register extra functions under any key, so a test template can wire a
//! queue or schedule to a test function before the real worker exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use lifecycle::{Config, Function, HandlerError};

/// Builds one function from the shared configuration and the AWS SDK configuration.
pub type Constructor =
    Arc<dyn Fn(Config, &SdkConfig) -> Result<Arc<dyn Function>, HandlerError> + Send + Sync>;

/// `CodeUri` (workspace-relative) -> constructor.
#[derive(Clone, Default)]
pub struct Registry {
    constructors: BTreeMap<String, Constructor>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.constructors.keys()).finish()
    }
}

impl Registry {
    /// No function at all.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// Every function crate of the bundle that exists today. A function crate that lands adds its
    /// line here.
    pub fn standard() -> Registry {
        Registry::empty()
            .register("functions/api", api::App::new)
            .register("functions/onboarding", onboarding::App::new)
            .register("functions/offboarding", offboarding::App::new)
            .register("functions/oauth-callback", oauth_callback::App::new)
            .register("functions/license-refresh", license_refresh::App::new)
            .register("functions/sync", sync::App::new)
            .register("functions/dead-letters", dead_letters::App::new)
    }

    /// Adds (or replaces) the constructor for a `CodeUri`, e.g. `"functions/sync"`.
    pub fn register<F, E, C>(mut self, code_uri: &str, constructor: C) -> Registry
    where
        F: Function,
        E: std::error::Error + Send + Sync + 'static,
        C: Fn(Config, &SdkConfig) -> Result<F, E> + Send + Sync + 'static,
    {
        let constructor: Constructor = Arc::new(move |config, aws| {
            constructor(config, aws)
                .map(|function| Arc::new(function) as Arc<dyn Function>)
                .map_err(|e| Box::new(e) as HandlerError)
        });
        self.constructors.insert(key(code_uri), constructor);
        self
    }

    /// The constructor registered for this workspace-relative `CodeUri`.
    pub fn constructor(&self, code_uri: &str) -> Option<&Constructor> {
        self.constructors.get(&key(code_uri))
    }

    /// Registered `CodeUri`s.
    pub fn code_uris(&self) -> impl Iterator<Item = &str> {
        self.constructors.keys().map(String::as_str)
    }
}

fn key(code_uri: &str) -> String {
    code_uri
        .trim()
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned()
}
