//! What a job may carry, checked when the job is parsed — the same check for a job sent to
//! `POST /tenants/{id}/jobs` and for one put on a queue by another service — so that a value
//! Microsoft Graph or AWS would refuse later is refused at the edge, with the field named.
//!
//! The lengths are Microsoft Graph's documented limits on the `user` properties a job sets
//! (learn.microsoft.com/graph/api/resources/user: displayName 256, givenName 64, surname 64,
//! mailNickname 64, jobTitle 128, department 64, officeLocation 128, employeeId 16; the user principal name's 113 and 64 are
//! checked by [`crate::Upn`]). The list caps are this bundle's: they keep one job within one
//! function invocation and its record far below DynamoDB's 400 KB item limit.

use std::ops::RangeInclusive;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::ids::GroupId;
use crate::model::LicenseRef;

/// `displayName`: at most 256 characters.
pub const DISPLAY_NAME_MAX: usize = 256;
/// `givenName`: at most 64 characters.
pub const GIVEN_NAME_MAX: usize = 64;
/// `surname`: at most 64 characters.
pub const SURNAME_MAX: usize = 64;
/// `mailNickname`: at most 64 characters.
pub const MAIL_NICKNAME_MAX: usize = 64;
/// `jobTitle`: at most 128 characters.
pub const JOB_TITLE_MAX: usize = 128;
/// `department`: at most 64 characters.
pub const DEPARTMENT_MAX: usize = 64;
/// `officeLocation`: at most 128 characters.
pub const OFFICE_LOCATION_MAX: usize = 128;
/// `employeeId`: at most 16 characters.
pub const EMPLOYEE_ID_MAX: usize = 16;
/// `onPremisesImmutableId`: Graph documents no figure; a base64 GUID is 24 characters, and 256
/// keeps a pasted document out of the job.
pub const IMMUTABLE_ID_MAX: usize = 256;
/// A group's `description`: at most 1,024 characters.
pub const GROUP_DESCRIPTION_MAX: usize = 1_024;
/// Owners of a new group: Graph binds at most 20 owners and members in one POST /groups.
pub const MAX_GROUP_OWNERS: usize = 20;
/// The wanted members of one `set_group_members` job: 50 `$batch` requests of 20 at most.
pub const MAX_GROUP_MEMBERS: usize = 1_000;
/// A Secrets Manager secret name: at most 512 characters (AWS's limit).
pub const SECRET_ID_MAX: usize = 512;
/// Groups one job may add or remove (each list): 5 `$batch` requests of 20.
pub const MAX_GROUPS: usize = 100;
/// Licenses one job may name (each list): far more SKUs than a tenant subscribes.
pub const MAX_LICENSES: usize = 50;
/// Most jobs in one `POST /tenants/{tenant_id}/jobs` list (`{"jobs":[...]}`): far below API
/// Gateway's 10 MB request and Lambda's 6 MB payload, and recorded and queued well within the
/// HTTP API's 30 s.
pub const MAX_JOBS_PER_REQUEST: usize = 100;
/// An automatic reply message: this bundle's cap (Exchange documents none below its 4 MB mailbox
/// setting), which keeps the job record and its queue message small.
pub const REPLY_MESSAGE_MAX: usize = 8_000;
/// `inactive_after_days`: from one day to ten years.
pub const INACTIVE_AFTER_DAYS: RangeInclusive<u32> = 1..=3650;

/// Characters `mailNickname` may not hold (Graph: ASCII 0-127 except these and controls).
const MAIL_NICKNAME_FORBIDDEN: [char; 12] =
    ['@', '(', ')', '\\', '[', ']', '"', ';', ':', '<', '>', ','];

/// Checks a text property: not blank when `required`, at most `max` characters.
fn check_text(
    field: &str,
    graph: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), String> {
    if required && value.trim().is_empty() {
        return Err(format!(
            "{field} is empty; Microsoft Graph needs a {graph} of 1 to {max} characters"
        ));
    }
    let length = value.chars().count();
    if length > max {
        return Err(format!(
            "{field} is {length} characters long; Microsoft Graph accepts a {graph} of at most {max}"
        ));
    }
    Ok(())
}

/// Checks a mail nickname: 1-64 ASCII characters, none of `@ ( ) \ [ ] " ; : < > ,`, no space
/// or control character.
pub fn check_mail_nickname(value: &str) -> Result<(), String> {
    check_text(
        "mail_nickname",
        "mailNickname",
        value,
        MAIL_NICKNAME_MAX,
        true,
    )?;
    if let Some(bad) = value.chars().find(|c| {
        !c.is_ascii() || c.is_ascii_control() || *c == ' ' || MAIL_NICKNAME_FORBIDDEN.contains(c)
    }) {
        return Err(format!(
            "mail_nickname holds {bad:?}; Microsoft Graph accepts ASCII letters, digits and \
             punctuation except @ ( ) \\ [ ] \" ; : < > , and no space"
        ));
    }
    Ok(())
}

fn text<'de, D: Deserializer<'de>>(
    deserializer: D,
    field: &str,
    graph: &str,
    max: usize,
) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    check_text(field, graph, &value, max, true).map_err(D::Error::custom)?;
    Ok(value)
}

fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
    field: &str,
    graph: &str,
    max: usize,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    if let Some(text) = &value {
        check_text(field, graph, text, max, false).map_err(D::Error::custom)?;
    }
    Ok(value)
}

/// A list of at most `max` items; the error names the field, its length and the cap.
fn capped<'de, D, T>(deserializer: D, field: &str, max: usize) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<T>::deserialize(deserializer)?;
    if items.len() > max {
        return Err(D::Error::custom(format!(
            "{field} has {} items; a job takes at most {max}: split the change over several jobs",
            items.len()
        )));
    }
    Ok(items)
}

pub(crate) fn display_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d, "display_name", "displayName", DISPLAY_NAME_MAX)
}

pub(crate) fn given_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d, "given_name", "givenName", GIVEN_NAME_MAX)
}

pub(crate) fn surname<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d, "surname", "surname", SURNAME_MAX)
}

pub(crate) fn mail_nickname<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    check_mail_nickname(&value).map_err(D::Error::custom)?;
    Ok(value)
}

pub(crate) fn job_title<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_text(d, "job_title", "jobTitle", JOB_TITLE_MAX)
}

pub(crate) fn department<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_text(d, "department", "department", DEPARTMENT_MAX)
}

/// A text that, when given, may not be blank (a property Graph cannot clear).
fn optional_required_text<'de, D: Deserializer<'de>>(
    deserializer: D,
    field: &str,
    graph: &str,
    max: usize,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    if let Some(text) = &value {
        check_text(field, graph, text, max, true).map_err(D::Error::custom)?;
    }
    Ok(value)
}

pub(crate) fn optional_display_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    optional_required_text(d, "display_name", "displayName", DISPLAY_NAME_MAX)
}

pub(crate) fn optional_given_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    optional_text(d, "given_name", "givenName", GIVEN_NAME_MAX)
}

pub(crate) fn optional_surname<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    optional_text(d, "surname", "surname", SURNAME_MAX)
}

pub(crate) fn office_location<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_text(d, "office_location", "officeLocation", OFFICE_LOCATION_MAX)
}

pub(crate) fn employee_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_text(d, "employee_id", "employeeId", EMPLOYEE_ID_MAX)
}

pub(crate) fn immutable_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_text(d, "immutable_id", "onPremisesImmutableId", IMMUTABLE_ID_MAX)
}

pub(crate) fn group_description<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    optional_text(d, "description", "description", GROUP_DESCRIPTION_MAX)
}

pub(crate) fn group_owners<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::model::AccountRef>, D::Error> {
    capped(d, "owners", MAX_GROUP_OWNERS)
}

pub(crate) fn group_members<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::model::AccountRef>, D::Error> {
    capped(d, "members", MAX_GROUP_MEMBERS)
}

/// A Temporary Access Pass's lifetime: Graph's bounds, 10 minutes to 30 days.
pub const PASS_LIFETIME_MINUTES: RangeInclusive<u32> = 10..=43_200;

pub(crate) fn default_pass_lifetime() -> u32 {
    60
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn pass_lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let minutes = u32::deserialize(d)?;
    if !PASS_LIFETIME_MINUTES.contains(&minutes) {
        return Err(D::Error::custom(format!(
            "lifetime_minutes is {minutes}; Microsoft Graph accepts a Temporary Access Pass lifetime of {} to {} minutes",
            PASS_LIFETIME_MINUTES.start(),
            PASS_LIFETIME_MINUTES.end()
        )));
    }
    Ok(minutes)
}

/// Checks an automatic reply message: 1 to [`REPLY_MESSAGE_MAX`] characters.
fn check_reply_message(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!(
            "{field} is empty; give the reply's text (1 to {REPLY_MESSAGE_MAX} characters, HTML allowed)"
        ));
    }
    let length = value.chars().count();
    if length > REPLY_MESSAGE_MAX {
        return Err(format!(
            "{field} is {length} characters long; an offboarding takes a reply of at most {REPLY_MESSAGE_MAX}"
        ));
    }
    Ok(())
}

pub(crate) fn internal_message<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    check_reply_message("automatic_reply.internal_message", &value).map_err(D::Error::custom)?;
    Ok(value)
}

pub(crate) fn external_message<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    if let Some(text) = &value {
        check_reply_message("automatic_reply.external_message", text).map_err(D::Error::custom)?;
    }
    Ok(value)
}

pub(crate) fn secret_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    let length = value.chars().count();
    if value.trim().is_empty() || length > SECRET_ID_MAX {
        return Err(D::Error::custom(format!(
            "password.secret_id is {length} characters long; a Secrets Manager secret name has \
             1 to {SECRET_ID_MAX}"
        )));
    }
    Ok(value)
}

pub(crate) fn groups<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<GroupId>, D::Error> {
    capped(d, "groups", MAX_GROUPS)
}

pub(crate) fn add_groups<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<GroupId>, D::Error> {
    capped(d, "add_groups", MAX_GROUPS)
}

pub(crate) fn remove_groups<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<GroupId>, D::Error> {
    capped(d, "remove_groups", MAX_GROUPS)
}

pub(crate) fn licenses<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LicenseRef>, D::Error> {
    capped(d, "licenses", MAX_LICENSES)
}

pub(crate) fn assign_licenses<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<LicenseRef>, D::Error> {
    capped(d, "assign_licenses", MAX_LICENSES)
}

pub(crate) fn remove_licenses<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<LicenseRef>, D::Error> {
    capped(d, "remove_licenses", MAX_LICENSES)
}

pub(crate) fn set_licenses<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<LicenseRef>>, D::Error> {
    #[derive(Deserialize)]
    struct Capped(#[serde(deserialize_with = "set_licenses_list")] Vec<LicenseRef>);
    fn set_licenses_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LicenseRef>, D::Error> {
        capped(d, "set_licenses", MAX_LICENSES)
    }
    Ok(Option::<Capped>::deserialize(d)?.map(|capped| capped.0))
}

pub(crate) fn inactive_after_days<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    let value = Option::<u64>::deserialize(d)?;
    match value {
        Some(days)
            if !(u64::from(*INACTIVE_AFTER_DAYS.start())
                ..=u64::from(*INACTIVE_AFTER_DAYS.end()))
                .contains(&days) =>
        {
            Err(D::Error::custom(format!(
                "inactive_after_days is {days}; expected a whole number of days from {} to {} \
                 (ten years)",
                INACTIVE_AFTER_DAYS.start(),
                INACTIVE_AFTER_DAYS.end()
            )))
        }
        Some(days) => Ok(u32::try_from(days).ok()),
        None => Ok(None),
    }
}

#[cfg(test)]
mod pass_tests {
    use crate::model::{Job, JobKind, PasswordSource};

    fn onboard(password: serde_json::Value) -> Result<Job, String> {
        Job::from_value(serde_json::json!({"job_id": "j-tap",
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "type": "onboard",
            "given_name": "Ada", "surname": "Lovelace", "display_name": "Ada Lovelace",
            "mail_nickname": "ada", "user_principal_name": "ada@contoso.com",
            "usage_location": "GB", "password": password}))
        .map_err(|error| error.reason)
    }

    #[test]
    fn given_temporary_access_pass_lifetimes_when_parsed_then_graphs_bounds_hold_and_defaults_apply()
     {
        // GIVEN lifetimes outside Graph's 10..=43200 minutes, WHEN parsed, THEN refused naming it
        for minutes in [9, 43_201] {
            let reason = onboard(serde_json::json!({"source": "temporary_access_pass",
                "lifetime_minutes": minutes}))
            .unwrap_err();
            assert!(reason.contains("lifetime_minutes is"), "{reason}");
        }
        // AND a pass without terms is one sign-in within 60 minutes, from now
        let job = onboard(serde_json::json!({"source": "temporary_access_pass"})).unwrap();
        let JobKind::Onboard(spec) = &job.kind else {
            panic!("an onboard job")
        };
        assert_eq!(
            spec.password,
            PasswordSource::TemporaryAccessPass {
                lifetime_minutes: 60,
                start_at: None,
                one_time_use: true
            }
        );
    }
}
