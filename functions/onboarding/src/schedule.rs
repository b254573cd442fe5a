//! Onboardings with a start time: the account is created then, not before.
//!
//! A job whose start is near (within [`PARK_AFTER`]) waits on SQS: it is handed back as a
//! transient failure and redelivered after the queue's visibility timeout (180 s, 5 receives).
//! A job whose start is further away is validated at once (so a problem shows now, not on the
//! first day), then parked in the table; the function's schedule (every 5 minutes) sends every
//! due parked job, of any kind, to its own queue ([`lifecycle::schedule`]), where an onboarding
//! resumes after validation.

pub use lifecycle::schedule::{PARK_AFTER, ParkedJob, ScheduleError, park, send_due};
