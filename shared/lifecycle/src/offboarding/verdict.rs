//! Whether an offboarding can run as asked. The API makes these checks when a scheduled leave
//! (`start_at`) is submitted, so a leave that cannot run is refused then with a 422 naming the
//! job field at fault, not discovered at the leave date; the worker makes the account checks
//! again when the leave runs (the tenant may have changed in between), before any write.

use crate::model::{OffboardJob, OffboardPolicy};
use crate::{JobError, TenantId};
use graph::TenantGraph;

use super::account::{self, Found};
use super::options::{self, Listing, ReplyState};

/// Why an offboarding cannot run as asked: the job field at fault and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Doomed {
    /// The job field at fault (`account`, or the option that cannot work).
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// The account checks: an account in neither the active accounts nor deleted items cannot be
/// offboarded; one already deleted cannot be kept disabled (it must be restored first). An
/// account already deleted under the delete policy is no refusal: the leave has nothing to do.
pub fn account_verdict(spec: &OffboardJob, found: &Found, tenant_id: &TenantId) -> Option<Doomed> {
    match found {
        Found::Missing => Some(Doomed {
            field: "account",
            reason: format!(
                "account {} was not found in tenant {tenant_id} (neither active nor in deleted items): check the id or user principal name",
                spec.account
            ),
        }),
        Found::Deleted { id, upn, .. } if spec.policy == OffboardPolicy::KeepDisabled => {
            Some(Doomed {
                field: "account",
                reason: format!(
                    "account {upn} ({id}) is deleted (in deleted items, restorable for 30 days); restore it with POST /tenants/{tenant_id}/accounts/{id}/restore, then offboard it again to keep it disabled"
                ),
            })
        }
        Found::Deleted { .. } | Found::Active(_) => None,
    }
}

/// The options' checks: an option whose collection (or the mailbox settings) Graph refuses to
/// read for this tenant (its permission is not granted) cannot run.
pub fn options_verdict(found: &options::Found) -> Option<Doomed> {
    for (collection, listing) in &found.listings {
        if let Listing::Refused { reason, .. } = listing {
            return Some(Doomed {
                field: collection.option(),
                reason: format!(
                    "Graph refused to list the account's {}: {reason}; grant the application permission {} to the app in this tenant, or leave {} out",
                    collection.noun(),
                    collection.permission(),
                    collection.option()
                ),
            });
        }
    }
    match &found.reply {
        Some(ReplyState::Refused { reason, .. }) => Some(Doomed {
            field: "automatic_reply",
            reason: format!(
                "Graph refused to read the account's mailbox settings: {reason}; grant the application permission {} to the app in this tenant (the account also needs a mailbox), or leave automatic_reply out",
                options::MAILBOX_PERMISSION
            ),
        }),
        _ => None,
    }
}

/// The checks of a leave at submit: reads the account (one `$batch`) and, for an active one, the
/// collections its options would empty (one more). `Ok(Err(doomed))` when it cannot run as
/// asked; an error when Graph could not be read (the caller answers 503, nothing accepted).
pub async fn check(
    graph: &TenantGraph,
    tenant_id: &TenantId,
    spec: &OffboardJob,
) -> Result<Result<(), Doomed>, JobError> {
    let (found, _) = account::read(graph, &spec.account).await?;
    if let Some(doomed) = account_verdict(spec, &found, tenant_id) {
        return Ok(Err(doomed));
    }
    let Found::Active(state) = &found else {
        return Ok(Ok(()));
    };
    let found_options = options::read(graph, &state.id, spec).await?;
    Ok(match options_verdict(&found_options) {
        Some(doomed) => Err(doomed),
        None => Ok(()),
    })
}
