//! The opt-in options of an offboarding: authentication methods, app role assignments,
//! delegated grants and the automatic reply; each planned, run and read back, and a missing
//! permission named.

use super::*;

/// The member account with the most to take away through the opt-in options: registered
/// authentication methods, app role assignments and delegated grants.
fn most_access(truth: &Truth) -> TruthUser {
    truth
        .users
        .iter()
        .filter(|u| u.account_enabled && u.user_type == "Member" && !u.on_premises_sync_enabled)
        .max_by_key(|u| {
            (
                !u.app_role_assignment_ids.is_empty(),
                !u.permission_grant_ids.is_empty(),
                u.auth_methods.len(),
            )
        })
        .cloned()
        .expect("a member account")
}

fn with_every_option(mut job: Job) -> Job {
    if let JobKind::Offboard(spec) = &mut job.kind {
        spec.remove_authentication_methods = true;
        spec.remove_app_role_assignments = true;
        spec.remove_permission_grants = true;
        spec.automatic_reply = Some(AutomaticReply {
            internal_message: "Adele has left; please write to hr@contoso.com".into(),
            external_message: Some("This mailbox is no longer monitored.".into()),
        });
    }
    job
}

const OPTION_STEPS: [&str; 4] = [
    "remove_authentication_methods",
    "remove_app_role_assignments",
    "remove_permission_grants",
    "set_automatic_reply",
];

#[tokio::test]
async fn given_every_option_when_planned_then_run_then_devices_app_access_and_grants_are_gone_and_the_reply_is_on()
 {
    // GIVEN an account with registered authentication methods (phone, Authenticator, ...), an
    // app role assignment and a delegated permission grant
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let before = env.truth();
    let target = most_access(&before);
    assert!(
        !target.auth_methods.is_empty()
            && !target.app_role_assignment_ids.is_empty()
            && !target.permission_grant_ids.is_empty(),
        "{target:?}"
    );

    // WHEN a dry run with every option is delivered
    let mut dry = with_every_option(env.job(&target.id, OffboardPolicy::KeepDisabled));
    dry.dry_run = true;
    assert!(env.deliver(&dry).await.batch_item_failures.is_empty());

    // THEN the plan shows each option after block and revoke, pending, with what it would remove
    // (the password is kept), and nothing changed in the tenant
    let record = env.record(&dry).await;
    let names: Vec<_> = record.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(&names[4..8], OPTION_STEPS, "{names:?}");
    for name in OPTION_STEPS {
        assert_eq!(step(&record, name).outcome, StepOutcome::Pending, "{name}");
    }
    let methods = step(&record, "remove_authentication_methods")
        .detail
        .clone()
        .unwrap_or_default();
    assert!(
        methods.contains(&format!(
            "remove {} authentication method(s)",
            target.auth_methods.len()
        )),
        "{methods}"
    );
    assert!(methods.contains("kept: password"), "{methods}");
    assert_eq!(user(&env.truth(), &target.id), Some(&target));

    // WHEN the real offboarding with every option is delivered
    let job = with_every_option(env.job(&target.id, OffboardPolicy::KeepDisabled));
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN each option's step is done with its request-id and a read-back
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    for name in OPTION_STEPS {
        let s = step(&record, name);
        assert_eq!(s.outcome, StepOutcome::Done, "{s:?}");
        assert!(s.graph_request_id.is_some(), "{s:?}");
        assert!(
            s.detail
                .as_deref()
                .unwrap_or_default()
                .contains("read-back"),
            "{s:?}"
        );
    }
    // ... and the simulator says: no method but the password, no app role assignment, no grant,
    // and the automatic reply is on with the job's message
    let after = env.truth();
    let account = user(&after, &target.id).expect("the account is kept");
    assert!(account.auth_methods.is_empty(), "{account:?}");
    assert!(account.app_role_assignment_ids.is_empty(), "{account:?}");
    assert!(account.permission_grant_ids.is_empty(), "{account:?}");
    assert_eq!(
        account.automatic_reply,
        Some((
            "alwaysEnabled".to_owned(),
            "Adele has left; please write to hr@contoso.com".to_owned()
        ))
    );
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_no_authentication_method_permission_when_that_option_is_asked_then_its_step_fails_naming_the_permission()
 {
    // GIVEN a tenant that granted every write permission but UserAuthenticationMethod.ReadWrite.All
    let roles: Vec<String> = [
        "User.Read.All",
        "Group.Read.All",
        "GroupMember.Read.All",
        "Organization.Read.All",
        "Domain.Read.All",
        "User.ReadWrite.All",
        "User.EnableDisableAccount.All",
        "User.DeleteRestore.All",
        "User.RevokeSessions.All",
        "LicenseAssignment.ReadWrite.All",
        "GroupMember.ReadWrite.All",
    ]
    .map(str::to_owned)
    .to_vec();
    let env = Env::start_with_roles(ConnectionMode::ReadWrite, roles).await;
    let before = env.truth();
    let target = most_access(&before);

    // WHEN the account is offboarded asking to remove its authentication methods
    let mut job = env.job(&target.id, OffboardPolicy::KeepDisabled);
    if let JobKind::Offboard(spec) = &mut job.kind {
        spec.remove_authentication_methods = true;
    }
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());

    // THEN that step failed naming the permission, the rest of the offboarding ran, and the job
    // says it completed with errors; the methods are still registered
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::CompletedWithErrors, "{record:#?}");
    let s = step(&record, "remove_authentication_methods");
    assert_eq!(s.outcome, StepOutcome::Failed);
    assert!(
        s.detail
            .as_deref()
            .unwrap_or_default()
            .contains("UserAuthenticationMethod.ReadWrite.All"),
        "{s:?}"
    );
    assert_eq!(step(&record, "block_sign_in").outcome, StepOutcome::Done);
    assert_eq!(step(&record, "keep_disabled").outcome, StepOutcome::Done);
    let account = user(&env.truth(), &target.id).cloned().expect("kept");
    assert_eq!(account.auth_methods, target.auth_methods);
    env.stack.shutdown().await;
}
