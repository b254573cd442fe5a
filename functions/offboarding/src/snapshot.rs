//! The snapshot an offboarding takes before its first write: the account as Graph showed it
//! (direct groups, removable or not, direct licenses with their disabled plans, group-inherited
//! licenses with their group, usage location, sign-in, and the mailbox's automatic reply when the
//! job sets its own), kept for Entra ID's 30-day restore window.

use lifecycle::model::{
    AccountSnapshot, InheritedLicense, Job, SNAPSHOT_RETENTION, SnapshotGroup, SnapshotLicense,
};
use lifecycle::{AccountId, JobError};

use crate::account::{AccountState, Removal};

/// The snapshot of `state` for `job`.
pub fn of(job: &Job, state: &AccountState) -> Result<AccountSnapshot, JobError> {
    let account_id = AccountId::parse(&state.id).map_err(|_| {
        JobError::permanent(format!(
            "Graph answered an account id that is not a GUID: {}",
            state.id
        ))
    })?;
    Ok(AccountSnapshot {
        tenant_id: job.tenant_id.clone(),
        account_id,
        user_principal_name: state.upn.clone(),
        job_id: job.job_id.clone(),
        taken_at: chrono::Utc::now(),
        account_enabled: state.enabled,
        usage_location: state.usage_location.clone(),
        // Filled by the caller from `/users/{id}/manager` (one more read).
        manager_id: None,
        // Filled by the caller when the job sets an automatic reply (the options' read).
        automatic_reply: None,
        groups: state
            .groups
            .iter()
            .map(|group| SnapshotGroup {
                group_id: group.id.clone(),
                display_name: group.display_name.clone(),
                removable: group.removal == Removal::Removable,
                not_removable_reason: group.removal.reason().map(str::to_owned),
            })
            .collect(),
        direct_licenses: state
            .direct_licenses
            .iter()
            .map(|sku| SnapshotLicense {
                sku_id: sku.clone(),
                disabled_plans: state.disabled_plans.get(sku).cloned().unwrap_or_default(),
            })
            .collect(),
        inherited_licenses: state
            .inherited_licenses
            .iter()
            .map(|(sku, group)| InheritedLicense {
                sku_id: sku.clone(),
                group_id: group.clone(),
            })
            .collect(),
    })
}

/// The snapshot step's detail, for a person.
pub fn summary(snapshot: &AccountSnapshot) -> String {
    let kept = snapshot.groups.iter().filter(|g| !g.removable).count();
    let reply = snapshot
        .automatic_reply
        .as_ref()
        .map_or_else(String::new, |reply| {
            format!(", automatic reply before: {}", reply.summary())
        });
    format!(
        "snapshot taken before the first write: accountEnabled={}, manager {}, {} direct group(s) ({kept} not removable here), {} direct license(s), {} license(s) from groups{reply}; restorable with POST /tenants/{}/accounts/{}/restore until {} ({} days)",
        snapshot.account_enabled,
        snapshot.manager_id.as_deref().unwrap_or("none"),
        snapshot.groups.len(),
        snapshot.direct_licenses.len(),
        snapshot.inherited_licenses.len(),
        snapshot.tenant_id,
        snapshot.account_id,
        snapshot.expires_at().format("%Y-%m-%d %H:%M UTC"),
        SNAPSHOT_RETENTION.num_days()
    )
}
