//! What a route may do with its tenant. Every `/tenants/{tenant_id}...` route gets the caller's
//! own tenant from the router, read once and checked to belong to the caller's organization
//! ([`lifecycle::http::caller_tenant`]); these checks say whether the tenant's state lets the
//! route act, each with the one answer every route gives for that state.

use lifecycle::model::{ConnectionStatus, TenantConnection};

use crate::{Answer, answer};

/// The tenant unless it was removed: 404, as for a tenant that was never connected.
pub(crate) fn live(tenant: &TenantConnection) -> Result<&TenantConnection, Answer> {
    if tenant.status == ConnectionStatus::Removed {
        return Err(answer(
            404,
            "tenant_not_found",
            format!("tenant {} was removed", tenant.tenant_id),
        ));
    }
    Ok(tenant)
}

/// The tenant when Graph can be called for it: live, and not waiting for a reconnection (409,
/// saying to reconnect).
pub(crate) fn connected(tenant: &TenantConnection) -> Result<&TenantConnection, Answer> {
    if let ConnectionStatus::NeedsReconnection { reason } = &live(tenant)?.status {
        return Err(answer(
            409,
            "needs_reconnection",
            format!(
                "tenant {} needs reconnection ({reason}); reconnect it first",
                tenant.tenant_id
            ),
        ));
    }
    Ok(tenant)
}

/// The tenant when `what` may change it: connected, in read/write mode (409 otherwise).
pub(crate) fn writable<'t>(
    tenant: &'t TenantConnection,
    what: &str,
) -> Result<&'t TenantConnection, Answer> {
    if !connected(tenant)?.allows_writes() {
        return Err(answer(
            409,
            "read_only_tenant",
            format!(
                "tenant {} is connected read-only, so {what}; reconnect it in read/write mode",
                tenant.tenant_id
            ),
        ));
    }
    Ok(tenant)
}
