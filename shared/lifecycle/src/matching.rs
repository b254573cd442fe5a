//! Matching the platform's people to a tenant's synced accounts
//! (`POST /tenants/{tenant_id}/matches`): an exact match by address (user principal name, then
//! mail, then proxy addresses; case-insensitive), else suggestions ranked by name similarity
//! (Jaro-Winkler, [`strsim`]), else none. A match the platform confirmed
//! (`PUT /tenants/{tenant_id}/matches/{person_id}`, [`ConfirmedMatch`]) is used first; it shows
//! as broken when its account is no longer in the tenant.
//!
//! Pure: the caller hands over the accounts and the confirmed matches it read from the store.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{AccountId, PersonId, TenantId, Upn};
use crate::model::Account;

/// Most people one request may carry: every person is compared with every account by name, and
/// the answer must come within API Gateway's 30 s.
pub const MAX_PEOPLE: usize = 200;
/// Most email addresses of one person.
pub const MAX_EMAILS: usize = 10;
/// Longest name (Graph's `displayName` limit).
pub const MAX_NAME: usize = 256;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 320;
/// Suggestions per person, best first.
pub const MAX_SUGGESTIONS: usize = 3;
/// Least name similarity (0 to 1) an account needs to be suggested.
pub const SUGGESTION_THRESHOLD: f64 = 0.85;
/// Most unmatched accounts an answer lists (`unmatched_accounts_total` counts them all).
pub const MAX_UNMATCHED_LISTED: usize = 1_000;

/// One of the platform's people.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The platform's id of the person (the key a confirmation is stored under).
    pub id: PersonId,
    /// The person's name as the platform knows it (1-256 characters).
    pub name: String,
    /// The person's email addresses (at most 10).
    #[serde(default)]
    pub emails: Vec<String>,
}

/// The body of `POST /tenants/{tenant_id}/matches`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// At most 200 people, each id once.
    pub people: Vec<Person>,
}

/// A request matching refuses, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MatchRequestError {
    #[error("people holds {0} people; send at most {MAX_PEOPLE} per request")]
    TooManyPeople(usize),
    #[error("people[{index}].id {id} appears twice; each person once per request")]
    DuplicatePerson { index: usize, id: PersonId },
    #[error("people[{index}].name must be 1 to {MAX_NAME} characters")]
    Name { index: usize },
    #[error(
        "people[{index}].emails holds {count} addresses; at most {MAX_EMAILS}, each at most {MAX_EMAIL} characters"
    )]
    Emails { index: usize, count: usize },
}

impl MatchRequestError {
    /// The field at fault, as the body names it.
    pub fn field(&self) -> String {
        match self {
            Self::TooManyPeople(_) => "people".to_owned(),
            Self::DuplicatePerson { index, .. } => format!("people[{index}].id"),
            Self::Name { index } => format!("people[{index}].name"),
            Self::Emails { index, .. } => format!("people[{index}].emails"),
        }
    }

    /// Whether the request is too large rather than wrong (413, not 400).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooManyPeople(_))
    }
}

impl MatchRequest {
    /// Checks the rules the body's types cannot say.
    pub fn validate(&self) -> Result<(), MatchRequestError> {
        if self.people.len() > MAX_PEOPLE {
            return Err(MatchRequestError::TooManyPeople(self.people.len()));
        }
        let mut seen = HashSet::new();
        for (index, person) in self.people.iter().enumerate() {
            if !seen.insert(&person.id) {
                return Err(MatchRequestError::DuplicatePerson {
                    index,
                    id: person.id.clone(),
                });
            }
            let name = person.name.trim().chars().count();
            if name == 0 || name > MAX_NAME {
                return Err(MatchRequestError::Name { index });
            }
            if person.emails.len() > MAX_EMAILS
                || person.emails.iter().any(|e| e.chars().count() > MAX_EMAIL)
            {
                return Err(MatchRequestError::Emails {
                    index,
                    count: person.emails.len(),
                });
            }
        }
        Ok(())
    }
}

/// A match the platform confirmed (`T#{tenant}` / `MATCH#{person_id}`): used from then on, and
/// kept across syncs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfirmedMatch {
    pub tenant_id: TenantId,
    pub person_id: PersonId,
    pub account_id: AccountId,
    pub confirmed_at: DateTime<Utc>,
}

/// An account as a match names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AccountBrief {
    pub id: AccountId,
    pub upn: Upn,
    pub display_name: String,
}

impl From<&Account> for AccountBrief {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.clone(),
            upn: account.upn.clone(),
            display_name: account.display_name.clone(),
        }
    }
}

/// How a person's account was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// A match the platform confirmed.
    Confirmed,
    /// One of the person's emails is the account's user principal name.
    Upn,
    /// ... its mail (primary SMTP address).
    Mail,
    /// ... one of its proxy addresses (an alias).
    ProxyAddress,
}

/// Where a person stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    /// The confirmed match's account is in the tenant.
    Confirmed,
    /// Found by address.
    Exact,
    /// Not found by address; accounts with a similar name are suggested.
    Suggested,
    /// Nothing found.
    None,
    /// The confirmed match's account is no longer in the tenant (suggestions may follow).
    Broken,
}

/// An account suggested for a person, with its name similarity (0 to 1).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Suggestion {
    pub account: AccountBrief,
    pub score: f64,
}

/// One person's match.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PersonMatch {
    pub person_id: PersonId,
    pub status: MatchStatus,
    /// The account matched (confirmed or exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountBrief>,
    /// How it was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchedBy>,
    /// A broken confirmation: the account it named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_account_id: Option<AccountId>,
    /// Accounts with a similar name, best first (when nothing was matched).
    pub suggestions: Vec<Suggestion>,
}

/// The answer of `POST /tenants/{tenant_id}/matches`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MatchReport {
    /// One per person, in the request's order.
    pub matches: Vec<PersonMatch>,
    /// The tenant's accounts matched to nobody (neither in this request nor by a confirmed
    /// match), by user principal name; at most 1,000.
    pub unmatched_accounts: Vec<AccountBrief>,
    /// How many accounts matched nobody.
    pub unmatched_accounts_total: usize,
}

/// A confirmed match as `GET /tenants/{tenant_id}/matches` and
/// `PUT /tenants/{tenant_id}/matches/{person_id}` answer it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ConfirmedView {
    pub person_id: PersonId,
    pub account_id: AccountId,
    pub confirmed_at: DateTime<Utc>,
    /// `confirmed` while the account is in the tenant, `broken` once it is not.
    pub status: MatchStatus,
    /// The account, while it is in the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountBrief>,
}

impl ConfirmedView {
    /// `confirmed` with its account as stored now (`None`, or deleted: broken).
    pub fn of(confirmed: ConfirmedMatch, account: Option<&Account>) -> Self {
        let live = account.filter(|account| !account.deleted);
        Self {
            person_id: confirmed.person_id,
            account_id: confirmed.account_id,
            confirmed_at: confirmed.confirmed_at,
            status: if live.is_some() {
                MatchStatus::Confirmed
            } else {
                MatchStatus::Broken
            },
            account: live.map(AccountBrief::from),
        }
    }
}

/// The answer of `GET /tenants/{tenant_id}/matches`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ConfirmedMatches {
    /// By person id; at most 1,000.
    pub matches: Vec<ConfirmedView>,
    /// More confirmed matches exist than are listed.
    pub truncated: bool,
}

/// An account ready for matching: its brief and its name's two normal forms.
struct Candidate {
    brief: AccountBrief,
    name: String,
    sorted_name: String,
}

/// The tenant's accounts, indexed for matching.
pub struct Directory {
    candidates: Vec<Candidate>,
    by_id: HashMap<AccountId, usize>,
    /// Lower-cased address -> (how it is held, account index); the strongest holder wins.
    by_address: HashMap<String, (MatchedBy, usize)>,
}

impl Directory {
    /// The directory of `accounts` (deleted ones are left out: they match nobody).
    pub fn new(accounts: impl IntoIterator<Item = Account>) -> Self {
        let mut directory = Directory {
            candidates: Vec::new(),
            by_id: HashMap::new(),
            by_address: HashMap::new(),
        };
        for account in accounts.into_iter().filter(|a| !a.deleted) {
            let index = directory.candidates.len();
            directory.index(account.upn.as_str(), MatchedBy::Upn, index);
            if let Some(mail) = &account.profile.mail {
                directory.index(mail, MatchedBy::Mail, index);
            }
            for proxy in &account.profile.proxy_addresses {
                if let Some((kind, address)) = proxy.split_once(':')
                    && kind.eq_ignore_ascii_case("smtp")
                {
                    directory.index(address, MatchedBy::ProxyAddress, index);
                }
            }
            directory.by_id.insert(account.id.clone(), index);
            let name = normal_name(&account.display_name);
            directory.candidates.push(Candidate {
                sorted_name: sorted_tokens(&name),
                name,
                brief: AccountBrief::from(&account),
            });
        }
        directory
    }

    fn index(&mut self, address: &str, by: MatchedBy, index: usize) {
        let key = normal_address(address);
        if key.is_empty() {
            return;
        }
        let entry = self.by_address.entry(key).or_insert((by, index));
        if by < entry.0 {
            *entry = (by, index);
        }
    }

    /// The account `person`'s emails name, the strongest hold first.
    fn by_email(&self, person: &Person) -> Option<(MatchedBy, usize)> {
        person
            .emails
            .iter()
            .filter_map(|email| self.by_address.get(&normal_address(email)).copied())
            .min()
    }

    /// Accounts whose names are like `name`, best first.
    fn suggestions(&self, name: &str) -> Vec<Suggestion> {
        let name = normal_name(name);
        let sorted = sorted_tokens(&name);
        let mut scored: Vec<(f64, usize)> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(index, candidate)| {
                let score = strsim::jaro_winkler(&name, &candidate.name)
                    .max(strsim::jaro_winkler(&sorted, &candidate.sorted_name));
                (score, index)
            })
            .filter(|(score, _)| *score >= SUGGESTION_THRESHOLD)
            .collect();
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0).then_with(|| {
                self.candidates[a.1]
                    .brief
                    .upn
                    .as_str()
                    .cmp(self.candidates[b.1].brief.upn.as_str())
            })
        });
        scored
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(score, index)| Suggestion {
                account: self.candidates[index].brief.clone(),
                // Three decimals: a stable figure to show and compare.
                score: (score * 1000.0).round() / 1000.0,
            })
            .collect()
    }

    /// The brief of the account `id`, when it is in the tenant.
    pub fn account(&self, id: &AccountId) -> Option<&AccountBrief> {
        self.by_id
            .get(id)
            .map(|index| &self.candidates[*index].brief)
    }

    /// Matches `people`, using the `confirmed` matches first; `also_matched` are the accounts of
    /// the tenant's other confirmed matches (not among `people`), which are not unmatched.
    pub fn match_people(
        &self,
        people: &[Person],
        confirmed: &HashMap<PersonId, ConfirmedMatch>,
        also_matched: &HashSet<AccountId>,
    ) -> MatchReport {
        let mut matched: HashSet<usize> = also_matched
            .iter()
            .filter_map(|id| self.by_id.get(id).copied())
            .collect();
        let mut matches = Vec::with_capacity(people.len());
        for person in people {
            let result = self.match_person(person, confirmed.get(&person.id));
            if let Some(account) = &result.account
                && let Some(index) = self.by_id.get(&account.id)
            {
                matched.insert(*index);
            }
            matches.push(result);
        }
        let mut unmatched: Vec<&AccountBrief> = self
            .candidates
            .iter()
            .enumerate()
            .filter(|(index, _)| !matched.contains(index))
            .map(|(_, candidate)| &candidate.brief)
            .collect();
        unmatched.sort_by(|a, b| a.upn.as_str().cmp(b.upn.as_str()));
        MatchReport {
            matches,
            unmatched_accounts_total: unmatched.len(),
            unmatched_accounts: unmatched
                .into_iter()
                .take(MAX_UNMATCHED_LISTED)
                .cloned()
                .collect(),
        }
    }

    fn match_person(&self, person: &Person, confirmed: Option<&ConfirmedMatch>) -> PersonMatch {
        let mut result = PersonMatch {
            person_id: person.id.clone(),
            status: MatchStatus::None,
            account: None,
            matched_by: None,
            confirmed_account_id: None,
            suggestions: Vec::new(),
        };
        if let Some(confirmed) = confirmed {
            if let Some(account) = self.account(&confirmed.account_id) {
                result.status = MatchStatus::Confirmed;
                result.account = Some(account.clone());
                result.matched_by = Some(MatchedBy::Confirmed);
                return result;
            }
            result.status = MatchStatus::Broken;
            result.confirmed_account_id = Some(confirmed.account_id.clone());
            result.suggestions = self.suggestions(&person.name);
            return result;
        }
        if let Some((by, index)) = self.by_email(person) {
            result.status = MatchStatus::Exact;
            result.account = Some(self.candidates[index].brief.clone());
            result.matched_by = Some(by);
            return result;
        }
        result.suggestions = self.suggestions(&person.name);
        if !result.suggestions.is_empty() {
            result.status = MatchStatus::Suggested;
        }
        result
    }
}

/// An address as compared: trimmed, lower-cased, without a `smtp:` prefix.
fn normal_address(address: &str) -> String {
    let address = address.trim();
    let address = match address.split_once(':') {
        Some((kind, rest)) if kind.eq_ignore_ascii_case("smtp") => rest,
        _ => address,
    };
    address.to_lowercase()
}

/// A name as compared: lower-case words of letters and digits, one space apart.
fn normal_name(name: &str) -> String {
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The name's words in order, so "Lovelace Ada" compares with "Ada Lovelace".
fn sorted_tokens(name: &str) -> String {
    let mut words: Vec<&str> = name.split(' ').collect();
    words.sort_unstable();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LastSignIn, Profile};

    fn account(n: u8, upn: &str, name: &str, mail: Option<&str>, proxies: &[&str]) -> Account {
        Account {
            id: AccountId::parse(&format!("00000000-0000-0000-0000-0000000000{n:02}")).unwrap(),
            upn: Upn::parse(upn).unwrap(),
            display_name: name.to_owned(),
            enabled: true,
            usage_location: None,
            user_type: "Member".into(),
            on_premises_synced: false,
            licenses: Vec::new(),
            last_sign_in: LastSignIn::Never,
            mailbox: None,
            deleted: false,
            profile: Profile {
                mail: mail.map(str::to_owned),
                proxy_addresses: proxies.iter().map(|p| (*p).to_owned()).collect(),
                ..Profile::default()
            },
        }
    }

    fn person(id: &str, name: &str, emails: &[&str]) -> Person {
        Person {
            id: PersonId::parse(id).unwrap(),
            name: name.to_owned(),
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn given_people_by_upn_mail_alias_name_and_none_when_matched_then_each_gets_its_kind_of_match()
    {
        // GIVEN four accounts, one with a mail and an alias other than its UPN
        let directory = Directory::new([
            account(1, "ada@contoso.com", "Ada Lovelace", None, &[]),
            account(
                2,
                "grace.hopper@contoso.com",
                "Grace Hopper",
                Some("grace@contoso.com"),
                &["SMTP:grace@contoso.com", "smtp:amazing.grace@contoso.com"],
            ),
            account(3, "alan@contoso.com", "Alan Turing", None, &[]),
            account(4, "nobody@contoso.com", "Someone Else", None, &[]),
        ]);
        let people = [
            person("p1", "A. Lovelace", &["ADA@Contoso.com"]),
            person("p2", "G. Hopper", &["grace@CONTOSO.com"]),
            person("p3", "Grace H.", &["smtp:Amazing.Grace@contoso.com"]),
            person("p4", "Turing Alan", &["alan.t@fabrikam.com"]),
            person("p5", "Zed Zebra", &[]),
        ];

        // WHEN they are matched
        let report = directory.match_people(&people, &HashMap::new(), &HashSet::new());

        // THEN by UPN, mail and alias case-insensitively, by name with a score, or not at all
        let by: Vec<(MatchStatus, Option<MatchedBy>)> = report
            .matches
            .iter()
            .map(|m| (m.status, m.matched_by))
            .collect();
        assert_eq!(
            by,
            vec![
                (MatchStatus::Exact, Some(MatchedBy::Upn)),
                (MatchStatus::Exact, Some(MatchedBy::Mail)),
                (MatchStatus::Exact, Some(MatchedBy::ProxyAddress)),
                (MatchStatus::Suggested, None),
                (MatchStatus::None, None),
            ]
        );
        assert_eq!(
            report.matches[3].suggestions[0].account.upn.as_str(),
            "alan@contoso.com"
        );
        assert!(report.matches[3].suggestions[0].score >= SUGGESTION_THRESHOLD);
        // ... and the accounts nobody matched are listed
        let unmatched: Vec<&str> = report
            .unmatched_accounts
            .iter()
            .map(|a| a.upn.as_str())
            .collect();
        assert_eq!(unmatched, vec!["alan@contoso.com", "nobody@contoso.com"]);
    }

    #[test]
    fn given_a_confirmed_match_whose_account_is_gone_when_matched_then_it_is_broken() {
        let directory = Directory::new([account(1, "ada@contoso.com", "Ada Lovelace", None, &[])]);
        let gone = ConfirmedMatch {
            tenant_id: TenantId::parse("11111111-1111-1111-1111-111111111111").unwrap(),
            person_id: PersonId::parse("p1").unwrap(),
            account_id: AccountId::parse("00000000-0000-0000-0000-000000000099").unwrap(),
            confirmed_at: Utc::now(),
        };
        let confirmed = HashMap::from([(gone.person_id.clone(), gone)]);
        let report = directory.match_people(
            &[person("p1", "Ada Lovelace", &["ada@contoso.com"])],
            &confirmed,
            &HashSet::new(),
        );
        assert_eq!(report.matches[0].status, MatchStatus::Broken);
        assert_eq!(report.matches[0].suggestions.len(), 1);
    }

    #[test]
    fn given_too_many_people_or_a_bad_name_when_validated_then_the_field_is_named() {
        let many = MatchRequest {
            people: (0..=MAX_PEOPLE)
                .map(|n| person(&format!("p{n}"), "A", &[]))
                .collect(),
        };
        let error = many.validate().unwrap_err();
        assert!(error.is_too_large());
        assert_eq!(error.field(), "people");
        let twice = MatchRequest {
            people: vec![person("p", "A", &[]), person("p", "B", &[])],
        };
        assert_eq!(twice.validate().unwrap_err().field(), "people[1].id");
        let blank = MatchRequest {
            people: vec![person("p", " ", &[])],
        };
        assert_eq!(blank.validate().unwrap_err().field(), "people[0].name");
    }
}
