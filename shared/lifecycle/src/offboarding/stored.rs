//! The platform's stored account, written from what Graph answered (never from what was intended)
//! after an offboarding step or a restore.

use crate::model::{Account, AssignedLicense, Membership};
use crate::store::{ReadBackStored, keys};
use crate::{AccountId, GroupId, JobError, Platform, SkuId, TenantId};

use super::account::AccountState;

/// Writes the stored account (when the platform has it) from what Graph answered: sign-in,
/// licenses, not deleted; and forgets the stored memberships of groups Graph no longer lists.
pub async fn store_observed(
    platform: &Platform,
    tenant_id: &TenantId,
    before: &AccountState,
    after: &AccountState,
) -> Result<(), JobError> {
    let licenses = stored_licenses(after);
    update_account(platform, tenant_id, &after.id, |account| {
        account.enabled = after.enabled;
        account.deleted = false;
        account.licenses = licenses;
    })
    .await?;
    let Ok(account_id) = AccountId::parse(&after.id) else {
        return Ok(());
    };
    let left: Vec<_> = before
        .groups
        .iter()
        .filter(|g| !after.groups.iter().any(|now| now.id == g.id))
        .filter_map(|g| GroupId::parse(&g.id).ok())
        .map(|group_id| Membership {
            group_id,
            account_id: account_id.clone(),
        })
        .collect();
    if !left.is_empty() {
        platform.store.remove_memberships(tenant_id, &left).await?;
    }
    Ok(())
}

/// The stored form of the licenses Graph shows: direct ones, then group-inherited ones with their
/// group.
pub fn stored_licenses(state: &AccountState) -> Vec<AssignedLicense> {
    let mut out: Vec<AssignedLicense> = Vec::new();
    let direct = state.direct_licenses.iter().map(|sku| (sku, None));
    let inherited = state
        .inherited_licenses
        .iter()
        .map(|(sku, group)| (sku, GroupId::parse(group).ok()));
    for (sku, group) in direct.chain(inherited) {
        let Ok(sku_id) = SkuId::parse(sku) else {
            continue;
        };
        let license = AssignedLicense {
            sku_id,
            assigned_by_group: group,
        };
        if !out.contains(&license) {
            out.push(license);
        }
    }
    out
}

/// Changes the stored account, when the platform has it (a sync brings it otherwise), so the
/// platform shows what Graph answered at once instead of after the next sync. The changed account
/// is stored as the tenant's sync settings keep it ([`crate::Store::put_read_back`]): one they
/// now leave out leaves the store with its memberships. `None`: nothing stored, or no change.
pub async fn update_account(
    platform: &Platform,
    tenant_id: &TenantId,
    account_id: &str,
    change: impl FnOnce(&mut Account),
) -> Result<Option<ReadBackStored>, JobError> {
    let Ok(account_id) = AccountId::parse(account_id) else {
        return Ok(None);
    };
    let key = keys::account(tenant_id, &account_id);
    let Some(mut account) = platform.store.get::<Account>(&key).await? else {
        return Ok(None);
    };
    let before = account.clone();
    change(&mut account);
    if account == before {
        return Ok(None);
    }
    Ok(Some(
        platform.store.put_read_back(tenant_id, account).await?,
    ))
}
