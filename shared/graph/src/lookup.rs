//! Look-ups as `$batch` steps, and their answers by step id: an account, a deleted account, a
//! group, an account's groups (`memberOf`), its manager, direct reports, owned objects and
//! directory roles, a group's owners, the verified domains and the subscribed SKUs. The
//! lifecycle jobs read what they need in one round trip with these, so no function crate writes a
//! Graph path, a `$select`, a percent-encoding or a page's wire form.

use std::collections::HashMap;

use futures::{Stream, TryStreamExt as _};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::batch::{BatchOutcome, BatchRequest, BatchResponse};
use crate::client::TenantGraph;
use crate::error::{ErrorDetail, GraphError};
use crate::models::{DirectoryObject, Domain, Group, SubscribedSku};
use crate::paging::{Page, unchanged};
use crate::url_path::encode_segment;

/// Graph's largest page for `memberOf` [learn: graph/api/user-list-memberof].
pub const MEMBER_OF_PAGE: u32 = 999;

/// Graph's largest page for an account's relation lists (`directReports`, `ownedObjects`,
/// `memberOf/microsoft.graph.directoryRole`) and a group's `owners` [learn: graph/paging].
pub const RELATION_PAGE: u32 = 999;

impl BatchRequest {
    /// `GET /users/{key}?$select=…`: an account by object id or UPN (404 when there is none).
    pub fn get_user(id: impl Into<String>, key: &str, select: &str) -> Self {
        Self::get(
            id,
            format!("/users/{}?$select={select}", encode_segment(key)),
        )
    }

    /// `GET /users/{key}/manager?$select=…`: the account's manager (404 when it has none, or
    /// when the account does not exist).
    pub fn get_manager(id: impl Into<String>, key: &str, select: &str) -> Self {
        Self::get(
            id,
            format!("/users/{}/manager?$select={select}", encode_segment(key)),
        )
    }

    /// `GET /directory/deletedItems/{id}?$select=…`: a soft-deleted account (404 when it is not
    /// in deleted items).
    pub fn get_deleted_user(id: impl Into<String>, object_id: &str, select: &str) -> Self {
        Self::get(
            id,
            format!(
                "/directory/deletedItems/{}?$select={select}",
                encode_segment(object_id)
            ),
        )
    }

    /// `GET /groups/{id}?$select=…`: a group (404 when there is none).
    pub fn get_group(id: impl Into<String>, group_id: &str, select: &str) -> Self {
        Self::get(
            id,
            format!("/groups/{}?$select={select}", encode_segment(group_id)),
        )
    }

    /// The first page of an account's direct memberships (`memberOf`), [`MEMBER_OF_PAGE`] at most;
    /// read the answer with [`BatchAnswers::member_of_groups`].
    pub fn list_member_of(id: impl Into<String>, key: &str, select: &str) -> Self {
        Self::get(
            id,
            format!(
                "/users/{}/memberOf?$select={select}&$top={MEMBER_OF_PAGE}",
                encode_segment(key)
            ),
        )
    }

    /// The first page of the people reporting to the account ([`DirectoryObject::SELECT_PERSON`]).
    pub fn list_direct_reports(id: impl Into<String>, key: &str) -> Self {
        Self::relation(id, key, "directReports", DirectoryObject::SELECT_PERSON)
    }

    /// The first page of the objects the account owns ([`DirectoryObject::SELECT_NAMED`]); the
    /// groups among them are [`DirectoryObject::is_group`].
    pub fn list_owned_objects(id: impl Into<String>, key: &str) -> Self {
        Self::relation(id, key, "ownedObjects", DirectoryObject::SELECT_NAMED)
    }

    /// The first page of the directory (admin) roles the account holds
    /// ([`DirectoryObject::SELECT_NAMED`]).
    pub fn list_directory_roles(id: impl Into<String>, key: &str) -> Self {
        Self::relation(
            id,
            key,
            "memberOf/microsoft.graph.directoryRole",
            DirectoryObject::SELECT_NAMED,
        )
    }

    /// The first page of a group's owners, by id ([`DirectoryObject::SELECT_ID`]).
    pub fn list_group_owners(id: impl Into<String>, group_id: &str) -> Self {
        Self::get(
            id,
            format!(
                "/groups/{}/owners?$select={}&$top={RELATION_PAGE}",
                encode_segment(group_id),
                DirectoryObject::SELECT_ID
            ),
        )
    }

    /// The tenant's domains ([`Domain::SELECT`]).
    pub fn list_domains(id: impl Into<String>) -> Self {
        Self::get(id, format!("/domains?$select={}", Domain::SELECT))
    }

    /// The tenant's subscribed SKUs ([`SubscribedSku::SELECT`]).
    pub fn list_subscribed_skus(id: impl Into<String>) -> Self {
        Self::get(
            id,
            format!("/subscribedSkus?$select={}", SubscribedSku::SELECT),
        )
    }

    /// `GET /users/{key}/{relation}?$select=…&$top=…`: the first page of a relation list.
    fn relation(id: impl Into<String>, key: &str, relation: &str, select: &str) -> Self {
        Self::get(
            id,
            format!(
                "/users/{}/{relation}?$select={select}&$top={RELATION_PAGE}",
                encode_segment(key)
            ),
        )
    }

    fn get(id: impl Into<String>, url: String) -> Self {
        Self::new(id, reqwest::Method::GET, url)
    }
}

/// A collection answer as Graph sends it.
#[derive(Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

impl BatchResponse {
    /// The items of a one-page collection answer (domains, SKUs, an account's relation lists).
    pub fn items<T: DeserializeOwned>(&self) -> Result<Vec<T>, GraphError> {
        Ok(self.json::<Collection<T>>()?.value)
    }
}

/// One directory object of a `memberOf` answer: kept only when it is a group (an account is also
/// a member of directory roles and administrative units).
#[derive(Deserialize)]
struct MemberOfEntry {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(flatten)]
    group: Group,
}

impl MemberOfEntry {
    fn into_group(self) -> Option<Group> {
        (self.odata_type.as_deref() == Some("#microsoft.graph.group")).then_some(self.group)
    }
}

fn groups_of(page: Collection<MemberOfEntry>) -> Page<Group> {
    Page {
        items: page
            .value
            .into_iter()
            .filter_map(MemberOfEntry::into_group)
            .collect(),
        next_link: page.next_link,
    }
}

/// The answers of one `$batch`, taken by step id.
pub struct BatchAnswers(HashMap<String, Result<BatchResponse, GraphError>>);

impl BatchAnswers {
    /// The outcomes of [`TenantGraph::batch`], by step id.
    pub fn new(outcomes: Vec<BatchOutcome>) -> Self {
        Self(
            outcomes
                .into_iter()
                .map(|outcome| (outcome.id, outcome.result))
                .collect(),
        )
    }

    /// The step's answer; a step Graph left out is an error, never a silent gap.
    pub fn take(&mut self, id: &str) -> Result<BatchResponse, GraphError> {
        self.0.remove(id).unwrap_or_else(|| {
            Err(GraphError::FailedDependency(Box::new(ErrorDetail {
                status: 424,
                code: "MissingBatchStep".into(),
                message: format!("the $batch answer has no step {id}"),
                ..ErrorDetail::default()
            })))
        })
    }

    /// The step's body, or `None` when Graph answered 404.
    pub fn optional<T: DeserializeOwned>(&mut self, id: &str) -> Result<Option<T>, GraphError> {
        match self.take(id) {
            Ok(response) => response.json().map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The items of a one-page collection step (domains, SKUs).
    pub fn list<T: DeserializeOwned>(&mut self, id: &str) -> Result<Vec<T>, GraphError> {
        self.take(id)?.items()
    }

    /// The groups of a [`BatchRequest::list_member_of`] step (other directory objects left out),
    /// with the link to the next page; `None` when the account does not exist. Follow the link
    /// with [`TenantGraph::member_of_groups_after`].
    pub fn member_of_groups(&mut self, id: &str) -> Result<Option<Page<Group>>, GraphError> {
        Ok(self
            .optional::<Collection<MemberOfEntry>>(id)?
            .map(groups_of))
    }
}

impl TenantGraph {
    /// Sends the look-ups as `$batch` requests and returns their answers by step id.
    pub async fn look_up(&self, steps: Vec<BatchRequest>) -> Result<BatchAnswers, GraphError> {
        Ok(BatchAnswers::new(self.batch(steps).await?))
    }

    /// The groups on the pages of `memberOf` after `next_link` (from
    /// [`BatchAnswers::member_of_groups`]), one page in memory at a time. The link must point
    /// under the Graph base URL.
    pub fn member_of_groups_after(
        &self,
        next_link: &str,
    ) -> impl Stream<Item = Result<Group, GraphError>> + Send + 'static + use<> {
        self.list_pages::<MemberOfEntry>("", Some(next_link), unchanged)
            .map_ok(|page| {
                futures::stream::iter(
                    page.items
                        .into_iter()
                        .filter_map(MemberOfEntry::into_group)
                        .map(Ok),
                )
            })
            .try_flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_ids_with_reserved_characters_when_looked_up_then_each_stays_one_path_segment() {
        let step = BatchRequest::get_user("a", "o'neil+test#1@contoso.com", "id");
        assert_eq!(
            step.url,
            "/users/o%27neil%2Btest%231@contoso.com?$select=id"
        );
        let step = BatchRequest::list_member_of("g", "../x?y", "id");
        assert_eq!(step.url, "/users/..%2Fx%3Fy/memberOf?$select=id&$top=999");
        let step = BatchRequest::get_group("g", "..", "id");
        assert_eq!(step.url, "/groups/%2E%2E?$select=id");
        let step = BatchRequest::list_directory_roles("r", "a/b");
        assert_eq!(
            step.url,
            "/users/a%2Fb/memberOf/microsoft.graph.directoryRole?$select=id,displayName&$top=999"
        );
        let step = BatchRequest::list_group_owners("o", "g?x");
        assert_eq!(step.url, "/groups/g%3Fx/owners?$select=id&$top=999");
    }

    #[test]
    fn given_a_member_of_answer_when_read_then_only_groups_are_kept_with_the_next_link() {
        let mut answers = BatchAnswers::new(vec![BatchOutcome {
            id: "groups".into(),
            result: Ok(BatchResponse {
                status: 200,
                headers: Vec::new(),
                request_id: None,
                body: Some(serde_json::json!({
                    "value": [
                        {"@odata.type": "#microsoft.graph.group", "id": "g1", "displayName": "Sales"},
                        {"@odata.type": "#microsoft.graph.directoryRole", "id": "r1"}
                    ],
                    "@odata.nextLink": "https://graph.microsoft.com/v1.0/users/u/memberOf?$skiptoken=x"
                })),
            }),
        }]);
        let page = answers
            .member_of_groups("groups")
            .expect("read")
            .expect("the account exists");
        assert_eq!(
            page.items.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            ["g1"]
        );
        assert!(page.next_link.is_some());
        assert!(answers.take("groups").is_err(), "a step is taken once");
    }
}
