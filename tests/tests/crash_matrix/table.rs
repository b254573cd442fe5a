//! The matrix's bookkeeping: a case and its check, the outcome of a run, a scenario's row of
//! the table, and which failure points `make test` samples.

use super::*;

/// One job of a scenario and what its end must look like.
pub(crate) struct Case {
    pub(crate) job: Value,
    /// The worker that runs it (logical id) and its queue.
    pub(crate) function: &'static str,
    pub(crate) queue: &'static str,
    pub(crate) check: Check,
}

/// What the tenant must show once the job ended.
pub(crate) enum Check {
    /// One account under this UPN, with these SKUs and exactly these direct groups.
    Onboarded {
        upn: String,
        skus: BTreeSet<String>,
        groups: BTreeSet<String>,
    },
    /// The account is in `group` and holds `sku`, given by one assignLicense.
    Memberships {
        user_id: String,
        group: String,
        sku: String,
    },
    /// The account is deleted (soft) or kept disabled, without its licenses.
    Offboarded { user_id: String, delete: bool },
    /// The account has the display name asked, in the tenant and, where a sync stored it, in the
    /// store.
    Updated {
        user_id: String,
        display_name: String,
    },
    /// The stored SKUs equal the tenant's subscribed SKUs.
    Refreshed,
    /// The sync run ended OK (full when `full`), and the store equals the tenant: live
    /// accounts with their state and licenses, groups, memberships and SKUs. A sync has its own
    /// log (the run), not a job record, and puts no completion event.
    Synced { full: bool },
    /// The account, offboarded (deleted) first, is restored through the API (`enable: true`)
    /// by one undelete, with the groups and licenses it had before, and stored as Graph says.
    Restored {
        user_id: String,
        groups: BTreeSet<String>,
        skus: BTreeSet<String>,
    },
}

/// One row of the proof table.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) points: usize,
    pub(crate) crashes: usize,
    pub(crate) deliveries: usize,
    pub(crate) lost: usize,
    pub(crate) doubled: usize,
    /// Completion events the subscriber got.
    pub(crate) events: usize,
    /// Jobs whose completion event came twice (a kill between the event and the record).
    pub(crate) repeated: usize,
    /// Runs with a crash planned.
    pub(crate) runs: u64,
    /// Graph 429 and 5xx answers and token expiries injected.
    pub(crate) faults: u64,
    /// AWS throttling and internal errors injected (DynamoDB, SQS, EventBridge, Secrets Manager).
    pub(crate) aws_faults: u64,
    /// Runs that met Graph's 410 for an expired delta link (counted with the Graph faults).
    pub(crate) gone: u64,
    /// Planned kills a run did not reach (it had fewer failure points than the clean run).
    pub(crate) unreached: usize,
    pub(crate) failures: Vec<String>,
    pub(crate) seconds: f64,
}

/// What one run of a job came to.
pub(crate) struct Outcome {
    pub(crate) deliveries: Deliveries,
    /// What is wrong with the end state (empty: the job was done once, as asked).
    pub(crate) wrong: Vec<String>,
    /// Failure points counted in the run.
    pub(crate) points: usize,
    /// The job did not end (no record, or not finished).
    pub(crate) lost: bool,
    /// A write Graph does not repeat harmlessly was done twice.
    pub(crate) doubled: bool,
    /// The planned kill did not happen: the run had fewer failure points than the clean run.
    pub(crate) missed: bool,
    /// Completion events of the job the subscriber got.
    pub(crate) events: usize,
    /// Graph answered 410 (a delta run became a full resync).
    pub(crate) gone: bool,
    /// The failure points of the run, in order.
    pub(crate) labels: Vec<String>,
}

impl Row {
    pub(crate) fn add(&mut self, outcome: &Outcome, run: &str) {
        self.crashes += outcome.deliveries.killed;
        self.deliveries += outcome.deliveries.messages;
        self.lost += usize::from(outcome.lost);
        self.doubled += usize::from(outcome.doubled);
        self.unreached += usize::from(outcome.missed);
        self.events += outcome.events;
        self.gone += u64::from(outcome.gone);
        self.repeated += usize::from(outcome.events > 1);
        self.failures
            .extend(outcome.wrong.iter().map(|w| format!("{run}: {w}")));
    }

    pub(crate) fn line(&self) -> String {
        format!(
            "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} ({} repeated) | {} | {:.1} s |",
            self.scenario,
            self.points,
            self.crashes,
            match self.unreached {
                0 => String::new(),
                n => format!(" ({n} not reached)"),
            },
            self.deliveries,
            self.faults,
            self.aws_faults,
            self.lost,
            self.doubled,
            self.events,
            self.repeated,
            if self.failures.is_empty() {
                "yes"
            } else {
                "NO"
            },
            self.seconds
        )
    }
}

fn full_matrix() -> bool {
    std::env::var("PROOF").is_ok_and(|v| v == "full")
}

/// Which failure points `make test` crashes at (`make proof` crashes at all of them).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sample {
    /// Every n-th point, and the last.
    Every(usize),
    /// The first point of this name (`AmazonSQS.SendMessage`: a sync's first continuation).
    First(&'static str),
}

/// The points to crash at: those listed in `PROOF_POINTS` (`7,8`: to replay a finding), all
/// (`PROOF=full`), else those of `sample`; `labels` name the points of the clean run.
pub(crate) fn sampled(labels: &[String], sample: Sample) -> Vec<usize> {
    let points = labels.len();
    if let Ok(listed) = std::env::var("PROOF_POINTS") {
        return listed
            .split(',')
            .filter_map(|point| point.trim().parse().ok())
            .collect();
    }
    if full_matrix() {
        return (1..=points).collect();
    }
    match sample {
        Sample::Every(stride) => (1..=points)
            .filter(|k| k % stride == 1 % stride || *k == points)
            .collect(),
        Sample::First(name) => labels
            .iter()
            .position(|label| label == name)
            .map(|index| vec![index + 1])
            .unwrap_or_else(|| panic!("the clean run has no {name}: {labels:?}")),
    }
}

pub(crate) fn report(row: &Row) {
    println!(
        "| scenario | failure points | crashes injected | deliveries | Graph faults injected | AWS faults injected | jobs lost | jobs doubled | completion events | state == truth | time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!("{}", row.line());
    assert!(
        row.failures.is_empty() && row.lost == 0,
        "{}\n{}",
        row.line(),
        row.failures.join("\n")
    );
}
