//! Temporary Access Pass for passwordless joiners (POST
//! /users/{id}/authentication/temporaryAccessPassMethods) [learn:
//! graph/api/authentication-post-temporaryaccesspassmethods]: a time-limited pass the new
//! person signs in with once to register their own methods. Graph answers the pass only in the
//! answer to this POST; it is held as a [`SecretString`] and never printed.

use chrono::{DateTime, Utc};
use reqwest::Method;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::transport::Call;
use crate::url_path::encode_segment;
use crate::writes::Receipt;

/// The body of the POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTemporaryAccessPass {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<DateTime<Utc>>,
    pub lifetime_in_minutes: u32,
    pub is_usable_once: bool,
}

/// Graph's answer: the method and, this once, the pass itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemporaryAccessPass {
    pub id: String,
    pub temporary_access_pass: Option<SecretString>,
    pub start_date_time: Option<DateTime<Utc>>,
    pub lifetime_in_minutes: Option<u32>,
    pub is_usable_once: Option<bool>,
}

impl TenantGraph {
    /// Creates the account's Temporary Access Pass. Graph allows one per account: a second is
    /// refused (400).
    pub async fn create_temporary_access_pass(
        &self,
        user_id: &str,
        pass: &NewTemporaryAccessPass,
    ) -> Result<Receipt<TemporaryAccessPass>, GraphError> {
        let url = self.url(&format!(
            "/users/{}/authentication/temporaryAccessPassMethods",
            encode_segment(user_id)
        ))?;
        let call = Call::new(Method::POST, url).json(pass)?;
        let reply = self.send(&call).await?;
        let created = reply.json()?;
        Ok(reply.receipt(created))
    }

    /// Deletes one of the account's Temporary Access Passes (to replace a pass whose value was
    /// lost before it was handed over).
    pub async fn delete_temporary_access_pass(
        &self,
        user_id: &str,
        method_id: &str,
    ) -> Result<Receipt<()>, GraphError> {
        let url = self.url(&format!(
            "/users/{}/authentication/temporaryAccessPassMethods/{}",
            encode_segment(user_id),
            encode_segment(method_id)
        ))?;
        Ok(self
            .send(&Call::new(Method::DELETE, url))
            .await?
            .receipt(()))
    }

    /// The ids of the account's Temporary Access Passes.
    pub async fn temporary_access_pass_ids(
        &self,
        user_id: &str,
    ) -> Result<Vec<String>, GraphError> {
        use futures::TryStreamExt as _;
        let first = format!(
            "/users/{}/authentication/temporaryAccessPassMethods",
            encode_segment(user_id)
        );
        let methods: Vec<crate::models::DirectoryObjectRef> =
            crate::paging::items(self.list_pages(&first, None, crate::paging::unchanged))
                .try_collect()
                .await?;
        Ok(methods.into_iter().map(|method| method.id).collect())
    }
}
