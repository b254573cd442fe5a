//! The sync lease: one item per tenant (`T#{tenant}` / `LEASE#sync`) naming its holder and until
//! when, taken, renewed, handed over and released with conditional writes, so one sync runs per
//! tenant at a time.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::item::{PK, SK, to_item};
use super::{Record, Store, StoreError, keys};
use crate::ids::TenantId;
use crate::sdk_error::classify;

/// A lease item outlives its expiry by this much before DynamoDB's TTL removes it.
const LEASE_CLEANUP_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// A tenant's sync lease, held by one worker until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub tenant_id: TenantId,
    pub holder: String,
    pub until: DateTime<Utc>,
}

/// Outcome of trying to take a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Lease),
    /// Someone else holds it until `until`.
    Held {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// The lease as stored (`T#{tenant}` / `LEASE#sync`).
#[derive(Debug, Serialize, serde::Deserialize)]
struct LeaseItem {
    tenant_id: TenantId,
    holder: String,
    /// Epoch milliseconds; compared in the write condition.
    until_ms: i64,
}

impl Record for LeaseItem {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.until_ms).map(|until| until + LEASE_CLEANUP_GRACE)
    }
}

impl Store {
    /// Takes the tenant's sync lease for `ttl`: succeeds when nobody holds it, when it has
    /// expired, or when `holder` holds it already (then it is extended).
    pub async fn acquire_lease(
        &self,
        tenant: &TenantId,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.acquire_lease_at(tenant, holder, ttl, Utc::now()).await
    }

    /// [`Self::acquire_lease`] at a given time (for callers and tests that hold their own clock).
    pub async fn acquire_lease_at(
        &self,
        tenant: &TenantId,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        self.acquire_lease_taking(tenant, holder, None, ttl, now)
            .await
    }

    /// [`Self::acquire_lease`], also taking the lease over while it is held in the name
    /// `handed_to` (a name its last holder handed it over to, [`Self::hand_over_lease`]): the
    /// lease then becomes `holder`'s.
    pub async fn take_over_lease(
        &self,
        tenant: &TenantId,
        holder: &str,
        handed_to: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        self.acquire_lease_taking(tenant, holder, Some(handed_to), ttl, Utc::now())
            .await
    }

    async fn acquire_lease_taking(
        &self,
        tenant: &TenantId,
        holder: &str,
        handed_to: Option<&str>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        let key = keys::sync_lease(tenant);
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let lease = LeaseItem {
            tenant_id: tenant.clone(),
            holder: holder.to_owned(),
            until_ms: until.timestamp_millis(),
        };
        let item = to_item(&key, &lease, lease.expires_at())?;
        let mut condition =
            String::from("attribute_not_exists(#pk) OR #until < :now OR #holder = :holder");
        let mut values = std::collections::HashMap::from([
            (
                ":now".to_owned(),
                AttributeValue::N(now.timestamp_millis().to_string()),
            ),
            (":holder".to_owned(), AttributeValue::S(holder.to_owned())),
        ]);
        if let Some(name) = handed_to {
            condition.push_str(" OR #holder = :handed_to");
            values.insert(":handed_to".to_owned(), AttributeValue::S(name.to_owned()));
        }
        // A lease released between our failed write and our read shows as absent: try again,
        // a few times at most.
        for _ in 0..3 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(&condition)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#until", "until_ms")
                .expression_attribute_names("#holder", "holder")
                .set_expression_attribute_values(Some(values.clone()))
                .send()
                .await
                .map_err(|err| StoreError::aws("PutItem", classify(err)));
            match result {
                Ok(_) => {
                    return Ok(LeaseOutcome::Acquired(Lease {
                        tenant_id: tenant.clone(),
                        holder: holder.to_owned(),
                        until: DateTime::from_timestamp_millis(lease.until_ms).unwrap_or(until),
                    }));
                }
                Err(err) if err.is_condition_failure() => {
                    if let Some(current) = self.get::<LeaseItem>(&key).await? {
                        return Ok(LeaseOutcome::Held {
                            holder: current.holder,
                            until: DateTime::from_timestamp_millis(current.until_ms)
                                .unwrap_or(DateTime::<Utc>::MAX_UTC),
                        });
                    }
                }
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::LeaseLost {
            tenant_id: tenant.clone(),
            expected: holder.to_owned(),
            holder: None,
        })
    }

    /// Extends a lease we hold to `ttl` from now; [`StoreError::LeaseLost`] when another holder
    /// has taken it meanwhile (the caller must stop writing).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        self.put_held_lease(lease, &lease.holder, ttl).await
    }

    /// Hands a lease we hold over to the name `to`, for `ttl` from now: whoever takes it over in
    /// that name ([`Self::take_over_lease`]) carries on without waiting for it to expire.
    /// [`StoreError::LeaseLost`] when another holder has taken it meanwhile.
    pub async fn hand_over_lease(
        &self,
        lease: &Lease,
        to: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        self.put_held_lease(lease, to, ttl).await
    }

    /// The tenant's lease as stored (perhaps expired), if any.
    pub async fn lease(&self, tenant: &TenantId) -> Result<Option<Lease>, StoreError> {
        Ok(self
            .get::<LeaseItem>(&keys::sync_lease(tenant))
            .await?
            .map(|item| Lease {
                tenant_id: item.tenant_id,
                holder: item.holder,
                until: DateTime::from_timestamp_millis(item.until_ms)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            }))
    }

    /// Writes the lease `lease` holds with `holder` until `ttl` from now, if `lease` still holds it.
    async fn put_held_lease(
        &self,
        lease: &Lease,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let key = keys::sync_lease(&lease.tenant_id);
        let stored = LeaseItem {
            tenant_id: lease.tenant_id.clone(),
            holder: holder.to_owned(),
            until_ms: until.timestamp_millis(),
        };
        let item = to_item(&key, &stored, stored.expires_at())?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", AttributeValue::S(lease.holder.clone()))
            .send()
            .await
            .map_err(|err| StoreError::aws("PutItem", classify(err)));
        match result {
            Ok(_) => Ok(Lease {
                tenant_id: lease.tenant_id.clone(),
                holder: holder.to_owned(),
                until: DateTime::from_timestamp_millis(stored.until_ms).unwrap_or(until),
            }),
            Err(err) if err.is_condition_failure() => {
                let current = self.get::<LeaseItem>(&key).await?;
                Err(StoreError::LeaseLost {
                    tenant_id: lease.tenant_id.clone(),
                    expected: lease.holder.clone(),
                    holder: current.map(|current| current.holder),
                })
            }
            Err(err) => Err(err),
        }
    }

    /// Gives a lease back so the next sync need not wait for it to expire. Releasing a lease that
    /// another holder has taken meanwhile leaves theirs alone and is not an error.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let key = keys::sync_lease(&lease.tenant_id);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(key.pk().to_owned()))
            .key(SK, AttributeValue::S(key.sk().to_owned()))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", AttributeValue::S(lease.holder.clone()))
            .send()
            .await
            .map_err(|err| StoreError::aws("DeleteItem", classify(err)));
        match result {
            Err(err) if !err.is_condition_failure() => Err(err),
            _ => Ok(()),
        }
    }
}
