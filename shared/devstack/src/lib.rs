//! The whole system on one machine, wired from infra/template.yaml.
//!
//! The devstack reads the SAM template, creates its table, queues and secrets in a local AWS
//! emulator (moto), builds every function in-process through the [`Registry`], and calls the real
//! handlers the way AWS would: an API Gateway HTTP API stand-in for the HttpApi routes
//! ([`front`]), one SQS poller per SQS event source ([`poller`]), and timers for the schedules
//! ([`schedule`]). A route, queue or schedule added to the template works locally without a change
//! here.

pub mod front;
pub mod functions;
pub mod iam_coverage;
pub mod jwt;
pub mod poller;
pub mod provision;
pub mod registry;
pub mod schedule;
mod stack;
pub mod template;

pub use functions::{Functions, InvokeError};
pub use jwt::{TokenError, TokenIssuer};
pub use poller::SqsSource;
pub use provision::{ProvisionError, Provisioned};
pub use registry::Registry;
pub use schedule::{Fired, ScheduleError};
pub use stack::{
    AppCredentials, GraphSource, LOCAL_JWT_AUDIENCE, Stack, StackError, StackOptions,
    template_path, workspace_root,
};
pub use template::{Template, TemplateError};
