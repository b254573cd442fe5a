//! Lists as streams that follow `@odata.nextLink`, one page in memory at a time.

use futures::{Stream, TryStreamExt as _, stream};
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::transport::Call;
pub(crate) use crate::wire::PageWire;

/// Graph's largest page for /users, /groups and /groups/{id}/members [learn: graph/paging].
pub(crate) const MAX_PAGE: u32 = 999;
/// The largest /users page when `signInActivity` is selected: Graph serves at most 120 per page
/// then, whatever `$top` asks [learn: graph/api/user-list, note on signInActivity].
pub(crate) const MAX_PAGE_SIGN_IN: u32 = 120;

/// One page of a list and the link to the next page (`None` on the last page). A caller that
/// must stop early stores `next_link` and later resumes the list from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque absolute link to the next page, exactly as Graph sent it.
    pub next_link: Option<String>,
}

/// A page after its items were converted, with both links as Graph sent them.
pub(crate) struct RawPage<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_link: Option<String>,
    pub(crate) delta_link: Option<String>,
    /// More parts of this same page follow (a delta page handed on in parts).
    pub(crate) more_of_page: bool,
}

/// Turns the wire form of a page into its items (e.g. delta annotations into changes).
pub(crate) type Convert<W, T> = fn(PageWire<W>) -> Result<RawPage<T>, GraphError>;

/// How an error of one list is presented (e.g. any 403 of the sign-in activity list).
pub(crate) type ErrorMap = fn(GraphError) -> GraphError;

pub(crate) fn unchanged(error: GraphError) -> GraphError {
    error
}

impl TenantGraph {
    /// The URL a list starts at: the resume link if one is given (checked to be under the Graph
    /// base), else `{graph_base_url}{first}`.
    pub(crate) fn start_url(
        &self,
        first: &str,
        resume_from: Option<&str>,
    ) -> Result<Url, GraphError> {
        match resume_from {
            Some(link) => self.trusted_link(link),
            None => self.url(first),
        }
    }

    /// GETs pages from `start`, then follows `@odata.nextLink` until there is none. Ends after
    /// the first error.
    pub(crate) fn page_stream<W, T>(
        &self,
        start: Result<Url, GraphError>,
        on_error: ErrorMap,
        convert: Convert<W, T>,
    ) -> impl Stream<Item = Result<RawPage<T>, GraphError>> + Send + 'static + use<W, T>
    where
        W: DeserializeOwned + Send + 'static,
        T: Send + 'static,
    {
        let graph = self.clone();
        // The state carries the body buffer of the previous page, reused for the next one.
        stream::try_unfold((Some(start), Vec::new()), move |(next, buffer)| {
            let graph = graph.clone();
            async move {
                let Some(url) = next else {
                    return Ok(None);
                };
                // (Delta pages are read by `stream::delta_parts`, not here.)
                let call = Call::new(Method::GET, url?);
                let reply = graph.send_into(&call, buffer).await.map_err(on_error)?;
                let wire: PageWire<W> = reply.page()?;
                let page = convert(wire)?;
                let next = page
                    .next_link
                    .as_deref()
                    .map(|link| graph.trusted_link(link));
                Ok(Some((page, (next, reply.body))))
            }
        })
    }

    /// Pages of a plain list.
    pub(crate) fn list_pages<T>(
        &self,
        first: &str,
        resume_from: Option<&str>,
        on_error: ErrorMap,
    ) -> impl Stream<Item = Result<Page<T>, GraphError>> + Send + 'static + use<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let start = self.start_url(first, resume_from);
        self.page_stream::<T, T>(start, on_error, |wire| {
            Ok(RawPage {
                items: wire.value,
                next_link: wire.next_link,
                delta_link: None,
                more_of_page: false,
            })
        })
        .map_ok(|page| Page {
            items: page.items,
            next_link: page.next_link,
        })
    }
}

/// The items of a page stream, one by one.
pub(crate) fn items<T: Send + 'static>(
    pages: impl Stream<Item = Result<Page<T>, GraphError>> + Send + 'static,
) -> impl Stream<Item = Result<T, GraphError>> + Send + 'static {
    pages
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}
