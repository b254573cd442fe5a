//! The lists and single reads the product makes, each with its `$select` and page size.

use futures::Stream;
use reqwest::Method;

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::models::report::Spool;
use crate::models::{
    DelegatedAdminCustomer, DeletedUser, DirectoryObjectRef, Domain, Group, LicenseDetails,
    MailboxUsagePeriod, MailboxUsageReport, Organization, SubscribedSku, User,
};
use crate::paging::{MAX_PAGE, MAX_PAGE_SIGN_IN, Page, items, unchanged};
use crate::transport::Call;
use crate::url_path::encode_segment;

/// Any 403 on a list that selects `signInActivity` means the tenant cannot provide it (no Entra
/// ID P1/P2, code `Authentication_RequestFromNonPremiumTenantOrB2CTenant`, or no AuditLog.Read.All).
fn sign_in_unavailable(error: GraphError) -> GraphError {
    match error {
        GraphError::Forbidden(detail) => GraphError::SignInActivityUnavailable(detail),
        other => other,
    }
}

impl TenantGraph {
    /// Every account, [`User::SELECT`], 999 per page.
    pub fn users(&self) -> impl Stream<Item = Result<User, GraphError>> + Send + 'static + use<> {
        items(self.user_pages(None))
    }

    /// Pages of [`TenantGraph::users`], from the start or from a stored `next_link`.
    pub fn user_pages(
        &self,
        resume_from: Option<&str>,
    ) -> impl Stream<Item = Result<Page<User>, GraphError>> + Send + 'static + use<> {
        let first = format!("/users?$select={}&$top={MAX_PAGE}", User::SELECT);
        self.list_pages(&first, resume_from, unchanged)
    }

    /// Every account with its last sign-in times ([`User::SELECT_SIGN_IN`], 120 per page).
    /// A tenant without Entra ID P1/P2 yields [`GraphError::SignInActivityUnavailable`].
    pub fn users_with_sign_in_activity(
        &self,
    ) -> impl Stream<Item = Result<User, GraphError>> + Send + 'static + use<> {
        items(self.user_sign_in_pages(None))
    }

    /// Pages of [`TenantGraph::users_with_sign_in_activity`].
    pub fn user_sign_in_pages(
        &self,
        resume_from: Option<&str>,
    ) -> impl Stream<Item = Result<Page<User>, GraphError>> + Send + 'static + use<> {
        let first = format!(
            "/users?$select={}&$top={MAX_PAGE_SIGN_IN}",
            User::SELECT_SIGN_IN
        );
        self.list_pages(&first, resume_from, sign_in_unavailable)
    }

    /// Every account with `licenseAssignmentStates` (direct vs group-inherited licenses).
    pub fn users_with_license_states(
        &self,
    ) -> impl Stream<Item = Result<User, GraphError>> + Send + 'static + use<> {
        items(self.user_license_state_pages(None))
    }

    /// Pages of [`TenantGraph::users_with_license_states`].
    pub fn user_license_state_pages(
        &self,
        resume_from: Option<&str>,
    ) -> impl Stream<Item = Result<Page<User>, GraphError>> + Send + 'static + use<> {
        let first = format!(
            "/users?$select={}&$top={MAX_PAGE}",
            User::SELECT_LICENSE_STATES
        );
        self.list_pages(&first, resume_from, unchanged)
    }

    /// How many accounts the tenant has (`/users/$count`), so a sync can report progress
    /// against a total.
    pub async fn user_count(&self) -> Result<u64, GraphError> {
        self.count("/users/$count").await
    }

    /// How many groups the tenant has (`/groups/$count`).
    pub async fn group_count(&self) -> Result<u64, GraphError> {
        self.count("/groups/$count").await
    }

    async fn count(&self, path: &str) -> Result<u64, GraphError> {
        let mut call = Call::new(Method::GET, self.url(path)?);
        // $count is an advanced query: Graph answers 400 without this header.
        call.eventual = true;
        let reply = self.send(&call).await?;
        let text = String::from_utf8_lossy(&reply.body);
        text.trim_start_matches('\u{feff}')
            .trim()
            .parse()
            .map_err(|_| {
                GraphError::unexpected(
                    reply.status,
                    reply.request_id.clone(),
                    format!("not a count: {text:?}"),
                )
            })
    }

    /// One account by id or user principal name.
    pub async fn user(&self, user_id: &str) -> Result<User, GraphError> {
        let url = self.url(&format!(
            "/users/{}?$select={}",
            encode_segment(user_id),
            User::SELECT
        ))?;
        self.send(&Call::new(Method::GET, url)).await?.json()
    }

    /// The licenses of one account with their service plans.
    pub fn user_license_details(
        &self,
        user_id: &str,
    ) -> impl Stream<Item = Result<LicenseDetails, GraphError>> + Send + 'static + use<> {
        let first = format!("/users/{}/licenseDetails", encode_segment(user_id));
        items(self.list_pages(&first, None, unchanged))
    }

    /// Every group, [`Group::SELECT`], 999 per page.
    pub fn groups(&self) -> impl Stream<Item = Result<Group, GraphError>> + Send + 'static + use<> {
        items(self.group_pages(None))
    }

    /// Pages of [`TenantGraph::groups`].
    pub fn group_pages(
        &self,
        resume_from: Option<&str>,
    ) -> impl Stream<Item = Result<Page<Group>, GraphError>> + Send + 'static + use<> {
        let first = format!("/groups?$select={}&$top={MAX_PAGE}", Group::SELECT);
        self.list_pages(&first, resume_from, unchanged)
    }

    /// The direct members of a group (`{"@odata.type","id"}`), 999 per page.
    pub fn group_members(
        &self,
        group_id: &str,
    ) -> impl Stream<Item = Result<DirectoryObjectRef, GraphError>> + Send + 'static + use<> {
        items(self.group_member_pages(group_id, None))
    }

    /// Pages of [`TenantGraph::group_members`].
    pub fn group_member_pages(
        &self,
        group_id: &str,
        resume_from: Option<&str>,
    ) -> impl Stream<Item = Result<Page<DirectoryObjectRef>, GraphError>> + Send + 'static + use<>
    {
        let first = format!(
            "/groups/{}/members?$select=id&$top={MAX_PAGE}",
            encode_segment(group_id)
        );
        self.list_pages(&first, resume_from, unchanged)
    }

    /// The SKUs the tenant subscribes to, with prepaid and consumed units.
    pub fn subscribed_skus(
        &self,
    ) -> impl Stream<Item = Result<SubscribedSku, GraphError>> + Send + 'static + use<> {
        let first = format!("/subscribedSkus?$select={}", SubscribedSku::SELECT);
        items(self.list_pages(&first, None, unchanged))
    }

    /// The tenant's domains, verified or not.
    pub fn domains(
        &self,
    ) -> impl Stream<Item = Result<Domain, GraphError>> + Send + 'static + use<> {
        let first = format!("/domains?$select={}", Domain::SELECT);
        items(self.list_pages(&first, None, unchanged))
    }

    /// The tenant's organization (its name and verified domains).
    pub async fn organization(&self) -> Result<Organization, GraphError> {
        let url = self.url(&format!("/organization?$select={}", Organization::SELECT))?;
        let reply = self.send(&Call::new(Method::GET, url)).await?;
        let page: crate::paging::PageWire<Organization> = reply.page()?;
        page.value.into_iter().next().ok_or_else(|| {
            GraphError::unexpected(
                reply.status,
                reply.request_id.clone(),
                "the organization list is empty",
            )
        })
    }

    /// Soft-deleted accounts, restorable for 30 days.
    pub fn deleted_users(
        &self,
    ) -> impl Stream<Item = Result<DeletedUser, GraphError>> + Send + 'static + use<> {
        let first = format!(
            "/directory/deletedItems/microsoft.graph.user?$select={}&$top={MAX_PAGE}",
            DeletedUser::SELECT
        );
        items(self.list_pages(&first, None, unchanged))
    }

    /// The customer tenants of a partner tenant (GDAP).
    pub fn delegated_admin_customers(
        &self,
    ) -> impl Stream<Item = Result<DelegatedAdminCustomer, GraphError>> + Send + 'static + use<>
    {
        let first = format!(
            "/tenantRelationships/delegatedAdminCustomers?$select={}",
            DelegatedAdminCustomer::SELECT
        );
        items(self.list_pages(&first, None, unchanged))
    }

    /// The mailbox usage detail report (CSV; Graph redirects to a short-lived download).
    pub async fn mailbox_usage(
        &self,
        period: MailboxUsagePeriod,
    ) -> Result<MailboxUsageReport, GraphError> {
        let url = self.url(&format!(
            "/reports/getMailboxUsageDetail(period='{}')",
            period.as_str()
        ))?;
        // The download goes to a temporary file as it arrives (a row per mailbox), not to memory.
        let mut response = self.send_streamed(&Call::new(Method::GET, url)).await?;
        let request_id =
            crate::transport::header_str(response.headers(), "request-id").map(str::to_owned);
        let idle = self.config().request_timeout;
        let mut csv = Spool::new();
        loop {
            match tokio::time::timeout(idle, response.chunk()).await {
                Ok(Ok(Some(bytes))) => csv.write(&bytes).map_err(|e| {
                    GraphError::unexpected(
                        200,
                        request_id.clone(),
                        format!("the report could not be kept while it downloads: {e}"),
                    )
                })?,
                Ok(Ok(None)) => break,
                Ok(Err(source)) => {
                    return Err(GraphError::Transport {
                        source,
                        retryable: true,
                    });
                }
                Err(_) => return Err(GraphError::Stalled { waited: idle }),
            }
        }
        Ok(MailboxUsageReport::from_spool(csv, request_id))
    }
}
