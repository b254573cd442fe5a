//! The mover: the `update_account` job changes an account's names, job, office, employee id,
//! usage location, manager and user principal name.
//!
//! Everything it needs is read in one `$batch` (the account, its manager, the new manager, the
//! verified domains and who holds the new name when it renames, the SKUs when it moves the usage
//! location), and every rule is checked before any write, dry run or not. Only what differs from
//! the account is sent: one PATCH /users/{id}, plus PUT manager/$ref when the manager changes.
//! The account is then read back, each change judged by what Graph answered, and the synced
//! account in the store updated from that answer (never from what the job asked for).

use graph::{BatchRequest, GraphError, ProfilePatch, SubscribedSku, TenantGraph, TextChange, User};
use lifecycle::jobs::JobError;
use lifecycle::model::{
    AccountRef, Job, JobStatus, Profile, StepOutcome, TenantConnection, UpdateAccountJob,
};
use lifecycle::store::ReadBackStored;
use lifecycle::{JobProgress, Platform, UsageLocation};

use crate::rules::{self, Check, PlannedCall};
use crate::steps::{self, Decided, VALIDATE, step};

/// Step name of the PATCH of the account's properties.
pub const UPDATE_PROFILE: &str = "update_profile";
/// Step name of the manager change.
pub const SET_MANAGER: &str = "set_manager";
/// Step name of the read-back that judges the writes.
pub const READ_BACK: &str = "read_back";
/// Step name of the synced account's update in the store.
pub const UPDATE_SYNCED_ACCOUNT: &str = "update_synced_account";

/// The account's properties a mover reads, judges and stores.
pub(crate) const PROFILE_SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,jobTitle,department,officeLocation,employeeId,usageLocation,mail,proxyAddresses,accountEnabled,onPremisesSyncEnabled,userType,assignedLicenses";
/// A person named in a message (a manager).
const PERSON_SELECT: &str = "id,userPrincipalName,displayName";

/// What the mover's validation needs to know.
#[derive(Debug, Clone, Default)]
pub struct AccountFacts {
    /// `None` when no such account exists.
    pub account: Option<User>,
    /// The account's manager now, when the job names one.
    pub manager_now: Option<User>,
    /// The manager the job names: `None` when it names none, `Some(None)` when no such account.
    pub manager: Option<Option<User>>,
    /// The verified domains when the job renames (`None` when the app may not list them).
    pub verified_domains: Option<Vec<String>>,
    /// The account holding the new user principal name, if any.
    pub upn_holder: Option<User>,
    /// The subscribed SKUs, when the job moves the usage location (to name the licenses).
    pub skus: Vec<SubscribedSku>,
}

/// Reads, in one `$batch`, what [`decide`] needs; `key` is how the account is found (its id
/// once a resumed job knows it, else the job's reference).
pub async fn facts(
    graph: &TenantGraph,
    job: &UpdateAccountJob,
    key: &str,
) -> Result<AccountFacts, GraphError> {
    let mut requests = vec![BatchRequest::get_user("account", key, PROFILE_SELECT)];
    if let Some(manager) = &job.manager {
        requests.push(BatchRequest::get_manager("manager-now", key, PERSON_SELECT));
        requests.push(BatchRequest::get_user(
            "manager",
            &manager.to_string(),
            PERSON_SELECT,
        ));
    }
    if let Some(upn) = &job.user_principal_name {
        requests.push(BatchRequest::list_domains("domains"));
        requests.push(BatchRequest::get_user("upn", upn.as_str(), PERSON_SELECT));
    }
    if job.usage_location.is_some() {
        requests.push(BatchRequest::list_subscribed_skus("skus"));
    }
    let mut answers = graph.look_up(requests).await?;
    let mut facts = AccountFacts {
        account: answers.optional("account")?,
        ..AccountFacts::default()
    };
    if job.manager.is_some() {
        facts.manager_now = answers.optional("manager-now")?;
        facts.manager = Some(answers.optional("manager")?);
    }
    if job.user_principal_name.is_some() {
        facts.verified_domains = match answers.list::<graph::Domain>("domains") {
            Ok(domains) => Some(
                domains
                    .into_iter()
                    .filter(|domain| domain.is_verified == Some(true))
                    .map(|domain| domain.id)
                    .collect(),
            ),
            Err(GraphError::Forbidden(_)) => None,
            Err(error) => return Err(error),
        };
        facts.upn_holder = answers.optional("upn")?;
    }
    if job.usage_location.is_some() {
        facts.skus = answers.list("skus")?;
    }
    Ok(facts)
}

/// What an update will do, once validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountDecision {
    pub checks: Vec<Check>,
    pub account_id: String,
    pub account_name: String,
    /// The properties that differ from the account's, and only those.
    pub patch: ProfilePatch,
    /// The new manager (id, "name <upn>") when it differs from the current one.
    pub manager: Option<(String, String)>,
    /// Requested values the account already has (nothing to write).
    pub unchanged: Vec<String>,
    /// What a person should know (licenses whose services follow the usage location).
    pub warnings: Vec<String>,
}

impl AccountDecision {
    /// The Graph writes, in order: one PATCH, then the manager.
    pub fn plan(&self) -> Vec<PlannedCall> {
        let mut plan = Vec::new();
        if !self.patch.is_empty() {
            plan.push(PlannedCall {
                method: "PATCH",
                path: format!("/users/{}", self.account_id),
                purpose: format!("set {}", self.patch.property_names().join(", ")),
            });
        }
        if let Some((_, manager)) = &self.manager {
            plan.push(PlannedCall {
                method: "PUT",
                path: format!("/users/{}/manager/$ref", self.account_id),
                purpose: format!("make {manager} the manager"),
            });
        }
        plan
    }
}

/// A text property's value as Graph holds it: blank is none.
fn held(value: Option<&str>) -> Option<&str> {
    value.filter(|text| !text.trim().is_empty())
}

/// "name <upn>" of a person.
fn person(user: &User) -> String {
    match (&user.display_name, &user.user_principal_name) {
        (Some(name), Some(upn)) => format!("{name} <{upn}>"),
        (None, Some(upn)) => upn.clone(),
        (Some(name), None) => format!("{name} ({})", user.id),
        (None, None) => user.id.clone(),
    }
}

/// Properties an on-premises synced account keeps mastered in Active Directory: Graph refuses
/// to change them [learn: entra/identity/hybrid/connect/reference-connect-sync-attributes-synchronized].
const ON_PREMISES_MASTERED: [&str; 8] = [
    "givenName",
    "surname",
    "displayName",
    "jobTitle",
    "department",
    "officeLocation",
    "employeeId",
    "userPrincipalName",
];

/// Validates an update against what was read and decides what differs.
pub fn decide(
    job: &UpdateAccountJob,
    tenant: &TenantConnection,
    facts: &AccountFacts,
) -> AccountDecision {
    let mut decision = AccountDecision::default();
    decision.checks.push(rules::mode_check(tenant));
    let Some(account) = &facts.account else {
        decision.checks.push(Check::fail(
            "account",
            format!("account {} does not exist in the tenant", job.account),
        ));
        return decision;
    };
    let name = account
        .user_principal_name
        .clone()
        .unwrap_or_else(|| account.id.clone());
    decision.account_id = account.id.clone();
    decision.account_name = name.clone();
    decision
        .checks
        .push(Check::pass("account", format!("account {name} exists")));

    text_changes(job, account, &mut decision);
    usage_location_change(job, account, &facts.skus, &mut decision);
    manager_change(job, account, facts, &mut decision);
    rename(job, tenant, account, facts, &mut decision);

    let asked = job.given_name.is_some()
        || job.surname.is_some()
        || job.display_name.is_some()
        || job.job_title.is_some()
        || job.department.is_some()
        || job.office_location.is_some()
        || job.employee_id.is_some()
        || job.usage_location.is_some()
        || job.manager.is_some()
        || job.user_principal_name.is_some();
    if !asked {
        decision.checks.push(Check::fail(
            "changes",
            "the job names nothing to change: give at least one of given_name, surname, display_name, job_title, department, office_location, employee_id, usage_location, manager, user_principal_name",
        ));
    }
    if account.on_premises_sync_enabled == Some(true) {
        let mastered: Vec<&str> = decision
            .patch
            .property_names()
            .into_iter()
            .filter(|p| ON_PREMISES_MASTERED.contains(p))
            .chain(decision.manager.as_ref().map(|_| "manager"))
            .collect();
        if !mastered.is_empty() {
            decision.checks.push(Check::fail(
                "on_premises",
                format!(
                    "account {name} is synced from on-premises Active Directory, which masters {}; change them there",
                    mastered.join(", ")
                ),
            ));
        }
    }
    decision
}

/// One optional text property of a mover: its Graph name, the job's value, the account's, and
/// the patch's slot for it.
type TextField<'a> = (
    &'static str,
    &'a Option<String>,
    Option<&'a String>,
    &'a mut Option<TextChange>,
);

fn text_changes(job: &UpdateAccountJob, account: &User, decision: &mut AccountDecision) {
    let patch = &mut decision.patch;
    let fields: [TextField<'_>; 6] = [
        (
            "givenName",
            &job.given_name,
            account.given_name.as_ref(),
            &mut patch.given_name,
        ),
        (
            "surname",
            &job.surname,
            account.surname.as_ref(),
            &mut patch.surname,
        ),
        (
            "jobTitle",
            &job.job_title,
            account.job_title.as_ref(),
            &mut patch.job_title,
        ),
        (
            "department",
            &job.department,
            account.department.as_ref(),
            &mut patch.department,
        ),
        (
            "officeLocation",
            &job.office_location,
            account.office_location.as_ref(),
            &mut patch.office_location,
        ),
        (
            "employeeId",
            &job.employee_id,
            account.employee_id.as_ref(),
            &mut patch.employee_id,
        ),
    ];
    for (graph_name, wanted, now, slot) in fields {
        let Some(wanted) = wanted else { continue };
        let change = TextChange::of(wanted);
        if change.value() == held(now.map(String::as_str)) {
            decision.unchanged.push(format!(
                "{graph_name} is {:?} already",
                change.value().unwrap_or("")
            ));
        } else {
            *slot = Some(change);
        }
    }
    if let Some(wanted) = &job.display_name {
        if account.display_name.as_deref() == Some(wanted.as_str()) {
            decision
                .unchanged
                .push(format!("displayName is {wanted:?} already"));
        } else {
            decision.patch.display_name = Some(wanted.clone());
        }
    }
}

fn usage_location_change(
    job: &UpdateAccountJob,
    account: &User,
    skus: &[SubscribedSku],
    decision: &mut AccountDecision,
) {
    let Some(wanted) = job.usage_location else {
        return;
    };
    let now = account
        .usage_location
        .as_deref()
        .and_then(|code| UsageLocation::parse(code).ok());
    if now == Some(wanted) {
        decision
            .unchanged
            .push(format!("usageLocation is {wanted} already"));
        return;
    }
    decision.checks.push(Check::pass(
        "usage_location",
        format!("usage location {wanted} is an ISO 3166-1 alpha-2 code"),
    ));
    decision.patch.usage_location = Some(wanted.to_string());
    let licenses: Vec<String> = account
        .assigned_licenses
        .iter()
        .map(|license| {
            skus.iter()
                .find(|sku| sku.sku_id.eq_ignore_ascii_case(&license.sku_id))
                .map(rules::sku_name)
                .unwrap_or_else(|| license.sku_id.clone())
        })
        .collect();
    if !licenses.is_empty() {
        decision.warnings.push(format!(
            "usage location moves from {} to {wanted}: the services of {} follow it (a service not offered in {wanted} stops for this account)",
            now.map_or_else(|| "none".to_owned(), |code| code.to_string()),
            licenses.join(", ")
        ));
    }
}

fn manager_change(
    job: &UpdateAccountJob,
    account: &User,
    facts: &AccountFacts,
    decision: &mut AccountDecision,
) {
    let Some(reference) = &job.manager else {
        return;
    };
    match facts.manager.as_ref().and_then(Option::as_ref) {
        None => decision.checks.push(Check::fail(
            "manager",
            format!("manager {reference} does not exist in the tenant"),
        )),
        Some(manager) if manager.id.eq_ignore_ascii_case(&account.id) => decision
            .checks
            .push(Check::fail(
                "manager",
                format!("manager {reference} is the account itself; an account cannot be its own manager"),
            )),
        Some(manager) => {
            let label = person(manager);
            decision
                .checks
                .push(Check::pass("manager", format!("manager {label} exists")));
            let same = facts
                .manager_now
                .as_ref()
                .is_some_and(|now| now.id.eq_ignore_ascii_case(&manager.id));
            if same {
                decision.unchanged.push(format!("manager is {label} already"));
            } else {
                decision.manager = Some((manager.id.clone(), label));
            }
        }
    }
}

fn rename(
    job: &UpdateAccountJob,
    tenant: &TenantConnection,
    account: &User,
    facts: &AccountFacts,
    decision: &mut AccountDecision,
) {
    let Some(upn) = &job.user_principal_name else {
        return;
    };
    if account
        .user_principal_name
        .as_deref()
        .is_some_and(|now| now.eq_ignore_ascii_case(upn.as_str()))
    {
        decision
            .unchanged
            .push(format!("userPrincipalName is {upn} already"));
        return;
    }
    let domain = upn.domain();
    let verified: Vec<String> = match &facts.verified_domains {
        Some(domains) => domains.clone(),
        None => tenant
            .verified_domains
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    if verified
        .iter()
        .any(|name| name.eq_ignore_ascii_case(domain.as_str()))
    {
        decision.checks.push(Check::pass(
            "upn_domain",
            format!("{domain} is a verified domain of the tenant"),
        ));
    } else {
        decision.checks.push(Check::fail(
            "upn_domain",
            format!(
                "the domain of {upn}, {domain}, is not a verified domain of the tenant (verified: {})",
                if verified.is_empty() {
                    "none".to_owned()
                } else {
                    verified.join(", ")
                }
            ),
        ));
    }
    match &facts.upn_holder {
        Some(holder) if !holder.id.eq_ignore_ascii_case(&account.id) => {
            decision.checks.push(Check::fail(
                "upn_available",
                format!(
                    "user principal name {upn} is already taken by {}",
                    person(holder)
                ),
            ));
        }
        _ => decision.checks.push(Check::pass(
            "upn_available",
            format!("user principal name {upn} is free"),
        )),
    }
    decision.patch.user_principal_name = Some(upn.to_string());
}

/// Runs an update-account job.
pub async fn run(
    platform: &Platform,
    job: &Job,
    update: &UpdateAccountJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let graph = platform
        .tenant_graph_until(tenant, progress.deadline())
        .await?;
    let resumed = progress.finished_step(VALIDATE).is_some();
    let mut facts = facts(&graph, update, &update.account.to_string()).await?;
    // A redelivery after the rename no longer finds the account by its old name.
    if facts.account.is_none()
        && resumed
        && matches!(update.account, AccountRef::Upn(_))
        && let Some(upn) = &update.user_principal_name
    {
        facts = self::facts(&graph, update, upn.as_str()).await?;
    }
    let decision = decide(update, tenant, &facts);

    let decided = Decided {
        checks: &decision.checks,
        warnings: &decision.warnings,
        plan: &decision.plan(),
        summary: steps::validated_summary(decision.checks.len(), &decision.unchanged),
    };
    if let Some(status) = steps::settle_decision(progress, job.dry_run, decided).await? {
        return Ok(status);
    }
    write(&graph, progress, &decision).await?;
    let after = read_back(&graph, progress, update, &decision, facts.account.as_ref()).await?;
    store(platform, tenant, progress, after.as_ref()).await?;
    Ok(steps::final_status(progress))
}

/// Sends the PATCH and the manager change an earlier delivery did not finish. A permanent
/// refusal is recorded on its step; a transient failure is returned for a redelivery.
async fn write(
    graph: &TenantGraph,
    progress: &mut JobProgress,
    decision: &AccountDecision,
) -> Result<(), JobError> {
    let account = decision.account_id.as_str();
    if !decision.patch.is_empty() && progress.finished_step(UPDATE_PROFILE).is_none() {
        let sent = decision.patch.property_names().join(", ");
        let recorded = match graph.update_profile(account, &decision.patch).await {
            Ok(receipt) => step(
                UPDATE_PROFILE,
                StepOutcome::Done,
                receipt.request_id,
                format!("sent {sent} (only what differs) in one PATCH"),
            ),
            Err(error) if error.is_retryable() => return Err(error.into()),
            Err(error) => step(
                UPDATE_PROFILE,
                StepOutcome::Failed,
                error.request_id().map(str::to_owned),
                format!("not changed ({sent}): {error}"),
            ),
        };
        progress.step(recorded).await?;
    }
    if let Some((manager_id, label)) = &decision.manager
        && progress.finished_step(SET_MANAGER).is_none()
    {
        let recorded = match graph.set_manager(account, manager_id).await {
            Ok(receipt) => step(
                SET_MANAGER,
                StepOutcome::Done,
                receipt.request_id,
                format!("manager set to {label}"),
            ),
            Err(error) if error.is_retryable() => return Err(error.into()),
            Err(error) => step(
                SET_MANAGER,
                StepOutcome::Failed,
                error.request_id().map(str::to_owned),
                format!("manager not set to {label}: {error}"),
            ),
        };
        progress.step(recorded).await?;
    }
    Ok(())
}

/// Reads the account (and its manager) back and judges each requested value by Graph's answer:
/// the read-back step fails when one did not stick. Returns the account as Graph now has it.
async fn read_back(
    graph: &TenantGraph,
    progress: &mut JobProgress,
    job: &UpdateAccountJob,
    decision: &AccountDecision,
    before: Option<&User>,
) -> Result<Option<User>, JobError> {
    let id = decision.account_id.as_str();
    let mut requests = vec![BatchRequest::get_user("account", id, PROFILE_SELECT)];
    if job.manager.is_some() {
        requests.push(BatchRequest::get_manager("manager", id, PERSON_SELECT));
    }
    let mut answers = graph.look_up(requests).await?;
    let Some(after) = answers.optional::<User>("account")? else {
        progress
            .step(step(
                READ_BACK,
                StepOutcome::Failed,
                None,
                format!("read-back: account {id} no longer exists"),
            ))
            .await?;
        return Ok(None);
    };
    let manager: Option<User> = if job.manager.is_some() {
        answers.optional("manager")?
    } else {
        None
    };
    let (seen, differs) = judge(job, decision, &after, manager.as_ref(), before);
    let outcome = if differs.is_empty() {
        StepOutcome::Done
    } else {
        StepOutcome::Failed
    };
    let mut detail = format!("read-back: {}", seen.join(", "));
    if !differs.is_empty() {
        detail.push_str(&format!("; not as asked: {}", differs.join(", ")));
    }
    progress
        .step(step(READ_BACK, outcome, None, detail))
        .await?;
    Ok(Some(after))
}

/// What the read-back shows for each requested value, and which differ from the request.
fn judge(
    job: &UpdateAccountJob,
    decision: &AccountDecision,
    after: &User,
    manager: Option<&User>,
    before: Option<&User>,
) -> (Vec<String>, Vec<String>) {
    let mut seen = Vec::new();
    let mut differs = Vec::new();
    let mut compare = |name: &str, wanted: Option<&str>, now: Option<&str>| {
        let now = held(now);
        seen.push(format!("{name} {:?}", now.unwrap_or("")));
        if held(wanted) != now {
            differs.push(format!(
                "{name} is {:?}, not {:?}",
                now.unwrap_or(""),
                wanted.unwrap_or("")
            ));
        }
    };
    let texts = [
        ("givenName", &job.given_name, &after.given_name),
        ("surname", &job.surname, &after.surname),
        ("displayName", &job.display_name, &after.display_name),
        ("jobTitle", &job.job_title, &after.job_title),
        ("department", &job.department, &after.department),
        (
            "officeLocation",
            &job.office_location,
            &after.office_location,
        ),
        ("employeeId", &job.employee_id, &after.employee_id),
    ];
    for (name, wanted, now) in texts {
        if let Some(wanted) = wanted {
            compare(name, Some(wanted), now.as_deref());
        }
    }
    if let Some(wanted) = job.usage_location {
        let now = after.usage_location.as_deref().map(str::to_ascii_uppercase);
        compare("usageLocation", Some(&wanted.to_string()), now.as_deref());
    }
    if let Some(upn) = &job.user_principal_name {
        let now = after.user_principal_name.as_deref().unwrap_or("");
        seen.push(format!("userPrincipalName {now}"));
        if !now.eq_ignore_ascii_case(upn.as_str()) {
            differs.push(format!("userPrincipalName is {now}, not {upn}"));
        }
        let old = before.and_then(|b| b.user_principal_name.as_deref());
        if let Some(old) = old.filter(|old| !old.eq_ignore_ascii_case(upn.as_str())) {
            seen.push(old_address(old, after));
        }
    }
    if job.manager.is_some() {
        let wanted = decision.manager.as_ref().map(|(id, _)| id.as_str());
        match (manager, wanted) {
            (Some(now), _) => seen.push(format!("manager {}", person(now))),
            (None, _) => seen.push("manager none".to_owned()),
        }
        if let Some(wanted) = wanted
            && !manager.is_some_and(|now| now.id.eq_ignore_ascii_case(wanted))
        {
            differs.push("the manager is not the one asked for".to_owned());
        }
    }
    (seen, differs)
}

/// Whether mail to the old user principal name still reaches the account after a rename, as
/// Graph answers it: Graph changes neither `mail` nor `proxyAddresses` on a rename, so the old
/// address stays where the account's mail or an alias holds it.
fn old_address(old: &str, after: &User) -> String {
    let primary = after
        .mail
        .as_deref()
        .is_some_and(|mail| mail.eq_ignore_ascii_case(old));
    let alias = after.proxy_addresses.iter().any(|address| {
        address.split_once(':').is_some_and(|(kind, value)| {
            kind.eq_ignore_ascii_case("smtp") && value.eq_ignore_ascii_case(old)
        })
    });
    match (primary, alias) {
        (true, _) => format!("old address {old} kept: still the account's mail"),
        (false, true) => format!("old address {old} kept as an alias (proxyAddresses)"),
        (false, false) => format!(
            "old address {old} not kept: the account has no mailbox address under it (Graph keeps mail and proxyAddresses as they were)"
        ),
    }
}

/// Writes the synced account as Graph answered it; an account no sync has seen yet is left to
/// the next sync (which reads its licenses and sign-ins too).
async fn store(
    platform: &Platform,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
    after: Option<&User>,
) -> Result<(), JobError> {
    let Some(after) = after else {
        return Ok(());
    };
    let recorded = match synced_account(platform, tenant, after).await? {
        Some(mut account) => {
            // The read-back selects every profile property: an absent one is cleared in Graph.
            account.profile = Profile {
                job_title: after.job_title.clone(),
                department: after.department.clone(),
                office_location: after.office_location.clone(),
                employee_id: after.employee_id.clone(),
                mail: after.mail.clone(),
                proxy_addresses: after.proxy_addresses.clone(),
            };
            let summary = format!("{} ({})", account.upn, account.display_name);
            let stored = platform
                .store
                .put_read_back(&tenant.tenant_id, account)
                .await?;
            step(
                UPDATE_SYNCED_ACCOUNT,
                StepOutcome::Done,
                None,
                match stored {
                    ReadBackStored::Kept(_) => {
                        format!("synced account updated from Graph's answer: {summary}")
                    }
                    ReadBackStored::LeftOut { memberships } => left_out(&summary, memberships),
                },
            )
        }
        None => step(
            UPDATE_SYNCED_ACCOUNT,
            StepOutcome::Skipped,
            None,
            "not synced yet: the next sync records the account",
        ),
    };
    progress.step(recorded).await
}

/// The step detail of a read-back the tenant's sync settings leave out.
pub(crate) fn left_out(account: &str, memberships: usize) -> String {
    format!(
        "synced account {account} removed from the store with its {memberships} stored memberships: the tenant's sync settings leave it out as Graph now answers it"
    )
}

/// The stored account with what Graph now answers for the properties the store keeps (name,
/// display name, usage location, sign-in); `None` when no sync has stored it.
pub(crate) async fn synced_account(
    platform: &Platform,
    tenant: &TenantConnection,
    after: &User,
) -> Result<Option<lifecycle::model::Account>, JobError> {
    let Ok(id) = lifecycle::AccountId::parse(&after.id) else {
        return Ok(None);
    };
    let Some(mut account) = platform.store.account(&tenant.tenant_id, &id).await? else {
        return Ok(None);
    };
    if let Some(upn) = after
        .user_principal_name
        .as_deref()
        .and_then(|upn| lifecycle::Upn::parse(upn).ok())
    {
        account.upn = upn;
    }
    if let Some(name) = &after.display_name {
        account.display_name = name.clone();
    }
    if let Some(location) = &after.usage_location {
        account.usage_location = UsageLocation::parse(location).ok();
    }
    if let Some(enabled) = after.account_enabled {
        account.enabled = enabled;
    }
    Ok(Some(account))
}
