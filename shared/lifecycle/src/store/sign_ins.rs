//! What the license refresh reads and writes of last sign-ins, in domain words: the stored last
//! sign-in of a page of accounts, an update of that one attribute, and where a job's sign-in read
//! stands between invocations.
//!
//! The license refresh is the only reader of sign-ins, while the sync rewrites whole accounts. So
//! the refresh never puts a whole account: it sets the `last_sign_in` attribute alone, on an
//! account that exists, and neither overwrites what a sync wrote meanwhile nor is overwritten by
//! a stale copy of its own.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{PK, SK, attribute_of};
use super::{Record, Store, StoreError, keys};
use crate::ids::{AccountId, JobId, TenantId};
use crate::license_report::InactiveTally;
use crate::model::{Account, LastSignIn};
use crate::sdk_error::classify;

/// The attribute of a stored account that holds its last sign-in.
const LAST_SIGN_IN: &str = "last_sign_in";

/// Where one license-refresh job's read of `signInActivity` stands: the link of the next page
/// and what was done so far. Saved after every page, so the job's next invocation (or a
/// redelivery after a crash) continues at the page after the last one written, and reads no page
/// twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInCursor {
    /// The next page's link exactly as Graph sent it; `None` before the first page.
    pub next_link: Option<String>,
    /// Pages read and written so far (the write condition: of two deliveries of one job, only
    /// the one that read the next page first saves it).
    pub pages: u64,
    /// Accounts Graph returned so far.
    pub read: u64,
    /// Stored accounts whose last sign-in changed and was written.
    pub updated: u64,
    /// Invocations that read pages of this job (the first is 1).
    pub invocations: u64,
    pub updated_at: Option<DateTime<Utc>>,
    /// The inactive licensed accounts among the pages read so far; `None` on a cursor saved
    /// before refreshes counted them (its job falls back to the report's read of the store).
    #[serde(default)]
    pub inactive: Option<InactiveTally>,
}

impl Record for SignInCursor {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        // A job's cursor is worthless once the job ended; DynamoDB removes leftovers. Two days
        // outlive the queue's redelivery of a job (5 deliveries of 1.5 h).
        Some(Utc::now() + chrono::Duration::days(2))
    }
}

impl Store {
    /// Where job `job`'s sign-in read stands, if a delivery of it saved a page.
    pub async fn sign_in_cursor(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<Option<SignInCursor>, StoreError> {
        self.get(&keys::sign_in_cursor(tenant, job)).await
    }

    /// Saves `cursor` for job `job` unless a cursor of as many pages or more is saved already
    /// (another delivery of the job got there first); whether it was saved.
    pub async fn save_sign_in_cursor(
        &self,
        tenant: &TenantId,
        job: &JobId,
        cursor: &SignInCursor,
    ) -> Result<bool, StoreError> {
        let pages = i64::try_from(cursor.pages).unwrap_or(i64::MAX);
        self.put_if_newer(&keys::sign_in_cursor(tenant, job), cursor, "pages", pages)
            .await
    }

    /// Each of `accounts` that is stored, whole (one BatchGetItem per 100 accounts): what a
    /// license refresh compares a page of sign-ins with, and counts inactive accounts from, and
    /// what a page of a group's members shows of each.
    pub async fn stored_accounts(
        &self,
        tenant: &TenantId,
        accounts: &[AccountId],
    ) -> Result<HashMap<AccountId, Account>, StoreError> {
        let keys: Vec<keys::Key> = accounts
            .iter()
            .map(|account| keys::account(tenant, account))
            .collect();
        Ok(self
            .batch_get::<Account>(&keys)
            .await?
            .into_iter()
            .map(|(_, account)| (account.id.clone(), account))
            .collect())
    }

    /// Sets the last sign-in of a stored account, and nothing else of it (one UpdateItem of that
    /// attribute); `false`, with nothing written, when the account is not stored (removed by a
    /// sync meanwhile, or left out by the tenant's sync settings).
    pub async fn set_last_sign_in(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        last: &LastSignIn,
    ) -> Result<bool, StoreError> {
        let key = keys::account(tenant, account);
        let result = self
            .client()
            .update_item()
            .table_name(self.table_name())
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .update_expression("SET #last = :last")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#last", LAST_SIGN_IN)
            .expression_attribute_values(":last", attribute_of(last)?)
            .send()
            .await
            .map_err(|err| StoreError::aws("UpdateItem", classify(err)));
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.is_condition_failure() => Ok(false),
            Err(err) => Err(err),
        }
    }
}
