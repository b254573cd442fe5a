//! Integration tests of the Graph client: against the Graph simulator over HTTP, and against a
//! tiny stub server for the answers the simulator does not produce.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

mod sim_auth;
mod sim_delta;
mod sim_faults;
mod sim_lists;
mod sim_writes;
mod stub;
mod support;
