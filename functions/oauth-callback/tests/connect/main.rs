//! The connection function against real AWS SDK clients on a moto server and the real Graph
//! client on the Graph simulator (consent page included). One binary; each test starts its own
//! moto and simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

mod consent;
mod jobs;
mod own_app;
mod partner;
mod support;
mod test_route;
