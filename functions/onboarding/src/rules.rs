//! The validation rules, as pure functions of what was read from the tenant: each rule gives a
//! [`Check`] with a message a person can act on, and a job passes only when every check does.
//! They also decide what to write (SKUs and groups resolved, template copied, no-ops skipped) so
//! the plan and the steps come from the same decision.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use graph::{Group, GroupKind, SubscribedSku, User};
use lifecycle::GroupId;
use lifecycle::model::TenantConnection;
use lifecycle::model::{LicenseRef, OnboardJob, UpdateMembershipsJob};
use serde::Serialize;

use crate::reads::{MembershipFacts, OnboardFacts, TemplateFacts};

/// The outcome of one validation rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The rule, e.g. `upn_domain`, `license`, `group`.
    pub rule: &'static str,
    pub passed: bool,
    /// Why it passed or what is wrong (names the SKU, group or domain; never a secret).
    pub message: String,
}

impl Check {
    pub fn pass(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            passed: true,
            message: message.into(),
        }
    }

    pub fn fail(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            passed: false,
            message: message.into(),
        }
    }
}

/// The failed checks' messages, one per line, for the job's error.
pub fn failures(checks: &[Check]) -> Option<String> {
    let failed: Vec<&str> = checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| check.message.as_str())
        .collect();
    (!failed.is_empty()).then(|| format!("validation failed: {}", failed.join("; ")))
}

/// A SKU resolved from a [`LicenseRef`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkuChoice {
    pub sku_id: String,
    pub part_number: String,
}

impl fmt::Display for SkuChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.part_number)
    }
}

/// A group resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupChoice {
    pub id: String,
    pub display_name: String,
}

impl fmt::Display for GroupChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.display_name, self.id)
    }
}

impl From<&Group> for GroupChoice {
    fn from(group: &Group) -> Self {
        Self {
            id: group.id.clone(),
            display_name: group
                .display_name
                .clone()
                .unwrap_or_else(|| group.id.clone()),
        }
    }
}

/// One Graph call of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCall {
    pub method: &'static str,
    pub path: String,
    pub purpose: String,
}

impl fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.path, self.purpose)
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn sku_name(sku: &SubscribedSku) -> String {
    sku.sku_part_number
        .clone()
        .unwrap_or_else(|| sku.sku_id.clone())
}

fn find_sku<'a>(skus: &'a [SubscribedSku], license: &LicenseRef) -> Option<&'a SubscribedSku> {
    skus.iter().find(|sku| match license {
        LicenseRef::Sku(id) => sku.sku_id.eq_ignore_ascii_case(id.as_str()),
        LicenseRef::PartNumber(part) => sku
            .sku_part_number
            .as_deref()
            .is_some_and(|name| part.matches(name)),
    })
}

fn find_sku_by_id<'a>(skus: &'a [SubscribedSku], sku_id: &str) -> Option<&'a SubscribedSku> {
    skus.iter()
        .find(|sku| sku.sku_id.eq_ignore_ascii_case(sku_id))
}

fn choice(sku: &SubscribedSku) -> SkuChoice {
    SkuChoice {
        sku_id: sku.sku_id.to_ascii_lowercase(),
        part_number: sku_name(sku),
    }
}

/// Resolves a license the job names; checks that it is subscribed (listing what is otherwise)
/// and, when `needs_unit`, that a unit is free (naming the SKU and its counts when none is).
fn license_check(
    skus: &[SubscribedSku],
    license: &LicenseRef,
    needs_unit: bool,
    origin: &str,
) -> (Check, Option<SkuChoice>) {
    let Some(sku) = find_sku(skus, license) else {
        let subscribed: Vec<String> = skus.iter().map(sku_name).collect();
        return (
            Check::fail(
                "license",
                format!(
                    "license {license}{origin} is not subscribed in this tenant (subscribed: {})",
                    if subscribed.is_empty() {
                        "none".to_owned()
                    } else {
                        subscribed.join(", ")
                    }
                ),
            ),
            None,
        );
    };
    (unit_check(sku, needs_unit, origin), Some(choice(sku)))
}

fn unit_check(sku: &SubscribedSku, needs_unit: bool, origin: &str) -> Check {
    let enabled = sku
        .prepaid_units
        .as_ref()
        .and_then(|units| units.enabled)
        .unwrap_or(0);
    let consumed = sku.consumed_units.unwrap_or(0);
    let name = sku_name(sku);
    if needs_unit && sku.available_units() < 1 {
        return Check::fail(
            "license",
            format!(
                "license {name} ({}){origin} has no unused units: {enabled} enabled, {consumed} consumed",
                sku.sku_id
            ),
        );
    }
    Check::pass(
        "license",
        format!(
            "license {name}{origin}: {} of {enabled} units unused",
            sku.available_units()
        ),
    )
}

/// Whether Graph can change the group's members; the reason when it cannot.
fn group_refusal(group: &Group) -> Option<String> {
    let name = GroupChoice::from(group);
    if group.on_premises_sync_enabled == Some(true) {
        return Some(format!(
            "group {name} is synced from on-premises Active Directory; change its members there"
        ));
    }
    if group.is_dynamic() {
        return Some(format!(
            "group {name} has dynamic membership (rule: {}); its members follow the rule and cannot be added or removed",
            group.membership_rule.as_deref().unwrap_or("not shown")
        ));
    }
    match group.kind() {
        GroupKind::Microsoft365 | GroupKind::Security => None,
        GroupKind::Distribution => Some(format!(
            "group {name} is a distribution list; Graph cannot change its members (use Exchange Online)"
        )),
        GroupKind::MailEnabledSecurity => Some(format!(
            "group {name} is a mail-enabled security group; Graph cannot change its members (use Exchange Online)"
        )),
        _ => Some(format!(
            "group {name} is neither a security nor a Microsoft 365 group; Graph cannot change its members"
        )),
    }
}

/// Checks that each group exists and takes member changes.
fn group_checks(groups: &[(GroupId, Option<Group>)]) -> (Vec<Check>, Vec<GroupChoice>) {
    let mut checks = Vec::new();
    let mut chosen = Vec::new();
    for (id, group) in groups {
        match group {
            None => checks.push(Check::fail(
                "group",
                format!("group {id} does not exist in the tenant"),
            )),
            Some(group) => match group_refusal(group) {
                Some(reason) => checks.push(Check::fail("group", reason)),
                None => {
                    let group = GroupChoice::from(group);
                    checks.push(Check::pass("group", format!("group {group} exists")));
                    if !chosen.contains(&group) {
                        chosen.push(group);
                    }
                }
            },
        }
    }
    (checks, chosen)
}

/// The direct (not group-inherited) SKU ids of an account, lowercase.
fn direct_skus(user: &User) -> BTreeSet<String> {
    if user.license_assignment_states.is_empty() {
        return user
            .assigned_licenses
            .iter()
            .map(|license| license.sku_id.to_ascii_lowercase())
            .collect();
    }
    user.license_assignment_states
        .iter()
        .filter(|state| state.is_direct())
        .filter_map(|state| state.sku_id.as_deref())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// SKU id (lowercase) -> the groups (ids) it is inherited from.
fn inherited_skus(user: &User) -> HashMap<String, Vec<String>> {
    let mut inherited: HashMap<String, Vec<String>> = HashMap::new();
    for state in &user.license_assignment_states {
        if let (Some(sku), Some(group)) = (&state.sku_id, &state.assigned_by_group)
            && !group.is_empty()
        {
            inherited
                .entry(sku.to_ascii_lowercase())
                .or_default()
                .push(group.clone());
        }
    }
    inherited
}

/// What an onboarding will do, once validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnboardDecision {
    pub checks: Vec<Check>,
    /// Requested and copied licenses, each once.
    pub licenses: Vec<SkuChoice>,
    /// Requested and copied groups, each once.
    pub groups: Vec<GroupChoice>,
}

impl OnboardDecision {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The Graph writes, in order: create, one assignLicense, one `$batch` per 20 groups.
    pub fn plan(&self, job: &OnboardJob) -> Vec<PlannedCall> {
        let mut plan = vec![PlannedCall {
            method: "POST",
            path: "/users".into(),
            purpose: format!(
                "create account {} (usage location {}, change password at next sign-in)",
                job.user_principal_name, job.usage_location
            ),
        }];
        if let lifecycle::model::PasswordSource::TemporaryAccessPass {
            lifetime_minutes,
            one_time_use,
            ..
        } = &job.password
        {
            plan.push(PlannedCall {
                method: "POST",
                path: "/users/{new account id}/authentication/temporaryAccessPassMethods".into(),
                purpose: format!(
                    "create a Temporary Access Pass ({lifetime_minutes} minutes{}), handed back once",
                    if *one_time_use { ", one sign-in" } else { "" }
                ),
            });
        }
        if !self.licenses.is_empty() {
            plan.push(PlannedCall {
                method: "POST",
                path: "/users/{new account id}/assignLicense".into(),
                purpose: format!("assign {}", list(&self.licenses)),
            });
        }
        for chunk in self.groups.chunks(graph::MAX_BATCH_STEPS) {
            plan.push(PlannedCall {
                method: "POST",
                path: "/$batch".into(),
                purpose: format!("add the account to {}", list(chunk)),
            });
        }
        plan
    }
}

/// Validates an onboarding against what was read; `password` is the complexity check's outcome.
/// One check per rule, in this order: mode, password, UPN domain, usage location, UPN free,
/// licenses, groups, template.
pub fn decide_onboard(
    job: &OnboardJob,
    tenant: &TenantConnection,
    facts: &OnboardFacts,
    password: Check,
) -> OnboardDecision {
    let mut decision = OnboardDecision::default();
    decision.checks.extend([
        mode_check(tenant),
        password,
        upn_domain_check(job, tenant, facts),
        Check::pass(
            "usage_location",
            format!(
                "usage location {} is an ISO 3166-1 alpha-2 code",
                job.usage_location
            ),
        ),
        upn_available_check(job, facts),
    ]);
    for license in &job.licenses {
        let (check, sku) = license_check(&facts.skus, license, true, "");
        decision.checks.push(check);
        if let Some(sku) = sku
            && !decision.licenses.contains(&sku)
        {
            decision.licenses.push(sku);
        }
    }
    let (group_checks, groups) = group_checks(&facts.groups);
    decision.checks.extend(group_checks);
    decision.groups = groups;
    if let Some(template) = &facts.template {
        copy_template(&mut decision, template, &facts.skus);
    }
    decision
}

/// The UPN's domain is one of the tenant's verified domains (as read now, else as stored at
/// connection).
fn upn_domain_check(job: &OnboardJob, tenant: &TenantConnection, facts: &OnboardFacts) -> Check {
    let upn = &job.user_principal_name;
    let domain = upn.domain();
    let verified_domains: Vec<String> = match &facts.verified_domains {
        Some(domains) => domains.clone(),
        None => tenant
            .verified_domains
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    if verified_domains
        .iter()
        .any(|verified| verified.eq_ignore_ascii_case(domain.as_str()))
    {
        Check::pass(
            "upn_domain",
            format!("{domain} is a verified domain of the tenant"),
        )
    } else {
        Check::fail(
            "upn_domain",
            format!(
                "the domain of {upn}, {domain}, is not a verified domain of the tenant (verified: {})",
                if verified_domains.is_empty() {
                    "none".to_owned()
                } else {
                    verified_domains.join(", ")
                }
            ),
        )
    }
}

/// No account holds the UPN yet.
fn upn_available_check(job: &OnboardJob, facts: &OnboardFacts) -> Check {
    let upn = &job.user_principal_name;
    match &facts.existing_account {
        Some(existing) => Check::fail(
            "upn_available",
            format!(
                "user principal name {upn} is already taken by account {} ({})",
                existing.id,
                existing
                    .display_name
                    .as_deref()
                    .unwrap_or("no display name")
            ),
        ),
        None => Check::pass(
            "upn_available",
            format!("user principal name {upn} is free"),
        ),
    }
}

/// Copies the template account's direct licenses and the groups a job can add members to into
/// the decision, each once, with one `template` check that says what was copied (or why not).
fn copy_template(decision: &mut OnboardDecision, template: &TemplateFacts, skus: &[SubscribedSku]) {
    let Some(account) = &template.account else {
        decision.checks.push(Check::fail(
            "template",
            format!(
                "template account {} does not exist in the tenant",
                template.reference
            ),
        ));
        return;
    };
    let origin = format!(
        " (from template {})",
        account
            .user_principal_name
            .as_deref()
            .unwrap_or(account.id.as_str())
    );
    let mut copied_licenses = 0;
    for sku_id in direct_skus(account) {
        match find_sku_by_id(skus, &sku_id) {
            Some(sku) => {
                let sku_choice = choice(sku);
                if !decision.licenses.contains(&sku_choice) {
                    decision.checks.push(unit_check(sku, true, &origin));
                    decision.licenses.push(sku_choice);
                    copied_licenses += 1;
                }
            }
            None => decision.checks.push(Check::fail(
                "license",
                format!("license {sku_id}{origin} is no longer subscribed in this tenant"),
            )),
        }
    }
    let mut copied_groups = 0;
    let mut skipped = Vec::new();
    for group in &template.member_of.groups {
        match group_refusal(group) {
            Some(_) => skipped.push(GroupChoice::from(group)),
            None => {
                let group = GroupChoice::from(group);
                if !decision.groups.contains(&group) {
                    decision.groups.push(group);
                    copied_groups += 1;
                }
            }
        }
    }
    let mut message = format!(
        "copies {copied_groups} groups and {copied_licenses} direct licenses{origin}; group-inherited licenses follow the groups"
    );
    if !skipped.is_empty() {
        message.push_str(&format!(
            "; not copied (dynamic or mail-enabled, Graph cannot add members): {}",
            list(&skipped)
        ));
    }
    decision.checks.push(if template.member_of.truncated {
        Check::fail(
            "template",
            format!(
                "template account {} is in more than {} groups; name the groups instead",
                template.reference,
                graph::MEMBER_OF_PAGE
            ),
        )
    } else {
        Check::pass("template", message)
    });
}

/// The tenant allows writes (the job runner refuses the job otherwise; listed for dry runs).
pub(crate) fn mode_check(tenant: &TenantConnection) -> Check {
    if tenant.allows_writes() {
        Check::pass("read_write_mode", "tenant is connected in read/write mode")
    } else {
        Check::fail(
            "read_write_mode",
            "tenant is connected read-only; reconnect it in read/write mode",
        )
    }
}

/// What a membership job will do, once validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MembershipDecision {
    pub checks: Vec<Check>,
    pub account_id: String,
    pub account_name: String,
    pub add_licenses: Vec<SkuChoice>,
    pub remove_licenses: Vec<SkuChoice>,
    pub add_groups: Vec<GroupChoice>,
    pub remove_groups: Vec<GroupChoice>,
    /// Requested changes already in place (nothing to write).
    pub unchanged: Vec<String>,
    /// Things a person should know before the change (a mailbox to be deprovisioned).
    pub warnings: Vec<String>,
}

impl MembershipDecision {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The Graph writes, in order: one assignLicense, then one `$batch` per 20 group changes.
    pub fn plan(&self) -> Vec<PlannedCall> {
        let mut plan = Vec::new();
        if !self.add_licenses.is_empty() || !self.remove_licenses.is_empty() {
            let mut purpose = Vec::new();
            if !self.add_licenses.is_empty() {
                purpose.push(format!("assign {}", list(&self.add_licenses)));
            }
            if !self.remove_licenses.is_empty() {
                purpose.push(format!("remove {}", list(&self.remove_licenses)));
            }
            plan.push(PlannedCall {
                method: "POST",
                path: format!("/users/{}/assignLicense", self.account_id),
                purpose: purpose.join("; "),
            });
        }
        let changes: Vec<String> = self
            .add_groups
            .iter()
            .map(|group| format!("add to {group}"))
            .chain(
                self.remove_groups
                    .iter()
                    .map(|group| format!("remove from {group}")),
            )
            .collect();
        for chunk in changes.chunks(graph::MAX_BATCH_STEPS) {
            plan.push(PlannedCall {
                method: "POST",
                path: "/$batch".into(),
                purpose: chunk.join(", "),
            });
        }
        plan
    }
}

/// The groups (ids) whose names a membership decision's messages need: those a license to be
/// removed is inherited from. Read them before calling [`decide_memberships`].
pub fn inheriting_groups(job: &UpdateMembershipsJob, facts: &MembershipFacts) -> Vec<String> {
    let Some(account) = &facts.account else {
        return Vec::new();
    };
    if job.remove_licenses.is_empty() && job.set_licenses.is_none() {
        return Vec::new();
    }
    let mut ids: Vec<String> = inherited_skus(account).into_values().flatten().collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Validates a membership job against what was read. `group_names` names the groups licenses
/// are inherited from (see [`inheriting_groups`]).
pub fn decide_memberships(
    job: &UpdateMembershipsJob,
    tenant: &TenantConnection,
    facts: &MembershipFacts,
    group_names: &HashMap<String, String>,
) -> MembershipDecision {
    let mut decision = MembershipDecision::default();
    decision.checks.push(mode_check(tenant));
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

    decide_licenses(&mut decision, job, facts, account, &name, group_names);
    decide_groups(&mut decision, job, facts);
    if let Some(warning) = last_license_warning(&decision, account, &name) {
        decision.warnings.push(warning);
    }
    decision
}

/// A group as a message names it: "Sales (id)", or "group id" when its name is unknown.
fn group_label(group_names: &HashMap<String, String>, id: &str) -> String {
    match group_names.get(id) {
        Some(display) => format!("{display} ({id})"),
        None => format!("group {id}"),
    }
}

/// The license rules of a membership job: what to assign and remove (`set_licenses` replaces
/// `assign_licenses`/`remove_licenses`), what is unchanged, and what stays because it comes from
/// a group.
fn decide_licenses(
    decision: &mut MembershipDecision,
    job: &UpdateMembershipsJob,
    facts: &MembershipFacts,
    account: &User,
    name: &str,
    group_names: &HashMap<String, String>,
) {
    let direct = direct_skus(account);
    let inherited = inherited_skus(account);
    if job.set_licenses.is_some()
        && (!job.assign_licenses.is_empty() || !job.remove_licenses.is_empty())
    {
        decision.checks.push(Check::fail(
            "licenses",
            "set_licenses replaces assign_licenses and remove_licenses; send one or the other",
        ));
    }
    let mut wanted_add: Vec<&LicenseRef> = job.assign_licenses.iter().collect();
    let mut wanted_remove: Vec<SkuChoice> = Vec::new();
    if let Some(desired) = &job.set_licenses {
        let mut desired_ids = BTreeSet::new();
        for license in desired {
            match find_sku(&facts.skus, license) {
                Some(sku) => {
                    desired_ids.insert(sku.sku_id.to_ascii_lowercase());
                    wanted_add.push(license);
                }
                None => wanted_add.push(license),
            }
        }
        for sku_id in &direct {
            if !desired_ids.contains(sku_id) {
                wanted_remove.push(sku_choice_by_id(&facts.skus, sku_id));
            }
        }
        for (sku_id, groups) in &inherited {
            if !desired_ids.contains(sku_id) && !direct.contains(sku_id) {
                let sku = sku_choice_by_id(&facts.skus, sku_id);
                decision.warnings.push(format!(
                    "license {sku} of {name} stays: it comes from group {}, not a direct assignment; remove the account from that group to take it away",
                    groups.iter().map(|g| group_label(group_names, g)).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    for license in wanted_add {
        let (mut check, sku) = license_check(&facts.skus, license, true, "");
        if let Some(sku) = sku {
            if direct.contains(&sku.sku_id) {
                check = Check::pass(
                    "license",
                    format!("license {sku} is already assigned to {name}"),
                );
                decision
                    .unchanged
                    .push(format!("license {sku} already assigned"));
            } else if !decision.add_licenses.contains(&sku) {
                decision.add_licenses.push(sku);
            }
        }
        decision.checks.push(check);
    }
    for license in &job.remove_licenses {
        let Some(sku) = find_sku(&facts.skus, license) else {
            decision.checks.push(Check::fail(
                "license",
                format!(
                    "license {license} is not subscribed in this tenant, so {name} cannot hold it"
                ),
            ));
            continue;
        };
        let sku = choice(sku);
        let groups = inherited.get(&sku.sku_id);
        if direct.contains(&sku.sku_id) {
            wanted_remove.push(sku.clone());
            let mut message = format!("license {sku} is assigned directly to {name}");
            if let Some(groups) = groups {
                message.push_str(&format!(
                    "; it stays assigned through group {}",
                    groups
                        .iter()
                        .map(|g| group_label(group_names, g))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            decision.checks.push(Check::pass("license", message));
        } else if let Some(groups) = groups {
            decision.checks.push(Check::fail(
                "license",
                format!(
                    "license {sku} of {name} comes from group {} and cannot be removed directly; remove the account from that group (or the license from the group)",
                    groups.iter().map(|g| group_label(group_names, g)).collect::<Vec<_>>().join(", ")
                ),
            ));
        } else {
            decision.checks.push(Check::pass(
                "license",
                format!("license {sku} is not assigned to {name}"),
            ));
            decision
                .unchanged
                .push(format!("license {sku} not assigned"));
        }
    }
    for sku in wanted_remove {
        if !decision.remove_licenses.contains(&sku) {
            decision.remove_licenses.push(sku);
        }
    }
    if !decision.add_licenses.is_empty() && account.usage_location.is_none() {
        decision.checks.push(Check::fail(
            "usage_location",
            format!("account {name} has no usage location; set one before assigning licenses"),
        ));
    }
}

/// The group rules of a membership job: what to add and remove, and what is unchanged (a
/// membership list cut at Graph's page is never taken as complete).
fn decide_groups(
    decision: &mut MembershipDecision,
    job: &UpdateMembershipsJob,
    facts: &MembershipFacts,
) {
    let member_of: BTreeSet<String> = facts
        .member_of
        .groups
        .iter()
        .map(|group| group.id.to_ascii_lowercase())
        .collect();
    let (group_checks, _) = group_checks(&facts.groups);
    decision.checks.extend(group_checks);
    for (id, group) in &facts.groups {
        let Some(group) = group else { continue };
        if group_refusal(group).is_some() {
            continue;
        }
        let choice = GroupChoice::from(group);
        let is_member = member_of.contains(id.as_str());
        if job.add_groups.contains(id) && job.remove_groups.contains(id) {
            decision.checks.push(Check::fail(
                "group",
                format!("group {choice} is both in add_groups and remove_groups"),
            ));
        } else if job.add_groups.contains(id) {
            if is_member && !facts.member_of.truncated {
                decision
                    .unchanged
                    .push(format!("already a member of {choice}"));
            } else if !decision.add_groups.contains(&choice) {
                decision.add_groups.push(choice);
            }
        } else if !is_member && !facts.member_of.truncated {
            decision.unchanged.push(format!("not a member of {choice}"));
        } else if !decision.remove_groups.contains(&choice) {
            decision.remove_groups.push(choice);
        }
    }
}

/// The warning that the account keeps no license at all after the change, so its mailbox goes.
fn last_license_warning(
    decision: &MembershipDecision,
    account: &User,
    name: &str,
) -> Option<String> {
    let direct = direct_skus(account);
    let inherited = inherited_skus(account);
    let removed_groups: BTreeSet<String> = decision
        .remove_groups
        .iter()
        .map(|group| group.id.to_ascii_lowercase())
        .collect();
    let remaining_direct = direct
        .iter()
        .filter(|sku| !decision.remove_licenses.iter().any(|r| &&r.sku_id == sku))
        .count()
        + decision.add_licenses.len();
    let remaining_inherited = inherited
        .values()
        .flatten()
        .filter(|group| !removed_groups.contains(&group.to_ascii_lowercase()))
        .count();
    let had_licenses = !direct.is_empty() || !inherited.is_empty();
    if !had_licenses || remaining_direct > 0 || remaining_inherited > 0 {
        return None;
    }
    let mail = account.mail.as_deref().filter(|mail| !mail.is_empty())?;
    Some(format!(
        "{name} loses its last license; its mailbox {mail} will be deprovisioned (Exchange Online keeps it for 30 days)"
    ))
}

fn sku_choice_by_id(skus: &[SubscribedSku], sku_id: &str) -> SkuChoice {
    find_sku_by_id(skus, sku_id)
        .map(choice)
        .unwrap_or_else(|| SkuChoice {
            sku_id: sku_id.to_owned(),
            part_number: sku_id.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use graph::{LicenseAssignmentState, LicenseUnitsDetail};
    use lifecycle::model::{ConnectionMode, ConnectionStatus, PasswordSource, TenantAuth};
    use lifecycle::{DomainName, OrgId, TenantId};

    const E3: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
    const GROUP: &str = "0b9f1c2e-0000-4000-8000-000000000001";

    fn tenant() -> TenantConnection {
        TenantConnection {
            tenant_id: TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap(),
            org_id: OrgId::parse("acme").unwrap(),
            display_name: "Contoso".into(),
            verified_domains: vec![DomainName::parse("contoso.com").unwrap()],
            mode: ConnectionMode::ReadWrite,
            auth: TenantAuth::Consent,
            status: ConnectionStatus::Connected,
            consented_at: Utc::now(),
            last_sync: None,
            next_sync_due: None,
            sync_interval_minutes: 60,
            options: Default::default(),
            has_p1: None,
            generation: None,
        }
    }

    fn onboard(upn: &str) -> OnboardJob {
        serde_json::from_value(serde_json::json!({
            "given_name": "A", "surname": "B", "display_name": "A B", "mail_nickname": "ab",
            "user_principal_name": upn, "usage_location": "US",
            "password": {"source": "generate"}
        }))
        .unwrap()
    }

    fn e3(enabled: i64, consumed: i64) -> SubscribedSku {
        SubscribedSku {
            sku_id: E3.into(),
            sku_part_number: Some("SPE_E3".into()),
            consumed_units: Some(consumed),
            prepaid_units: Some(LicenseUnitsDetail {
                enabled: Some(enabled),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn group(types: &[&str], mail: bool, security: bool, on_prem: bool) -> Group {
        Group {
            id: GROUP.into(),
            display_name: Some("Sales".into()),
            mail_enabled: Some(mail),
            security_enabled: Some(security),
            group_types: types.iter().map(|t| (*t).to_owned()).collect(),
            on_premises_sync_enabled: Some(on_prem),
            ..Group::default()
        }
    }

    #[test]
    fn given_domains_graph_would_not_list_when_validated_then_the_stored_verified_domains_decide() {
        let facts = OnboardFacts {
            verified_domains: None,
            ..OnboardFacts::default()
        };
        let pass = Check::pass("password", "ok");
        let ok = decide_onboard(&onboard("a@contoso.com"), &tenant(), &facts, pass.clone());
        assert!(ok.passed(), "{:?}", ok.checks);
        let refused = decide_onboard(&onboard("a@fabrikam.com"), &tenant(), &facts, pass);
        let message = failures(&refused.checks).unwrap();
        assert!(message.contains("(verified: contoso.com)"), "{message}");
        assert!(matches!(
            onboard("a@contoso.com").password,
            PasswordSource::Generate
        ));
    }

    #[test]
    fn given_groups_graph_cannot_change_when_validated_then_each_says_why() {
        let cases = [
            (group(&[], true, false, false), "is a distribution list"),
            (
                group(&[], true, true, false),
                "is a mail-enabled security group",
            ),
            (
                group(&[], false, true, true),
                "is synced from on-premises Active Directory",
            ),
            (
                group(&["DynamicMembership"], false, true, false),
                "has dynamic membership",
            ),
        ];
        for (group, reason) in cases {
            let facts = OnboardFacts {
                verified_domains: Some(vec!["contoso.com".into()]),
                groups: vec![(GroupId::parse(GROUP).unwrap(), Some(group))],
                ..OnboardFacts::default()
            };
            let decision = decide_onboard(
                &onboard("a@contoso.com"),
                &tenant(),
                &facts,
                Check::pass("password", "ok"),
            );
            let message = failures(&decision.checks).unwrap_or_default();
            assert!(
                message.contains(&format!("group Sales ({GROUP}) {reason}")),
                "{message}"
            );
            assert!(decision.groups.is_empty());
        }
    }

    #[test]
    fn given_a_group_license_outside_the_desired_set_when_set_then_it_is_a_warning_not_a_removal() {
        let job: UpdateMembershipsJob = serde_json::from_value(serde_json::json!({
            "account": "a@contoso.com", "set_licenses": []
        }))
        .unwrap();
        let account = User {
            id: "u1".into(),
            user_principal_name: Some("a@contoso.com".into()),
            license_assignment_states: vec![LicenseAssignmentState {
                sku_id: Some(E3.into()),
                assigned_by_group: Some(GROUP.into()),
                ..Default::default()
            }],
            ..User::default()
        };
        let facts = MembershipFacts {
            account: Some(account),
            skus: vec![e3(10, 10)],
            ..MembershipFacts::default()
        };
        let names = HashMap::from([(GROUP.to_owned(), "Sales".to_owned())]);
        let decision = decide_memberships(&job, &tenant(), &facts, &names);
        assert!(decision.passed(), "{:?}", decision.checks);
        assert!(decision.remove_licenses.is_empty());
        assert!(
            decision.warnings[0].contains("comes from group Sales"),
            "{:?}",
            decision.warnings
        );
        assert!(decision.plan().is_empty());
    }
}
