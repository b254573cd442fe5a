//! The pre-flight of an offboarding: what a person should know before the account goes, read from
//! Graph in one `$batch` (manager, direct reports, owned groups, directory roles) plus one for the
//! owners of the owned groups: groups where the account is the only owner, direct reports, admin
//! roles held, whether it is synced from on-premises (a block here is overwritten by the next
//! directory sync), and licenses that only leave with a group. Recorded as the `preflight` step of
//! the dry run and of every real run; it never blocks the offboarding.

use std::collections::HashMap;

use graph::{BatchRequest, GraphError, Method, TenantGraph};
use serde::Deserialize;

use crate::account::{AccountState, Removal};
use graph::encode_segment;

/// Graph's largest page for these lists.
const PAGE: u32 = 999;

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

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Object>,
}

#[derive(Deserialize)]
struct Object {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    id: String,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(rename = "userPrincipalName", default)]
    user_principal_name: Option<String>,
}

impl Object {
    fn person(&self) -> String {
        match (&self.display_name, &self.user_principal_name) {
            (Some(name), Some(upn)) => format!("{name} <{upn}>"),
            (None, Some(upn)) => upn.clone(),
            (Some(name), None) => name.clone(),
            (None, None) => self.id.clone(),
        }
    }

    fn name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// Reads the pre-flight of the account `id`. A read Graph refuses for good is named in `unread`;
/// a transient failure is returned (the delivery is retried).
pub async fn read(graph: &TenantGraph, id: &str) -> Result<Preflight, GraphError> {
    let key = encode_segment(id);
    let person = "id,displayName,userPrincipalName";
    let requests = vec![
        BatchRequest::new(
            "manager",
            Method::GET,
            format!("/users/{key}/manager?$select={person}"),
        ),
        BatchRequest::new(
            "directReports",
            Method::GET,
            format!("/users/{key}/directReports?$select={person}&$top={PAGE}"),
        ),
        BatchRequest::new(
            "ownedObjects",
            Method::GET,
            format!("/users/{key}/ownedObjects?$select=id,displayName&$top={PAGE}"),
        ),
        BatchRequest::new(
            "roles",
            Method::GET,
            format!(
                "/users/{key}/memberOf/microsoft.graph.directoryRole?$select=id,displayName,roleTemplateId&$top={PAGE}"
            ),
        ),
    ];
    let mut found = Preflight::default();
    let mut owned = Vec::new();
    for outcome in graph.batch(requests).await? {
        let response = match outcome.result {
            Ok(response) => response,
            Err(error) if outcome.id == "manager" && error.is_not_found() => continue,
            Err(error) if error.is_retryable() => return Err(error),
            Err(error) => {
                found.unread.push(format!("{}: {error}", outcome.id));
                continue;
            }
        };
        found.request_ids.extend(response.request_id.clone());
        match outcome.id.as_str() {
            "manager" => found.manager = Some(response.json::<Object>()?.person()),
            "directReports" => {
                found.direct_reports = response
                    .json::<Page>()?
                    .value
                    .iter()
                    .map(Object::person)
                    .collect();
            }
            "ownedObjects" => {
                owned = response
                    .json::<Page>()?
                    .value
                    .into_iter()
                    .filter(|o| o.odata_type.as_deref() == Some("#microsoft.graph.group"))
                    .collect();
            }
            _ => {
                found.admin_roles = response
                    .json::<Page>()?
                    .value
                    .iter()
                    .map(Object::name)
                    .collect();
            }
        }
    }
    if owned.is_empty() {
        return Ok(found);
    }
    let requests = owned
        .iter()
        .enumerate()
        .map(|(n, group)| {
            BatchRequest::new(
                n.to_string(),
                Method::GET,
                format!(
                    "/groups/{}/owners?$select=id&$top={PAGE}",
                    encode_segment(&group.id)
                ),
            )
        })
        .collect();
    for (group, outcome) in owned.iter().zip(graph.batch(requests).await?) {
        match outcome.result {
            Ok(response) => {
                found.request_ids.extend(response.request_id.clone());
                let owners = response.json::<Page>()?.value;
                if owners.iter().all(|o| o.id.eq_ignore_ascii_case(id)) {
                    found.sole_owner_of.push(group.name());
                }
            }
            Err(error) if error.is_retryable() => return Err(error),
            Err(error) => found
                .unread
                .push(format!("owners of {}: {error}", group.name())),
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
