//! The bodies of the connection routes, as callers send them. They live in the domain crate so
//! that the function that serves them and the API's published contract (its OpenAPI document)
//! read one definition.

use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;

use crate::TenantId;
use crate::model::ConnectionMode;

/// A connection mode as the API spells it: `read`, or `write` / `read_write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModeParam {
    #[serde(alias = "read_only")]
    Read,
    #[serde(alias = "read_write")]
    Write,
}

impl ModeParam {
    /// Parses the query-string form.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "read" | "read_only" => Some(Self::Read),
            "write" | "read_write" => Some(Self::Write),
            _ => None,
        }
    }
}

impl From<ModeParam> for ConnectionMode {
    fn from(mode: ModeParam) -> Self {
        match mode {
            ModeParam::Read => ConnectionMode::Read,
            ModeParam::Write => ConnectionMode::ReadWrite,
        }
    }
}

/// The body of `POST /tenants`: the customer's own app registration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnAppRequest {
    /// The customer's Entra tenant id (a GUID).
    pub tenant_id: TenantId,
    /// Application (client) id of the customer's app registration (a GUID).
    #[schemars(regex(
        pattern = r"^\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\s*$"
    ))]
    pub client_id: String,
    /// A client secret of that app registration: kept in Secrets Manager, never echoed.
    #[schemars(with = "String")]
    pub client_secret: SecretString,
    pub mode: ModeParam,
    /// Ignored: the connection belongs to the caller's organization, from the bearer token.
    /// Accepted so that older clients that sent it are not refused.
    #[serde(default, rename = "org_id")]
    #[schemars(skip)]
    _ignored_org_id: Option<serde::de::IgnoredAny>,
}

/// The optional body of the customer connect route
/// (`POST /tenants/{tenant_id}/customers/{customer_id}/connect`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectCustomer {
    /// Defaults to the partner's own mode.
    pub mode: Option<ModeParam>,
    /// Where the consent result page links back to (allowed origins only).
    pub return_to: Option<String>,
}
