//! The crash matrix's machinery: a switch that counts a function's failure points (every write
//! it makes to DynamoDB, SQS, Secrets Manager, EventBridge and Microsoft Graph, found through the
//! hooks of the AWS SDK client and of the Graph client, never listed by hand) and "kills" the
//! function at the N-th, before or after the write; and a courier that delivers a queue's
//! messages to their function as Lambda's SQS event source does, redelivering what a crash or a
//! failure left, until the queues are empty.
//!
//! A kill is a dropped handler future (no line of the handler runs after it) and, until the
//! courier revives the switch, every further call of the function fails unsent: a dead process
//! writes nothing more.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use devstack::{Registry, SqsSource, Stack};
use graph::GraphClient;
use graph::fault::{AfterAnswer as GraphAfter, FaultHook, Interrupted, RequestPoint};
use lifecycle::{Config, Invocation, Platform, PlatformError};
use local_aws::faults::{
    AfterAnswer as AwsAfter, AwsCall, AwsFaultHook, ServiceFault, with_faults,
};
use local_aws::subscriber::Subscriber;
use tokio::sync::watch;

/// When, relative to its write, the function dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moment {
    /// The write is never sent.
    Before,
    /// The write is done, its answer never read.
    After,
}

/// Kill the function at its `point`-th write (1-based, counted from arming), at `moment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    pub point: usize,
    pub moment: Moment,
}

#[derive(Debug, Default)]
struct State {
    armed: bool,
    plan: Option<Crash>,
    /// The writes seen since arming, in order ("graph POST /users", "DynamoDB.PutItem").
    points: Vec<String>,
    crashes: usize,
    /// Share of AWS calls answered with a [`ServiceFault`] instead of being sent (0: none).
    aws_fault_rate: f64,
    /// AWS calls seen while a fault rate is set: the seed of the next draw.
    aws_calls: u64,
    /// AWS calls answered with a fault since the rate was set.
    aws_faults: u64,
}

/// The switch every hooked function of a stack shares.
#[derive(Debug)]
pub struct CrashSwitch {
    state: Mutex<State>,
    dead: watch::Sender<bool>,
}

impl Default for CrashSwitch {
    fn default() -> Self {
        CrashSwitch {
            state: Mutex::default(),
            dead: watch::Sender::new(false),
        }
    }
}

impl CrashSwitch {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts counting writes from zero; `plan` kills the function once.
    pub fn arm(&self, plan: Option<Crash>) {
        let mut state = self.lock();
        *state = State {
            armed: true,
            plan,
            aws_fault_rate: state.aws_fault_rate,
            aws_calls: state.aws_calls,
            aws_faults: state.aws_faults,
            ..State::default()
        };
        self.dead.send_replace(false);
    }

    /// Stops counting: the functions run untouched (seeding, checks).
    pub fn disarm(&self) {
        self.lock().armed = false;
        self.dead.send_replace(false);
    }

    /// The writes counted since arming.
    pub fn points(&self) -> Vec<String> {
        self.lock().points.clone()
    }

    /// From now on, `rate` of the functions' AWS calls (reads and writes, while armed) are
    /// answered by AWS's throttling and internal errors instead of being sent: DynamoDB's
    /// ProvisionedThroughputExceeded, ThrottlingException and 5xx, SQS send failures,
    /// EventBridge's failed puts. The draws are deterministic (a counter, hashed).
    pub fn set_aws_fault_rate(&self, rate: f64) {
        self.lock().aws_fault_rate = rate;
    }

    /// AWS calls answered with a fault so far.
    pub fn aws_faults(&self) -> u64 {
        self.lock().aws_faults
    }

    /// Kills injected since arming.
    pub fn crashes(&self) -> usize {
        self.lock().crashes
    }

    /// Whether the planned kill has not happened yet.
    pub fn pending(&self) -> bool {
        self.lock().plan.is_some()
    }

    /// A new process: calls go through again (the courier redelivers after a kill; a caller
    /// retries a request the API died answering).
    pub fn revive(&self) {
        self.dead.send_replace(false);
    }

    fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    fn kill(&self, state: &mut State) {
        state.crashes += 1;
        state.plan = None;
        self.dead.send_replace(true);
    }

    /// Resolves once the function is killed.
    async fn killed(&self) {
        let mut dead = self.dead.subscribe();
        let _ = dead.wait_for(|dead| *dead).await;
    }

    /// The verdict on one call: `Err` fails it unsent, `Ok(true)` fails it once answered.
    fn before(&self, label: String, write: bool) -> Result<bool, String> {
        let mut state = self.lock();
        if !state.armed {
            return Ok(false);
        }
        if self.is_dead() {
            return Err(format!("the function is dead: {label} not sent"));
        }
        if !write {
            return Ok(false);
        }
        state.points.push(label.clone());
        let point = state.points.len();
        match state.plan {
            Some(Crash {
                point: at,
                moment: Moment::Before,
            }) if at == point => {
                self.kill(&mut state);
                Err(format!("killed before failure point {point}: {label}"))
            }
            Some(Crash {
                point: at,
                moment: Moment::After,
            }) if at == point => Ok(true),
            _ => Ok(false),
        }
    }

    fn after(&self, label: &str) -> String {
        let mut state = self.lock();
        let point = state.points.len();
        self.kill(&mut state);
        format!("killed after failure point {point}: {label}")
    }
}

/// `/users/8d5c.../assignLicense` -> `/users/{id}/assignLicense`: a point's name in the table.
fn route(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let idish =
                segment.len() >= 16 && segment.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            if idish { "{id}" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl FaultHook for CrashSwitch {
    fn before(&self, request: &RequestPoint<'_>) -> Result<GraphAfter, Interrupted> {
        let label = format!("graph {} {}", request.method, route(request.path));
        match CrashSwitch::before(self, label, request.write) {
            Ok(true) => Ok(GraphAfter::Interrupt),
            Ok(false) => Ok(GraphAfter::Deliver),
            Err(reason) => Err(Interrupted(reason)),
        }
    }

    fn interrupt_after(&self, request: &RequestPoint<'_>) -> Interrupted {
        Interrupted(self.after(&format!("graph {} {}", request.method, route(request.path))))
    }
}

/// splitmix64: a well-spread hash of a counter, for reproducible draws.
fn spread(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl CrashSwitch {
    /// The fault AWS answers `call` with this time, if any (drawn at the set rate).
    fn aws_fault(&self, call: &AwsCall<'_>) -> Option<ServiceFault> {
        let mut state = self.lock();
        if !state.armed || state.aws_fault_rate <= 0.0 || self.is_dead() {
            return None;
        }
        state.aws_calls += 1;
        let draw = spread(state.aws_calls);
        if (draw % 10_000) as f64 >= state.aws_fault_rate * 10_000.0 {
            return None;
        }
        let choices = ServiceFault::choices(call.operation);
        let fault = choices.get((draw / 10_000) as usize % choices.len().max(1))?;
        state.aws_faults += 1;
        Some(*fault)
    }
}

impl AwsFaultHook for CrashSwitch {
    fn before(&self, call: &AwsCall<'_>) -> Result<AwsAfter, String> {
        // (a refused call is not done, so it is no failure point: its retry is)
        if let Some(fault) = self.aws_fault(call) {
            return Ok(AwsAfter::Refuse(fault));
        }
        match CrashSwitch::before(self, call.operation.to_owned(), call.write) {
            Ok(true) => Ok(AwsAfter::Interrupt),
            Ok(false) => Ok(AwsAfter::Deliver),
            Err(reason) => Err(reason),
        }
    }

    fn interrupt_after(&self, call: &AwsCall<'_>) -> String {
        self.after(call.operation)
    }
}

/// The function's dependencies with every AWS and Graph call passed by `switch`.
fn hooked_platform(
    config: Config,
    aws: &aws_config::SdkConfig,
    switch: &Arc<CrashSwitch>,
) -> Result<Platform, PlatformError> {
    let aws = with_faults(aws, switch.clone());
    let mut platform = Platform::new(config, &aws)?;
    platform.graph = GraphClient::new(platform.graph.config().clone().with_faults(switch.clone()))?;
    Ok(platform)
}

/// The standard functions, the workers (onboarding, offboarding, license refresh, sync) and the
/// API hooked to `switch` (jobs are put on the queues directly, as other services do; the API's
/// own writes, a restore's, are failure points too). The
/// sync spends its time budget on every page, so each run is a chain of continuations (one
/// invocation per page), and waits a second, not a minute, before a retry.
pub fn hooked_registry(switch: &Arc<CrashSwitch>) -> Registry {
    let (a, b, c, d, e) = (
        switch.clone(),
        switch.clone(),
        switch.clone(),
        switch.clone(),
        switch.clone(),
    );
    Registry::standard()
        .register("functions/api", move |config, aws| {
            hooked_platform(config, aws, &e).map(api::App::from_platform)
        })
        .register("functions/onboarding", move |config, aws| {
            hooked_platform(config, aws, &a).map(onboarding::App::from_platform)
        })
        .register("functions/offboarding", move |config, aws| {
            hooked_platform(config, aws, &b).map(offboarding::App::from_platform)
        })
        .register("functions/license-refresh", move |config, aws| {
            hooked_platform(config, aws, &c).map(license_refresh::App::from_platform)
        })
        .register("functions/sync", move |config, aws| {
            hooked_platform(config, aws, &d).map(|platform| {
                sync::App::from_platform(platform).with_settings(sync::Settings {
                    budget: Duration::ZERO,
                    wait_delay: Duration::from_secs(1),
                    retry_delay: Duration::from_secs(1),
                    ..sync::Settings::default()
                })
            })
        })
}

/// What delivering took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Invocations of the functions (each SQS batch delivered).
    pub invocations: usize,
    /// Messages delivered, counting every redelivery.
    pub messages: usize,
    /// Invocations killed by the switch.
    pub killed: usize,
    /// Whether messages were still there after the delivery bound.
    pub stuck: bool,
}

/// Invocations after which the courier gives up (a job that never ends is a finding).
const MAX_INVOCATIONS: usize = 60;

/// Delivers the queues of `functions` (logical ids) to their functions, as Lambda's SQS event
/// source does, until every queue is empty: messages a function reports failed, or whose
/// invocation failed or was killed, are made visible again at once (what SQS does after the
/// visibility timeout, without the wait). Every message is delivered through the real queue, so
/// its receive count and redrive to the dead-letter queue are moto's.
pub async fn deliver_all(stack: &Stack, functions: &[&str], switch: &CrashSwitch) -> Deliveries {
    deliver_all_with(stack, functions, switch, &|| {}, false).await
}

/// [`deliver_all`], calling `on_kill` after each killed invocation (before its messages are
/// delivered again): what changes in the world while the dead function waits for redelivery.
/// With `twice`, every batch is delivered twice, as SQS's at-least-once delivery may: to two
/// invocations at once from a standard queue, one after the other from a FIFO queue (which
/// delivers a group's message again only once it is not in flight, e.g. after its delete failed).
pub async fn deliver_all_with(
    stack: &Stack,
    functions: &[&str],
    switch: &CrashSwitch,
    on_kill: &(dyn Fn() + Sync),
    twice: bool,
) -> Deliveries {
    let sqs = aws_sdk_sqs::Client::new(stack.sdk_config());
    let sources: Vec<&SqsSource> = stack
        .sqs_sources()
        .iter()
        .filter(|s| functions.contains(&s.function.as_str()))
        .collect();
    assert!(!sources.is_empty(), "no SQS source for {functions:?}");
    let mut done = Deliveries::default();
    loop {
        let mut idle = true;
        for source in &sources {
            let received = sqs
                .receive_message()
                .queue_url(&source.queue_url)
                .max_number_of_messages(source.batch_size.clamp(1, 10) as i32)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap_or_else(|e| panic!("receive from {}: {e:?}", source.queue_url));
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                continue;
            }
            idle = false;
            if done.invocations >= MAX_INVOCATIONS {
                done.stuck = true;
                return done;
            }
            done.invocations += 1;
            done.messages += messages.len();
            let event = source.event(&messages, local_aws::REGION);
            let ids: Vec<&str> = messages
                .iter()
                .filter_map(|m| m.message_id.as_deref())
                .collect();
            let fifo = source.queue_url.ends_with(".fifo");
            let answer = match (twice, fifo) {
                (false, _) => invoke(stack, &source.function, event, switch).await,
                (true, true) => {
                    let first = invoke(stack, &source.function, event.clone(), switch).await;
                    let second = invoke(stack, &source.function, event, switch).await;
                    either_killed(first, second)
                }
                (true, false) => {
                    let (first, second) = tokio::join!(
                        invoke(stack, &source.function, event.clone(), switch),
                        invoke(stack, &source.function, event, switch)
                    );
                    either_killed(first, second)
                }
            };
            if twice {
                done.invocations += 1;
                done.messages += messages.len();
            }
            let failed = match answer {
                Outcome::Answered(response) if source.report_batch_item_failures => {
                    devstack::poller::failed_messages(&response, &ids)
                        .unwrap_or_else(|| ids.iter().map(|id| (*id).to_owned()).collect())
                }
                Outcome::Answered(_) => Default::default(),
                Outcome::Failed => ids.iter().map(|id| (*id).to_owned()).collect(),
                Outcome::Killed => {
                    done.killed += 1;
                    on_kill();
                    if source.function == "SyncFunction" {
                        let_sync_leases_expire(stack, &messages).await;
                    }
                    ids.iter().map(|id| (*id).to_owned()).collect()
                }
            };
            for message in &messages {
                let id = message.message_id.as_deref().unwrap_or_default();
                let handle = message.receipt_handle.clone().unwrap_or_default();
                if failed.contains(id) {
                    sqs.change_message_visibility()
                        .queue_url(&source.queue_url)
                        .receipt_handle(handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("make visible: {e:?}"));
                } else {
                    sqs.delete_message()
                        .queue_url(&source.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("delete: {e:?}"));
                }
            }
        }
        if idle {
            return done;
        }
    }
}

/// What the time until a killed sync's redelivery does: the tenant's lease its dead delivery held
/// expires. Each delivery of a sync holds the lease in a name of its own, so its redelivery waits
/// for the lease to expire; in AWS it always has by then (the sync queue's visibility timeout,
/// 90 minutes, outlasts the 15-minute lease). The harness redelivers at once, so it deletes the
/// lease of each killed message's tenant.
async fn let_sync_leases_expire(stack: &Stack, messages: &[aws_sdk_sqs::types::Message]) {
    let platform = lifecycle::Platform::new(stack.config().clone(), stack.sdk_config())
        .expect("the harness's platform");
    for message in messages {
        let body: serde_json::Value =
            serde_json::from_str(message.body.as_deref().unwrap_or("{}")).unwrap_or_default();
        let Some(tenant) = body["tenant_id"]
            .as_str()
            .and_then(|id| lifecycle::TenantId::parse(id).ok())
        else {
            continue;
        };
        platform
            .store
            .delete(&lifecycle::store::keys::sync_lease(&tenant))
            .await
            .expect("the dead delivery's lease expires");
    }
}

enum Outcome {
    Answered(serde_json::Value),
    Failed,
    Killed,
}

/// The outcome of one message delivered to two invocations: the first's answer, unless either was
/// killed. A dead copy is a dead delivery whichever answered: its lease outlives it, and what
/// SQS would bring back after the wait (the message, or a copy the live one handed back with a
/// delay until that lease ends) is delivered again at once, as after every kill.
fn either_killed(first: Outcome, second: Outcome) -> Outcome {
    match second {
        Outcome::Killed => Outcome::Killed,
        _ => first,
    }
}

/// One invocation of `function`, raced against the switch: a kill drops the handler mid-way.
async fn invoke(
    stack: &Stack,
    function: &str,
    event: serde_json::Value,
    switch: &CrashSwitch,
) -> Outcome {
    let deployed = stack
        .functions()
        .get(function)
        .unwrap_or_else(|| panic!("no function {function}"));
    let handler = deployed
        .handler
        .clone()
        .unwrap_or_else(|| panic!("{function} is not built"));
    let timeout = Duration::from_secs(u64::from(deployed.spec.timeout.unwrap_or(3)));
    let run = handler.invoke(event, Invocation::with_timeout(timeout));
    let crashes = switch.crashes();
    let outcome = tokio::select! {
        biased;
        () = switch.killed() => Outcome::Killed,
        answer = run => match answer {
            Ok(response) => Outcome::Answered(response),
            Err(_) => Outcome::Failed,
        },
    };
    // A kill the handler ran past without awaiting anything (every call failing at once) is a
    // kill all the same: its answer never reaches SQS.
    let outcome = if switch.crashes() > crashes {
        Outcome::Killed
    } else {
        outcome
    };
    // The next delivery is a new process.
    switch.revive();
    outcome
}

/// Counts of requests the simulator answered, by route ("POST /v1.0/users").
pub fn sim_routes(stack: &Stack) -> BTreeMap<String, u64> {
    stack
        .sim()
        .map(|sim| sim.stats().by_route)
        .unwrap_or_default()
}

/// A queue subscribed to the bundle's completion events through a rule on the default bus.
pub async fn subscribe(stack: &Stack) -> Subscriber {
    let source = lifecycle::events::SOURCE;
    Subscriber::start(stack.sdk_config(), "proof-subscriber", None, source).await
}
