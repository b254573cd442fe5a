//! Interleavings on demand: run something of a test's choosing just before a chosen AWS request
//! of the code under test reaches the emulator.
//!
//! A race between two requests (a removal landing between a worker's check and its write) is
//! played deterministically by [`before`]: the hook sees each request of one SDK configuration
//! (target header and body, as [`Request`]) and may answer with a future, which is run to its end
//! before that request is sent. Only test code builds such a configuration; production code is
//! the same code that runs in AWS.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::faults::{AfterAnswer, AwsCall, AwsFaultHook, with_faults};
pub use crate::faults::{Interleaving, Request};

/// A hook: called for every request, in the order the code under test sends them.
pub type Hook = Arc<dyn Fn(&Request) -> Option<Interleaving> + Send + Sync>;

/// `sdk` with `hook` run before each of its requests (see the module documentation). The
/// requests then go on through `sdk`'s own HTTP client (AWS's limits still apply). It is the
/// fault layer's connector ([`with_faults`]) with a hook that lets every call through and only
/// interleaves: one interception of the SDK's requests, two ways to use it.
pub fn before(sdk: &SdkConfig, hook: Hook) -> SdkConfig {
    with_faults(sdk, Arc::new(Interleaver(hook)))
}

/// A fault hook that never fails a call: it only runs the test's interleavings.
struct Interleaver(Hook);

impl std::fmt::Debug for Interleaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interleaver").finish_non_exhaustive()
    }
}

impl AwsFaultHook for Interleaver {
    fn before(&self, _call: &AwsCall<'_>) -> Result<AfterAnswer, String> {
        Ok(AfterAnswer::Deliver)
    }

    fn interrupt_after(&self, call: &AwsCall<'_>) -> String {
        // Never asked: `before` delivers every answer.
        format!("{} was not to be interrupted", call.operation)
    }

    fn interleave(&self, request: &Request) -> Option<Interleaving> {
        (self.0)(request)
    }
}
