//! What testing a connection reports, and the connection routes' answers. They live in the domain
//! crate so that the function that builds them and the API's published contract (its OpenAPI
//! document) read one definition.

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{ConnectionMode, ConnectionStatus, TenantConnection};
use crate::{DomainName, SyncRunId, TenantId};

/// Whether a permission is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    Granted,
    Missing,
}

/// One line of the permission report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PermissionCheck {
    pub permission: &'static str,
    pub needed_for: &'static str,
    pub required: bool,
    pub status: Grant,
    /// The broader permission that grants it, when not granted by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted_through: Option<String>,
}

impl PermissionCheck {
    /// Whether it is granted (by name or through a broader permission).
    pub fn is_granted(&self) -> bool {
        self.status == Grant::Granted
    }
}

/// Whether one offboard option can run in this tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct OptionCheck {
    /// The offboard job's field.
    pub option: &'static str,
    pub permission: &'static str,
    /// Granted in a read/write connection: the option can run.
    pub possible: bool,
}

/// Whether the tenant has Microsoft Entra ID P1 (needed for last sign-in per account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct P1Probe {
    /// `None` when it could not be told (AuditLog.Read.All missing, or Graph failed).
    pub available: Option<bool>,
    pub detail: String,
}

/// The outcome of testing a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConnectionReport {
    pub tenant_id: TenantId,
    pub mode: ConnectionMode,
    /// The app the platform signs in as.
    pub client_id: String,
    /// `None` when Organization.Read.All is missing.
    pub display_name: Option<String>,
    pub verified_domains: Vec<DomainName>,
    pub permissions: Vec<PermissionCheck>,
    /// Required permissions that are missing; the connection is refused while any is.
    pub missing_permissions: Vec<&'static str>,
    pub entra_id_p1: P1Probe,
    /// The offboard job's opt-in options and whether this tenant's grant allows each.
    pub offboard_options: Vec<OptionCheck>,
}

impl ConnectionReport {
    /// Whether the connection can be used in its mode.
    pub fn is_usable(&self) -> bool {
        self.missing_permissions.is_empty()
    }
}

/// `POST /tenants` (201), and a GDAP customer connected
/// (`POST /tenants/{tenant_id}/customers/{customer_id}/connect`, 201).
#[derive(Debug, Serialize, JsonSchema)]
pub struct TenantConnected {
    /// `connected` (the customer connect route only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// The partner tenant the customer was connected through (the customer connect route only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_tenant_id: Option<TenantId>,
    pub tenant: TenantConnection,
    pub report: ConnectionReport,
    /// The first sync's run, when it could be queued.
    pub sync_run_id: Option<SyncRunId>,
    /// False when the sync queue refused the job: the scheduler picks the tenant up.
    pub first_sync_queued: bool,
}

/// Why a connection could not be tested (its credential is not stored).
#[derive(Debug, Serialize, JsonSchema)]
pub struct TestProblem {
    pub code: &'static str,
    pub message: &'static str,
}

/// `POST /tenants/{tenant_id}/test` (200).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectionTested {
    /// The connection can be used in its mode.
    pub ok: bool,
    pub tenant_id: TenantId,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ConnectionReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<TestProblem>,
}

/// A GDAP customer's connection here, when the partner's organization has one.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CustomerConnection {
    pub status: ConnectionStatus,
    pub mode: ConnectionMode,
}

/// One GDAP customer of a partner tenant.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Customer {
    pub tenant_id: TenantId,
    pub display_name: Option<String>,
    /// `None`: not connected by this organization.
    pub connection: Option<CustomerConnection>,
}

/// `GET /tenants/{tenant_id}/customers` (200).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PartnerCustomers {
    pub partner_tenant_id: TenantId,
    pub customers: Vec<Customer>,
}

/// A GDAP customer that must consent first (202): a partner administrator opens `start_url`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConsentRequired {
    /// `consent_required`.
    pub status: &'static str,
    pub tenant_id: TenantId,
    pub start_url: String,
    pub message: &'static str,
}
