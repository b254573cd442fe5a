//! Integration tests of the Graph client: against the Graph simulator over HTTP, and against a
//! tiny stub server for the answers the simulator does not produce.

mod stub;
mod support;
