//! The tenant phase: organization, verified domains and subscribed SKUs.

use std::collections::{HashMap, HashSet};
use std::pin::pin;

use futures::TryStreamExt as _;
use lifecycle::model::Sku;
use lifecycle::store::keys;
use lifecycle::{DomainName, Key};

use super::*;

impl Engine<'_> {
    /// Organization (name, verified domains) and subscribed SKUs (written when changed, removed
    /// when no longer subscribed).
    pub(super) async fn tenant_phase(&mut self, sweep_skus: bool) -> Result<(), SyncError> {
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
        // A full sync also finds SKUs no longer subscribed (reading the SKU partition); a delta
        // sync compares each listed SKU with its own item.
        let stored: HashMap<String, Sku> = if sweep_skus {
            self.store()
                .query::<Sku>(&keys::sku_partition(&tenant_id), None)
                .map_ok(|sku| (sku.sku_id.to_string(), sku))
                .try_collect()
                .await?
        } else {
            let mut found = HashMap::new();
            for sku in &subscribed {
                if let Some(stored) = self
                    .store()
                    .get::<Sku>(&keys::sku(&tenant_id, &sku.sku_id))
                    .await?
                {
                    found.insert(sku.sku_id.to_string(), stored);
                }
            }
            found
        };
        let seen: HashSet<String> = subscribed
            .iter()
            .map(|sku| sku.sku_id.to_string())
            .collect();
        let changed: Vec<(Key, Sku)> = subscribed
            .into_iter()
            .filter(|sku| stored.get(sku.sku_id.as_str()) != Some(sku))
            .map(|sku| (keys::sku(&tenant_id, &sku.sku_id), sku))
            .collect();
        let gone: Vec<Key> = stored
            .values()
            .filter(|sku| !seen.contains(sku.sku_id.as_str()))
            .map(|sku| keys::sku(&tenant_id, &sku.sku_id))
            .collect();
        self.report.items_written += self.store().batch_put(changed).await? as u64;
        self.report.items_deleted += self.store().batch_delete(gone).await? as u64;
        Ok(())
    }
}
