//! What a full users round puts on every account: last sign-in and mailbox usage.

use std::collections::HashMap;
use std::pin::pin;

use futures::TryStreamExt as _;
use graph::GraphError;
use lifecycle::model::LastSignIn;

use crate::convert::{self, Extras};
use crate::state::{Blob, hash_str};

use super::*;

impl Engine<'_> {
    /// Reads (or, in a continuation, reloads) what a full users round puts on every account.
    pub(super) async fn ensure_extras(&mut self, link: Option<&str>) -> Result<(), SyncError> {
        if self.sign_ins.is_none() {
            let saved = match link {
                Some(_) => self.load_sign_ins().await?,
                None => None,
            };
            self.sign_ins = Some(match saved {
                Some(sign_ins) => sign_ins,
                None => self.read_sign_ins().await?,
            });
        }
        if self.mailboxes.is_none() {
            self.mailboxes = Some(self.read_mailboxes().await?);
        }
        Ok(())
    }

    pub(super) async fn read_sign_ins(&mut self) -> Result<SignIns, SyncError> {
        if self.tenant.options.skip_sign_in {
            return Ok(SignIns::Skipped);
        }
        let mut read = HashMap::new();
        let mut pages = pin!(self.graph.user_sign_in_pages(None));
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    for user in page.items {
                        let at = user
                            .sign_in_activity
                            .as_ref()
                            .and_then(graph::SignInActivity::last_activity)
                            .map_or(NEVER, |at| at.timestamp_millis());
                        read.insert(hash_str(&user.id), at);
                    }
                }
                Ok(None) => break,
                Err(GraphError::SignInActivityUnavailable(detail)) => {
                    tracing::info!(tenant_id = %self.tenant.tenant_id, %detail, "last sign-in not available: no Entra ID P1");
                    self.tenant.has_p1 = Some(false);
                    return Ok(SignIns::Unavailable);
                }
                Err(error) => return Err(error.into()),
            }
        }
        self.tenant.has_p1 = Some(true);
        Ok(SignIns::Read(read))
    }

    pub(super) async fn load_sign_ins(&self) -> Result<Option<SignIns>, SyncError> {
        if self.tenant.options.skip_sign_in {
            return Ok(Some(SignIns::Skipped));
        }
        let saved = Blob::load(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            "sign-ins",
            None,
        )
        .await?;
        Ok(saved.map(|entries| {
            if entries.contains_key(&UNAVAILABLE_MARK) {
                SignIns::Unavailable
            } else {
                SignIns::Read(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k, i64::from_le_bytes(v.to_le_bytes())))
                        .collect(),
                )
            }
        }))
    }

    pub(super) async fn save_sign_ins(&self) -> Result<(), SyncError> {
        let entries: HashMap<u64, u64> = match &self.sign_ins {
            Some(SignIns::Read(read)) => read
                .iter()
                .map(|(k, v)| (*k, u64::from_le_bytes(v.to_le_bytes())))
                .collect(),
            Some(SignIns::Unavailable) => [(UNAVAILABLE_MARK, 0)].into(),
            Some(SignIns::Skipped) | None => return Ok(()),
        };
        Blob::save(
            self.store(),
            &self.tenant.tenant_id,
            &self.run.id,
            "sign-ins",
            None,
            &entries,
        )
        .await?;
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

    /// The sign-in and mailbox of an account in a full round.
    pub(super) fn extras_for(&self, id_hash: u64, upn: Option<&str>) -> Extras {
        let last_sign_in = match &self.sign_ins {
            Some(SignIns::Skipped) => convert::not_available(convert::SIGN_IN_SKIPPED),
            Some(SignIns::Unavailable) => convert::not_available(convert::NEEDS_P1),
            Some(SignIns::Read(read)) => match read.get(&id_hash) {
                Some(&NEVER) => LastSignIn::Never,
                Some(&millis) => chrono::DateTime::from_timestamp_millis(millis)
                    .map_or(LastSignIn::Never, |at| LastSignIn::At { at }),
                None => convert::not_available(convert::SIGN_IN_NOT_READ),
            },
            None => convert::not_available(convert::SIGN_IN_NOT_READ),
        };
        let mailbox = upn.and_then(|upn| {
            self.mailboxes
                .as_ref()
                .and_then(|m| m.get(&hash_str(&upn.to_lowercase())).cloned())
        });
        Extras {
            last_sign_in,
            mailbox,
        }
    }

    /// The sign-in of an account first seen in a delta round (its sign-in is read by the next full
    /// sync).
    pub(super) fn new_account_extras(&self) -> Extras {
        let reason = if self.tenant.options.skip_sign_in {
            convert::SIGN_IN_SKIPPED
        } else if self.tenant.has_p1 == Some(false) {
            convert::NEEDS_P1
        } else {
            convert::SIGN_IN_NOT_READ
        };
        Extras {
            last_sign_in: convert::not_available(reason),
            mailbox: None,
        }
    }
}
