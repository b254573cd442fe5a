//! The adapters against real AWS SDK clients and a moto server on loopback (started per test by
//! `local-aws`; a missing moto_server fails the test with the command that installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use devstack::{Template, template_path};
use futures::TryStreamExt;
use lifecycle::model::{
    Account, ConnectionMode, ConnectionStatus, Group, GroupKind, Job, JobKind, JobRecord,
    JobStatus, LastSignIn, Membership, OAuthState, OnboardJob, PasswordSource, Sku, SyncJob,
    SyncRun, SyncRunStatus, TenantAuth, TenantConnection, TenantIndexEntry,
};
use lifecycle::store::keys;
use lifecycle::{
    AccountId, AppCredential, AwsClients, DomainName, GroupId, JobId, LeaseOutcome, OrgId,
    PutOutcome, Queue, Record, SkuId, SkuPartNumber, Store, StoreError, SyncRunId, TenantId, Upn,
    UsageLocation, Vault, VaultError,
};
use local_aws::Moto;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

const TABLE: &str = "lifecycle-test";

/// One moto server and the clients pointed at it; the server stops when this is dropped.
struct Local {
    moto: Moto,
    clients: AwsClients,
}

async fn spawn() -> Local {
    let moto = Moto::start()
        .await
        .expect("moto_server starts (run `make venv`)");
    let clients = AwsClients::new(&moto.sdk_config().await);
    Local { moto, clients }
}

/// Creates the table as infra/template.yaml says (the devstack's provisioning of that table).
async fn store(local: &Local) -> Store {
    let template = Template::load(&template_path()).expect("infra/template.yaml");
    let config = local.moto.sdk_config().await;
    devstack::provision::table(&template, &config, TABLE)
        .await
        .expect("create table");
    Store::new(local.clients.dynamodb.clone(), TABLE)
}

fn tenant(n: u32) -> TenantId {
    TenantId::parse(&format!("72f988bf-86f1-41af-91ab-{n:012}")).expect("tenant id")
}

fn account_id(n: u32) -> AccountId {
    AccountId::parse(&format!("00000000-0000-4000-8000-{n:012}")).expect("account id")
}

fn group_id(n: u32) -> GroupId {
    GroupId::parse(&format!("00000000-0000-4000-9000-{n:012}")).expect("group id")
}

fn sku_id() -> SkuId {
    SkuId::parse("c7df2760-2c81-4ef7-b578-5b5392b571df").expect("sku id")
}

fn account(n: u32) -> Account {
    Account {
        id: account_id(n),
        upn: Upn::parse(&format!("user{n}@contoso.com")).expect("upn"),
        display_name: format!("User {n}"),
        enabled: true,
        usage_location: Some(UsageLocation::parse("US").expect("country")),
        user_type: "Member".into(),
        on_premises_synced: false,
        licenses: vec![lifecycle::model::AssignedLicense {
            sku_id: sku_id(),
            assigned_by_group: None,
        }],
        last_sign_in: LastSignIn::NotAvailable {
            reason: "needs Entra ID P1".into(),
        },
        mailbox: None,
        deleted: false,
        profile: Default::default(),
    }
}

fn connection(tenant_id: &TenantId) -> TenantConnection {
    TenantConnection {
        tenant_id: tenant_id.clone(),
        org_id: OrgId::parse("acme").expect("org"),
        display_name: "Contoso".into(),
        verified_domains: vec![DomainName::parse("contoso.com").expect("domain")],
        mode: ConnectionMode::ReadWrite,
        auth: TenantAuth::Consent,
        status: ConnectionStatus::Connected,
        consented_at: Utc::now(),
        last_sync: None,
        next_sync_due: None,
        sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
        options: Default::default(),
        has_p1: None,
        generation: None,
    }
}

fn sync_job(tenant_id: &TenantId) -> Job {
    Job {
        job_id: JobId::new(),
        tenant_id: tenant_id.clone(),
        dry_run: false,
        kind: JobKind::Sync(SyncJob {
            sync_run_id: SyncRunId::new(),
            full: true,
            resume: None,
        }),
    }
}

async fn raw_item(
    store: &Store,
    key: &keys::Key,
) -> std::collections::HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(key.pk().into()))
        .key("sk", AttributeValue::S(key.sk().into()))
        .send()
        .await
        .expect("get item")
        .item
        .expect("item exists")
}

#[tokio::test]
async fn given_a_job_record_when_written_twice_with_put_new_then_the_second_is_already_exists() {
    // GIVEN a job record written once
    let local = spawn().await;
    let store = store(&local).await;
    let job = sync_job(&tenant(1));
    let key = keys::job(&job.tenant_id, &job.job_id);
    let first = JobRecord::queued(&job, Utc::now());
    assert_eq!(
        store.put_new(&key, &first).await.expect("first write"),
        PutOutcome::Created
    );

    // WHEN the same job id is written again with a different record
    let mut second = first.clone();
    second.status = JobStatus::Running;
    let outcome = store.put_new(&key, &second).await.expect("second write");

    // THEN it is refused as already existing and the first record is untouched
    assert_eq!(outcome, PutOutcome::AlreadyExists);
    let stored: JobRecord = store.get(&key).await.expect("get").expect("record");
    assert_eq!(stored, first);
}

#[tokio::test]
async fn given_two_holders_when_they_contend_for_a_lease_then_one_wins_until_expiry_or_release() {
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(2);
    let ttl = Duration::from_secs(60);
    let now = Utc::now();

    // GIVEN worker A takes the lease
    let LeaseOutcome::Acquired(lease_a) = store
        .acquire_lease_at(&tenant_id, "worker-a", ttl, now)
        .await
        .expect("acquire a")
    else {
        panic!("A must get a free lease");
    };

    // WHEN worker B tries while it is valid THEN B is told who holds it and until when
    let held = store
        .acquire_lease_at(
            &tenant_id,
            "worker-b",
            ttl,
            now + chrono::Duration::seconds(30),
        )
        .await
        .expect("acquire b");
    assert_eq!(
        held,
        LeaseOutcome::Held {
            holder: "worker-a".into(),
            until: lease_a.until
        }
    );

    // WHEN A releases it THEN B gets it at once
    store.release_lease(&lease_a).await.expect("release a");
    let LeaseOutcome::Acquired(lease_b) = store
        .acquire_lease_at(&tenant_id, "worker-b", ttl, now)
        .await
        .expect("acquire b after release")
    else {
        panic!("B must get a released lease");
    };

    // WHEN A tries again while B holds it THEN A is refused; A's stale release leaves B's lease
    assert!(matches!(
        store.acquire_lease_at(&tenant_id, "worker-a", ttl, now).await.expect("acquire a"),
        LeaseOutcome::Held { ref holder, .. } if holder == "worker-b"
    ));
    store
        .release_lease(&lease_a)
        .await
        .expect("stale release is harmless");

    // WHEN B's lease has expired THEN A steals it, and B's renewal reports the loss
    let after_expiry = lease_b.until + chrono::Duration::seconds(1);
    let LeaseOutcome::Acquired(lease_a2) = store
        .acquire_lease_at(&tenant_id, "worker-a", ttl, after_expiry)
        .await
        .expect("acquire a after expiry")
    else {
        panic!("A must get an expired lease");
    };
    assert_eq!(lease_a2.holder, "worker-a");
    let lost = store
        .renew_lease(&lease_b, ttl)
        .await
        .expect_err("B lost the lease");
    assert!(
        matches!(lost, StoreError::LeaseLost { ref holder, .. } if holder.as_deref() == Some("worker-a")),
        "{lost}"
    );
    assert!(!lost.is_retryable());

    // AND the holder can renew its own lease
    let renewed = store.renew_lease(&lease_a2, ttl).await.expect("A renews");
    assert_eq!(renewed.holder, "worker-a");
}

/// A record big enough (about 2 KB) that 1,000 of them span several 1 MB query pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Padded {
    n: u32,
    padding: String,
}

impl Record for Padded {}

#[tokio::test]
async fn given_1000_items_when_batch_written_then_the_stream_reads_them_all_back_across_pages() {
    // GIVEN 1,000 items of about 2 KB in one partition (2 MB: more than one 1 MB query page)
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(3);
    let items: Vec<(keys::Key, Padded)> = (0..1_000u32)
        .map(|n| {
            let job = JobId::parse(&format!("job-{n:04}")).expect("job id");
            let record = Padded {
                n,
                padding: "x".repeat(2_000),
            };
            (keys::job(&tenant_id, &job), record)
        })
        .collect();

    // WHEN they are batch written and read back through the query stream
    let written = store.batch_put(items).await.expect("batch put");
    let read: Vec<Padded> = store
        .query::<Padded>(&keys::job_partition(&tenant_id), None)
        .try_collect()
        .await
        .expect("query");

    // THEN DynamoDB needs more than one page for them (so the stream followed the pages)
    let first_page = store
        .client()
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(keys::job_partition(&tenant_id).to_string()),
        )
        .send()
        .await
        .expect("raw query");
    assert!(first_page.last_evaluated_key.is_some());
    assert!(first_page.count < 1_000);
    // AND every item comes back once, in sort-key order
    assert_eq!(written, 1_000);
    assert_eq!(read.len(), 1_000);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, item)| item.n as usize == i)
    );

    // AND a sort-key prefix narrows the read
    let prefixed = store
        .query::<Padded>(&keys::job_partition(&tenant_id), Some("job-09"))
        .try_collect::<Vec<_>>()
        .await
        .expect("prefix query");
    assert_eq!(prefixed.len(), 100);
}

#[tokio::test]
async fn given_1000_accounts_when_batch_written_then_they_spread_over_every_shard_and_read_back() {
    // GIVEN 1,000 accounts of one tenant
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(4);
    let accounts = (0..1_000u32).map(|n| (keys::account(&tenant_id, &account_id(n)), account(n)));

    // WHEN they are batch written
    store.batch_put(accounts).await.expect("batch put");

    // THEN each of the 16 account partitions holds some, and together all of them
    let mut ids = HashSet::new();
    for partition in keys::account_partitions(&tenant_id) {
        let in_partition: Vec<Account> = store
            .query(&partition, None)
            .try_collect()
            .await
            .expect("query shard");
        assert!(!in_partition.is_empty(), "{partition} is empty");
        ids.extend(in_partition.into_iter().map(|account| account.id));
    }
    assert_eq!(ids.len(), 1_000);
    assert_eq!(
        store
            .get::<Account>(&keys::account(&tenant_id, &account_id(7)))
            .await
            .expect("get"),
        Some(account(7))
    );
}

#[tokio::test]
async fn given_stored_skus_when_replaced_with_what_graph_answered_then_new_and_changed_are_written_and_gone_ones_deleted()
 {
    // GIVEN a tenant with two stored SKUs, and 300 stored accounts read back through the
    // repository (every shard)
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(11);
    let sku = |id: &str, part: &str, consumed: u32| Sku {
        sku_id: SkuId::parse(id).expect("sku id"),
        part_number: SkuPartNumber::parse(part).expect("part"),
        enabled: 10,
        suspended: 0,
        warning: 0,
        consumed,
        capability_status: "Enabled".into(),
    };
    let (kept, changed, gone, new) = (
        "c7df2760-2c81-4ef7-b578-5b5392b571df",
        "6fd2c87f-b296-42f0-b197-1e91e994b900",
        "f30db892-07e9-47e9-837c-80727f46fd3d",
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
    );
    let first = store
        .replace_skus(
            &tenant_id,
            &[
                sku(kept, "SPE_E5", 3),
                sku(changed, "ENTERPRISEPACK", 4),
                sku(gone, "EMS", 1),
            ],
        )
        .await
        .expect("first replace");
    assert_eq!((first.written, first.removed), (3, 0));
    let accounts: Vec<Account> = (0..300u32).map(account).collect();
    assert_eq!(
        store
            .put_accounts(&tenant_id, accounts.clone())
            .await
            .expect("accounts"),
        300
    );

    // WHEN the SKUs are replaced by what Graph answers now: one kept as it was, one with a seat
    // more consumed, one new, one no longer subscribed
    let now = [
        sku(kept, "SPE_E5", 3),
        sku(changed, "ENTERPRISEPACK", 5),
        sku(new, "POWER_BI_PRO", 0),
    ];
    let replaced = store.replace_skus(&tenant_id, &now).await.expect("replace");

    // THEN only the changed and the new SKU were written, the gone one deleted, and the store
    // holds exactly what Graph answered
    assert_eq!((replaced.written, replaced.removed), (2, 1));
    let stored = store.skus(&tenant_id).await.expect("skus");
    assert_eq!(stored.len(), 3);
    for sku in &now {
        assert_eq!(stored.get(&sku.sku_id), Some(sku));
    }
    // AND the accounts stream reads every account back across the shards
    let read: HashSet<AccountId> = store
        .accounts(&tenant_id)
        .map_ok(|account| account.id)
        .try_collect()
        .await
        .expect("accounts");
    assert_eq!(read, accounts.into_iter().map(|a| a.id).collect());
}

#[tokio::test]
async fn given_short_lived_records_when_written_then_they_carry_the_ttl_attribute_and_others_do_not()
 {
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(5);
    let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");

    // GIVEN a finished job record, an OAuth state and a tenant connection
    let job = sync_job(&tenant_id);
    let mut record = JobRecord::queued(&job, now);
    record.status = JobStatus::Succeeded;
    record.completed_at = Some(now);
    let state = OAuthState {
        nonce: "n0nce".into(),
        org_id: OrgId::parse("acme").expect("org"),
        mode: ConnectionMode::Read,
        created_at: now,
        valid_until: now + chrono::Duration::minutes(10),
    };

    // WHEN they are written
    let job_key = keys::job(&tenant_id, &job.job_id);
    store.put(&job_key, &record).await.expect("put job");
    store
        .put(&keys::oauth_state("n0nce"), &state)
        .await
        .expect("put state");
    store
        .put(&keys::tenant_meta(&tenant_id), &connection(&tenant_id))
        .await
        .expect("put tenant");

    // THEN the short-lived ones hold expires_at in epoch seconds; the tenant has none
    let expected_job = (now + lifecycle::model::JOB_RECORD_RETENTION)
        .timestamp()
        .to_string();
    assert_eq!(
        raw_item(&store, &job_key).await.get("expires_at"),
        Some(&AttributeValue::N(expected_job))
    );
    let expected_state = (now.timestamp() + 600).to_string();
    assert_eq!(
        raw_item(&store, &keys::oauth_state("n0nce"))
            .await
            .get("expires_at"),
        Some(&AttributeValue::N(expected_state))
    );
    assert_eq!(
        raw_item(&store, &keys::tenant_meta(&tenant_id))
            .await
            .get("expires_at"),
        None
    );
    // AND the record reads back intact
    assert_eq!(
        store
            .get::<OAuthState>(&keys::oauth_state("n0nce"))
            .await
            .expect("get"),
        Some(state)
    );
}

#[tokio::test]
async fn given_a_tenant_with_every_kind_of_item_when_deleted_then_nothing_of_it_remains() {
    let local = spawn().await;
    let store = store(&local).await;
    let (gone, kept) = (tenant(6), tenant(7));

    // GIVEN one item of every kind for the tenant to remove, and a tenant to keep
    for tenant_id in [&gone, &kept] {
        let job = sync_job(tenant_id);
        let run_id = SyncRunId::new();
        let started = Utc::now();
        store
            .put(&keys::tenant_meta(tenant_id), &connection(tenant_id))
            .await
            .expect("meta");
        store
            .put(
                &keys::tenant_index_entry(tenant_id),
                &TenantIndexEntry::from(&connection(tenant_id)),
            )
            .await
            .expect("index");
        store
            .acquire_lease(tenant_id, "w", Duration::from_secs(60))
            .await
            .expect("lease");
        store
            .put(
                &keys::delta_link(tenant_id, "users"),
                &Padded {
                    n: 0,
                    padding: "link".into(),
                },
            )
            .await
            .expect("delta");
        store
            .put(&keys::account(tenant_id, &account_id(1)), &account(1))
            .await
            .expect("account");
        let group = Group {
            id: group_id(1),
            display_name: "Sales".into(),
            kind: GroupKind::Security,
            dynamic: false,
            mail_enabled: false,
            deleted: false,
        };
        store
            .put(&keys::group(tenant_id, &group.id), &group)
            .await
            .expect("group");
        let membership = Membership {
            group_id: group_id(1),
            account_id: account_id(1),
        };
        store
            .add_memberships(tenant_id, &[membership])
            .await
            .expect("membership");
        let sku = Sku {
            sku_id: sku_id(),
            part_number: SkuPartNumber::parse("SPE_E5").expect("part"),
            enabled: 10,
            suspended: 0,
            warning: 0,
            consumed: 3,
            capability_status: "Enabled".into(),
        };
        store
            .put(&keys::sku(tenant_id, &sku.sku_id), &sku)
            .await
            .expect("sku");
        let run = SyncRun {
            id: run_id.clone(),
            tenant_id: tenant_id.clone(),
            status: SyncRunStatus::Ok,
            started_at: started,
            ended_at: Some(started),
            full: true,
            counts: Default::default(),
            graph: Default::default(),
            error: None,
        };
        store
            .put(&keys::sync_run(tenant_id, started, &run_id), &run)
            .await
            .expect("run");
        store
            .put(
                &keys::job(tenant_id, &job.job_id),
                &JobRecord::queued(&job, started),
            )
            .await
            .expect("job");
    }

    // WHEN the tenant is removed
    let deleted = store.delete_tenant(&gone).await.expect("delete tenant");

    // THEN none of its items remain but its connection, which the removal deletes last (scan
    // the whole table), and the other tenant's 10 do
    let scan = store
        .client()
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan");
    let remaining: BTreeSet<(String, String)> = scan
        .items
        .unwrap_or_default()
        .iter()
        .filter_map(|item| {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            Some((text("pk")?, text("sk")?))
        })
        .collect();
    assert_eq!(deleted, 9);
    let meta = keys::tenant_meta(&gone);
    assert!(
        remaining
            .iter()
            .filter(|(pk, sk)| pk.contains(gone.as_str()) || sk.contains(gone.as_str()))
            .all(|(pk, sk)| pk == meta.pk() && sk == meta.sk()),
        "{remaining:?}"
    );
    assert_eq!(scan.count, 11);
    assert!(
        store
            .get::<TenantIndexEntry>(&keys::tenant_index_entry(&kept))
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get::<TenantIndexEntry>(&keys::tenant_index_entry(&gone))
            .await
            .expect("get")
            .is_none()
    );
}

fn onboard_job(tenant_id: &TenantId, secret_id: String) -> Job {
    Job {
        job_id: JobId::new(),
        tenant_id: tenant_id.clone(),
        dry_run: false,
        kind: JobKind::Onboard(OnboardJob {
            given_name: "Adele".into(),
            surname: "Vance".into(),
            display_name: "Adele Vance".into(),
            mail_nickname: "adele".into(),
            user_principal_name: Upn::parse("Adele@contoso.com").expect("upn"),
            usage_location: UsageLocation::parse("US").expect("country"),
            immutable_id: None,
            job_title: None,
            department: None,
            groups: vec![group_id(1)],
            licenses: vec![],
            copy_from: None,
            start_at: None,
            password: PasswordSource::Secret { secret_id },
        }),
    }
}

#[tokio::test]
async fn given_a_fifo_queue_when_a_job_is_sent_then_it_keeps_group_dedup_id_and_type() {
    // GIVEN a FIFO queue
    let local = spawn().await;
    let sqs = &local.clients.sqs;
    let queue_url = sqs
        .create_queue()
        .queue_name("onboarding.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let queue = Queue::new(sqs.clone());
    let job = onboard_job(&tenant(8), "secret-ref".into());

    // WHEN the job is sent twice (a retried send)
    queue.send_job(&queue_url, &job).await.expect("send");
    queue.send_job(&queue_url, &job).await.expect("send again");
    let messages = queue.receive(&queue_url, 10, 1, 30).await.expect("receive");

    // THEN one message arrives, grouped by tenant and account, deduplicated by (tenant, job id)
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(
        message.message_group_id(),
        Some(format!("{}:adele@contoso.com", job.tenant_id).as_str())
    );
    let deduplication_id = lifecycle::queue::deduplication_id(&job, None);
    assert_eq!(message.deduplication_id(), Some(deduplication_id.as_str()));
    assert_eq!(
        deduplication_id.len(),
        64,
        "SQS allows at most 128 characters"
    );
    assert_eq!(message.job_type(), Some("onboard"));
    assert_eq!(message.receive_count(), 1);
    let body: Job = serde_json::from_str(&message.body).expect("job json");
    assert_eq!(body, job);

    // AND making it visible again redelivers it; deleting it empties the queue
    queue
        .change_visibility(&queue_url, &message.receipt_handle, 0)
        .await
        .expect("visibility");
    let again = queue
        .receive(&queue_url, 10, 1, 30)
        .await
        .expect("receive again");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count(), 2);
    queue
        .delete(&queue_url, &again[0].receipt_handle)
        .await
        .expect("delete");
    assert!(
        queue
            .receive(&queue_url, 10, 0, 30)
            .await
            .expect("receive empty")
            .is_empty()
    );
}

#[tokio::test]
async fn given_a_standard_queue_when_a_sync_job_is_sent_then_it_has_no_group_and_its_type() {
    let local = spawn().await;
    let sqs = &local.clients.sqs;
    let queue_url = sqs
        .create_queue()
        .queue_name("sync")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let queue = Queue::new(sqs.clone());
    let job = sync_job(&tenant(9));

    queue.send_job(&queue_url, &job).await.expect("send");
    let messages = queue.receive(&queue_url, 10, 1, 30).await.expect("receive");

    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message_group_id(), None);
    assert_eq!(messages[0].job_type(), Some("sync"));
    assert_eq!(
        serde_json::from_str::<Job>(&messages[0].body).expect("json"),
        job
    );
}

#[tokio::test]
async fn given_secrets_when_stored_read_and_deleted_then_deleted_ones_read_as_not_found() {
    let local = spawn().await;
    let vault = Vault::new(local.clients.secrets.clone(), "test/");
    let tenant_id = tenant(10);
    let job = JobId::new();

    // GIVEN an onboarding password and an app credential
    let password = SecretString::from("Tr0ub4dor&3-horse");
    let written = vault
        .create_onboarding_password(&tenant_id, &job, &password)
        .await
        .expect("put password");
    let reference = written.name().to_owned();
    assert_eq!(
        written,
        lifecycle::SecretWrite::Created {
            name: format!("test/onboarding/{tenant_id}/{job}/password")
        }
    );
    // a second create leaves the first value (create-only: a password is never replaced)
    let again = vault
        .create_onboarding_password(&tenant_id, &job, &SecretString::from("Other-Pa55word"))
        .await
        .expect("create again");
    assert!(matches!(
        again,
        lifecycle::SecretWrite::AlreadyExists { .. }
    ));
    let credential = AppCredential {
        client_id: "app-123".into(),
        client_secret: SecretString::from("s3cr3t-value"),
    };
    vault
        .put_app_credential(&tenant_id, &credential)
        .await
        .expect("put credential");
    // a second put replaces the value
    let rotated = AppCredential {
        client_id: "app-123".into(),
        client_secret: SecretString::from("rotated-value"),
    };
    vault
        .put_app_credential(&tenant_id, &rotated)
        .await
        .expect("rotate credential");

    // THEN they read back, and Debug never shows the values
    assert_eq!(
        vault
            .get_onboarding_password(&tenant_id, &job)
            .await
            .expect("get")
            .expose_secret(),
        "Tr0ub4dor&3-horse"
    );
    assert_eq!(
        vault
            .get_secret(&reference)
            .await
            .expect("by reference")
            .expose_secret(),
        "Tr0ub4dor&3-horse"
    );
    let read = vault
        .get_app_credential(&tenant_id)
        .await
        .expect("get credential");
    assert_eq!(read.client_id, "app-123");
    assert_eq!(read.client_secret.expose_secret(), "rotated-value");
    let debug = format!("{read:?} {password:?}");
    assert!(
        !debug.contains("rotated-value") && !debug.contains("Tr0ub4dor"),
        "{debug}"
    );

    // WHEN they are deleted (twice: a retry must not fail)
    vault
        .delete_onboarding_password(&tenant_id, &job)
        .await
        .expect("delete password");
    vault
        .delete_onboarding_password(&tenant_id, &job)
        .await
        .expect("delete again");
    vault
        .delete_app_credential(&tenant_id)
        .await
        .expect("delete credential");

    // THEN reading them is a typed not-found naming the secret, not its value
    let err = vault
        .get_onboarding_password(&tenant_id, &job)
        .await
        .expect_err("deleted");
    assert!(
        matches!(err, VaultError::NotFound { ref secret_id } if *secret_id == reference),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(matches!(
        vault.get_app_credential(&tenant_id).await,
        Err(VaultError::NotFound { .. })
    ));
    // AND a platform secret that never existed reads the same way
    assert!(matches!(
        vault
            .get_platform_app_secret("test/platform/app-secret")
            .await,
        Err(VaultError::NotFound { .. })
    ));
}

#[path = "aws/jobs.rs"]
mod jobs;

#[path = "aws/memberships.rs"]
mod memberships;

#[tokio::test]
async fn given_a_stored_account_when_its_last_sign_in_is_set_then_only_that_attribute_changes_and_an_account_not_stored_is_not_created()
 {
    // GIVEN a stored account (as a sync wrote it) and an account that is not stored
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(1);
    let stored = account(1);
    store.put_account(&tenant_id, &stored).await.unwrap();
    let signed_in = LastSignIn::At {
        at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    };

    // WHEN the license refresh reads the page's stored last sign-ins and sets both
    let before = store
        .stored_accounts(&tenant_id, &[stored.id.clone(), account_id(2)])
        .await
        .unwrap();
    let written = store
        .set_last_sign_in(&tenant_id, &stored.id, &signed_in)
        .await
        .unwrap();
    let missing = store
        .set_last_sign_in(&tenant_id, &account_id(2), &signed_in)
        .await
        .unwrap();

    // THEN only the stored account was read, and only its last sign-in changed
    assert_eq!(before.len(), 1);
    assert_eq!(before[&stored.id], stored);
    assert!(written);
    let read = store
        .account(&tenant_id, &stored.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read,
        Account {
            last_sign_in: signed_in.clone(),
            ..stored.clone()
        }
    );
    let after = store
        .stored_accounts(&tenant_id, std::slice::from_ref(&stored.id))
        .await
        .unwrap();
    assert_eq!(after[&stored.id].last_sign_in, signed_in);
    // ... and no account was made up for the one that is not stored
    assert!(!missing);
    assert!(
        store
            .account(&tenant_id, &account_id(2))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn given_a_saved_sign_in_cursor_when_another_delivery_saves_the_same_page_then_it_is_refused_and_the_next_page_is_kept()
 {
    // GIVEN one delivery of a refresh job saved its first sign-in page
    let local = spawn().await;
    let store = store(&local).await;
    let tenant_id = tenant(1);
    let job = JobId::new();
    let mut cursor = lifecycle::store::SignInCursor {
        next_link: Some("https://graph.microsoft.com/v1.0/users?$skiptoken=page2".into()),
        pages: 1,
        read: 120,
        updated: 7,
        invocations: 1,
        updated_at: Some(Utc::now()),
        inactive: Some(lifecycle::license_report::InactiveTally {
            cutoff: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            total: 2,
            oldest: vec![lifecycle::license_report::InactiveName {
                upn: "never@contoso.example".into(),
                last_sign_in: None,
            }],
        }),
    };
    assert!(
        store
            .save_sign_in_cursor(&tenant_id, &job, &cursor)
            .await
            .unwrap()
    );

    // WHEN a second delivery of the same job saves the same page, then the first its next
    let second = store
        .save_sign_in_cursor(&tenant_id, &job, &cursor)
        .await
        .unwrap();
    cursor.pages = 2;
    cursor.next_link = None;
    let next = store
        .save_sign_in_cursor(&tenant_id, &job, &cursor)
        .await
        .unwrap();

    // THEN the second delivery's save is refused (it stops), the next page is kept, under the
    // tenant and the job only
    assert!(!second);
    assert!(next);
    assert_eq!(
        store.sign_in_cursor(&tenant_id, &job).await.unwrap(),
        Some(cursor)
    );
    assert_eq!(store.sign_in_cursor(&tenant(2), &job).await.unwrap(), None);
}
