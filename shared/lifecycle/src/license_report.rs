//! The license report: per-SKU totals and unused seats, and the licensed accounts nobody has
//! signed in to for a while (seats to reclaim), built from what the platform stores (SKUs and
//! accounts, kept fresh by the sync and the license refresh).
//!
//! Accounts are streamed shard by shard; only the inactive ones are kept, and at most `limit` of
//! those (the oldest first), so a 100k-account tenant is never held in memory.

use std::collections::HashMap;

use crate::model::{Account, LastSignIn, Sku, TenantConnection};
use crate::store::keys;
use crate::{Store, StoreError, TenantId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};

/// Days without a sign-in after which a licensed account counts as inactive, by default.
pub const DEFAULT_INACTIVE_AFTER_DAYS: u32 = 90;
/// Inactive accounts listed in one report, by default (the total is always given).
pub const DEFAULT_INACTIVE_LIMIT: usize = 1000;
/// Why last sign-in is missing on tenants without Entra ID P1.
pub const NEEDS_P1: &str = "needs Entra ID P1";

/// The report as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LicenseReport {
    pub tenant_id: TenantId,
    pub generated_at: DateTime<Utc>,
    pub totals: Totals,
    pub skus: Vec<SkuLine>,
    pub sign_in_activity: SignInActivity,
    pub inactive_after_days: u32,
    /// Licensed accounts without a sign-in for more than `inactive_after_days` (or never), the
    /// longest inactive first; at most the requested limit.
    pub inactive_accounts: Vec<InactiveAccount>,
    /// How many there are in all.
    pub inactive_total: usize,
}

/// Seats over every SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
pub struct Totals {
    pub skus: usize,
    pub enabled: u64,
    pub suspended: u64,
    pub warning: u64,
    pub consumed: u64,
    /// Enabled seats not assigned: licenses paid for and unused.
    pub unused: u64,
}

/// One SKU's seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SkuLine {
    pub sku_id: String,
    pub part_number: String,
    pub enabled: u32,
    pub suspended: u32,
    pub warning: u32,
    pub consumed: u32,
    pub unused: u32,
    pub capability_status: String,
}

impl From<&Sku> for SkuLine {
    fn from(sku: &Sku) -> Self {
        Self {
            sku_id: sku.sku_id.to_string(),
            part_number: sku.part_number.to_string(),
            enabled: sku.enabled,
            suspended: sku.suspended,
            warning: sku.warning,
            consumed: sku.consumed,
            unused: sku.unused(),
            capability_status: sku.capability_status.clone(),
        }
    }
}

/// Whether last sign-in dates are known for the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SignInActivity {
    pub available: bool,
    /// Why not, e.g. "not available: needs Entra ID P1".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A licensed account that looks unused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct InactiveAccount {
    pub account_id: String,
    pub upn: String,
    pub display_name: String,
    /// Whether the account can still sign in (a disabled, licensed account is a seat to free).
    pub enabled: bool,
    /// Part numbers (or SKU ids when the SKU is unknown) of its licenses.
    pub licenses: Vec<String>,
    /// `None`: never signed in.
    pub last_sign_in: Option<DateTime<Utc>>,
    /// Whole days since the last sign-in; `None` when never signed in.
    pub days_inactive: Option<i64>,
    /// The account in the Microsoft Entra and Microsoft 365 admin centers.
    pub links: crate::model::AdminLinks,
}

/// What to put in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    pub inactive_after_days: u32,
    pub limit: usize,
    pub now: DateTime<Utc>,
}

impl ReportOptions {
    /// The defaults at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            inactive_after_days: DEFAULT_INACTIVE_AFTER_DAYS,
            limit: DEFAULT_INACTIVE_LIMIT,
            now,
        }
    }
}

/// The moment before which a last sign-in counts as inactive: `days` before `now`, or the
/// earliest time chrono can hold when that lies further back (a threshold from a queued job is
/// never trusted to be in range: it must not panic the worker).
pub fn inactive_cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    chrono::TimeDelta::try_days(i64::from(days))
        .and_then(|span| now.checked_sub_signed(span))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Builds the report of `tenant` from the store.
pub async fn build(
    store: &Store,
    tenant: &TenantConnection,
    options: ReportOptions,
) -> Result<LicenseReport, StoreError> {
    let tenant_id = &tenant.tenant_id;
    let skus: Vec<Sku> = store
        .query::<Sku>(&keys::sku_partition(tenant_id), None)
        .try_collect()
        .await?;
    let part_numbers: HashMap<String, String> = skus
        .iter()
        .map(|sku| (sku.sku_id.to_string(), sku.part_number.to_string()))
        .collect();
    let mut totals = Totals {
        skus: skus.len(),
        ..Totals::default()
    };
    for sku in &skus {
        totals.enabled += u64::from(sku.enabled);
        totals.suspended += u64::from(sku.suspended);
        totals.warning += u64::from(sku.warning);
        totals.consumed += u64::from(sku.consumed);
        totals.unused += u64::from(sku.unused());
    }
    let mut lines: Vec<SkuLine> = skus.iter().map(SkuLine::from).collect();
    lines.sort_by(|a, b| a.part_number.cmp(&b.part_number));

    let mut unavailable = (tenant.has_p1 == Some(false)).then(|| not_available(NEEDS_P1));
    let cutoff = inactive_cutoff(options.now, options.inactive_after_days);
    let mut inactive = Vec::new();
    let mut inactive_total = 0;
    for partition in keys::account_partitions(tenant_id) {
        let mut accounts = std::pin::pin!(store.query::<Account>(&partition, None));
        while let Some(account) = accounts.try_next().await? {
            let last = match inactivity(&account, &account.last_sign_in, cutoff) {
                Inactivity::Inactive { last_sign_in } => last_sign_in,
                Inactivity::NotCounted => continue,
                Inactivity::Unknown { reason } => {
                    unavailable.get_or_insert_with(|| not_available(reason));
                    continue;
                }
            };
            inactive_total += 1;
            inactive.push(InactiveAccount {
                links: crate::model::AdminLinks::account(tenant_id, &account.id),
                account_id: account.id.to_string(),
                upn: account.upn.to_string(),
                display_name: account.display_name.clone(),
                enabled: account.enabled,
                licenses: account
                    .licenses
                    .iter()
                    .map(|license| {
                        let id = license.sku_id.to_string();
                        part_numbers.get(&id).cloned().unwrap_or(id)
                    })
                    .collect(),
                last_sign_in: last,
                days_inactive: last.map(|at| (options.now - at).num_days()),
            });
            // Keep the longest inactive only; trimming in chunks keeps this linear.
            if inactive.len() >= options.limit.saturating_mul(2).max(64) {
                trim(&mut inactive, options.limit);
            }
        }
    }
    trim(&mut inactive, options.limit);
    let sign_in_activity = unavailable.unwrap_or(SignInActivity {
        available: true,
        reason: None,
    });
    if !sign_in_activity.available {
        // Without sign-in dates nothing can be called inactive.
        inactive.clear();
        inactive_total = 0;
    }
    Ok(LicenseReport {
        tenant_id: tenant_id.clone(),
        generated_at: options.now,
        totals,
        skus: lines,
        sign_in_activity,
        inactive_after_days: options.inactive_after_days,
        inactive_accounts: inactive,
        inactive_total,
    })
}

/// Where one stored account stands against the inactivity cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactivity<'a> {
    /// Licensed, and no sign-in since the cutoff; `None`: never signed in.
    Inactive { last_sign_in: Option<DateTime<Utc>> },
    /// Not a seat to reclaim: deleted, unlicensed, or signed in since the cutoff.
    NotCounted,
    /// Licensed, but its last sign-in is not known (why, e.g. "needs Entra ID P1").
    Unknown { reason: &'a str },
}

/// The rule of the report, in one place: whether `account`, whose last sign-in is `last` (the
/// stored one, or the one Graph just answered), is a licensed account nobody signed in to since
/// `cutoff` ([`inactive_cutoff`]).
pub fn inactivity<'a>(
    account: &Account,
    last: &'a LastSignIn,
    cutoff: DateTime<Utc>,
) -> Inactivity<'a> {
    if account.deleted || account.licenses.is_empty() {
        return Inactivity::NotCounted;
    }
    match last {
        LastSignIn::At { at } if *at < cutoff => Inactivity::Inactive {
            last_sign_in: Some(*at),
        },
        LastSignIn::At { .. } => Inactivity::NotCounted,
        LastSignIn::Never => Inactivity::Inactive { last_sign_in: None },
        LastSignIn::NotAvailable { reason } => Inactivity::Unknown { reason },
    }
}

/// The inactive licensed accounts counted as a license refresh reads the tenant's sign-in pages,
/// page by page, so no read of every stored account is needed after them (at 100,000 accounts
/// that read did not fit an invocation against the local emulator) and the count follows what
/// Graph answered. Saved with the refresh's cursor after every page, so it resumes with it and
/// counts each page once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveTally {
    /// The moment before which a sign-in counts as inactive, fixed when the count began.
    pub cutoff: DateTime<Utc>,
    /// Inactive licensed accounts so far.
    pub total: u64,
    /// The longest inactive of them (never signed in first, then the oldest sign-in), at most
    /// the limit given to [`Self::note`].
    pub oldest: Vec<InactiveName>,
}

/// An inactive account as a refresh's step names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InactiveName {
    pub upn: String,
    /// `None`: never signed in.
    pub last_sign_in: Option<DateTime<Utc>>,
}

impl InactiveTally {
    /// A count that has seen no account yet, with sign-ins before `cutoff` inactive.
    pub fn new(cutoff: DateTime<Utc>) -> Self {
        Self {
            cutoff,
            total: 0,
            oldest: Vec::new(),
        }
    }

    /// Counts `account` if it is inactive with the last sign-in `last`, keeping `limit` names.
    pub fn note(&mut self, account: &Account, last: &LastSignIn, limit: usize) {
        let Inactivity::Inactive { last_sign_in } = inactivity(account, last, self.cutoff) else {
            return;
        };
        self.total += 1;
        self.oldest.push(InactiveName {
            upn: account.upn.to_string(),
            last_sign_in,
        });
        self.oldest.sort_by(|a, b| {
            longest_inactive_first((a.last_sign_in, &a.upn), (b.last_sign_in, &b.upn))
        });
        self.oldest.truncate(limit);
    }
}

fn not_available(reason: &str) -> SignInActivity {
    let reason = if reason.starts_with("not available") {
        reason.to_owned()
    } else {
        format!("not available: {reason}")
    };
    SignInActivity {
        available: false,
        reason: Some(reason),
    }
}

/// Sorts never-signed-in first, then the oldest sign-in, and keeps `limit`.
fn trim(accounts: &mut Vec<InactiveAccount>, limit: usize) {
    accounts
        .sort_by(|a, b| longest_inactive_first((a.last_sign_in, &a.upn), (b.last_sign_in, &b.upn)));
    accounts.truncate(limit);
}

/// The order inactive accounts are listed in: never signed in first (`None`), then the oldest
/// sign-in, then by UPN.
fn longest_inactive_first(
    a: (Option<DateTime<Utc>>, &str),
    b: (Option<DateTime<Utc>>, &str),
) -> std::cmp::Ordering {
    a.cmp(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_any_threshold_when_the_cutoff_is_computed_then_no_panic_and_far_ones_reach_the_start_of_time()
     {
        // GIVEN a threshold of 999,999,999 days (from a job put on the queue directly)
        let now = Utc::now();
        // WHEN / THEN the cutoff is the earliest time, not a chrono overflow panic
        assert_eq!(inactive_cutoff(now, 999_999_999), DateTime::<Utc>::MIN_UTC);
        assert_eq!(inactive_cutoff(now, u32::MAX), DateTime::<Utc>::MIN_UTC);
        // AND an ordinary one is that many days back
        assert_eq!(inactive_cutoff(now, 90), now - chrono::Duration::days(90));
    }

    fn account(upn: &str, last: Option<i64>) -> InactiveAccount {
        InactiveAccount {
            account_id: upn.into(),
            upn: upn.into(),
            display_name: upn.into(),
            enabled: true,
            licenses: Vec::new(),
            last_sign_in: last.and_then(|s| DateTime::from_timestamp(s, 0)),
            days_inactive: None,
            links: crate::model::AdminLinks::account(
                &TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap(),
                &crate::AccountId::parse("0b9f1c2e-0000-4000-8000-000000000001").unwrap(),
            ),
        }
    }

    #[test]
    fn given_inactive_accounts_when_trimmed_then_never_signed_in_come_first_then_the_oldest() {
        let mut accounts = vec![
            account("c", Some(300)),
            account("b", None),
            account("a", Some(100)),
            account("d", Some(200)),
        ];
        trim(&mut accounts, 3);
        let order: Vec<_> = accounts.iter().map(|a| a.upn.as_str()).collect();
        assert_eq!(order, ["b", "a", "d"]);
    }

    fn stored(upn: &str, licensed: bool, deleted: bool) -> Account {
        Account {
            id: crate::AccountId::parse("0b9f1c2e-0000-4000-8000-000000000001").unwrap(),
            upn: crate::Upn::parse(upn).unwrap(),
            display_name: upn.into(),
            enabled: true,
            usage_location: None,
            user_type: "Member".into(),
            on_premises_synced: false,
            licenses: if licensed {
                vec![crate::model::AssignedLicense {
                    sku_id: crate::SkuId::parse("c7df2760-2c81-4ef7-b578-5b5392b571df").unwrap(),
                    assigned_by_group: None,
                }]
            } else {
                Vec::new()
            },
            last_sign_in: LastSignIn::Never,
            mailbox: None,
            deleted,
            profile: Default::default(),
        }
    }

    #[test]
    fn given_sign_ins_page_by_page_when_tallied_then_only_licensed_live_inactive_accounts_count_and_the_longest_inactive_are_named()
     {
        // GIVEN a count with a cutoff at 1,000 s and room for two names
        let cutoff = DateTime::from_timestamp(1_000, 0).unwrap();
        let at = |s| LastSignIn::At {
            at: DateTime::from_timestamp(s, 0).unwrap(),
        };
        let mut tally = InactiveTally::new(cutoff);
        // WHEN accounts are noted with the last sign-in Graph answered
        tally.note(&stored("old@x.example", true, false), &at(500), 2);
        tally.note(&stored("recent@x.example", true, false), &at(2_000), 2);
        tally.note(
            &stored("unlicensed@x.example", false, false),
            &LastSignIn::Never,
            2,
        );
        tally.note(
            &stored("deleted@x.example", true, true),
            &LastSignIn::Never,
            2,
        );
        tally.note(&stored("older@x.example", true, false), &at(100), 2);
        tally.note(
            &stored("never@x.example", true, false),
            &LastSignIn::Never,
            2,
        );
        // THEN three licensed, live accounts without a sign-in since the cutoff count
        assert_eq!(tally.total, 3);
        // ... and the two longest inactive are named, never signed in first
        let named: Vec<_> = tally.oldest.iter().map(|n| n.upn.as_str()).collect();
        assert_eq!(named, ["never@x.example", "older@x.example"]);
        // ... as the report's rule says of each of them
        assert_eq!(
            inactivity(&stored("u@x.example", true, false), &at(2_000), cutoff),
            Inactivity::NotCounted
        );
    }

    #[test]
    fn given_a_reason_when_reported_then_it_reads_not_available_once() {
        assert_eq!(
            not_available(NEEDS_P1).reason.as_deref(),
            Some("not available: needs Entra ID P1")
        );
        assert_eq!(
            not_available("not available: needs Entra ID P1")
                .reason
                .as_deref(),
            Some("not available: needs Entra ID P1")
        );
    }
}
