//! The onboard job: validate everything with one `$batch` of reads, then create the account
//! (temporary password, change at next sign-in), assign its licenses with one assignLicense, and
//! add it to its groups with one `$batch` per 20 groups. Every step is recorded with its Graph
//! request-id; a redelivery resumes at the first unfinished step and never creates a second
//! account: it finds the one an earlier delivery created by its UPN.

use chrono::{DateTime, Utc};
use graph::{AssignedLicense, NewUser, PasswordProfile, TenantGraph, User};
use lifecycle::jobs::JobError;
use lifecycle::model::TenantConnection;
use lifecycle::model::{
    Job, JobStatus, OnboardJob, PASSWORD_HANDOVER_TTL, PasswordHandover, PasswordSource,
    StepOutcome,
};
use lifecycle::{JobProgress, Platform, SecretWrite};
use secrecy::SecretString;

use crate::access_pass;
use crate::reads;
use crate::rules::{self, Check, OnboardDecision};
use crate::schedule;
use crate::steps::{self, GroupChange, VALIDATE, step};
use lifecycle::password;

/// Step names.
pub const CREATE_ACCOUNT: &str = "create_account";
pub const DELETE_PASSWORD: &str = "delete_password";
pub const ASSIGN_LICENSES: &str = "assign_licenses";
pub const WAIT_FOR_START: &str = lifecycle::schedule::WAIT_FOR_START;

/// Where the job's password is, once resolved.
enum Password {
    /// Read from its secret (and checked).
    Value {
        secret_id: String,
        value: SecretString,
    },
    /// Could not be used; the check says why.
    Unusable { secret_id: Option<String> },
    /// A passwordless joiner's: random, in memory only, handed to nobody.
    Ephemeral { value: SecretString },
}

impl Password {
    fn secret_id(&self) -> Option<&str> {
        match self {
            Self::Value { secret_id, .. } => Some(secret_id),
            Self::Unusable { secret_id } => secret_id.as_deref(),
            Self::Ephemeral { .. } => None,
        }
    }
}

/// Reads the password from its secret (or generates one, when another service asked for that
/// directly on the queue) and checks it; the check never shows the value.
async fn resolve_password(
    platform: &Platform,
    job: &Job,
    onboard: &OnboardJob,
) -> Result<(Password, Check), JobError> {
    const RULE: &str = "password";
    let secret_id = match &onboard.password {
        PasswordSource::Secret { secret_id } => secret_id.clone(),
        PasswordSource::Generate if job.dry_run => {
            let check = Check::pass(
                RULE,
                "a password meeting Entra ID's rules will be generated",
            );
            return Ok((Password::Unusable { secret_id: None }, check));
        }
        PasswordSource::Generate => generate_password(platform, job).await?,
        PasswordSource::TemporaryAccessPass { .. } => {
            let check = Check::pass(
                RULE,
                "passwordless: a Temporary Access Pass is handed back once; the initial password is random and handed to nobody",
            );
            let value = password::generate();
            return Ok((Password::Ephemeral { value }, check));
        }
    };
    if !platform
        .vault
        .is_password_of(&job.tenant_id, &job.job_id, &secret_id)
    {
        let check = Check::fail(
            RULE,
            format!(
                "password secret {secret_id} is not this job's password secret; put the password in a secret named {}",
                platform
                    .vault
                    .onboarding_password_name(&job.tenant_id, &job.job_id)
            ),
        );
        return Ok((Password::Unusable { secret_id: None }, check));
    }
    let value = match platform.vault.get_secret(&secret_id).await {
        Ok(value) => value,
        Err(lifecycle::VaultError::NotFound { .. }) => {
            let check = Check::fail(
                RULE,
                format!("password secret {secret_id} does not exist (deleted, or never written)"),
            );
            return Ok((
                Password::Unusable {
                    secret_id: Some(secret_id),
                },
                check,
            ));
        }
        Err(error) => return Err(error.into()),
    };
    match password::check(&value) {
        Ok(()) => Ok((
            Password::Value { secret_id, value },
            Check::pass(RULE, "the password meets Entra ID's complexity rules"),
        )),
        Err(error) => Ok((
            Password::Unusable {
                secret_id: Some(secret_id),
            },
            Check::fail(RULE, error.to_string()),
        )),
    }
}

/// Generates the password of a job another service put on the queue with `"generate"`: stored
/// create-only in the job's password secret (a redelivery finds and keeps the first one) and in
/// its hand-over secret, and the hand-over recorded so the caller can take it once. Returns the
/// password secret's name.
async fn generate_password(platform: &Platform, job: &Job) -> Result<String, JobError> {
    let (tenant_id, job_id) = (&job.tenant_id, &job.job_id);
    let generated = password::generate();
    let (name, value) = match platform
        .vault
        .create_onboarding_password(tenant_id, job_id, &generated)
        .await?
    {
        SecretWrite::Created { name } => (name, generated),
        SecretWrite::AlreadyExists { name } => {
            let stored = platform
                .vault
                .get_onboarding_password(tenant_id, job_id)
                .await?;
            (name, stored)
        }
    };
    let handover = platform
        .vault
        .create_generated_password(tenant_id, job_id, &value)
        .await?;
    platform
        .store
        .put_new_password_handover(
            tenant_id,
            job_id,
            &PasswordHandover {
                tenant_id: tenant_id.clone(),
                job_id: job_id.clone(),
                valid_until: Utc::now() + PASSWORD_HANDOVER_TTL,
            },
        )
        .await?;
    tracing::info!(handover_secret = %handover.name(), "generated the initial password");
    Ok(name)
}

/// Deletes the password secret: the account exists, or the job failed for good.
async fn forget_password(platform: &Platform, secret_id: Option<&str>) -> Result<(), JobError> {
    if let Some(secret_id) = secret_id {
        platform.vault.delete_secret(secret_id).await?;
    }
    Ok(())
}

fn new_user(onboard: &OnboardJob, password: SecretString) -> NewUser {
    NewUser {
        account_enabled: true,
        display_name: onboard.display_name.clone(),
        mail_nickname: onboard.mail_nickname.clone(),
        user_principal_name: onboard.user_principal_name.to_string(),
        password_profile: PasswordProfile::temporary(password),
        given_name: Some(onboard.given_name.clone()),
        surname: Some(onboard.surname.clone()),
        usage_location: Some(onboard.usage_location.to_string()),
        job_title: onboard.job_title.clone(),
        department: onboard.department.clone(),
        on_premises_immutable_id: onboard.immutable_id.clone(),
    }
}

/// Whether an account found under the job's UPN is the one this job created (an earlier delivery
/// whose answer was lost), not someone else's.
fn is_ours(account: &User, onboard: &OnboardJob) -> bool {
    account.mail_nickname.as_deref() == Some(onboard.mail_nickname.as_str())
        && account.display_name.as_deref() == Some(onboard.display_name.as_str())
}

/// Runs an onboard job, as a list of steps: wait for the start time, read the facts, finish an
/// account an earlier delivery created, or validate, park until the start time, create (or adopt)
/// the account, hand the password over and apply licenses and groups.
pub async fn run(
    platform: &Platform,
    job: &Job,
    onboard: &OnboardJob,
    tenant: &TenantConnection,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let waiting_for = start_time_ahead(job, onboard, progress)?;
    let graph = platform
        .tenant_graph_until(tenant, progress.deadline())
        .await?;
    let upn = onboard.user_principal_name.as_str();
    // Validation (the reads also give the groups and licenses a resumed job still has to apply).
    let mut facts =
        reads::onboard_facts(&graph, upn, &onboard.groups, onboard.copy_from.as_ref()).await?;
    if progress.finished_step(CREATE_ACCOUNT).is_some() {
        return finish_created(platform, &graph, job, onboard, tenant, facts, progress).await;
    }

    let (password, password_check) = resolve_password(platform, job, onboard).await?;
    let resumed = progress.finished_step(VALIDATE).is_some();
    let adopted = adopt(&mut facts, onboard, resumed);
    let decision = rules::decide_onboard(onboard, tenant, &facts, password_check);
    if job.dry_run {
        return dry_run(platform, onboard, progress, &decision, password.secret_id()).await;
    }
    validate(platform, progress, &decision, resumed, password.secret_id()).await?;
    if let Some(start_at) = waiting_for {
        return park_until_start(platform, job, start_at, progress).await;
    }
    note_start_reached(progress).await?;
    let (secret_id, value) = match password {
        Password::Value { secret_id, value } => (Some(secret_id), value),
        Password::Ephemeral { value } => (None, value),
        Password::Unusable { .. } => {
            return Err(JobError::permanent("the password could not be read"));
        }
    };
    let (account_id, assigned) = match adopted {
        Some(account) => (
            record_adopted(progress, upn, &account).await?,
            account.assigned_licenses,
        ),
        None => match create(&graph, onboard, value, progress).await {
            Ok(id) => (id, Vec::new()),
            Err(error @ JobError::Permanent { .. }) => {
                forget_password(platform, secret_id.as_deref()).await?;
                return Err(error);
            }
            Err(error) => return Err(error),
        },
    };
    finish_password(platform, progress, secret_id.as_deref()).await?;
    access_pass::hand_over(platform, &graph, job, onboard, &account_id, progress).await?;
    apply(&graph, progress, &account_id, &decision, &assigned).await
}

/// The start time still ahead, if the job waits for one; an error (delivered again later) when
/// it is too close to park the job with the scheduler.
fn start_time_ahead(
    job: &Job,
    onboard: &OnboardJob,
    progress: &JobProgress,
) -> Result<Option<DateTime<Utc>>, JobError> {
    let waiting_for = onboard
        .start_at
        .filter(|start_at| *start_at > Utc::now() && !job.dry_run)
        // Released by the scheduler: its start time has come by the schedule's clock.
        .filter(|_| progress.finished_step(WAIT_FOR_START).is_none());
    match waiting_for {
        Some(start_at) if start_at - Utc::now() <= schedule::PARK_AFTER => {
            Err(JobError::transient(format!(
                "the account is to be created at {start_at}, not before"
            )))
        }
        waiting_for => Ok(waiting_for),
    }
}

/// An earlier delivery created the account: hand the password over and apply what is left.
async fn finish_created(
    platform: &Platform,
    graph: &TenantGraph,
    job: &Job,
    onboard: &OnboardJob,
    tenant: &TenantConnection,
    facts: reads::OnboardFacts,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    let decision = rules::decide_onboard(
        onboard,
        tenant,
        &facts,
        Check::pass("password", "already used"),
    );
    let Some(account) = facts.existing_account else {
        return Err(JobError::permanent(format!(
            "the account {} this job created no longer exists",
            onboard.user_principal_name
        )));
    };
    let secret_id = password_secret(platform, job, onboard);
    finish_password(platform, progress, secret_id.as_deref()).await?;
    access_pass::hand_over(platform, graph, job, onboard, &account.id, progress).await?;
    apply(
        graph,
        progress,
        &account.id,
        &decision,
        &account.assigned_licenses,
    )
    .await
}

/// The account found under the job's UPN, when an earlier delivery validated the job, then
/// created it and lost the answer: it is taken out of the facts, so the rules do not see the UPN
/// as taken.
fn adopt(facts: &mut reads::OnboardFacts, onboard: &OnboardJob, resumed: bool) -> Option<User> {
    match &facts.existing_account {
        Some(account) if resumed && is_ours(account, onboard) => facts.existing_account.take(),
        _ => None,
    }
}

/// Records the checks and the `validate` step (once); a failed check ends the job, its password
/// secret deleted.
async fn validate(
    platform: &Platform,
    progress: &mut JobProgress,
    decision: &OnboardDecision,
    resumed: bool,
    secret_id: Option<&str>,
) -> Result<(), JobError> {
    if !resumed {
        steps::record_checks(progress, &decision.checks).await?;
    }
    if let Some(reason) = rules::failures(&decision.checks) {
        forget_password(platform, secret_id).await?;
        return Err(JobError::permanent(reason));
    }
    if !resumed {
        progress
            .step(step(
                VALIDATE,
                StepOutcome::Done,
                None,
                format!("{} checks passed", decision.checks.len()),
            ))
            .await?;
    }
    Ok(())
}

/// Hands the validated job to the scheduler until `start_at`.
async fn park_until_start(
    platform: &Platform,
    job: &Job,
    start_at: DateTime<Utc>,
    progress: &mut JobProgress,
) -> Result<JobStatus, JobError> {
    schedule::park(platform, job, start_at).await?;
    progress
        .park(step(
            WAIT_FOR_START,
            StepOutcome::Pending,
            None,
            format!("validated; the account is created at {start_at}, not before"),
        ))
        .await?;
    Ok(JobStatus::Queued)
}

/// Marks a parked job's wait done, once its start time came.
async fn note_start_reached(progress: &mut JobProgress) -> Result<(), JobError> {
    let parked = progress
        .record()
        .steps
        .iter()
        .any(|s| s.name == WAIT_FOR_START && s.outcome == StepOutcome::Pending);
    if parked {
        progress
            .step(step(
                WAIT_FOR_START,
                StepOutcome::Done,
                None,
                "start time reached",
            ))
            .await?;
    }
    Ok(())
}

/// Records that the account an earlier delivery created is this job's; returns its id.
async fn record_adopted(
    progress: &mut JobProgress,
    upn: &str,
    account: &User,
) -> Result<String, JobError> {
    progress
        .step(step(
            CREATE_ACCOUNT,
            StepOutcome::Done,
            None,
            format!(
                "account {upn} ({}) found: created by an earlier delivery of this job",
                account.id
            ),
        ))
        .await?;
    Ok(account.id.clone())
}

/// POST /users; a duplicate-UPN answer after a lost response adopts the account if it is ours.
async fn create(
    graph: &TenantGraph,
    onboard: &OnboardJob,
    password: SecretString,
    progress: &mut JobProgress,
) -> Result<String, JobError> {
    let upn = onboard.user_principal_name.as_str();
    match graph.create_user(&new_user(onboard, password)).await {
        Ok(receipt) => {
            progress
                .step(step(
                    CREATE_ACCOUNT,
                    StepOutcome::Done,
                    receipt.request_id,
                    format!("created account {upn} ({})", receipt.value.id),
                ))
                .await?;
            Ok(receipt.value.id)
        }
        Err(error) if error.is_duplicate_upn() => match reads::account_by_upn(graph, upn).await? {
            Some(account) if is_ours(&account, onboard) => {
                progress
                    .step(step(
                        CREATE_ACCOUNT,
                        StepOutcome::Done,
                        error.request_id().map(str::to_owned),
                        format!("account {upn} ({}) already created by this job", account.id),
                    ))
                    .await?;
                Ok(account.id)
            }
            _ => {
                record_create_failure(progress, &error).await?;
                Err(JobError::permanent(format!(
                    "user principal name {upn} was taken by another account before this job could create it"
                )))
            }
        },
        Err(error) if error.is_retryable() => Err(error.into()),
        Err(error) => {
            record_create_failure(progress, &error).await?;
            Err(JobError::permanent(format!(
                "account {upn} was not created, so no license or group was changed: {error}"
            )))
        }
    }
}

async fn record_create_failure(
    progress: &mut JobProgress,
    error: &graph::GraphError,
) -> Result<(), JobError> {
    progress
        .step(step(
            CREATE_ACCOUNT,
            StepOutcome::Failed,
            error.request_id().map(str::to_owned),
            format!("not created: {error}"),
        ))
        .await
}

/// The password secret a job references (or the one its generated password went to), when it is
/// one this bundle may delete.
fn password_secret(platform: &Platform, job: &Job, onboard: &OnboardJob) -> Option<String> {
    let secret_id = match &onboard.password {
        PasswordSource::Secret { secret_id } => secret_id.clone(),
        PasswordSource::Generate => platform
            .vault
            .onboarding_password_name(&job.tenant_id, &job.job_id),
        PasswordSource::TemporaryAccessPass { .. } => return None,
    };
    platform
        .vault
        .is_password_of(&job.tenant_id, &job.job_id, &secret_id)
        .then_some(secret_id)
}

/// Deletes the job's password secret, if any, after the job failed for good. Errors are logged: the
/// job has already ended, and the secret's name holds no secret.
pub(crate) async fn forget_password_of(platform: &Platform, job: &Job, onboard: &OnboardJob) {
    let secret_id = password_secret(platform, job, onboard);
    if let Err(error) = forget_password(platform, secret_id.as_deref()).await {
        tracing::warn!(job_id = %job.job_id, %error, "could not delete the password secret of a failed onboarding");
    }
}

/// Deletes the password secret once the account exists (recorded, so it is done once).
async fn finish_password(
    platform: &Platform,
    progress: &mut JobProgress,
    secret_id: Option<&str>,
) -> Result<(), JobError> {
    let Some(secret_id) = secret_id else {
        return Ok(());
    };
    if progress.finished_step(DELETE_PASSWORD).is_some() {
        return Ok(());
    }
    forget_password(platform, Some(secret_id)).await?;
    progress
        .step(step(
            DELETE_PASSWORD,
            StepOutcome::Done,
            None,
            format!("deleted the password secret {secret_id}"),
        ))
        .await
}

/// Licenses (one assignLicense) then groups (`$batch`), skipping what an earlier delivery did.
/// `assigned` is what the account holds already, as read by this delivery: an earlier delivery
/// may have assigned the licenses and died before recording it, and the account gets one
/// assignment, not two.
async fn apply(
    graph: &TenantGraph,
    progress: &mut JobProgress,
    account_id: &str,
    decision: &OnboardDecision,
    assigned: &[AssignedLicense],
) -> Result<JobStatus, JobError> {
    if !decision.licenses.is_empty() && progress.finished_step(ASSIGN_LICENSES).is_none() {
        assign_licenses(graph, progress, account_id, decision, assigned).await?;
    }
    let changes: Vec<(GroupChange, rules::GroupChoice)> = decision
        .groups
        .iter()
        .map(|group| (GroupChange::Add, group.clone()))
        .collect();
    steps::change_groups(graph, progress, account_id, &changes).await?;
    Ok(steps::final_status(progress))
}

/// The one assignLicense of the job, for the licenses the account does not hold yet; when it
/// holds them all (an earlier delivery assigned them and died before recording it), the step is
/// recorded done without a second request.
async fn assign_licenses(
    graph: &TenantGraph,
    progress: &mut JobProgress,
    account_id: &str,
    decision: &OnboardDecision,
    assigned: &[AssignedLicense],
) -> Result<(), JobError> {
    let names = decision
        .licenses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let add: Vec<AssignedLicense> = decision
        .licenses
        .iter()
        .filter(|sku| {
            !assigned
                .iter()
                .any(|held| held.sku_id.eq_ignore_ascii_case(&sku.sku_id))
        })
        .map(|sku| AssignedLicense::sku(sku.sku_id.clone()))
        .collect();
    if add.is_empty() {
        return progress
            .step(step(
                ASSIGN_LICENSES,
                StepOutcome::Done,
                None,
                format!("{names} already assigned, by an earlier delivery of this job"),
            ))
            .await;
    }
    match graph.assign_license(account_id, &add, &[]).await {
        Ok(receipt) => {
            progress
                .step(step(
                    ASSIGN_LICENSES,
                    StepOutcome::Done,
                    receipt.request_id,
                    format!("assigned {names}"),
                ))
                .await
        }
        Err(error) if error.is_retryable() => Err(error.into()),
        Err(error) => {
            progress
                .step(step(
                    ASSIGN_LICENSES,
                    StepOutcome::Failed,
                    error.request_id().map(str::to_owned),
                    format!("not assigned ({names}): {error}"),
                ))
                .await
        }
    }
}

/// Records every check and the plan, deletes the password secret (a dry run ends the job), and
/// writes nothing in the tenant.
async fn dry_run(
    platform: &Platform,
    onboard: &OnboardJob,
    progress: &mut JobProgress,
    decision: &OnboardDecision,
    secret_id: Option<&str>,
) -> Result<JobStatus, JobError> {
    steps::record_checks(progress, &decision.checks).await?;
    steps::record_plan(progress, &decision.plan(onboard)).await?;
    forget_password(platform, secret_id).await?;
    match rules::failures(&decision.checks) {
        Some(reason) => Err(JobError::permanent(reason)),
        None => Ok(JobStatus::Succeeded),
    }
}
