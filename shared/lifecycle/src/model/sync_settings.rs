//! What a tenant chooses to sync (`GET/PUT /tenants/{tenant_id}/sync-settings`): which kinds of
//! objects, which accounts, and how often. Stored per tenant (`T#{tenant}` / `SYNC_SETTINGS`);
//! a tenant that never chose keeps the defaults, which are the sync as it always was.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{SkuId, TenantId};
use crate::model::Account;

/// Shortest interval between scheduled syncs: the scheduler's fan-out runs every 15 minutes.
pub const MIN_INTERVAL_MINUTES: u32 = 15;
/// Longest interval between scheduled syncs: a day.
pub const MAX_INTERVAL_MINUTES: u32 = 24 * 60;
/// Most SKUs `accounts.only_skus` may name (a tenant rarely subscribes to more than a few dozen).
pub const MAX_ONLY_SKUS: usize = 100;

/// Which kinds of objects a sync keeps. Every kind is on by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SyncKinds {
    /// Accounts (users). Off: no account is kept, nor anything kept on one (licenses,
    /// mailboxes, last sign-in).
    pub accounts: bool,
    /// Groups.
    pub groups: bool,
    /// Direct group memberships (needs `groups`).
    pub memberships: bool,
    /// The licenses each account holds.
    pub licenses: bool,
    /// Mailbox usage (the reports API).
    pub mailboxes: bool,
    /// Last sign-in (needs Entra ID P1).
    pub last_sign_in: bool,
}

impl Default for SyncKinds {
    fn default() -> Self {
        Self {
            accounts: true,
            groups: true,
            memberships: true,
            licenses: true,
            mailboxes: true,
            last_sign_in: true,
        }
    }
}

/// Which accounts a sync keeps: every account by default; each flag leaves a set out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AccountFilter {
    /// Leave out guests (`userType` Guest).
    pub exclude_guests: bool,
    /// Leave out accounts whose sign-in is blocked (`accountEnabled` false).
    pub exclude_disabled: bool,
    /// Leave out accounts that hold no license.
    pub exclude_unlicensed: bool,
    /// Keep only accounts holding at least one of these SKUs (empty: any).
    pub only_skus: Vec<SkuId>,
}

impl AccountFilter {
    /// Whether `account` belongs in the store under this filter.
    pub fn admits(&self, account: &Account) -> bool {
        if self.exclude_guests && account.user_type.eq_ignore_ascii_case("Guest") {
            return false;
        }
        if self.exclude_disabled && !account.enabled {
            return false;
        }
        if self.exclude_unlicensed && account.licenses.is_empty() {
            return false;
        }
        self.only_skus.is_empty()
            || account
                .licenses
                .iter()
                .any(|license| self.only_skus.contains(&license.sku_id))
    }

    /// Whether every account `self` admits, `other` admits too (so going from `self` to `other`
    /// removes nothing).
    fn within(&self, other: &AccountFilter) -> bool {
        (self.exclude_guests || !other.exclude_guests)
            && (self.exclude_disabled || !other.exclude_disabled)
            && (self.exclude_unlicensed || !other.exclude_unlicensed)
            && (other.only_skus.is_empty()
                || (!self.only_skus.is_empty()
                    && self
                        .only_skus
                        .iter()
                        .all(|sku| other.only_skus.contains(sku))))
    }
}

/// A tenant's sync settings: the body of `PUT /tenants/{tenant_id}/sync-settings`, every field
/// optional (what is left out takes its default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSettings {
    pub kinds: SyncKinds,
    pub accounts: AccountFilter,
    /// Minutes between scheduled syncs: 15 to 1440 (24 hours).
    #[schemars(range(min = 15, max = 1440))]
    pub interval_minutes: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            kinds: SyncKinds::default(),
            accounts: AccountFilter::default(),
            interval_minutes: super::TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
        }
    }
}

/// A setting the platform refuses, naming the field and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error(
        "interval_minutes must be between {MIN_INTERVAL_MINUTES} and {MAX_INTERVAL_MINUTES} (15 minutes to 24 hours), not {0}"
    )]
    Interval(u32),
    #[error("kinds.memberships needs kinds.groups: turn groups on, or memberships off")]
    MembershipsWithoutGroups,
    #[error("accounts.only_skus names at most {MAX_ONLY_SKUS} SKUs, not {0}")]
    TooManySkus(usize),
}

impl SettingsError {
    /// The field the error is about, as the body names it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Interval(_) => "interval_minutes",
            Self::MembershipsWithoutGroups => "kinds.memberships",
            Self::TooManySkus(_) => "accounts.only_skus",
        }
    }
}

impl SyncSettings {
    /// Checks the rules the body's types cannot say.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(MIN_INTERVAL_MINUTES..=MAX_INTERVAL_MINUTES).contains(&self.interval_minutes) {
            return Err(SettingsError::Interval(self.interval_minutes));
        }
        if self.kinds.memberships && !self.kinds.groups {
            return Err(SettingsError::MembershipsWithoutGroups);
        }
        if self.accounts.only_skus.len() > MAX_ONLY_SKUS {
            return Err(SettingsError::TooManySkus(self.accounts.only_skus.len()));
        }
        Ok(())
    }

    /// Whether `self` keeps an account at all (its kind on, and the filter admits it).
    pub fn keeps(&self, account: &Account) -> bool {
        self.kinds.accounts && self.accounts.admits(account)
    }

    /// `account` as these settings keep it: licenses, mailbox usage and last sign-in left out
    /// where their kind is off.
    pub fn trimmed(&self, mut account: Account) -> Account {
        if !self.kinds.licenses {
            account.licenses.clear();
        }
        if !self.kinds.mailboxes {
            account.mailbox = None;
        }
        if !self.kinds.last_sign_in {
            account.last_sign_in = super::LastSignIn::NotAvailable {
                reason: NOT_SYNCED.to_owned(),
            };
        }
        account
    }

    /// Whether going from `self` to `new` changes what the store holds (a kind or the account
    /// filter): the next run must then be full, so it removes what no longer belongs and reads
    /// again what now does.
    pub fn changes_what_is_kept(&self, new: &SyncSettings) -> bool {
        self.kinds != new.kinds || self.accounts != new.accounts
    }

    /// Whether `new` keeps something `self` did not (a kind turned on, or a filter loosened).
    pub fn widened_by(&self, new: &SyncSettings) -> bool {
        let on = |old: bool, new: bool| !old && new;
        let (a, b) = (&self.kinds, &new.kinds);
        on(a.accounts, b.accounts)
            || on(a.groups, b.groups)
            || on(a.memberships, b.memberships)
            || on(a.licenses, b.licenses)
            || on(a.mailboxes, b.mailboxes)
            || on(a.last_sign_in, b.last_sign_in)
            || !new.accounts.within(&self.accounts)
    }
}

/// The reason shown on an account's last sign-in when the tenant's sync settings leave it out.
pub const NOT_SYNCED: &str = "not synced: the tenant's sync settings leave last sign-in out";

/// The stored settings of one tenant (`T#{tenant}` / `SYNC_SETTINGS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TenantSyncSettings {
    pub tenant_id: TenantId,
    pub settings: SyncSettings,
    /// When they were last changed; `None` for the defaults of a tenant that never chose.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// A change of what is kept waits for a full run: the next run starts full, and its end
    /// clears this (unless the settings changed again meanwhile, see `revision`).
    #[serde(default)]
    pub full_sync_pending: bool,
    /// Random, new at every change: clearing [`Self::full_sync_pending`] is conditional on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub revision: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(n: u8) -> SkuId {
        SkuId::parse(&format!("00000000-0000-0000-0000-0000000000{n:02}")).unwrap()
    }

    #[test]
    fn given_an_interval_outside_15_minutes_to_a_day_when_validated_then_the_field_is_named() {
        for minutes in [0, 14, 1441] {
            let settings = SyncSettings {
                interval_minutes: minutes,
                ..SyncSettings::default()
            };
            let error = settings.validate().unwrap_err();
            assert_eq!(error.field(), "interval_minutes");
            assert!(error.to_string().contains("between 15 and 1440"), "{error}");
        }
        for minutes in [15, 60, 1440] {
            let settings = SyncSettings {
                interval_minutes: minutes,
                ..SyncSettings::default()
            };
            assert_eq!(settings.validate(), Ok(()));
        }
    }

    #[test]
    fn given_settings_changes_when_compared_then_narrowing_is_not_widening_and_loosening_is() {
        let all = SyncSettings::default();
        let mut no_guests = all.clone();
        no_guests.accounts.exclude_guests = true;
        let mut only_one = all.clone();
        only_one.accounts.only_skus = vec![sku(1)];
        let mut only_two = all.clone();
        only_two.accounts.only_skus = vec![sku(1), sku(2)];
        assert!(!all.widened_by(&no_guests) && all.changes_what_is_kept(&no_guests));
        assert!(no_guests.widened_by(&all));
        assert!(!all.widened_by(&only_one));
        assert!(only_one.widened_by(&only_two) && !only_two.widened_by(&only_one));
        assert!(only_one.widened_by(&all));
        let mut interval = all.clone();
        interval.interval_minutes = 15;
        assert!(!all.changes_what_is_kept(&interval));
    }
}
