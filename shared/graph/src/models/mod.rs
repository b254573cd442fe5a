//! Typed Graph resources: exactly the properties the product reads, named as in the v1.0 CSDL,
//! each with the `$select` list that asks for them. Unknown properties are ignored; missing or
//! `null` optional ones become `None` (or an empty list), so a new Graph field never breaks a sync.

mod directory;
mod group;
mod license;
pub(crate) mod report;
mod user;

pub use directory::{
    DelegatedAdminCustomer, DeletedUser, DirectoryObject, DirectoryObjectRef, Domain, Organization,
    VerifiedDomain,
};
pub use group::{Group, GroupKind};
pub use license::{
    AssignedLicense, LicenseAssignmentState, LicenseDetails, LicenseUnitsDetail, ServicePlanInfo,
    SubscribedSku,
};
pub use report::{MailboxUsagePeriod, MailboxUsageReport, MailboxUsageRow};
pub use user::{SignInActivity, User};

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// A collection property that Graph may send as `null`: read as an empty list.
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The `@odata.type` values of directory objects; these are shared, not allocated per member.
const KNOWN_ODATA_TYPES: [&str; 6] = [
    "#microsoft.graph.user",
    "#microsoft.graph.group",
    "#microsoft.graph.device",
    "#microsoft.graph.servicePrincipal",
    "#microsoft.graph.orgContact",
    "#microsoft.graph.application",
];

/// An `@odata.type`, borrowed from [`KNOWN_ODATA_TYPES`] when it is one of them.
pub(crate) fn odata_type<'de, D>(deserializer: D) -> Result<Option<Cow<'static, str>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct OdataType;
    impl<'de> Visitor<'de> for OdataType {
        type Value = Option<Cow<'static, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an @odata.type string")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(self)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(
                match KNOWN_ODATA_TYPES.iter().find(|known| **known == v) {
                    Some(known) => Cow::Borrowed(*known),
                    None => Cow::Owned(v.to_owned()),
                },
            ))
        }
    }
    deserializer.deserialize_option(OdataType)
}

/// An `Edm.DateTimeOffset` (RFC 3339). Graph's own form, `2026-01-02T03:04:05Z` with an optional
/// fraction, is read directly (a sync reads one per account); any other offset goes through chrono.
pub(crate) fn date_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Timestamp;
    impl<'de> Visitor<'de> for Timestamp {
        type Value = Option<DateTime<Utc>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 date and time")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(self)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match utc_timestamp(v) {
                Some(t) => Ok(Some(t)),
                None => DateTime::parse_from_rfc3339(v)
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|e| E::custom(format!("invalid date and time {v:?}: {e}"))),
            }
        }
    }
    deserializer.deserialize_option(Timestamp)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, or `None` for any other shape.
fn utc_timestamp(v: &str) -> Option<DateTime<Utc>> {
    let b = v.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &b[19..];
    let (nanos, rest) = match rest.split_first() {
        Some((b'.', fraction)) => {
            let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let value = num(20..20 + digits)?;
            (value * 10u32.pow(9 - digits as u32), &fraction[digits..])
        }
        _ => (0, rest),
    };
    if rest != b"Z" {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    Some(DateTime::from_naive_utc_and_offset(time, Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_graph_timestamps_when_read_then_fast_path_and_chrono_agree() {
        for v in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.1234567Z",
            "0001-01-01T00:00:00Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .ok();
            assert_eq!(utc_timestamp(v), chrono, "{v}");
        }
        assert_eq!(utc_timestamp("2026-01-02T03:04:05+01:00"), None);
        assert_eq!(utc_timestamp("2026-13-02T03:04:05Z"), None);
        let json = r#"{"id":"u","createdDateTime":"2026-01-02T03:04:05+01:00"}"#;
        let user: Result<User, _> = serde_json::from_str(json);
        assert_eq!(
            user.ok()
                .and_then(|u| u.created_date_time)
                .map(|t| t.to_rfc3339()),
            Some("2026-01-02T02:04:05+00:00".to_owned())
        );
        let bad: Result<User, _> =
            serde_json::from_str(r#"{"id":"u","createdDateTime":"yesterday"}"#);
        assert!(bad.is_err());
    }
}
