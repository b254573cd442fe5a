//! The pre-flight of an offboarding: what a person should know before the account goes, read from
//! Graph in one `$batch` (manager, direct reports, owned groups, directory roles) plus one for the
//! owners of the owned groups: groups where the account is the only owner, direct reports, admin
//! roles held, whether it is synced from on-premises (a block here is overwritten by the next
//! directory sync), and licenses that only leave with a group. Recorded as the `preflight` step of
//! the dry run and of every real run; it never blocks the offboarding.

use std::collections::HashMap;

use graph::{BatchRequest, BatchResponse, DirectoryObject, GraphError, TenantGraph};

use crate::account::{AccountState, Removal};

/// The steps of the first `$batch`.
const MANAGER: &str = "manager";
const DIRECT_REPORTS: &str = "directReports";
const OWNED_OBJECTS: &str = "ownedObjects";
const ROLES: &str = "roles";

/// What the pre-flight found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preflight {
    /// "Name <upn>" of the manager.
    pub manager: Option<String>,
    pub direct_reports: Vec<String>,
    /// Groups the account owns with no other owner.
    pub sole_owner_of: Vec<String>,
    /// Display names of the directory roles held.
    pub admin_roles: Vec<String>,
    /// Reads Graph refused (a missing permission), named with the reason.
    pub unread: Vec<String>,
    /// Graph request-ids of the reads.
    pub request_ids: Vec<String>,
}

impl Preflight {
    /// A step's answer, its request-id kept; `None` when Graph refused the read for good (named
    /// in `unread` as `what`). A transient failure is returned.
    fn answer(
        &mut self,
        answer: Result<BatchResponse, GraphError>,
        what: &str,
    ) -> Result<Option<BatchResponse>, GraphError> {
        match answer {
            Ok(response) => {
                self.request_ids.extend(response.request_id.clone());
                Ok(Some(response))
            }
            Err(error) if error.is_retryable() => Err(error),
            Err(error) => {
                self.unread.push(format!("{what}: {error}"));
                Ok(None)
            }
        }
    }
}

/// "Name <upn>", or whichever of the two Graph gave, or the id.
fn person(object: &DirectoryObject) -> String {
    match (&object.display_name, &object.user_principal_name) {
        (Some(name), Some(upn)) => format!("{name} <{upn}>"),
        (None, Some(upn)) => upn.clone(),
        (Some(name), None) => name.clone(),
        (None, None) => object.id.clone(),
    }
}

/// The display name, or the id.
fn name(object: &DirectoryObject) -> String {
    object
        .display_name
        .clone()
        .unwrap_or_else(|| object.id.clone())
}

/// Reads the pre-flight of the account `id`. A read Graph refuses for good is named in `unread`;
/// a transient failure is returned (the delivery is retried).
pub async fn read(graph: &TenantGraph, id: &str) -> Result<Preflight, GraphError> {
    let mut answers = graph
        .look_up(vec![
            BatchRequest::get_manager(MANAGER, id, DirectoryObject::SELECT_PERSON),
            BatchRequest::list_direct_reports(DIRECT_REPORTS, id),
            BatchRequest::list_owned_objects(OWNED_OBJECTS, id),
            BatchRequest::list_directory_roles(ROLES, id),
        ])
        .await?;
    let mut found = Preflight::default();
    match answers.take(MANAGER) {
        // No manager is an answer, not a refusal.
        Err(error) if error.is_not_found() => {}
        manager => {
            if let Some(response) = found.answer(manager, MANAGER)? {
                found.manager = Some(person(&response.json()?));
            }
        }
    }
    if let Some(response) = found.answer(answers.take(DIRECT_REPORTS), DIRECT_REPORTS)? {
        found.direct_reports = response
            .items::<DirectoryObject>()?
            .iter()
            .map(person)
            .collect();
    }
    let mut owned = Vec::new();
    if let Some(response) = found.answer(answers.take(OWNED_OBJECTS), OWNED_OBJECTS)? {
        owned = response.items::<DirectoryObject>()?;
        owned.retain(DirectoryObject::is_group);
    }
    if let Some(response) = found.answer(answers.take(ROLES), ROLES)? {
        found.admin_roles = response
            .items::<DirectoryObject>()?
            .iter()
            .map(name)
            .collect();
    }
    if owned.is_empty() {
        return Ok(found);
    }
    let steps = owned
        .iter()
        .enumerate()
        .map(|(n, group)| BatchRequest::list_group_owners(n.to_string(), &group.id))
        .collect();
    let mut answers = graph.look_up(steps).await?;
    for (n, group) in owned.iter().enumerate() {
        let what = format!("owners of {}", name(group));
        if let Some(response) = found.answer(answers.take(&n.to_string()), &what)? {
            let owners = response.items::<DirectoryObject>()?;
            if owners.iter().all(|o| o.id.eq_ignore_ascii_case(id)) {
                found.sole_owner_of.push(name(group));
            }
        }
    }
    found.request_ids.dedup();
    Ok(found)
}

/// The `preflight` step's detail: one clause per topic, each saying what to do.
pub fn summary(
    preflight: &Preflight,
    state: &AccountState,
    part_numbers: &HashMap<String, String>,
) -> String {
    let mut clauses = vec![format!(
        "pre-flight for {}: manager {}",
        state.upn,
        preflight.manager.as_deref().unwrap_or("none")
    )];
    clauses.push(if preflight.direct_reports.is_empty() {
        "no direct reports".to_owned()
    } else {
        format!(
            "{} direct report(s): {} (give them a new manager)",
            preflight.direct_reports.len(),
            preflight.direct_reports.join(", ")
        )
    });
    clauses.push(if preflight.sole_owner_of.is_empty() {
        "not the only owner of any group".to_owned()
    } else {
        format!(
            "only owner of {} group(s): {} (add another owner first, or the group is left without one)",
            preflight.sole_owner_of.len(),
            preflight.sole_owner_of.join(", ")
        )
    });
    clauses.push(if preflight.admin_roles.is_empty() {
        "no admin role".to_owned()
    } else {
        format!(
            "admin role(s) held: {} (check another admin holds them; blocking sign-in does not remove the role assignment)",
            preflight.admin_roles.join(", ")
        )
    });
    clauses.push(if state.on_premises_synced {
        "synced from on-premises Active Directory: a block here is overwritten by the next directory sync, so disable the account in Active Directory (or move it out of the synced scope) as well".to_owned()
    } else {
        "cloud-only account (not synced from on-premises)".to_owned()
    });
    let name_of = |sku: &str| {
        part_numbers
            .get(&sku.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| sku.to_owned())
    };
    for (sku, group_id) in &state.inherited_licenses {
        let group = state.groups.iter().find(|g| &g.id == group_id);
        let name = group.map_or(group_id.as_str(), |g| g.display_name.as_str());
        let how = match group.map(|g| g.removal) {
            Some(Removal::Removable) => "it leaves when the account leaves the group".to_owned(),
            Some(removal) => format!(
                "it stays while the account is in the group ({})",
                removal.reason().unwrap_or_default()
            ),
            None => "it stays while the account is in the group".to_owned(),
        };
        clauses.push(format!(
            "license {} only leaves with group {name}: {how}",
            name_of(sku)
        ));
    }
    for unread in &preflight.unread {
        clauses.push(format!("not read: {unread}"));
    }
    clauses.join("; ")
}
