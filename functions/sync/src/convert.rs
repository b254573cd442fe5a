//! Graph objects to the platform's records. A delta item may leave out properties that did not
//! change; what it leaves out is kept from the stored record.

use chrono::{NaiveDate, Utc};
use lifecycle::model::{Account, AssignedLicense, Group, LastSignIn, MailboxUsage, Profile};
use lifecycle::{AccountId, GroupId, IdError, SkuId, Upn, UsageLocation};
use thiserror::Error;

/// Why a Graph object could not be recorded (it is skipped and the run is Partial).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("{kind} {id:?} has an unusable {field}: {source}")]
    Field {
        kind: &'static str,
        id: String,
        field: &'static str,
        #[source]
        source: IdError,
    },
    #[error("{kind} {id:?} has no {field}")]
    Missing {
        kind: &'static str,
        id: String,
        field: &'static str,
    },
}

fn field<T>(
    kind: &'static str,
    id: &str,
    name: &'static str,
    parsed: Result<T, IdError>,
) -> Result<T, ConvertError> {
    parsed.map_err(|source| ConvertError::Field {
        kind,
        id: id.to_owned(),
        field: name,
        source,
    })
}

/// The reason recorded when last sign-in cannot be read because the tenant lacks Entra ID P1.
pub const NEEDS_P1: &str = "needs Entra ID P1";
/// The reason recorded when the tenant's sync options skip last sign-in.
pub const SIGN_IN_SKIPPED: &str = "not synced: the tenant's sync options skip last sign-in";
/// The reason recorded for an account the sync stores before the license refresh (the only
/// reader of sign-in activity) has read its last sign-in.
pub const SIGN_IN_NOT_READ: &str = "not read yet: read by the next license refresh";

/// What the account record carries besides the user object itself.
#[derive(Debug, Clone)]
pub struct Extras {
    pub last_sign_in: LastSignIn,
    pub mailbox: Option<MailboxUsage>,
}

/// The account of `user`. `stored` is the record as the platform has it (for a delta item that
/// omits properties, and to keep the known origin of a license when Graph does not say it).
pub fn account(
    user: &graph::User,
    stored: Option<&Account>,
    extras: Extras,
) -> Result<Account, ConvertError> {
    const KIND: &str = "account";
    let id = field(KIND, &user.id, "id", AccountId::parse(&user.id))?;
    let upn = match (&user.user_principal_name, stored) {
        (Some(upn), _) => field(KIND, &user.id, "userPrincipalName", Upn::parse(upn))?,
        (None, Some(stored)) => stored.upn.clone(),
        (None, None) => {
            return Err(ConvertError::Missing {
                kind: KIND,
                id: user.id.clone(),
                field: "userPrincipalName",
            });
        }
    };
    let usage_location = match &user.usage_location {
        Some(code) if !code.trim().is_empty() => Some(field(
            KIND,
            &user.id,
            "usageLocation",
            UsageLocation::parse(code),
        )?),
        Some(_) => None,
        None => stored.and_then(|s| s.usage_location),
    };
    Ok(Account {
        id,
        upn,
        display_name: user
            .display_name
            .clone()
            .or_else(|| stored.map(|s| s.display_name.clone()))
            .unwrap_or_default(),
        enabled: user
            .account_enabled
            .or(stored.map(|s| s.enabled))
            .unwrap_or(true),
        usage_location,
        user_type: user
            .user_type
            .clone()
            .or_else(|| stored.map(|s| s.user_type.clone()))
            .unwrap_or_else(|| "Member".to_owned()),
        on_premises_synced: user
            .on_premises_sync_enabled
            .or(stored.map(|s| s.on_premises_synced))
            .unwrap_or(false),
        licenses: licenses(user, stored),
        last_sign_in: extras.last_sign_in,
        mailbox: extras.mailbox,
        deleted: false,
        profile: profile(user, stored),
    })
}

/// Job, department, office, employee id and mail addresses. A delta item may carry only what
/// changed, so what it leaves out is kept from the stored record (a property cleared in the
/// tenant is cleared by the next full round, or at once by a mover job's read-back).
fn profile(user: &graph::User, stored: Option<&Account>) -> Profile {
    let kept = stored.map(|s| &s.profile);
    let text = |value: &Option<String>, old: Option<&Option<String>>| {
        value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| old.cloned().flatten())
    };
    Profile {
        job_title: text(&user.job_title, kept.map(|p| &p.job_title)),
        department: text(&user.department, kept.map(|p| &p.department)),
        office_location: text(&user.office_location, kept.map(|p| &p.office_location)),
        employee_id: text(&user.employee_id, kept.map(|p| &p.employee_id)),
        mail: text(&user.mail, kept.map(|p| &p.mail)),
        proxy_addresses: if user.proxy_addresses.is_empty() {
            kept.map(|p| p.proxy_addresses.clone()).unwrap_or_default()
        } else {
            user.proxy_addresses.clone()
        },
    }
}

/// Direct and group-inherited licenses: from `licenseAssignmentStates` when Graph sent them
/// (`assignedByGroup` names the group), else from `assignedLicenses`, keeping the origin the
/// stored record knows for a SKU (a new SKU counts as direct until Graph says otherwise).
fn licenses(user: &graph::User, stored: Option<&Account>) -> Vec<AssignedLicense> {
    let mut out: Vec<AssignedLicense> = Vec::new();
    let mut push = |license: AssignedLicense| {
        if !out.contains(&license) {
            out.push(license);
        }
    };
    if !user.license_assignment_states.is_empty() {
        for state in &user.license_assignment_states {
            let failed = state.state.as_deref().is_some_and(|s| {
                s.eq_ignore_ascii_case("Error") || s.eq_ignore_ascii_case("Disabled")
            });
            let Some(Ok(sku_id)) = state.sku_id.as_deref().map(SkuId::parse) else {
                continue;
            };
            if failed {
                continue;
            }
            let assigned_by_group = state
                .assigned_by_group
                .as_deref()
                .filter(|g| !g.is_empty())
                .and_then(|g| GroupId::parse(g).ok());
            push(AssignedLicense {
                sku_id,
                assigned_by_group,
            });
        }
        return out;
    }
    for assigned in &user.assigned_licenses {
        let Ok(sku_id) = SkuId::parse(&assigned.sku_id) else {
            continue;
        };
        let known: Vec<&AssignedLicense> = stored
            .map(|s| s.licenses.iter().filter(|l| l.sku_id == sku_id).collect())
            .unwrap_or_default();
        if known.is_empty() {
            push(AssignedLicense {
                sku_id,
                assigned_by_group: None,
            });
        } else {
            for license in known {
                push(license.clone());
            }
        }
    }
    out
}

/// The group of a Graph group; `stored` fills what a delta item omitted ([`Group::from_graph`],
/// shared with the group provisioning jobs).
pub fn group(graph_group: &graph::Group, stored: Option<&Group>) -> Result<Group, ConvertError> {
    field(
        "group",
        &graph_group.id,
        "id",
        Group::from_graph(graph_group, stored),
    )
}

/// The last sign-in of an account from its sign-in activity.
pub fn last_sign_in(activity: Option<&graph::SignInActivity>) -> LastSignIn {
    match activity.and_then(graph::SignInActivity::last_activity) {
        Some(at) => LastSignIn::At { at },
        None => LastSignIn::Never,
    }
}

/// Mailbox usage from one report row.
pub fn mailbox(row: &graph::MailboxUsageRow) -> MailboxUsage {
    MailboxUsage {
        storage_used_bytes: row.storage_used_bytes.unwrap_or(0),
        item_count: row.item_count,
        last_activity: row.last_activity_date,
        report_date: row
            .report_refresh_date
            .unwrap_or_else(|| Utc::now().date_naive()),
    }
}

/// A not-available sign-in with `reason`.
pub fn not_available(reason: &str) -> LastSignIn {
    LastSignIn::NotAvailable {
        reason: reason.to_owned(),
    }
}

/// Epoch day of a date, to keep mailbox figures compactly in a map.
pub fn epoch_day(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "0b9f1c2e-0000-4000-8000-000000000001";
    const GROUP: &str = "0b9f1c2e-0000-4000-9000-000000000001";
    const SKU: &str = "c7df2760-2c81-4ef7-b578-5b5392b571df";

    fn user() -> graph::User {
        graph::User {
            id: USER.into(),
            display_name: Some("Ada".into()),
            user_principal_name: Some("ada@contoso.com".into()),
            account_enabled: Some(true),
            usage_location: Some("GB".into()),
            user_type: Some("Member".into()),
            assigned_licenses: vec![graph::AssignedLicense::sku(SKU)],
            ..graph::User::default()
        }
    }

    fn extras() -> Extras {
        Extras {
            last_sign_in: LastSignIn::Never,
            mailbox: None,
        }
    }

    #[test]
    fn given_license_states_when_converted_then_an_inherited_license_names_its_group() {
        let mut user = user();
        user.license_assignment_states = vec![graph::LicenseAssignmentState {
            sku_id: Some(SKU.into()),
            assigned_by_group: Some(GROUP.into()),
            state: Some("Active".into()),
            ..Default::default()
        }];
        let account = account(&user, None, extras()).unwrap();
        assert_eq!(account.licenses.len(), 1);
        assert_eq!(
            account.licenses[0]
                .assigned_by_group
                .as_ref()
                .map(GroupId::as_str),
            Some(GROUP)
        );
    }

    #[test]
    fn given_a_delta_item_without_a_name_when_converted_then_the_stored_name_is_kept() {
        let stored = account(&user(), None, extras()).unwrap();
        let mut partial = user();
        partial.display_name = None;
        partial.user_principal_name = None;
        let merged = account(&partial, Some(&stored), extras()).unwrap();
        assert_eq!(merged.display_name, "Ada");
        assert_eq!(merged.upn.as_str(), "ada@contoso.com");
    }

    #[test]
    fn given_a_user_with_a_bad_upn_when_converted_then_the_error_names_the_field() {
        let mut bad = user();
        bad.user_principal_name = Some("not a upn".into());
        let error = account(&bad, None, extras()).unwrap_err().to_string();
        assert!(error.contains("userPrincipalName"), "{error}");
    }
}
