//! Group provisioning jobs (PingOne's outbound group provisioning): `create_group`,
//! `update_group`, `set_group_members` (desired state) and `delete_group`.
//!
//! Every job reads what it needs, checks Graph's rules and the group's kind before any write (a
//! dry run records the checks and the plan and stops there), writes, reads back what Graph now
//! holds and stores that. A redelivery re-reads and re-decides: a create finds the group an
//! earlier delivery made by its mail nickname, a member change already made is no longer in
//! the difference, a deleted group is already gone.

use std::collections::{BTreeMap, HashMap, HashSet};

use graph::{BatchRequest, GraphError, GroupPatch, MAX_BATCH_STEPS, NewGroup, TenantGraph, User};
use lifecycle::jobs::JobError;
use lifecycle::model::{
    AccountRef, CreateGroupJob, DeleteGroupJob, Group, GroupType, Job, JobStatus,
    SetGroupMembersJob, StepOutcome, TenantConnection, UpdateGroupJob,
};
use lifecycle::{AccountId, GroupId, JobProgress, Platform};

use crate::rules::{Check, PlannedCall};
use crate::steps::{self, Decided, step};

/// Step: the group created (or found, made by an earlier delivery).
pub const CREATE_GROUP: &str = "create_group";
/// Step: the name or description changed.
pub const UPDATE_GROUP: &str = "update_group";
/// Step: the group deleted.
pub const DELETE_GROUP: &str = "delete_group";
/// Step prefix: one `$batch` of member changes (`change_members:{n}`).
pub const CHANGE_MEMBERS: &str = "change_members";
/// Step: what Graph holds after the job, written to the store.
pub const READ_BACK: &str = "read_back";

/// Why a group may not be changed by a job, or `None` when it may: Graph changes the members
/// and properties of Microsoft 365 and security groups only, a dynamic group's members follow
/// its rule, and a group synced from on-premises Active Directory is changed there.
fn refusal(group: &graph::Group) -> Option<String> {
    let name = group.display_name.as_deref().unwrap_or(&group.id);
    if group.on_premises_sync_enabled == Some(true) {
        return Some(format!(
            "group {name} ({}) is synced from on-premises Active Directory: change it there, Graph refuses writes to it",
            group.id
        ));
    }
    if group.is_dynamic() {
        return Some(format!(
            "group {name} ({}) has dynamic membership: its members follow its rule ({}), not a job; change the rule in Entra",
            group.id,
            group.membership_rule.as_deref().unwrap_or("no rule read")
        ));
    }
    match group.kind() {
        graph::GroupKind::Microsoft365 | graph::GroupKind::Security => None,
        graph::GroupKind::MailEnabledSecurity => Some(format!(
            "group {name} ({}) is a mail-enabled security group: Graph cannot change it, use Exchange Online",
            group.id
        )),
        graph::GroupKind::Distribution => Some(format!(
            "group {name} ({}) is a distribution list: Graph cannot change it, use Exchange Online",
            group.id
        )),
        _ => Some(format!(
            "group {name} ({}) is neither a Microsoft 365 nor a security group",
            group.id
        )),
    }
}

/// The start of every job on an existing group: the tenant's Graph handle (bound to the
/// invocation's deadline) and the group as Graph has it now, `None` when there is none.
async fn group_job_start(
    platform: &Platform,
    tenant: &TenantConnection,
    progress: &JobProgress,
    id: &GroupId,
) -> Result<(TenantGraph, Option<graph::Group>), JobError> {
    let graph = platform
        .tenant_graph_until(tenant, progress.deadline())
        .await?;
    let group = graph.group(id.as_str()).await?;
    Ok((graph, group))
}

/// The check that the group exists in this tenant and is one a job may change.
fn group_check(id: &GroupId, group: Option<&graph::Group>) -> Check {
    match group {
        None => Check::fail(
            "group",
            format!("no group {id} in this tenant: give the object id of one of its groups"),
        ),
        Some(group) => match refusal(group) {
            Some(reason) => Check::fail("group_kind", reason),
            None => Check::pass(
                "group",
                format!(
                    "{} ({id}) is a {} group",
                    group.display_name.as_deref().unwrap_or_default(),
                    kind_name(group)
                ),
            ),
        },
    }
}

fn kind_name(group: &graph::Group) -> &'static str {
    match group.kind() {
        graph::GroupKind::Microsoft365 => "Microsoft 365",
        _ => "security",
    }
}

/// Stores the group as Graph answered it, and records the read-back.
async fn store_group(
    platform: &Platform,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
    group: &graph::Group,
) -> Result<(), JobError> {
    let stored = Group::from_graph(group, None).map_err(|error| {
        JobError::permanent(format!(
            "Graph answered a group id that is not a GUID: {error}"
        ))
    })?;
    platform.store.put_group(&tenant.tenant_id, &stored).await?;
    progress
        .step(step(
            READ_BACK,
            StepOutcome::Done,
            None,
            format!(
                "Graph now holds {} ({}): mail nickname {}, description {}",
                group.display_name.as_deref().unwrap_or_default(),
                group.id,
                group.mail_nickname.as_deref().unwrap_or("none"),
                group.description.as_deref().unwrap_or("none")
            ),
        ))
        .await
}

/// Records a Graph write's answer on `name`: done with its request-id, or failed for good (a
/// transient failure is returned for a redelivery).
async fn record_write<T>(
    progress: &mut JobProgress,
    name: &str,
    result: Result<graph::Receipt<T>, GraphError>,
    done: String,
) -> Result<Option<T>, JobError> {
    match result {
        Ok(receipt) => {
            progress
                .step(step(name, StepOutcome::Done, receipt.request_id, done))
                .await?;
            Ok(Some(receipt.value))
        }
        Err(error) if error.is_retryable() => Err(error.into()),
        Err(error) => {
            progress
                .step(step(
                    name,
                    StepOutcome::Failed,
                    error.request_id().map(str::to_owned),
                    format!("Graph refused: {error}"),
                ))
                .await?;
            Ok(None)
        }
    }
}

/// Resolves accounts by id or UPN in `$batch` requests of 20: the found ones by reference, and
/// the references that name no account of this tenant.
async fn resolve_accounts(
    graph: &TenantGraph,
    refs: &[&AccountRef],
) -> Result<(HashMap<String, User>, Vec<String>), JobError> {
    if refs.is_empty() {
        return Ok((HashMap::new(), Vec::new()));
    }
    let requests = refs
        .iter()
        .enumerate()
        .map(|(index, account)| {
            BatchRequest::get_user(
                index.to_string(),
                &account.to_string(),
                "id,userPrincipalName",
            )
        })
        .collect();
    let mut answers = graph.look_up(requests).await?;
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for (index, account) in refs.iter().enumerate() {
        match answers.optional::<User>(&index.to_string())? {
            Some(user) => {
                found.insert(account.key(), user);
            }
            None => missing.push(account.to_string()),
        }
    }
    Ok((found, missing))
}

/// Names at most ten items, then how many more.
fn named(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > 10 {
        text.push_str(&format!(" and {} more", items.len() - 10));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// create_group

/// Runs a create_group job.
pub async fn create(
    platform: &Platform,
    job: &Job,
    create: &CreateGroupJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let graph = platform
        .tenant_graph_until(tenant, progress.deadline())
        .await?;
    let owners: Vec<&AccountRef> = create.owners.iter().collect();
    let (found, missing) = resolve_accounts(&graph, &owners).await?;
    let same_nickname = graph.groups_by_mail_nickname(&create.mail_nickname).await?;
    let existing = same_nickname.iter().find(|group| made_by(create, group));
    let mut checks = Vec::new();
    checks.push(if missing.is_empty() {
        Check::pass("owners", format!("{} owners found", found.len()))
    } else {
        Check::fail(
            "owners",
            format!(
                "owners not found in this tenant: {}; give accounts of this tenant by object id or user principal name",
                named(&missing)
            ),
        )
    });
    match (existing, same_nickname.first()) {
        (Some(group), _) => checks.push(Check::pass(
            "mail_nickname",
            format!(
                "{} ({}) with mail nickname {} exists already (an earlier delivery made it): it is kept, not created again",
                group.display_name.as_deref().unwrap_or_default(),
                group.id,
                create.mail_nickname
            ),
        )),
        (None, Some(other)) => checks.push(Check::fail(
            "mail_nickname",
            format!(
                "mail nickname {} is taken by group {} ({}): choose another",
                create.mail_nickname,
                other.display_name.as_deref().unwrap_or_default(),
                other.id
            ),
        )),
        (None, None) => checks.push(Check::pass(
            "mail_nickname",
            format!("mail nickname {} is free", create.mail_nickname),
        )),
    }
    let kind = match create.group_type {
        GroupType::Security => "security",
        GroupType::Microsoft365 => "Microsoft 365",
    };
    let plan = match existing {
        Some(_) => Vec::new(),
        None => vec![PlannedCall {
            method: "POST",
            path: "/groups".to_owned(),
            purpose: format!(
                "create {kind} group {} ({}) with {} owner(s)",
                create.display_name,
                create.mail_nickname,
                found.len()
            ),
        }],
    };
    let decided = Decided {
        checks: &checks,
        warnings: &[],
        plan: &plan,
        summary: steps::validated_summary(checks.len(), &[]),
    };
    if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
        return Ok(status);
    }
    let group = match existing {
        Some(group) => {
            progress
                .step(step(
                    CREATE_GROUP,
                    StepOutcome::Skipped,
                    None,
                    format!("{} exists already: {}", create.mail_nickname, group.id),
                ))
                .await?;
            group.id.clone()
        }
        None => {
            let mut new = match create.group_type {
                GroupType::Security => {
                    NewGroup::security(create.display_name.clone(), create.mail_nickname.clone())
                }
                GroupType::Microsoft365 => NewGroup::microsoft365(
                    create.display_name.clone(),
                    create.mail_nickname.clone(),
                ),
            };
            new.description = create.description.clone().filter(|text| !text.is_empty());
            let mut owner_ids: Vec<String> = found.values().map(|user| user.id.clone()).collect();
            owner_ids.sort();
            owner_ids.dedup();
            new.owners = owner_ids.iter().map(|id| graph.user_bind_url(id)).collect();
            let created = graph.create_group(&new).await;
            let detail = |group: &graph::Group| format!("created {kind} group {}", group.id);
            let done = match &created {
                Ok(receipt) => detail(&receipt.value),
                Err(_) => String::new(),
            };
            match record_write(progress, CREATE_GROUP, created, done).await? {
                Some(group) => group.id,
                None => return Ok(steps::final_status(progress)),
            }
        }
    };
    read_back_group(platform, &graph, tenant, progress, &group).await?;
    Ok(steps::final_status(progress))
}

/// Whether `group` is the one this job makes (an earlier delivery's): the same nickname, kind
/// and display name.
fn made_by(create: &CreateGroupJob, group: &graph::Group) -> bool {
    let kind_matches = match create.group_type {
        GroupType::Security => group.kind() == graph::GroupKind::Security,
        GroupType::Microsoft365 => group.kind() == graph::GroupKind::Microsoft365,
    };
    kind_matches
        && !group.is_dynamic()
        && group.display_name.as_deref() == Some(create.display_name.as_str())
}

async fn read_back_group(
    platform: &Platform,
    graph: &TenantGraph,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
    group_id: &str,
) -> Result<(), JobError> {
    match graph.group(group_id).await? {
        Some(group) => store_group(platform, tenant, progress, &group).await,
        None => {
            progress
                .step(step(
                    READ_BACK,
                    StepOutcome::Failed,
                    None,
                    format!("Graph does not find group {group_id} after the change"),
                ))
                .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// update_group

/// Runs an update_group job: only what differs is sent, in one PATCH.
pub async fn update(
    platform: &Platform,
    job: &Job,
    update: &UpdateGroupJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let (graph, group) = group_job_start(platform, tenant, progress, &update.group).await?;
    let mut checks = vec![group_check(&update.group, group.as_ref())];
    if update.display_name.is_none() && update.description.is_none() {
        checks.push(Check::fail(
            "change",
            "the job changes nothing: give display_name or description",
        ));
    }
    let patch = group
        .as_ref()
        .map(|group| patch_of(update, group))
        .unwrap_or_default();
    let mut unchanged = Vec::new();
    if patch.display_name.is_none() && update.display_name.is_some() {
        unchanged.push("display_name".to_owned());
    }
    if patch.description.is_none() && update.description.is_some() {
        unchanged.push("description".to_owned());
    }
    let plan = if patch.is_empty() {
        Vec::new()
    } else {
        vec![PlannedCall {
            method: "PATCH",
            path: format!("/groups/{}", update.group),
            purpose: describe_patch(&patch),
        }]
    };
    let decided = Decided {
        checks: &checks,
        warnings: &[],
        plan: &plan,
        summary: steps::validated_summary(checks.len(), &unchanged),
    };
    if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
        return Ok(status);
    }
    if patch.is_empty() {
        progress
            .step(step(
                UPDATE_GROUP,
                StepOutcome::Skipped,
                None,
                "the group already has the name and description asked for",
            ))
            .await?;
    } else {
        let result = graph.update_group(update.group.as_str(), &patch).await;
        record_write(progress, UPDATE_GROUP, result, describe_patch(&patch)).await?;
    }
    read_back_group(platform, &graph, tenant, progress, update.group.as_str()).await?;
    Ok(steps::final_status(progress))
}

fn patch_of(update: &UpdateGroupJob, group: &graph::Group) -> GroupPatch {
    let display_name = update
        .display_name
        .clone()
        .filter(|name| group.display_name.as_deref() != Some(name.as_str()));
    let wanted = update
        .description
        .as_ref()
        .map(|text| Some(text.clone()).filter(|text| !text.is_empty()));
    let description = wanted.filter(|wanted| *wanted != group.description);
    GroupPatch {
        display_name,
        description,
    }
}

fn describe_patch(patch: &GroupPatch) -> String {
    let mut parts = Vec::new();
    if let Some(name) = &patch.display_name {
        parts.push(format!("rename to {name}"));
    }
    match &patch.description {
        Some(Some(text)) => parts.push(format!("description {text}")),
        Some(None) => parts.push("clear the description".to_owned()),
        None => {}
    }
    parts.join("; ")
}

// ---------------------------------------------------------------------------------------------
// set_group_members

/// The difference between a group's account members and the wanted ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MemberDiff {
    /// Account ids to add, with the name the job gave.
    pub add: BTreeMap<String, String>,
    /// Account ids to remove, with their UPN.
    pub remove: BTreeMap<String, String>,
    /// Wanted members that are members already.
    pub kept: usize,
}

/// The difference: wanted accounts that are not members are added, members not wanted are
/// removed. `current` are the group's account members; `resolved` the wanted ones that are not
/// members by id or UPN, looked up by reference key.
pub fn diff(
    wanted: &[AccountRef],
    current: &[User],
    resolved: &HashMap<String, User>,
) -> MemberDiff {
    let by_upn: HashMap<String, &User> = current
        .iter()
        .filter_map(|user| Some((user.user_principal_name.as_deref()?.to_lowercase(), user)))
        .collect();
    let current_ids: HashSet<&str> = current.iter().map(|user| user.id.as_str()).collect();
    let mut keep: HashSet<String> = HashSet::new();
    let mut out = MemberDiff::default();
    for account in wanted {
        let id = match account {
            AccountRef::Id(id) => current_ids
                .get(id.as_str())
                .map(|id| (*id).to_owned())
                .or_else(|| resolved.get(&account.key()).map(|user| user.id.clone())),
            AccountRef::Upn(upn) => by_upn
                .get(upn.normalized())
                .map(|user| user.id.clone())
                .or_else(|| resolved.get(&account.key()).map(|user| user.id.clone())),
        };
        let Some(id) = id else { continue };
        if current_ids.contains(id.as_str()) {
            keep.insert(id);
        } else {
            out.add.insert(id, account.to_string());
        }
    }
    out.kept = keep.len();
    for user in current {
        if !keep.contains(&user.id) {
            out.remove.insert(
                user.id.clone(),
                user.user_principal_name
                    .clone()
                    .unwrap_or_else(|| user.id.clone()),
            );
        }
    }
    out
}

/// The wanted members that are not members by id or UPN: the only ones to look up.
fn to_look_up<'a>(wanted: &'a [AccountRef], current: &[User]) -> Vec<&'a AccountRef> {
    let ids: HashSet<&str> = current.iter().map(|user| user.id.as_str()).collect();
    let upns: HashSet<String> = current
        .iter()
        .filter_map(|user| user.user_principal_name.as_deref().map(str::to_lowercase))
        .collect();
    let mut seen = HashSet::new();
    wanted
        .iter()
        .filter(|account| match account {
            AccountRef::Id(id) => !ids.contains(id.as_str()),
            AccountRef::Upn(upn) => !upns.contains(upn.normalized()),
        })
        .filter(|account| seen.insert(account.key()))
        .collect()
}

/// Runs a set_group_members job: reads the group's account members, looks up only the wanted
/// accounts that are not members, and adds and removes the difference in `$batch` requests of
/// 20 (the fewest). Then reads the members back and stores them.
pub async fn set_members(
    platform: &Platform,
    job: &Job,
    set: &SetGroupMembersJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let (graph, group) = group_job_start(platform, tenant, progress, &set.group).await?;
    let mut checks = vec![group_check(&set.group, group.as_ref())];
    let current = match &group {
        Some(group) if refusal(group).is_none() => graph.group_member_accounts(&group.id).await?,
        _ => Vec::new(),
    };
    let (resolved, missing) = if checks.iter().all(|check| check.passed) {
        resolve_accounts(&graph, &to_look_up(&set.members, &current)).await?
    } else {
        (HashMap::new(), Vec::new())
    };
    checks.push(if missing.is_empty() {
        Check::pass(
            "members",
            format!("{} wanted members are accounts of this tenant", set.members.len()),
        )
    } else {
        Check::fail(
            "members",
            format!(
                "wanted members not found in this tenant: {}; give accounts of this tenant by object id or user principal name",
                named(&missing)
            ),
        )
    });
    let diff = diff(&set.members, &current, &resolved);
    let changes: Vec<(bool, String, String)> = diff
        .add
        .iter()
        .map(|(id, name)| (true, id.clone(), name.clone()))
        .chain(
            diff.remove
                .iter()
                .map(|(id, upn)| (false, id.clone(), upn.clone())),
        )
        .collect();
    let plan: Vec<PlannedCall> = changes
        .chunks(MAX_BATCH_STEPS)
        .map(|chunk| {
            let added = chunk.iter().filter(|(add, ..)| *add).count();
            PlannedCall {
                method: "POST",
                path: "/$batch".to_owned(),
                purpose: format!(
                    "add {added} and remove {} members of {}",
                    chunk.len() - added,
                    set.group
                ),
            }
        })
        .collect();
    let summary = format!(
        "{} checks passed; {} members kept, {} to add, {} to remove",
        checks.len(),
        diff.kept,
        diff.add.len(),
        diff.remove.len()
    );
    let decided = Decided {
        checks: &checks,
        warnings: &[],
        plan: &plan,
        summary,
    };
    if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
        return Ok(status);
    }
    change_members(&graph, progress, &set.group, &changes).await?;
    let after = graph.group_member_accounts(set.group.as_str()).await?;
    store_members(platform, tenant, progress, set, &after, &resolved).await?;
    Ok(steps::final_status(progress))
}

/// Sends the changes in `$batch` requests of 20, one step per request. Already a member (add)
/// or not a member (remove) is the wanted state. A transient failure is returned once the
/// batch's other results are recorded; the redelivery re-reads and sends only what is left.
async fn change_members(
    graph: &TenantGraph,
    progress: &mut JobProgress,
    group: &GroupId,
    changes: &[(bool, String, String)],
) -> Result<(), JobError> {
    let recorded = progress
        .record()
        .steps
        .iter()
        .filter(|step| step.name.starts_with(CHANGE_MEMBERS))
        .count();
    let mut transient: Option<GraphError> = None;
    for (number, chunk) in changes.chunks(MAX_BATCH_STEPS).enumerate() {
        let requests = chunk
            .iter()
            .enumerate()
            .map(|(index, (add, id, _))| {
                if *add {
                    let url = graph.client().directory_object_url(id);
                    BatchRequest::add_group_member(index.to_string(), group.as_str(), url)
                } else {
                    BatchRequest::remove_group_member(index.to_string(), group.as_str(), id)
                }
            })
            .collect();
        let outcomes = graph.batch(requests).await?;
        let (mut added, mut removed, mut already) = (0, 0, 0);
        let mut refused = Vec::new();
        let mut request_id = None;
        for ((add, _, name), outcome) in chunk.iter().zip(outcomes) {
            match outcome.result {
                Ok(response) => {
                    request_id = request_id.or(response.request_id);
                    if *add {
                        added += 1;
                    } else {
                        removed += 1;
                    }
                }
                Err(error) if *add && error.is_member_already_present() => already += 1,
                Err(error) if !*add && error.is_not_found() => already += 1,
                Err(error) if error.is_retryable() => transient = Some(error),
                Err(error) => refused.push(format!("{name}: {error}")),
            }
        }
        let mut detail = format!("added {added}, removed {removed}");
        if already > 0 {
            detail.push_str(&format!(", {already} already as wanted"));
        }
        if !refused.is_empty() {
            detail.push_str(&format!("; Graph refused {}", named(&refused)));
        }
        let outcome = if refused.is_empty() {
            StepOutcome::Done
        } else {
            StepOutcome::Failed
        };
        progress
            .step(step(
                format!("{CHANGE_MEMBERS}:{}", recorded + number + 1),
                outcome,
                request_id,
                detail,
            ))
            .await?;
    }
    match transient {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Stores the members Graph now lists and records whether they are the wanted ones (the
/// difference left, judged as the job judged it before writing).
async fn store_members(
    platform: &Platform,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
    set: &SetGroupMembersJob,
    after: &[User],
    resolved: &HashMap<String, User>,
) -> Result<(), JobError> {
    let ids: Vec<AccountId> = after
        .iter()
        .filter_map(|user| AccountId::parse(&user.id).ok())
        .collect();
    platform
        .store
        .replace_group_members(&tenant.tenant_id, &set.group, &ids)
        .await?;
    let left = diff(&set.members, after, resolved);
    let (outcome, detail) = if left.add.is_empty() && left.remove.is_empty() {
        (
            StepOutcome::Done,
            format!(
                "Graph lists {} account members, the wanted ones; stored",
                after.len()
            ),
        )
    } else {
        let missing: Vec<String> = left.add.into_values().collect();
        let extra: Vec<String> = left.remove.into_values().collect();
        (
            StepOutcome::Failed,
            format!(
                "Graph lists {} account members (stored); wanted but not members: {}; members not wanted: {}",
                after.len(),
                named(&missing),
                named(&extra)
            ),
        )
    };
    progress.step(step(READ_BACK, outcome, None, detail)).await
}

// ---------------------------------------------------------------------------------------------
// delete_group

/// Runs a delete_group job. A redelivery after the delete finds the group gone: done.
pub async fn delete(
    platform: &Platform,
    job: &Job,
    delete: &DeleteGroupJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let (graph, group) = group_job_start(platform, tenant, progress, &delete.group).await?;
    let resumed = progress.finished_step(steps::VALIDATE).is_some();
    if group.is_none() && resumed {
        progress
            .step(step(
                DELETE_GROUP,
                StepOutcome::Skipped,
                None,
                format!(
                    "group {} is gone already (an earlier delivery deleted it)",
                    delete.group
                ),
            ))
            .await?;
    } else {
        let checks = vec![group_check(&delete.group, group.as_ref())];
        let plan = vec![PlannedCall {
            method: "DELETE",
            path: format!("/groups/{}", delete.group),
            purpose: match group.as_ref().map(graph::Group::kind) {
                Some(graph::GroupKind::Microsoft365) => {
                    "delete the Microsoft 365 group (restorable in Entra for 30 days)".to_owned()
                }
                _ => "delete the security group (not restorable)".to_owned(),
            },
        }];
        let decided = Decided {
            checks: &checks,
            warnings: &[],
            plan: &plan,
            summary: steps::validated_summary(checks.len(), &[]),
        };
        if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
            return Ok(status);
        }
        let result = match graph.delete_group(delete.group.as_str()).await {
            Err(error) if error.is_not_found() => {
                progress
                    .step(step(
                        DELETE_GROUP,
                        StepOutcome::Skipped,
                        error.request_id().map(str::to_owned),
                        format!("group {} is gone already", delete.group),
                    ))
                    .await?;
                None
            }
            other => Some(other),
        };
        if let Some(result) = result
            && record_write(
                progress,
                DELETE_GROUP,
                result,
                format!("deleted group {}", delete.group),
            )
            .await?
            .is_none()
        {
            return Ok(steps::final_status(progress));
        }
    }
    let removed = platform
        .store
        .remove_group(&tenant.tenant_id, &delete.group)
        .await?;
    progress
        .step(step(
            READ_BACK,
            StepOutcome::Done,
            None,
            format!("group removed from the store with its {removed} stored memberships"),
        ))
        .await?;
    Ok(steps::final_status(progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(types: &[&str], mail: bool, security: bool, on_premises: bool) -> graph::Group {
        graph::Group {
            id: "0b6f3b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            display_name: Some("Sales".into()),
            group_types: types.iter().map(|t| (*t).to_owned()).collect(),
            mail_enabled: Some(mail),
            security_enabled: Some(security),
            on_premises_sync_enabled: on_premises.then_some(true),
            ..graph::Group::default()
        }
    }

    #[test]
    fn given_each_kind_of_group_when_judged_then_only_cloud_security_and_microsoft_365_groups_may_be_provisioned()
     {
        // GIVEN the kinds of group a tenant holds, WHEN judged, THEN the refused ones say why
        let cases = [
            (group(&[], false, true, false), None),
            (group(&["Unified"], true, false, false), None),
            (
                group(&["DynamicMembership"], false, true, false),
                Some("has dynamic membership"),
            ),
            (
                group(&[], false, true, true),
                Some("synced from on-premises Active Directory"),
            ),
            (
                group(&[], true, true, false),
                Some("mail-enabled security group"),
            ),
            (group(&[], true, false, false), Some("distribution list")),
        ];
        for (group, expected) in cases {
            let refused = refusal(&group);
            match expected {
                None => assert_eq!(refused, None, "{group:?}"),
                Some(reason) => assert!(
                    refused.as_deref().is_some_and(|text| text.contains(reason)),
                    "{group:?}: {refused:?}"
                ),
            }
        }
    }
}
