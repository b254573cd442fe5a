//! What a full users round puts on every account besides the user object: mailbox usage.
//!
//! Last sign-in is not read here: the license refresh is its only reader (it reads
//! `signInActivity` and updates just that attribute of the stored accounts). The sync keeps the
//! stored value whenever it rewrites an account, and gives a new account "not read yet".

use graph::GraphError;
use lifecycle::model::{Account, LastSignIn};

use crate::convert::{self, Extras};
use crate::state::hash_str;

use super::*;

impl Engine<'_> {
    /// Reads what a full users round puts on every account (once per invocation).
    pub(super) async fn ensure_extras(&mut self) -> Result<(), SyncError> {
        if self.mailboxes.is_none() {
            self.mailboxes = Some(self.read_mailboxes().await?);
        }
        Ok(())
    }

    /// Mailbox usage (D7 report) by UPN, when not skipped and the app has Reports.Read.All.
    pub(super) async fn read_mailboxes(&mut self) -> Result<Mailboxes, SyncError> {
        if self.tenant.options.skip_mailboxes {
            return Ok(Mailboxes::new());
        }
        let roles = self.graph.granted_roles().await?;
        if !roles.iter().any(|role| role == "Reports.Read.All") {
            tracing::info!(tenant_id = %self.tenant.tenant_id, "mailbox usage not read: Reports.Read.All is not granted");
            return Ok(Mailboxes::new());
        }
        let report = match self
            .graph
            .mailbox_usage(graph::MailboxUsagePeriod::D7)
            .await
        {
            Ok(report) => report,
            Err(error) if !error.is_retryable() && !matches!(error, GraphError::Token(_)) => {
                self.note(format!("mailbox usage could not be read: {error}"));
                return Ok(Mailboxes::new());
            }
            Err(error) => return Err(error.into()),
        };
        let mut usage = Mailboxes::new();
        let rows = match report.rows() {
            Ok(rows) => rows,
            Err(error) => {
                self.note(format!("the mailbox usage report is unreadable: {error}"));
                return Ok(usage);
            }
        };
        for row in rows {
            match row {
                Ok(row) if !row.is_deleted => {
                    usage.insert(
                        hash_str(&row.user_principal_name.to_lowercase()),
                        convert::mailbox(&row),
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    self.note(format!("a mailbox usage row is unreadable: {error}"));
                    break;
                }
            }
        }
        Ok(usage)
    }

    /// What a full round puts on an account: its mailbox usage, and the last sign-in of an
    /// account the store does not hold yet (a stored one keeps its own, [`Self::keep_sign_in`]).
    pub(super) fn extras_for(&self, upn: Option<&str>) -> Extras {
        let mailbox = upn.and_then(|upn| {
            self.mailboxes
                .as_ref()
                .and_then(|m| m.get(&hash_str(&upn.to_lowercase())).cloned())
        });
        Extras {
            last_sign_in: self.new_account_sign_in(),
            mailbox,
        }
    }

    /// The last sign-in of an account the store does not hold yet: the license refresh reads it.
    pub(super) fn new_account_sign_in(&self) -> LastSignIn {
        let reason = if self.tenant.options.skip_sign_in {
            convert::SIGN_IN_SKIPPED
        } else if self.tenant.has_p1 == Some(false) {
            convert::NEEDS_P1
        } else {
            convert::SIGN_IN_NOT_READ
        };
        convert::not_available(reason)
    }

    /// `account` as the sync writes it over `stored`: the last sign-in stays what the store holds
    /// (the license refresh wrote it; the sync never reads it, so never resets it), unless the
    /// tenant's sync settings leave last sign-in out ("not synced" then replaces it).
    pub(super) fn keep_sign_in(&self, account: Account, stored: Option<&Account>) -> Account {
        match stored {
            Some(stored) if self.sync.kinds.last_sign_in => Account {
                last_sign_in: stored.last_sign_in.clone(),
                ..account
            },
            _ => account,
        }
    }
}
