//! The tenant phase: organization, verified domains and subscribed SKUs.

use std::pin::pin;

use futures::TryStreamExt as _;
use lifecycle::DomainName;
use lifecycle::model::Sku;

use super::*;

impl Engine<'_> {
    /// Organization (name, verified domains) and subscribed SKUs (written when changed, removed
    /// when no longer subscribed, on every run: the SKU partition is one small query).
    pub(super) async fn tenant_phase(&mut self) -> Result<(), SyncError> {
        let organization = self.graph.organization().await?;
        if let Some(name) = organization.display_name.filter(|n| !n.trim().is_empty()) {
            self.tenant.display_name = name;
        }
        let domains: Vec<DomainName> = organization
            .verified_domains
            .iter()
            .filter_map(|d| d.name.as_deref())
            .filter_map(|name| DomainName::parse(name).ok())
            .collect();
        if !domains.is_empty() {
            self.tenant.verified_domains = domains;
        }
        let tenant_id = self.tenant.tenant_id.clone();
        let mut subscribed = Vec::new();
        let mut skus = pin!(self.graph.subscribed_skus());
        while let Some(sku) = skus.try_next().await? {
            match Sku::from_graph(&sku) {
                Ok(sku) => subscribed.push(sku),
                Err(error) => self.note(format!("a subscribed SKU was skipped: {error}")),
            }
        }
        let _commit = self.ensure_same_connection().await?;
        let replaced = self.store().replace_skus(&tenant_id, &subscribed).await?;
        self.report.items_written += replaced.written as u64;
        self.report.items_deleted += replaced.removed as u64;
        Ok(())
    }
}
