//! Identifiers and codes as parse-don't-validate newtypes.
//!
//! Each type is built only through `parse` (or `FromStr`, or serde, which go through `parse`), so
//! a value that reaches a handler, the store or Graph is known to be well formed. Each parse error
//! says what the value is, what is wrong with it and what is expected. Surrounding whitespace is
//! trimmed before checking; GUIDs, domain names and UPNs compare case-insensitively, as Entra ID
//! does.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::countries;

/// Longest input echoed back in an error, so a pasted document does not end up in a log line.
const ECHO_LIMIT: usize = 120;

/// Why a value is not a valid identifier or code: the kind of value, the value (shortened), what
/// is wrong and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} {value:?}: {reason}")]
#[non_exhaustive]
pub struct IdError {
    /// What the value was meant to be, e.g. `tenant id`.
    pub kind: &'static str,
    /// The value as given (cut at 120 characters).
    pub value: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl IdError {
    fn new(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        let value = if value.chars().count() > ECHO_LIMIT {
            let cut: String = value.chars().take(ECHO_LIMIT).collect();
            format!("{cut}…")
        } else {
            value.to_owned()
        };
        Self {
            kind,
            value,
            reason: reason.into(),
        }
    }
}

/// Checks the canonical GUID form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits, any case)
/// and returns it lowercase.
fn parse_guid(kind: &'static str, input: &str) -> Result<String, IdError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(IdError::new(
            kind,
            input,
            "it is empty; expected a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47",
        ));
    }
    let groups: Vec<&str> = value.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return Err(IdError::new(
            kind,
            input,
            "expected a GUID of 32 hex digits in groups 8-4-4-4-12, \
             such as 72f988bf-86f1-41af-91ab-2d7cd011db47",
        ));
    }
    if let Some(bad) = value.chars().find(|c| *c != '-' && !c.is_ascii_hexdigit()) {
        return Err(IdError::new(
            kind,
            input,
            format!("{bad:?} is not a hex digit; a GUID holds only 0-9, a-f and hyphens"),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// Checks `1..=max` characters drawn from ASCII letters, digits and `extra`.
fn parse_token(
    kind: &'static str,
    input: &str,
    max: usize,
    extra: &[char],
    expected: &str,
) -> Result<String, IdError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(IdError::new(
            kind,
            input,
            format!("it is empty; expected {expected}"),
        ));
    }
    if value.len() > max {
        return Err(IdError::new(
            kind,
            input,
            format!(
                "it is {} characters long; expected at most {max}",
                value.len()
            ),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(c)))
    {
        return Err(IdError::new(
            kind,
            input,
            format!("{bad:?} is not allowed; expected {expected}"),
        ));
    }
    Ok(value.to_owned())
}

/// Checks a DNS name: labels of 1-63 letters, digits or hyphens (not at either end), at least two
/// labels, at most 253 characters, a top-level label that is not all digits.
fn check_dns_name(kind: &'static str, input: &str, name: &str) -> Result<(), IdError> {
    if name.is_empty() {
        return Err(IdError::new(
            kind,
            input,
            "the domain is empty; expected a DNS name such as contoso.com",
        ));
    }
    if name.len() > 253 {
        return Err(IdError::new(
            kind,
            input,
            format!(
                "the domain is {} characters long; a DNS name has at most 253",
                name.len()
            ),
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(IdError::new(
            kind,
            input,
            format!("the domain {name:?} has no dot; expected a DNS name such as contoso.com"),
        ));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(IdError::new(
                kind,
                input,
                format!(
                    "the domain {name:?} has an empty label (a leading, trailing or double dot)"
                ),
            ));
        }
        if label.len() > 63 {
            return Err(IdError::new(
                kind,
                input,
                format!("the domain label {label:?} is longer than 63 characters"),
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(IdError::new(
                kind,
                input,
                format!(
                    "{bad:?} is not allowed in a domain; expected letters, digits, hyphens and dots"
                ),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(IdError::new(
                kind,
                input,
                format!("the domain label {label:?} starts or ends with a hyphen"),
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(IdError::new(
            kind,
            input,
            format!(
                "the domain {name:?} ends in a numeric label; expected a DNS name, not an IP address"
            ),
        ));
    }
    Ok(())
}

/// Display, `FromStr`, `AsRef<str>` and serde (deserialising through `parse`) for a newtype
/// whose single field `0` is a `String`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! guid_newtype {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses a ", $kind, ": a GUID, normalised to lowercase.")]
            pub fn parse(input: &str) -> Result<Self, IdError> {
                parse_guid($kind, input).map(Self)
            }

            /// The GUID's 16 bytes: a compact form for large sets held in memory.
            pub fn to_bytes(&self) -> [u8; 16] {
                // Parsed as a GUID when made, so it reads back as one.
                uuid::Uuid::try_parse(&self.0).map_or([0; 16], uuid::Uuid::into_bytes)
            }

            /// The id whose GUID has these 16 bytes ([`Self::to_bytes`] undone).
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(uuid::Uuid::from_bytes(bytes).hyphenated().to_string())
            }
        }

        string_newtype!($name);
    };
}

guid_newtype!(
    /// A Microsoft Entra tenant (directory) id.
    TenantId,
    "tenant id"
);
guid_newtype!(
    /// The object id of an account (Graph `user`).
    AccountId,
    "account id"
);
guid_newtype!(
    /// The object id of a group.
    GroupId,
    "group id"
);
guid_newtype!(
    /// A SKU id (`skuId` of a subscribed SKU, the license a seat is taken from).
    SkuId,
    "SKU id"
);

/// Longest user principal name Entra ID accepts.
const UPN_MAX: usize = 113;
/// Longest local part (before the `@`) Entra ID accepts.
const UPN_LOCAL_MAX: usize = 64;
const UPN_LOCAL_EXTRA: [char; 8] = ['\'', '.', '-', '_', '!', '#', '^', '~'];

/// A user principal name, `local@domain`, as Entra ID accepts it: the local part 1-64 characters
/// of letters, digits and `' . - _ ! # ^ ~` with no leading, trailing or double dot; the domain a
/// DNS name; at most 113 characters in all. Kept as given for display; compared, hashed and
/// ordered lowercase, as Entra does.
#[derive(Debug, Clone)]
pub struct Upn {
    value: String,
    normalized: String,
}

impl Upn {
    /// Parses a user principal name (also the sign-in email of an account).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "user principal name";
        let value = input.trim();
        if value.is_empty() {
            return Err(IdError::new(
                KIND,
                input,
                "it is empty; expected local@domain such as adele.vance@contoso.com",
            ));
        }
        if value.len() > UPN_MAX {
            return Err(IdError::new(
                KIND,
                input,
                format!(
                    "it is {} characters long; Entra ID accepts at most {UPN_MAX}",
                    value.len()
                ),
            ));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(IdError::new(
                KIND,
                input,
                "it has no @; expected local@domain such as adele.vance@contoso.com",
            ));
        };
        if domain.contains('@') {
            return Err(IdError::new(KIND, input, "it has more than one @"));
        }
        if local.is_empty() {
            return Err(IdError::new(
                KIND,
                input,
                "the part before @ is empty; expected 1 to 64 characters",
            ));
        }
        if local.len() > UPN_LOCAL_MAX {
            return Err(IdError::new(
                KIND,
                input,
                format!(
                    "the part before @ is {} characters long; expected at most {UPN_LOCAL_MAX}",
                    local.len()
                ),
            ));
        }
        if let Some(bad) = local
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || UPN_LOCAL_EXTRA.contains(c)))
        {
            return Err(IdError::new(
                KIND,
                input,
                format!(
                    "{bad:?} is not allowed before @; expected letters, digits and ' . - _ ! # ^ ~"
                ),
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(IdError::new(
                KIND,
                input,
                "the part before @ starts or ends with a dot or has two dots in a row",
            ));
        }
        check_dns_name(KIND, input, domain)?;
        Ok(Self {
            value: value.to_owned(),
            normalized: value.to_ascii_lowercase(),
        })
    }

    /// The UPN as given.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The UPN lowercase, the form used for comparisons and as a key.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The domain part (after `@`), lowercase; checked against the tenant's verified domains.
    pub fn domain(&self) -> DomainName {
        let domain = self
            .normalized
            .split_once('@')
            .map_or("", |(_, domain)| domain);
        DomainName(domain.to_owned())
    }

    /// The local part (before `@`), as given; the default mail nickname.
    pub fn local_part(&self) -> &str {
        self.value.split_once('@').map_or("", |(local, _)| local)
    }
}

impl PartialEq for Upn {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for Upn {}

impl Hash for Upn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized.hash(state);
    }
}

impl PartialOrd for Upn {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Upn {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.normalized.cmp(&other.normalized)
    }
}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for Upn {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Upn {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl Serialize for Upn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for Upn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A DNS domain name (a tenant's verified domain), lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// Parses a domain name such as `contoso.com`, normalised to lowercase.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = input.trim().to_ascii_lowercase();
        check_dns_name("domain name", input, &value)?;
        Ok(Self(value))
    }
}

string_newtype!(DomainName);

/// An ISO 3166-1 alpha-2 country code, uppercase: an account's `usageLocation`, which decides
/// which services a license may switch on in that country. Only the 249 officially assigned codes
/// are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageLocation([u8; 2]);

impl UsageLocation {
    /// Parses a two-letter country code in any case, e.g. `us` or `DE`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "usage location";
        let value = input.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(IdError::new(
                KIND,
                input,
                "expected a two-letter ISO 3166-1 alpha-2 country code such as US or DE",
            ));
        }
        if countries::ALPHA_2.binary_search(&value.as_str()).is_err() {
            return Err(IdError::new(
                KIND,
                input,
                format!(
                    "{value} is not an officially assigned ISO 3166-1 alpha-2 country code \
                     (e.g. the United Kingdom is GB)"
                ),
            ));
        }
        Ok(Self([bytes[0], bytes[1]]))
    }

    /// The code, e.g. `US`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII uppercase letters, checked in `parse`.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for UsageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UsageLocation {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for UsageLocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UsageLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Longest job or sync-run id; SQS allows 128 characters in a deduplication id, 80 leaves room
/// for a prefix.
const RUN_ID_MAX: usize = 80;
const RUN_ID_EXTRA: [char; 2] = ['_', '-'];
const RUN_ID_EXPECTED: &str = "1 to 80 letters, digits, '_' or '-'";

/// A lifecycle job's id: the idempotency key of the job (written once in DynamoDB) and the SQS
/// FIFO deduplication id. 1-80 characters of letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// Parses a job id supplied by a caller.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_token("job id", input, RUN_ID_MAX, &RUN_ID_EXTRA, RUN_ID_EXPECTED).map(Self)
    }

    /// A fresh random id (UUID v4) for a job the platform creates itself.
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

string_newtype!(JobId);

/// A sync run's id (one entry of a tenant's sync log). Same alphabet as [`JobId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SyncRunId(String);

impl SyncRunId {
    /// Parses a sync-run id.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_token(
            "sync run id",
            input,
            RUN_ID_MAX,
            &RUN_ID_EXTRA,
            RUN_ID_EXPECTED,
        )
        .map(Self)
    }

    /// A fresh random id (UUID v4).
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for SyncRunId {
    fn default() -> Self {
        Self::new()
    }
}

string_newtype!(SyncRunId);

/// The SaaS-management platform's id of the organization a tenant is connected for: 1-64
/// letters, digits, `_`, `-` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

impl OrgId {
    /// Parses an organization id.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_token(
            "organization id",
            input,
            64,
            &['_', '-', '.'],
            "1 to 64 letters, digits, '_', '-' or '.'",
        )
        .map(Self)
    }
}

string_newtype!(OrgId);

/// The SaaS-management platform's id of one of its people (a contact), as the platform sends it
/// to matching: 1-128 letters, digits, `_`, `-`, `.`, `:` or `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(String);

impl PersonId {
    /// Parses a person id.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_token(
            "person id",
            input,
            128,
            &['_', '-', '.', ':', '@'],
            "1 to 128 letters, digits, '_', '-', '.', ':' or '@'",
        )
        .map(Self)
    }
}

string_newtype!(PersonId);

/// A SKU's part number (`skuPartNumber`), the readable name of a license such as `SPE_E5` or
/// `ENTERPRISEPACK`: 1-64 letters, digits, `_`, `-` or `.`. Kept as given; [`Self::matches`]
/// compares case-insensitively, since callers type them by hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkuPartNumber(String);

impl SkuPartNumber {
    /// Parses a SKU part number.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        parse_token(
            "SKU part number",
            input,
            64,
            &['_', '-', '.'],
            "1 to 64 letters, digits, '_', '-' or '.', such as SPE_E5",
        )
        .map(Self)
    }

    /// Whether `other` names the same SKU, ignoring case.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.trim())
    }
}

string_newtype!(SkuPartNumber);

/// The JSON Schema of an id type (`docs/schemas/`): a string of the id's documented shape. The
/// parser stays the judge (it also trims, normalises case and checks country codes); the schema
/// tells a caller the shape before it sends.
macro_rules! id_schema {
    ($name:ident, $($schema:tt)+) => {
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($($schema)+)
            }
        }
    };
}

const GUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

id_schema!(TenantId, {"type": "string", "pattern": GUID_PATTERN, "description": "A Microsoft Entra tenant (directory) id: a GUID."});
id_schema!(AccountId, {"type": "string", "pattern": GUID_PATTERN, "description": "An account's object id: a GUID."});
id_schema!(GroupId, {"type": "string", "pattern": GUID_PATTERN, "description": "A group's object id: a GUID."});
id_schema!(PersonId, {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,128}$", "description": "The platform's id of one of its people: 1-128 letters, digits, '_', '-', '.', ':' or '@'."});
id_schema!(SkuId, {"type": "string", "pattern": GUID_PATTERN, "description": "A SKU id (skuId): a GUID."});
id_schema!(Upn, {
    "type": "string", "maxLength": UPN_MAX,
    "pattern": "^[A-Za-z0-9'._!#^~-]{1,64}@[A-Za-z0-9.-]+$",
    "description": "A user principal name, local@domain: the local part 1-64 letters, digits and ' . - _ ! # ^ ~ (no leading, trailing or double dot), the domain verified in the tenant; at most 113 characters."
});
id_schema!(UsageLocation, {
    "type": "string", "pattern": "^[A-Za-z]{2}$",
    "description": "An officially assigned ISO 3166-1 alpha-2 country code, such as US or DE."
});
id_schema!(JobId, {
    "type": "string", "pattern": "^[A-Za-z0-9_-]{1,80}$",
    "description": "The job's id, chosen by the caller: 1 to 80 letters, digits, '_' or '-'. With the tenant, the idempotency key: the same id and body again is the same job."
});
id_schema!(SyncRunId, {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,80}$", "description": "A sync run's id."});
id_schema!(OrgId, {
    "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$",
    "description": "The platform organization a tenant is connected for: 1 to 64 letters, digits, '_', '-' or '.'."
});
id_schema!(DomainName, {"type": "string", "description": "A DNS domain name (a verified domain of the tenant), lowercase."});
id_schema!(SkuPartNumber, {
    "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$",
    "description": "A SKU part number such as SPE_E5."
});

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T: std::fmt::Debug>(result: Result<T, IdError>) -> String {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(err) => err.to_string(),
        }
    }

    const GUID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn given_a_guid_in_any_case_when_parsed_then_it_is_lowercase_for_every_guid_type() {
        let upper = format!(" {} ", GUID.to_uppercase());
        assert_eq!(TenantId::parse(&upper).unwrap().as_str(), GUID);
        assert_eq!(AccountId::parse(&upper).unwrap().to_string(), GUID);
        assert_eq!(GroupId::parse(GUID).unwrap().as_str(), GUID);
        assert_eq!(SkuId::parse(GUID).unwrap().as_str(), GUID);
        assert_eq!(
            TenantId::parse(&upper).unwrap(),
            TenantId::parse(GUID).unwrap()
        );
    }

    proptest::proptest! {
        #[test]
        fn given_any_guid_in_any_case_when_packed_into_bytes_then_it_unpacks_to_the_same_id(
            bytes in proptest::array::uniform16(proptest::num::u8::ANY),
            upper in proptest::bool::ANY,
        ) {
            let text = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
            let text = if upper { text.to_uppercase() } else { text };
            let id = AccountId::parse(&text).unwrap();
            proptest::prop_assert_eq!(id.to_bytes(), bytes);
            proptest::prop_assert_eq!(AccountId::from_bytes(id.to_bytes()), id);
        }
    }

    #[test]
    fn given_malformed_guids_when_parsed_then_each_error_says_what_is_expected() {
        assert_eq!(
            reason(TenantId::parse("")),
            "invalid tenant id \"\": it is empty; expected a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert_eq!(
            reason(TenantId::parse("contoso.onmicrosoft.com")),
            "invalid tenant id \"contoso.onmicrosoft.com\": expected a GUID of 32 hex digits in groups \
             8-4-4-4-12, such as 72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert_eq!(
            reason(AccountId::parse("72f988bf86f141af91ab2d7cd011db47")),
            "invalid account id \"72f988bf86f141af91ab2d7cd011db47\": expected a GUID of 32 hex \
             digits in groups 8-4-4-4-12, such as 72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert_eq!(
            reason(GroupId::parse("72f988bf-86f1-41af-91ab-2d7cd011db4g")),
            "invalid group id \"72f988bf-86f1-41af-91ab-2d7cd011db4g\": 'g' is not a hex digit; a \
             GUID holds only 0-9, a-f and hyphens"
        );
        assert_eq!(
            reason(SkuId::parse("{72f988bf-86f1-41af-91ab-2d7cd011db47}")),
            "invalid SKU id \"{72f988bf-86f1-41af-91ab-2d7cd011db47}\": expected a GUID of 32 hex \
             digits in groups 8-4-4-4-12, such as 72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
    }

    #[test]
    fn given_a_guid_in_json_when_deserialised_then_it_goes_through_parse() {
        let id: TenantId = serde_json::from_str(&format!("\"{}\"", GUID.to_uppercase())).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{GUID}\""));
        let err = serde_json::from_str::<TenantId>("\"nope\"").unwrap_err();
        assert!(
            err.to_string().contains("invalid tenant id \"nope\""),
            "{err}"
        );
    }

    #[test]
    fn given_valid_upns_when_parsed_then_domain_and_normalised_form_are_available() {
        let upn = Upn::parse("Adele.Vance@Contoso.com").unwrap();
        assert_eq!(upn.as_str(), "Adele.Vance@Contoso.com");
        assert_eq!(upn.normalized(), "adele.vance@contoso.com");
        assert_eq!(upn.domain().as_str(), "contoso.com");
        assert_eq!(upn.local_part(), "Adele.Vance");
        assert_eq!(upn, Upn::parse("adele.vance@contoso.COM").unwrap());
        for ok in [
            "o'brien@contoso.onmicrosoft.com",
            "a_b-c!d#e^f~g@sub.contoso.co.uk",
            "x@a1.io",
        ] {
            assert!(Upn::parse(ok).is_ok(), "{ok}");
        }
        let longest = format!("{}@{}.com", "a".repeat(64), "b".repeat(44));
        assert_eq!(longest.len(), 113);
        assert!(Upn::parse(&longest).is_ok());
    }

    #[test]
    fn given_invalid_upns_when_parsed_then_each_error_names_the_problem() {
        let cases = [
            (
                "",
                "it is empty; expected local@domain such as adele.vance@contoso.com",
            ),
            (
                "adele.contoso.com",
                "it has no @; expected local@domain such as adele.vance@contoso.com",
            ),
            ("a@b@contoso.com", "it has more than one @"),
            (
                "@contoso.com",
                "the part before @ is empty; expected 1 to 64 characters",
            ),
            (
                "adele vance@contoso.com",
                "' ' is not allowed before @; expected letters, digits and ' . - _ ! # ^ ~",
            ),
            (
                ".adele@contoso.com",
                "the part before @ starts or ends with a dot or has two dots in a row",
            ),
            (
                "adele.@contoso.com",
                "the part before @ starts or ends with a dot or has two dots in a row",
            ),
            (
                "adele..vance@contoso.com",
                "the part before @ starts or ends with a dot or has two dots in a row",
            ),
            (
                "adele@contoso",
                "the domain \"contoso\" has no dot; expected a DNS name such as contoso.com",
            ),
            (
                "adele@contoso..com",
                "the domain \"contoso..com\" has an empty label (a leading, trailing or double dot)",
            ),
            (
                "adele@-contoso.com",
                "the domain label \"-contoso\" starts or ends with a hyphen",
            ),
            (
                "adele@contoso_x.com",
                "'_' is not allowed in a domain; expected letters, digits, hyphens and dots",
            ),
            (
                "adele@10.0.0.1",
                "the domain \"10.0.0.1\" ends in a numeric label; expected a DNS name, not an IP address",
            ),
            (
                "adele@",
                "the domain is empty; expected a DNS name such as contoso.com",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                reason(Upn::parse(input)),
                format!("invalid user principal name {input:?}: {expected}")
            );
        }
        let long_local = format!("{}@contoso.com", "a".repeat(65));
        assert!(
            reason(Upn::parse(&long_local))
                .ends_with("the part before @ is 65 characters long; expected at most 64")
        );
        let too_long = format!("{}@{}.com", "a".repeat(64), "b".repeat(45));
        assert!(
            reason(Upn::parse(&too_long))
                .ends_with("it is 114 characters long; Entra ID accepts at most 113")
        );
    }

    #[test]
    fn given_domain_names_when_parsed_then_lowercase_or_a_clear_error() {
        assert_eq!(
            DomainName::parse("Contoso.OnMicrosoft.com")
                .unwrap()
                .as_str(),
            "contoso.onmicrosoft.com"
        );
        assert_eq!(
            reason(DomainName::parse("localhost")),
            "invalid domain name \"localhost\": the domain \"localhost\" has no dot; expected a DNS \
             name such as contoso.com"
        );
        let label = "a".repeat(64);
        assert_eq!(
            reason(DomainName::parse(&format!("{label}.com"))),
            format!(
                "invalid domain name \"{label}.com\": the domain label \"{label}\" is longer than 63 characters"
            )
        );
    }

    #[test]
    fn given_usage_locations_when_parsed_then_only_assigned_codes_pass_uppercase() {
        assert_eq!(UsageLocation::parse("us").unwrap().as_str(), "US");
        assert_eq!(UsageLocation::parse(" De ").unwrap().to_string(), "DE");
        assert_eq!(UsageLocation::parse("AQ").unwrap().as_str(), "AQ");
        assert_eq!(
            reason(UsageLocation::parse("UK")),
            "invalid usage location \"UK\": UK is not an officially assigned ISO 3166-1 alpha-2 \
             country code (e.g. the United Kingdom is GB)"
        );
        assert!(reason(UsageLocation::parse("XK")).contains("XK is not an officially assigned"));
        for bad in ["USA", "U", "", "1A", "é"] {
            assert_eq!(
                reason(UsageLocation::parse(bad)),
                format!(
                    "invalid usage location {bad:?}: expected a two-letter ISO 3166-1 alpha-2 \
                     country code such as US or DE"
                )
            );
        }
        let json: UsageLocation = serde_json::from_str("\"gb\"").unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"GB\"");
    }

    #[test]
    fn given_job_ids_when_parsed_or_generated_then_they_fit_an_sqs_dedup_id() {
        assert_eq!(JobId::parse("job_2024-01").unwrap().as_str(), "job_2024-01");
        let generated = JobId::new();
        assert_eq!(JobId::parse(generated.as_str()).unwrap(), generated);
        assert_ne!(JobId::new(), JobId::new());
        assert_eq!(
            reason(JobId::parse("")),
            "invalid job id \"\": it is empty; expected 1 to 80 letters, digits, '_' or '-'"
        );
        assert_eq!(
            reason(JobId::parse("job/1")),
            "invalid job id \"job/1\": '/' is not allowed; expected 1 to 80 letters, digits, '_' or '-'"
        );
        let long = "j".repeat(81);
        assert_eq!(
            reason(JobId::parse(&long)),
            format!("invalid job id \"{long}\": it is 81 characters long; expected at most 80")
        );
    }

    #[test]
    fn given_sync_run_ids_when_parsed_then_same_rules_as_job_ids() {
        assert!(SyncRunId::parse(SyncRunId::new().as_str()).is_ok());
        assert_eq!(
            reason(SyncRunId::parse("run 1")),
            "invalid sync run id \"run 1\": ' ' is not allowed; expected 1 to 80 letters, digits, '_' or '-'"
        );
    }

    #[test]
    fn given_org_ids_when_parsed_then_dots_are_allowed_and_slashes_not() {
        assert_eq!(
            OrgId::parse("acme.eu-1_prod").unwrap().as_str(),
            "acme.eu-1_prod"
        );
        assert_eq!(
            reason(OrgId::parse("acme/prod")),
            "invalid organization id \"acme/prod\": '/' is not allowed; expected 1 to 64 letters, \
             digits, '_', '-' or '.'"
        );
        assert_eq!(
            reason(OrgId::parse("  ")),
            "invalid organization id \"  \": it is empty; expected 1 to 64 letters, digits, '_', '-' or '.'"
        );
        assert!(reason(OrgId::parse(&"o".repeat(65))).ends_with("expected at most 64"));
    }

    #[test]
    fn given_sku_part_numbers_when_parsed_then_matching_ignores_case() {
        let part = SkuPartNumber::parse("SPE_E5").unwrap();
        assert!(part.matches("spe_e5"));
        assert!(!part.matches("SPE_E3"));
        assert_eq!(
            reason(SkuPartNumber::parse("E5 license")),
            "invalid SKU part number \"E5 license\": ' ' is not allowed; expected 1 to 64 letters, \
             digits, '_', '-' or '.', such as SPE_E5"
        );
    }

    #[test]
    fn given_a_very_long_input_when_rejected_then_the_error_echoes_it_shortened() {
        let long = "x".repeat(10_000);
        let err = TenantId::parse(&long).unwrap_err();
        assert_eq!(err.value.chars().count(), ECHO_LIMIT + 1);
    }
}
