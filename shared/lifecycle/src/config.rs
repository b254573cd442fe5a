//! Configuration from the environment, read once per cold start.
//!
//! Every function of the bundle gets the same variables (they are set once in the SAM template's
//! `Globals`), so one `Config` serves all of them. `from_env` fails fast and names the variable
//! that is missing or malformed; `from_vars` takes any lookup so the devstack and tests can build a
//! `Config` without touching the process environment.

use std::collections::HashMap;
use thiserror::Error;

/// What is wrong with the environment, naming the variable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is not set ({hint})")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("environment variable {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// The settings every function shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// DynamoDB table that holds all state (`TABLE_NAME`).
    pub table_name: String,
    /// Standard queue of sync jobs (`SYNC_QUEUE_URL`).
    pub sync_queue_url: String,
    /// FIFO queue of onboarding and membership jobs (`ONBOARDING_QUEUE_URL`).
    pub onboarding_queue_url: String,
    /// FIFO queue of offboarding jobs (`OFFBOARDING_QUEUE_URL`).
    pub offboarding_queue_url: String,
    /// Standard queue of license-refresh jobs (`LICENSE_REFRESH_QUEUE_URL`).
    pub license_refresh_queue_url: String,
    /// Microsoft Graph base, with the version: `https://graph.microsoft.com/v1.0` (`GRAPH_BASE_URL`).
    pub graph_base_url: String,
    /// Microsoft identity platform base: `https://login.microsoftonline.com` (`LOGIN_BASE_URL`).
    pub login_base_url: String,
    /// Prefix of every Secrets Manager secret name this bundle writes (`SECRET_PREFIX`).
    pub secret_prefix: String,
    /// Client id of the platform's multi-tenant app registration (`PLATFORM_APP_CLIENT_ID`).
    pub platform_app_client_id: String,
    /// Secrets Manager id of the platform app's client secret (`PLATFORM_APP_SECRET_ID`).
    pub platform_app_secret_id: String,
    /// Secrets Manager id of the HMAC key that signs OAuth `state` (`STATE_SIGNING_KEY_SECRET_ID`).
    pub state_signing_key_secret_id: String,
    /// Public base URL of the HTTP API, used to build the OAuth redirect URI (`PUBLIC_BASE_URL`).
    pub public_base_url: String,
    /// The platform's second multi-tenant app, holding only the read permissions, that read-only
    /// connections consent to (`PLATFORM_READ_APP_CLIENT_ID` and `PLATFORM_READ_APP_SECRET_ID`).
    /// Admin consent grants an app's static permissions, so least privilege for read-only needs
    /// its own app; when unset, read-only tenants consent to the read/write app and read-only is
    /// enforced by the platform alone.
    pub platform_read_app: Option<PlatformReadApp>,
    /// Origins (`https://host[:port]`) the consent result page may link back to, besides the
    /// origin of `PUBLIC_BASE_URL` (`ALLOWED_RETURN_ORIGINS`, comma-separated, optional).
    pub allowed_return_origins: Vec<String>,
    /// Name of the claim, in the API's verified bearer token, that holds the caller's platform
    /// organization (`ORG_CLAIM`, optional, default [`Config::DEFAULT_ORG_CLAIM`]). Every HTTP
    /// route scopes tenants by it; the organization is never read from a body or query.
    pub org_claim: String,
    /// EventBridge bus that receives "job finished" events (`EVENT_BUS_NAME`, optional, default
    /// `default`, the account's default bus).
    pub event_bus_name: String,
}

/// The read-only platform app: its client id and the Secrets Manager id of its client secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformReadApp {
    pub client_id: String,
    pub secret_id: String,
}

impl Config {
    /// The claim that names the caller's platform organization when `ORG_CLAIM` is unset.
    pub const DEFAULT_ORG_CLAIM: &'static str = "org_id";

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads from a map (devstack, tests).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_vars(|name| vars.get(name).cloned())
    }

    /// Reads through any lookup; the first missing or malformed variable is the error.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str, hint: &'static str| -> Result<String, ConfigError> {
            match lookup(name) {
                Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                _ => Err(ConfigError::Missing { name, hint }),
            }
        };
        let optional = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let url = |name: &'static str, hint: &'static str| -> Result<String, ConfigError> {
            let value = get(name, hint)?;
            if !(value.starts_with("https://") || value.starts_with("http://")) {
                return Err(ConfigError::Malformed {
                    name,
                    reason: format!("expected an http(s) URL, got {value:?}"),
                });
            }
            Ok(value.trim_end_matches('/').to_owned())
        };
        Ok(Self {
            table_name: get("TABLE_NAME", "the DynamoDB table name")?,
            sync_queue_url: url("SYNC_QUEUE_URL", "URL of the sync SQS queue")?,
            onboarding_queue_url: url("ONBOARDING_QUEUE_URL", "URL of the onboarding FIFO queue")?,
            offboarding_queue_url: url(
                "OFFBOARDING_QUEUE_URL",
                "URL of the offboarding FIFO queue",
            )?,
            license_refresh_queue_url: url(
                "LICENSE_REFRESH_QUEUE_URL",
                "URL of the license-refresh SQS queue",
            )?,
            graph_base_url: url("GRAPH_BASE_URL", "e.g. https://graph.microsoft.com/v1.0")?,
            login_base_url: url("LOGIN_BASE_URL", "e.g. https://login.microsoftonline.com")?,
            secret_prefix: get("SECRET_PREFIX", "e.g. m365-lifecycle/")?,
            platform_app_client_id: get(
                "PLATFORM_APP_CLIENT_ID",
                "client id of the platform's multi-tenant app",
            )?,
            platform_app_secret_id: get(
                "PLATFORM_APP_SECRET_ID",
                "Secrets Manager id of the platform app's client secret",
            )?,
            state_signing_key_secret_id: get(
                "STATE_SIGNING_KEY_SECRET_ID",
                "Secrets Manager id of the OAuth state signing key",
            )?,
            public_base_url: url("PUBLIC_BASE_URL", "public URL of the HTTP API")?,
            platform_read_app: match optional("PLATFORM_READ_APP_CLIENT_ID") {
                Some(client_id) => Some(PlatformReadApp {
                    client_id,
                    secret_id: get(
                        "PLATFORM_READ_APP_SECRET_ID",
                        "Secrets Manager id of the read-only platform app's client secret; \
                         required when PLATFORM_READ_APP_CLIENT_ID is set",
                    )?,
                }),
                None => None,
            },
            allowed_return_origins: match optional("ALLOWED_RETURN_ORIGINS") {
                Some(list) => parse_origins(&list)?,
                None => Vec::new(),
            },
            org_claim: optional("ORG_CLAIM").unwrap_or_else(|| Self::DEFAULT_ORG_CLAIM.to_owned()),
            event_bus_name: optional("EVENT_BUS_NAME").unwrap_or_else(|| "default".to_owned()),
        })
    }
}

/// `https://a.example, http://127.0.0.1:8080` -> the origins, each scheme://host[:port] with no
/// path, lower case.
fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let mut origins = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = raw.trim_end_matches('/').to_ascii_lowercase();
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@']) => {
                origins.push(origin)
            }
            _ => {
                return Err(ConfigError::Malformed {
                    name: "ALLOWED_RETURN_ORIGINS",
                    reason: format!(
                        "expected comma-separated origins such as https://app.example.com, got {raw:?}"
                    ),
                });
            }
        }
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> HashMap<String, String> {
        [
            ("TABLE_NAME", "lifecycle"),
            ("SYNC_QUEUE_URL", "http://127.0.0.1:5000/123/sync"),
            (
                "ONBOARDING_QUEUE_URL",
                "http://127.0.0.1:5000/123/onboarding.fifo",
            ),
            (
                "OFFBOARDING_QUEUE_URL",
                "http://127.0.0.1:5000/123/offboarding.fifo",
            ),
            (
                "LICENSE_REFRESH_QUEUE_URL",
                "http://127.0.0.1:5000/123/license-refresh",
            ),
            ("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0/"),
            ("LOGIN_BASE_URL", "https://login.microsoftonline.com"),
            ("SECRET_PREFIX", "m365-lifecycle/"),
            ("PLATFORM_APP_CLIENT_ID", "app"),
            (
                "PLATFORM_APP_SECRET_ID",
                "m365-lifecycle/platform/app-secret",
            ),
            (
                "STATE_SIGNING_KEY_SECRET_ID",
                "m365-lifecycle/platform/state-key",
            ),
            ("PUBLIC_BASE_URL", "http://127.0.0.1:3000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn given_every_variable_when_read_then_urls_lose_their_trailing_slash() {
        let config = Config::from_map(&full()).expect("complete environment");
        assert_eq!(config.graph_base_url, "https://graph.microsoft.com/v1.0");
        assert_eq!(config.table_name, "lifecycle");
    }

    #[test]
    fn given_a_missing_variable_when_read_then_the_error_names_it() {
        let mut vars = full();
        vars.remove("TABLE_NAME");
        let err = Config::from_map(&vars).unwrap_err();
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
    }

    #[test]
    fn given_no_read_app_and_no_return_origins_when_read_then_both_are_absent() {
        let config = Config::from_map(&full()).expect("complete environment");
        assert_eq!(config.platform_read_app, None);
        assert!(config.allowed_return_origins.is_empty());
    }

    #[test]
    fn given_org_claim_unset_or_set_when_read_then_it_defaults_to_org_id_or_takes_the_name() {
        let mut vars = full();
        assert_eq!(Config::from_map(&vars).expect("config").org_claim, "org_id");
        vars.insert("ORG_CLAIM".into(), " custom:org ".into());
        assert_eq!(
            Config::from_map(&vars).expect("config").org_claim,
            "custom:org"
        );
    }

    #[test]
    fn given_a_read_app_without_its_secret_when_read_then_the_error_names_the_secret_variable() {
        let mut vars = full();
        vars.insert("PLATFORM_READ_APP_CLIENT_ID".into(), "read-app".into());
        let err = Config::from_map(&vars).unwrap_err();
        assert!(
            err.to_string().contains("PLATFORM_READ_APP_SECRET_ID"),
            "{err}"
        );
        vars.insert("PLATFORM_READ_APP_SECRET_ID".into(), "s/read".into());
        let config = Config::from_map(&vars).expect("read app complete");
        assert_eq!(
            config.platform_read_app,
            Some(PlatformReadApp {
                client_id: "read-app".into(),
                secret_id: "s/read".into()
            })
        );
    }

    #[test]
    fn given_return_origins_when_read_then_they_are_normalised_or_refused_with_the_bad_one() {
        let mut vars = full();
        vars.insert(
            "ALLOWED_RETURN_ORIGINS".into(),
            " https://App.example.com/ ,http://127.0.0.1:8080".into(),
        );
        let config = Config::from_map(&vars).expect("origins");
        assert_eq!(
            config.allowed_return_origins,
            ["https://app.example.com", "http://127.0.0.1:8080"]
        );
        vars.insert(
            "ALLOWED_RETURN_ORIGINS".into(),
            "https://ok.example, https://evil.example/path".into(),
        );
        let err = Config::from_map(&vars).unwrap_err();
        assert!(
            err.to_string().contains("https://evil.example/path"),
            "{err}"
        );
    }

    #[test]
    fn given_a_url_without_scheme_when_read_then_the_error_names_variable_and_value() {
        let mut vars = full();
        vars.insert("GRAPH_BASE_URL".into(), "graph.microsoft.com".into());
        let err = Config::from_map(&vars).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Malformed {
                name: "GRAPH_BASE_URL",
                reason: "expected an http(s) URL, got \"graph.microsoft.com\"".into()
            }
        );
    }
}
