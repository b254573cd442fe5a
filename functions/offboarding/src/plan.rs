//! The plan of an offboarding: which steps run, in which order, and what each would do, decided
//! from the job and the account as it stands. Pure, so a dry run and the real run share it.

use std::collections::HashMap;

use lifecycle::model::{AutomaticReply, OffboardJob, OffboardPolicy};

use crate::account::{AccountState, MemberGroup, Removal};
use crate::options::{self, Collection, Entry, Listing, ReplyState};

/// Step names, as recorded in the job record.
pub const SNAPSHOT: &str = "snapshot";
pub const PREFLIGHT: &str = "preflight";
pub const BLOCK_SIGN_IN: &str = "block_sign_in";
pub const REVOKE_SESSIONS: &str = "revoke_sessions";
pub const REMOVE_GROUPS: &str = "remove_groups";
pub const REMOVE_LICENSES: &str = "remove_licenses";
pub const DELETE_ACCOUNT: &str = "delete_account";
pub const KEEP_DISABLED: &str = "keep_disabled";

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do: already in the wanted state, or not requested.
    Skip,
    /// PATCH /users/{id} `accountEnabled: false`.
    BlockSignIn,
    /// POST /users/{id}/revokeSignInSessions.
    RevokeSessions,
    /// DELETE /groups/{id}/members/{account}/$ref for each group, 20 per `$batch`.
    RemoveGroups(Vec<MemberGroup>),
    /// One assignLicense with these SKU ids in `removeLicenses`.
    RemoveLicenses(Vec<String>),
    /// DELETE /users/{id}: soft delete, restorable for 30 days.
    Delete,
    /// Nothing more: the account stays, disabled.
    KeepDisabled,
    /// An option's entries to DELETE (authentication methods, app role assignments, delegated
    /// permission grants), 20 per `$batch`.
    RemoveEntries(Collection, Vec<Entry>),
    /// PATCH /users/{id}/mailboxSettings: the automatic reply, always on.
    SetAutomaticReply(AutomaticReply),
    /// An option Graph refused to even read (e.g. its permission is missing): recorded failed
    /// with this reason and request-id.
    Refused(String, Option<String>),
}

/// One planned step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub name: &'static str,
    pub action: Action,
    /// What it would do (or why it does nothing), for a person.
    pub detail: String,
    /// What it cannot do, and why (recorded as the step's `not_done`).
    pub not_done: Vec<String>,
}

/// The steps for `state` under `job`, in order: block sign-in and revoke sessions first (cutting
/// access at once), then groups (which also drops group-inherited licenses), then direct
/// licenses, then delete or keep per policy. `part_numbers` (SKU id -> part number, from the
/// stored SKUs) names licenses in the details; an unknown SKU is named by its id.
pub fn plan(
    job: &OffboardJob,
    state: &AccountState,
    found: &options::Found,
    part_numbers: &HashMap<String, String>,
) -> Vec<PlannedStep> {
    let id = &state.id;
    let mut steps = Vec::with_capacity(5);
    steps.push(if state.enabled {
        let mut detail = format!("block sign-in: PATCH /users/{id} accountEnabled=false");
        if state.on_premises_synced {
            detail.push_str(
                " (the account is synced from on-premises Active Directory: if Graph refuses, disable it there)",
            );
        }
        planned(BLOCK_SIGN_IN, Action::BlockSignIn, detail)
    } else {
        planned(BLOCK_SIGN_IN, Action::Skip, "sign-in already blocked".into())
    });
    steps.push(if job.revoke_sessions {
        planned(
            REVOKE_SESSIONS,
            Action::RevokeSessions,
            format!("revoke sign-in sessions: POST /users/{id}/revokeSignInSessions"),
        )
    } else {
        planned(
            REVOKE_SESSIONS,
            Action::Skip,
            "not requested (revoke_sessions: false)".into(),
        )
    });
    // The opt-in options right after access is cut: registered devices and app access go
    // before anything else; the automatic reply while the mailbox still has its license.
    for (collection, listing) in &found.listings {
        steps.push(entries_step(*collection, listing));
    }
    if let (Some(reply), Some(state_now)) = (&job.automatic_reply, &found.reply) {
        steps.push(reply_step(job, id, reply, state_now));
    }
    steps.push(groups_step(job, state));
    steps.push(licenses_step(job, state, part_numbers));
    steps.push(match job.policy {
        OffboardPolicy::Delete => planned(
            DELETE_ACCOUNT,
            Action::Delete,
            format!(
                "soft-delete: DELETE /users/{id}; restorable for 30 days (POST /tenants/{{tenant_id}}/accounts/{id}/restore)"
            ),
        ),
        OffboardPolicy::KeepDisabled => planned(
            KEEP_DISABLED,
            Action::KeepDisabled,
            "policy keep_disabled: the account stays, with sign-in blocked".into(),
        ),
    });
    steps
}

fn planned(name: &'static str, action: Action, detail: String) -> PlannedStep {
    PlannedStep {
        name,
        action,
        detail,
        not_done: Vec::new(),
    }
}

fn groups_step(job: &OffboardJob, state: &AccountState) -> PlannedStep {
    if !job.remove_groups {
        return planned(
            REMOVE_GROUPS,
            Action::Skip,
            "not requested (remove_groups: false)".into(),
        );
    }
    let (removable, kept): (Vec<&MemberGroup>, Vec<&MemberGroup>) = state
        .groups
        .iter()
        .partition(|group| group.removal == Removal::Removable);
    let mut detail = if removable.is_empty() {
        "no direct group membership to remove".to_owned()
    } else {
        format!(
            "remove from {} group(s) ({} $batch request(s)): {}",
            removable.len(),
            removable.len().div_ceil(graph::MAX_BATCH_STEPS),
            names(&removable)
        )
    };
    let mut not_done = Vec::new();
    for group in &kept {
        if let Some(reason) = group.removal.reason() {
            let cannot = format!("cannot remove from {}: {reason}", group.display_name);
            detail.push_str(&format!("; {cannot}"));
            not_done.push(cannot);
        }
    }
    let action = if removable.is_empty() {
        Action::Skip
    } else {
        Action::RemoveGroups(removable.into_iter().cloned().collect())
    };
    PlannedStep {
        not_done,
        ..planned(REMOVE_GROUPS, action, detail)
    }
}

fn licenses_step(
    job: &OffboardJob,
    state: &AccountState,
    part_numbers: &HashMap<String, String>,
) -> PlannedStep {
    let name_of = |sku: &str| {
        part_numbers
            .get(&sku.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| sku.to_owned())
    };
    if !job.remove_licenses {
        return planned(
            REMOVE_LICENSES,
            Action::Skip,
            "not requested (remove_licenses: false)".into(),
        );
    }
    let mut detail = if state.direct_licenses.is_empty() {
        "no direct license to remove".to_owned()
    } else {
        format!(
            "remove {} direct license(s) with one assignLicense: {}",
            state.direct_licenses.len(),
            state
                .direct_licenses
                .iter()
                .map(|sku| name_of(sku))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut not_done = Vec::new();
    for (sku_id, group_id) in &state.inherited_licenses {
        let sku = name_of(sku_id);
        let group = state.groups.iter().find(|g| &g.id == group_id);
        let leaves = job.remove_groups && group.is_some_and(|g| g.removal == Removal::Removable);
        let name = group.map_or(group_id.as_str(), |g| g.display_name.as_str());
        if leaves {
            detail.push_str(&format!(
                "; license {sku} is inherited from group {name}: it goes when the account leaves the group"
            ));
        } else {
            let cannot = format!(
                "license {sku} is inherited from group {name} and cannot be removed directly: it stays until the account leaves that group"
            );
            detail.push_str(&format!("; {cannot}"));
            not_done.push(cannot);
        }
    }
    let action = if state.direct_licenses.is_empty() {
        Action::Skip
    } else {
        Action::RemoveLicenses(state.direct_licenses.clone())
    };
    PlannedStep {
        not_done,
        ..planned(REMOVE_LICENSES, action, detail)
    }
}

fn entries_step(collection: Collection, listing: &Listing) -> PlannedStep {
    let name = collection.step();
    match listing {
        Listing::Refused { reason, request_id } => planned(
            name,
            Action::Refused(
                format!(
                    "Graph refused to list the account's {}: {reason}",
                    collection.noun()
                ),
                request_id.clone(),
            ),
            format!("cannot list the account's {}: {reason}", collection.noun()),
        ),
        Listing::Read {
            entries,
            kept,
            request_id,
        } => {
            let seen = format!(
                "read before: {} {}{} (request-id {})",
                entries.len(),
                collection.noun(),
                if kept.is_empty() {
                    String::new()
                } else {
                    format!("; kept: {}", kept.join(", "))
                },
                request_id.as_deref().unwrap_or("-")
            );
            if entries.is_empty() {
                return planned(
                    name,
                    Action::Skip,
                    format!("no {} to remove; {seen}", collection.noun()),
                );
            }
            planned(
                name,
                Action::RemoveEntries(collection, entries.clone()),
                format!(
                    "remove {} {} ({} $batch request(s)): {}; {seen}",
                    entries.len(),
                    collection.noun(),
                    entries.len().div_ceil(graph::MAX_BATCH_STEPS),
                    entries
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        }
    }
}

fn reply_step(
    job: &OffboardJob,
    id: &str,
    reply: &AutomaticReply,
    state_now: &ReplyState,
) -> PlannedStep {
    match state_now {
        ReplyState::Refused { reason, request_id } => planned(
            options::SET_AUTOMATIC_REPLY,
            Action::Refused(
                format!("Graph refused to read the mailbox settings: {reason}"),
                request_id.clone(),
            ),
            format!("cannot read the mailbox settings: {reason}"),
        ),
        ReplyState::Read {
            setting,
            request_id,
        } => {
            let mut detail = format!(
                "set the automatic reply: PATCH /users/{id}/mailboxSettings status=alwaysEnabled, externalAudience={} ({} characters inside{}); read before: status={} (request-id {}); the reply before is kept in the snapshot, and a restore puts it back",
                options::wanted_audience(reply),
                reply.internal_message.chars().count(),
                reply
                    .external_message
                    .as_ref()
                    .map_or_else(String::new, |m| format!(", {} outside", m.chars().count())),
                setting.status,
                request_id.as_deref().unwrap_or("-")
            );
            if job.policy == OffboardPolicy::Delete {
                detail.push_str(
                    "; with policy delete the mailbox is soft-deleted with the account, and senders then get a bounce instead of the reply",
                );
            }
            planned(
                options::SET_AUTOMATIC_REPLY,
                Action::SetAutomaticReply(reply.clone()),
                detail,
            )
        }
    }
}

fn names(groups: &[&MemberGroup]) -> String {
    groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifecycle::model::AccountRef;

    fn job(policy: OffboardPolicy) -> OffboardJob {
        OffboardJob {
            policy,
            ..OffboardJob::new(AccountRef::parse("adele@contoso.com").unwrap())
        }
    }

    fn group(id: &str, removal: Removal) -> MemberGroup {
        MemberGroup {
            id: id.into(),
            display_name: format!("Group {id}"),
            removal,
        }
    }

    fn state() -> AccountState {
        AccountState {
            id: "u1".into(),
            upn: "adele@contoso.com".into(),
            enabled: true,
            sessions_valid_from: None,
            on_premises_synced: false,
            usage_location: Some("US".into()),
            direct_licenses: vec!["sku-e5".into()],
            disabled_plans: Default::default(),
            inherited_licenses: vec![
                ("sku-e3".into(), "g1".into()),
                ("sku-visio".into(), "dyn".into()),
            ],
            groups: vec![
                group("g1", Removal::Removable),
                group("dyn", Removal::Dynamic),
                group("dl", Removal::MailEnabled),
            ],
        }
    }

    #[test]
    fn given_an_active_account_when_planned_then_block_and_revoke_come_first_and_delete_last() {
        // GIVEN an enabled account with groups and licenses, and the delete policy
        // WHEN it is planned
        let steps = plan(
            &job(OffboardPolicy::Delete),
            &state(),
            &Default::default(),
            &HashMap::new(),
        );
        // THEN the order is block, revoke, groups, licenses, delete
        let names: Vec<_> = steps.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                BLOCK_SIGN_IN,
                REVOKE_SESSIONS,
                REMOVE_GROUPS,
                REMOVE_LICENSES,
                DELETE_ACCOUNT
            ]
        );
        assert_eq!(steps[0].action, Action::BlockSignIn);
        assert_eq!(steps[4].action, Action::Delete);
    }

    #[test]
    fn given_dynamic_and_mail_enabled_groups_when_planned_then_only_assigned_groups_are_removed_and_the_rest_explained()
     {
        let steps = plan(
            &job(OffboardPolicy::KeepDisabled),
            &state(),
            &Default::default(),
            &HashMap::from([("sku-e3".to_owned(), "SPE_E3".to_owned())]),
        );
        let groups = &steps[2];
        assert_eq!(
            groups.action,
            Action::RemoveGroups(vec![group("g1", Removal::Removable)])
        );
        assert!(
            groups
                .detail
                .contains("cannot remove from Group dyn: dynamic membership")
        );
        assert!(
            groups
                .detail
                .contains("cannot remove from Group dl: distribution list")
        );
        let licenses = &steps[3];
        assert_eq!(
            licenses.action,
            Action::RemoveLicenses(vec!["sku-e5".into()])
        );
        assert!(
            licenses
                .detail
                .contains("license SPE_E3 is inherited from group Group g1: it goes")
        );
        assert!(licenses.detail.contains(
            "license sku-visio is inherited from group Group dyn and cannot be removed directly"
        ));
        assert_eq!(steps[4].name, KEEP_DISABLED);
    }

    #[test]
    fn given_a_disabled_account_without_groups_or_licenses_when_planned_then_those_steps_are_skipped()
     {
        let mut bare = state();
        bare.enabled = false;
        bare.groups.clear();
        bare.direct_licenses.clear();
        bare.inherited_licenses.clear();
        let steps = plan(
            &job(OffboardPolicy::KeepDisabled),
            &bare,
            &Default::default(),
            &HashMap::new(),
        );
        assert_eq!(steps[0].action, Action::Skip);
        assert_eq!(steps[0].detail, "sign-in already blocked");
        assert_eq!(steps[1].action, Action::RevokeSessions);
        assert_eq!(steps[2].action, Action::Skip);
        assert_eq!(steps[3].action, Action::Skip);
    }

    #[test]
    fn given_options_turned_off_when_planned_then_those_steps_say_not_requested() {
        let mut spec = job(OffboardPolicy::KeepDisabled);
        spec.revoke_sessions = false;
        spec.remove_groups = false;
        spec.remove_licenses = false;
        let steps = plan(&spec, &state(), &Default::default(), &HashMap::new());
        for step in &steps[1..4] {
            assert_eq!(step.action, Action::Skip);
            assert!(step.detail.starts_with("not requested"), "{}", step.detail);
        }
    }
}
