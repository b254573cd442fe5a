//! The directory reads validation needs, as GET steps of one `$batch` (20 per request), so
//! validating an onboarding with 10 groups costs one Graph round trip instead of fourteen.

use std::collections::HashMap;

use graph::{BatchAnswers, BatchRequest, Domain, GraphError, Group, SubscribedSku, User};
use lifecycle::GroupId;
use lifecycle::model::AccountRef;

/// Properties read about the account a job creates (to tell whether its UPN is taken) and, when
/// an earlier delivery created it, which licenses it holds already.
const EXISTING_SELECT: &str =
    "id,userPrincipalName,displayName,mailNickname,createdDateTime,assignedLicenses";
/// Properties read about a template account or the account a membership job changes.
const ACCOUNT_SELECT: &str =
    "id,userPrincipalName,displayName,mail,usageLocation,assignedLicenses,licenseAssignmentStates";

/// The account's direct groups, as `memberOf` lists them.
#[derive(Debug, Clone, Default)]
pub struct MemberOf {
    pub groups: Vec<Group>,
    /// More than [`graph::MEMBER_OF_PAGE`] groups: the list is incomplete.
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
    pub groups: Vec<(GroupId, Option<Group>)>,
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
    pub groups: Vec<(GroupId, Option<Group>)>,
}

fn group_request(index: usize, group: &GroupId) -> BatchRequest {
    BatchRequest::get_group(
        format!("group-{index}"),
        group.as_str(),
        Group::SELECT_WITH_SOURCE,
    )
}

fn member_of_request(id: &str, account: &str) -> BatchRequest {
    BatchRequest::list_member_of(id, account, Group::SELECT_WITH_SOURCE)
}

/// `memberOf`: groups only, empty when the account does not exist.
fn member_of(answers: &mut BatchAnswers, id: &str) -> Result<MemberOf, GraphError> {
    Ok(answers
        .member_of_groups(id)?
        .map(|page| MemberOf {
            truncated: page.next_link.is_some(),
            groups: page.items,
        })
        .unwrap_or_default())
}

/// Each requested group, `None` when it does not exist.
fn requested_groups(
    answers: &mut BatchAnswers,
    ids: &[GroupId],
) -> Result<Vec<(GroupId, Option<Group>)>, GraphError> {
    ids.iter()
        .enumerate()
        .map(|(index, id)| Ok((id.clone(), answers.optional(&format!("group-{index}"))?)))
        .collect()
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
        BatchRequest::list_domains("domains"),
        BatchRequest::list_subscribed_skus("skus"),
        BatchRequest::get_user("account", upn, EXISTING_SELECT),
    ];
    if let Some(template) = template {
        let key = template.to_string();
        requests.push(BatchRequest::get_user("template", &key, ACCOUNT_SELECT));
        requests.push(member_of_request("template-groups", &key));
    }
    requests.extend(
        groups
            .iter()
            .enumerate()
            .map(|(index, group)| group_request(index, group)),
    );
    let mut answers = graph.look_up(requests).await?;
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
            member_of: member_of(&mut answers, "template-groups")?,
        }),
        None => None,
    };
    Ok(OnboardFacts {
        verified_domains,
        skus: answers.list("skus")?,
        existing_account: answers.optional("account")?,
        groups: requested_groups(&mut answers, groups)?,
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
        BatchRequest::get_user("account", &key, ACCOUNT_SELECT),
        member_of_request("account-groups", &key),
    ];
    if with_skus {
        requests.push(BatchRequest::list_subscribed_skus("skus"));
    }
    requests.extend(
        groups
            .iter()
            .enumerate()
            .map(|(index, group)| group_request(index, group)),
    );
    let mut answers = graph.look_up(requests).await?;
    Ok(MembershipFacts {
        account: answers.optional("account")?,
        member_of: member_of(&mut answers, "account-groups")?,
        skus: if with_skus {
            answers.list("skus")?
        } else {
            Vec::new()
        },
        groups: requested_groups(&mut answers, groups)?,
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
        .map(|(index, id)| BatchRequest::get_group(format!("group-{index}"), id, "id,displayName"))
        .collect();
    let mut answers = graph.look_up(requests).await?;
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
