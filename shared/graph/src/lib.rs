//! Microsoft Graph v1.0 and the Microsoft identity platform, for the employee lifecycle.
//!
//! One [`GraphClient`] per process (connection pool, token cache, retry policy), one
//! [`TenantGraph`] handle per tenant and app credential on which every call is made:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::TryStreamExt as _;
//! use graph::{AppCredential, GraphClient, GraphConfig};
//!
//! let client = GraphClient::new(GraphConfig::new(
//!     "https://graph.microsoft.com/v1.0",
//!     "https://login.microsoftonline.com",
//! )?)?;
//! let credential = AppCredential::new("client-id", secrecy::SecretString::from("secret"));
//! let tenant = client.tenant("contoso.onmicrosoft.com", credential);
//! let mut users = std::pin::pin!(tenant.users());
//! while let Some(user) = users.try_next().await? {
//!     println!("{}", user.id);
//! }
//! println!("{:?}", tenant.metrics());
//! # Ok(()) }
//! ```
//!
//! Lists are streams that follow `@odata.nextLink`; delta rounds yield changes and the new delta
//! link; writes return Graph's `request-id`; `$batch` gives each step its own result. Every
//! request goes through one retry policy ([`RetryPolicy`]) and every failure is a [`GraphError`].
//! The crate knows nothing of AWS.

mod access_pass;
mod auth;
mod batch;
mod client;
mod config;
mod delta;
mod error;
pub mod fault;
mod groups;
mod lookup;
mod metrics;
pub mod models;
mod paging;
mod reads;
mod retry;
mod stream;
mod transport;
mod url_path;
mod wire;
mod writes;

pub use access_pass::{NewTemporaryAccessPass, TemporaryAccessPass};
pub use auth::{AadError, AppCredential, TokenError};
pub use batch::{BatchOutcome, BatchRequest, BatchResponse, MAX_BATCH_STEPS};
pub use client::{GraphClient, TenantGraph};
pub use config::{ConfigError, DELTA_PART_SIZE, GraphConfig};
pub use delta::{DeltaEvent, DeltaPage, GroupChange, MemberChange, RemovedReason, UserChange};
pub use error::{ErrorDetail, GraphError};
pub use groups::{GroupPatch, MAX_OWNERS_ON_CREATE, NewGroup};
pub use lookup::{BatchAnswers, MEMBER_OF_PAGE, RELATION_PAGE};
pub use metrics::GraphMetrics;
pub use models::{
    AssignedLicense, DelegatedAdminCustomer, DeletedUser, DirectoryObject, DirectoryObjectRef,
    Domain, Group, GroupKind, LicenseAssignmentState, LicenseDetails, LicenseUnitsDetail,
    MailboxUsagePeriod, MailboxUsageReport, MailboxUsageRow, Organization, ServicePlanInfo,
    SignInActivity, SubscribedSku, User, VerifiedDomain,
};
pub use paging::Page;
pub use retry::{RetryPolicy, parse_retry_after};
pub use url_path::encode_segment;
pub use writes::{NewUser, PasswordProfile, ProfilePatch, Receipt, TextChange, UserPatch};

/// Re-exported so callers can build [`BatchRequest`]s without depending on `reqwest`.
pub use reqwest::Method;
/// Re-exported so callers can build credentials without naming `secrecy` themselves.
pub use secrecy::SecretString;
