//! The directory reads validation needs, as GET steps of one `$batch` (20 per request), so
//! validating an onboarding with 10 groups costs one Graph round trip instead of fourteen.

use std::collections::HashMap;

use graph::{BatchOutcome, BatchRequest, Domain, GraphError, Group, Method, SubscribedSku, User};
use lifecycle::GroupId;
use lifecycle::model::AccountRef;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Properties read about the account a job creates (to tell whether its UPN is taken) and, when
/// an earlier delivery created it, which licenses it holds already.
const EXISTING_SELECT: &str =
    "id,userPrincipalName,displayName,mailNickname,createdDateTime,assignedLicenses";
/// Properties read about a template account or the account a membership job changes.
const ACCOUNT_SELECT: &str =
    "id,userPrincipalName,displayName,mail,usageLocation,assignedLicenses,licenseAssignmentStates";
/// `memberOf` is paged by Graph at up to 999 objects.
const MEMBER_OF_PAGE: usize = 999;

/// A collection answer (`{"value": [...], "@odata.nextLink": ...}`).
#[derive(Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// Group properties validation reads: the model's, plus whether the group is synced from
/// on-premises Active Directory (its members are then mastered there, not in Entra ID).
const GROUP_SELECT: &str = "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,membershipRuleProcessingState,onPremisesSyncEnabled";

/// A group as validation sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DirectoryGroup {
    #[serde(flatten)]
    pub group: Group,
    #[serde(rename = "onPremisesSyncEnabled", default)]
    pub on_premises_sync_enabled: Option<bool>,
}

/// A directory object of a `memberOf` answer: any type, kept only when it is a group.
#[derive(Deserialize)]
struct MemberOfEntry {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(flatten)]
    group: DirectoryGroup,
}

/// The account's direct groups, as `memberOf` lists them.
#[derive(Debug, Clone, Default)]
pub struct MemberOf {
    pub groups: Vec<DirectoryGroup>,
    /// More than [`MEMBER_OF_PAGE`] groups: the list is incomplete.
    pub truncated: bool,
}

/// What an onboarding's validation needs to know about the tenant.
#[derive(Debug, Clone, Default)]
pub struct OnboardFacts {
    /// Names of the verified domains; `None` when the app may not list domains (Domain.Read.All
    /// missing from a customer's own app), and the ones stored at connection time then serve.
    pub verified_domains: Option<Vec<String>>,
    pub skus: Vec<SubscribedSku>,
    /// The account that already has the job's UPN, if any.
    pub existing_account: Option<User>,
    /// Each requested group, `None` when it does not exist.
    pub groups: Vec<(GroupId, Option<DirectoryGroup>)>,
    /// The template account and its groups, when the job copies one.
    pub template: Option<TemplateFacts>,
}

/// The template account of a copy.
#[derive(Debug, Clone)]
pub struct TemplateFacts {
    pub reference: AccountRef,
    /// `None` when no such account exists.
    pub account: Option<User>,
    pub member_of: MemberOf,
}

/// What a membership job's validation needs to know.
#[derive(Debug, Clone, Default)]
pub struct MembershipFacts {
    /// `None` when no such account exists.
    pub account: Option<User>,
    pub member_of: MemberOf,
    /// Read only when the job touches licenses.
    pub skus: Vec<SubscribedSku>,
    /// Each group to add or remove, `None` when it does not exist.
    pub groups: Vec<(GroupId, Option<DirectoryGroup>)>,
}

/// Percent-encodes one path segment (a UPN may hold `#`, `'` or `%`).
pub fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn get(id: impl Into<String>, url: String) -> BatchRequest {
    BatchRequest::new(id, Method::GET, url)
}

fn domains_request() -> BatchRequest {
    get("domains", format!("/domains?$select={}", Domain::SELECT))
}

fn skus_request() -> BatchRequest {
    get(
        "skus",
        format!("/subscribedSkus?$select={}", SubscribedSku::SELECT),
    )
}

fn group_request(index: usize, group: &GroupId) -> BatchRequest {
    get(
        format!("group-{index}"),
        format!("/groups/{}?$select={GROUP_SELECT}", segment(group.as_str())),
    )
}

fn account_request(id: &str, account: &str, select: &str) -> BatchRequest {
    get(id, format!("/users/{}?$select={select}", segment(account)))
}

fn member_of_request(id: &str, account: &str) -> BatchRequest {
    get(
        id,
        format!(
            "/users/{}/memberOf?$select={GROUP_SELECT}&$top={MEMBER_OF_PAGE}",
            segment(account),
        ),
    )
}

/// Answers by step id.
struct Answers(HashMap<String, Result<graph::BatchResponse, GraphError>>);

impl Answers {
    fn new(outcomes: Vec<BatchOutcome>) -> Self {
        Self(
            outcomes
                .into_iter()
                .map(|outcome| (outcome.id, outcome.result))
                .collect(),
        )
    }

    fn take(&mut self, id: &str) -> Result<graph::BatchResponse, GraphError> {
        self.0.remove(id).unwrap_or_else(|| {
            Err(GraphError::FailedDependency(Box::new(graph::ErrorDetail {
                status: 424,
                code: "MissingBatchStep".into(),
                message: format!("the $batch answer has no step {id}"),
                ..graph::ErrorDetail::default()
            })))
        })
    }

    /// The step's body, or `None` on 404.
    fn optional<T: DeserializeOwned>(&mut self, id: &str) -> Result<Option<T>, GraphError> {
        match self.take(id) {
            Ok(response) => response.json().map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn list<T: DeserializeOwned>(&mut self, id: &str) -> Result<Vec<T>, GraphError> {
        Ok(self.take(id)?.json::<Collection<T>>()?.value)
    }

    /// `memberOf`: groups only, empty when the account does not exist.
    fn member_of(&mut self, id: &str) -> Result<MemberOf, GraphError> {
        let Some(page) = self.optional::<Collection<MemberOfEntry>>(id)? else {
            return Ok(MemberOf::default());
        };
        Ok(MemberOf {
            truncated: page.next_link.is_some(),
            groups: page
                .value
                .into_iter()
                .filter(|entry| entry.odata_type.as_deref() == Some("#microsoft.graph.group"))
                .map(|entry| entry.group)
                .collect(),
        })
    }

    fn groups(
        &mut self,
        ids: &[GroupId],
    ) -> Result<Vec<(GroupId, Option<DirectoryGroup>)>, GraphError> {
        ids.iter()
            .enumerate()
            .map(|(index, id)| Ok((id.clone(), self.optional(&format!("group-{index}"))?)))
            .collect()
    }
}

/// Reads, in one `$batch` (two for more than 15 groups): verified domains, subscribed SKUs, the
/// account holding `upn` if any, each group, and the template account with its groups.
pub async fn onboard_facts(
    graph: &graph::TenantGraph,
    upn: &str,
    groups: &[GroupId],
    template: Option<&AccountRef>,
) -> Result<OnboardFacts, GraphError> {
    let mut requests = vec![
        domains_request(),
        skus_request(),
        account_request("account", upn, EXISTING_SELECT),
    ];
    if let Some(template) = template {
        let key = template.to_string();
        requests.push(account_request("template", &key, ACCOUNT_SELECT));
        requests.push(member_of_request("template-groups", &key));
    }
    requests.extend(
        groups
            .iter()
            .enumerate()
            .map(|(index, group)| group_request(index, group)),
    );
    let mut answers = Answers::new(graph.batch(requests).await?);
    let verified_domains = match answers.list::<Domain>("domains") {
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
    let template = match template {
        Some(reference) => Some(TemplateFacts {
            reference: reference.clone(),
            account: answers.optional("template")?,
            member_of: answers.member_of("template-groups")?,
        }),
        None => None,
    };
    Ok(OnboardFacts {
        verified_domains,
        skus: answers.list("skus")?,
        existing_account: answers.optional("account")?,
        groups: answers.groups(groups)?,
        template,
    })
}

/// Reads, in one `$batch`: the account with its licenses (direct and group-inherited) and
/// groups, the subscribed SKUs when `with_skus`, and each group.
pub async fn membership_facts(
    graph: &graph::TenantGraph,
    account: &AccountRef,
    groups: &[GroupId],
    with_skus: bool,
) -> Result<MembershipFacts, GraphError> {
    let key = account.to_string();
    let mut requests = vec![
        account_request("account", &key, ACCOUNT_SELECT),
        member_of_request("account-groups", &key),
    ];
    if with_skus {
        requests.push(skus_request());
    }
    requests.extend(
        groups
            .iter()
            .enumerate()
            .map(|(index, group)| group_request(index, group)),
    );
    let mut answers = Answers::new(graph.batch(requests).await?);
    Ok(MembershipFacts {
        account: answers.optional("account")?,
        member_of: answers.member_of("account-groups")?,
        skus: if with_skus {
            answers.list("skus")?
        } else {
            Vec::new()
        },
        groups: answers.groups(groups)?,
    })
}

/// The display names of groups (by id), for messages; one `$batch`. Missing groups are left out.
pub async fn group_names(
    graph: &graph::TenantGraph,
    ids: &[String],
) -> Result<HashMap<String, String>, GraphError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let requests = ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            get(
                format!("group-{index}"),
                format!("/groups/{}?$select=id,displayName", segment(id)),
            )
        })
        .collect();
    let mut answers = Answers::new(graph.batch(requests).await?);
    let mut names = HashMap::new();
    for (index, id) in ids.iter().enumerate() {
        if let Some(group) = answers.optional::<Group>(&format!("group-{index}"))? {
            names.insert(id.clone(), group.display_name.unwrap_or_else(|| id.clone()));
        }
    }
    Ok(names)
}

/// The account holding `upn`, if any (one GET); how a resumed onboarding finds the account an
/// earlier delivery created.
pub async fn account_by_upn(
    graph: &graph::TenantGraph,
    upn: &str,
) -> Result<Option<User>, GraphError> {
    match graph.user(upn).await {
        Ok(user) => Ok(Some(user)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_upn_with_reserved_characters_when_encoded_then_only_they_are_escaped() {
        assert_eq!(segment("o'neil#1@contoso.com"), "o%27neil%231@contoso.com");
        assert_eq!(
            segment("adele.vance@contoso.com"),
            "adele.vance@contoso.com"
        );
    }
}
