//! What the offboarding and its restore read and write in Graph, shared by the offboarding
//! function (which runs offboard jobs) and the API (which checks a scheduled leave at submit and
//! runs the one-call restore inline), so the API stands on this crate and not on the offboarding
//! function's crate.
//!
//! - [`account`]: one account as offboarding sees it (sign-in, licenses and where each comes from,
//!   direct groups and whether Graph lets us remove the member), active, deleted or missing.
//! - [`options`]: the opt-in options beyond Graph's defaults (authentication methods, app role
//!   assignments, delegated grants, the mailbox's automatic reply): their reads and writes.
//! - [`verdict`]: whether an offboarding can run as asked.
//! - [`restore`]: the one-call restore from the offboarding's snapshot.
//! - [`stored`]: the stored account written from what Graph answered.

pub mod account;
pub mod options;
pub mod restore;
pub mod stored;
pub mod verdict;
