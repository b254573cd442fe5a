//! A group's members packed in items of at most 1 KB, against a real table in moto: what a first
//! write costs, two writers of one group at once, and a split cut short by a crash.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::TryStreamExt as _;
use lifecycle::model::Membership;
use lifecycle::store::{DirectoryChanges, keys};
use lifecycle::{AccountId, AwsClients, GroupId, Store, TenantId};
use local_aws::faults::{AfterAnswer, AwsCall, AwsFaultHook, with_faults};
use local_aws::hook::{self, Interleaving, Request};

use super::{TABLE, group_id, spawn, store, tenant};

fn member(n: u32) -> AccountId {
    AccountId::parse(&format!("0b9f1c2e-{n:04x}-4000-8000-{n:012}")).expect("account id")
}

fn memberships(group: &GroupId, members: impl IntoIterator<Item = u32>) -> Vec<Membership> {
    members
        .into_iter()
        .map(|n| Membership {
            group_id: group.clone(),
            account_id: member(n),
        })
        .collect()
}

async fn stored_members(store: &Store, tenant: &TenantId, group: &GroupId) -> BTreeSet<String> {
    let read: Vec<Membership> = store
        .group_members(tenant, group)
        .try_collect()
        .await
        .expect("members");
    let members: BTreeSet<String> = read.iter().map(|m| m.account_id.to_string()).collect();
    assert_eq!(members.len(), read.len(), "a member read twice");
    members
}

fn expected(members: impl IntoIterator<Item = u32>) -> BTreeSet<String> {
    members.into_iter().map(|n| member(n).to_string()).collect()
}

async fn items_of(store: &Store, tenant: &TenantId, group: &GroupId) -> usize {
    store
        .query_keys(
            &keys::group_members_partition(tenant, group),
            Some(&keys::group_members_prefix(group)),
        )
        .try_collect::<Vec<_>>()
        .await
        .expect("keys")
        .len()
}

#[tokio::test]
async fn given_a_group_of_500_members_when_a_sync_writes_them_then_they_fill_a_tenth_of_the_items_and_read_back_whole()
 {
    // GIVEN a tenant's group with 500 members, as a first sync's page brings them
    let local = spawn().await;
    let store = store(&local).await;
    let (tenant, group) = (tenant(1), group_id(1));
    let changes = DirectoryChanges {
        memberships: memberships(&group, 0..500),
        ..DirectoryChanges::default()
    };

    // WHEN the page is written
    let written = store
        .write_directory(&tenant, changes, 4)
        .await
        .expect("written");

    // THEN every membership counts as written, in far fewer items than one per membership (the
    // layout before wrote 500 items, 500 write units), each item within one write unit, written
    // in transactions (twice the units)
    assert_eq!(written.written, 500);
    let items = items_of(&store, &tenant, &group).await;
    assert!(items <= 50, "{items} items for 500 members");
    assert!(
        written.write_units <= 100,
        "{} write units for 500 members",
        written.write_units
    );
    // AND the group reads back whole, and so does the tenant
    assert_eq!(
        stored_members(&store, &tenant, &group).await,
        expected(0..500)
    );
    let all: Vec<Membership> = store.memberships(&tenant).try_collect().await.unwrap();
    assert_eq!(all.len(), 500);

    // WHEN one member leaves and one joins (a delta)
    let changes = DirectoryChanges {
        memberships: memberships(&group, [900]),
        removed: memberships(&group, [7])
            .into_iter()
            .map(lifecycle::store::DirectoryItem::Membership)
            .collect(),
        ..DirectoryChanges::default()
    };
    let written = store.write_directory(&tenant, changes, 4).await.unwrap();

    // THEN each costs one write unit, as one item per membership did
    assert_eq!((written.written, written.deleted), (1, 1));
    assert!(written.write_units <= 4, "{}", written.write_units);
    let wanted = expected((0..500).filter(|n| *n != 7).chain([900]));
    assert_eq!(stored_members(&store, &tenant, &group).await, wanted);
    // AND asking which memberships are stored finds exactly those
    let asked = memberships(&group, [6, 7, 900, 901]);
    let found = store.stored_memberships(&tenant, &asked).await.unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.contains(&asked[0]) && found.contains(&asked[2]));
}

#[tokio::test]
async fn given_two_writers_of_one_group_when_one_writes_between_the_others_read_and_write_then_neither_change_is_lost()
 {
    // GIVEN a group of 20 members (one leaf), and a writer whose first write of it is
    // preceded by another writer's change of the same leaf (adds 3, removes 2)
    let local = spawn().await;
    let plain = store(&local).await;
    let (tenant, group) = (tenant(2), group_id(2));
    plain
        .add_memberships(&tenant, &memberships(&group, 0..20))
        .await
        .unwrap();
    let other = plain.clone();
    let (t, g) = (tenant.clone(), group.clone());
    let interleaved = Arc::new(AtomicUsize::new(0));
    let seen = interleaved.clone();
    let hooked = hook::before(
        &local.moto.sdk_config().await,
        Arc::new(move |request: &Request| -> Option<Interleaving> {
            let write = [".PutItem", ".TransactWriteItems"]
                .iter()
                .any(|op| request.target.ends_with(op));
            if !write || seen.fetch_add(1, Ordering::SeqCst) > 0 {
                return None;
            }
            let (other, t, g) = (other.clone(), t.clone(), g.clone());
            Some(Box::pin(async move {
                other
                    .add_memberships(&t, &memberships(&g, 100..103))
                    .await
                    .expect("the other writer adds");
                other
                    .remove_memberships(&t, &memberships(&g, 0..2))
                    .await
                    .expect("the other writer removes");
            }))
        }),
    );
    let writer = Store::new(AwsClients::new(&hooked).dynamodb, TABLE);

    // WHEN the writer adds 30 members (the leaf outgrows a write unit and splits)
    let added = writer
        .add_memberships(&tenant, &memberships(&group, 20..50))
        .await
        .expect("added");

    // THEN its write lost the race, was placed again over the other's, and both changes stand
    assert!(interleaved.load(Ordering::SeqCst) > 1);
    assert_eq!(added, 30);
    let wanted = expected((2..50).chain(100..103));
    assert_eq!(stored_members(&plain, &tenant, &group).await, wanted);

    // WHEN eight writers change the group at once (each adds 40 and removes 4 of the first)
    let writers: Vec<_> = (0..8u32)
        .map(|w| {
            let store = plain.clone();
            let (tenant, group) = (tenant.clone(), group.clone());
            tokio::spawn(async move {
                let adds = memberships(&group, 1000 + w * 40..1040 + w * 40);
                store.add_memberships(&tenant, &adds).await.expect("adds");
                let removes = memberships(&group, 2 + w * 4..6 + w * 4);
                store
                    .remove_memberships(&tenant, &removes)
                    .await
                    .expect("removes");
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }

    // THEN the group holds exactly what they left, every item within a write unit's worth
    let wanted = expected((34..50).chain(100..103).chain(1000..1320));
    assert_eq!(stored_members(&plain, &tenant, &group).await, wanted);
    assert!(items_of(&plain, &tenant, &group).await < 339 / 5);
}

/// Fails every write after the first `allowed` ones, unsent (a function cut off).
#[derive(Debug)]
struct CutOffAfter {
    allowed: usize,
    seen: AtomicUsize,
}

impl AwsFaultHook for CutOffAfter {
    fn before(&self, call: &AwsCall<'_>) -> Result<AfterAnswer, String> {
        if call.write && self.seen.fetch_add(1, Ordering::SeqCst) >= self.allowed {
            return Err("cut off".into());
        }
        Ok(AfterAnswer::Deliver)
    }

    fn interrupt_after(&self, call: &AwsCall<'_>) -> String {
        format!("{} was not to be interrupted", call.operation)
    }
}

#[tokio::test]
async fn given_a_split_cut_short_by_a_crash_when_the_group_is_read_and_written_again_then_no_member_is_lost()
 {
    // GIVEN a group of 20 members, and a writer cut off right after its first write when it
    // adds 3,000 more: too many children for one transaction, so the leaf is first marked split
    // keeping all 3,020, and none of its children is written
    let local = spawn().await;
    let plain = store(&local).await;
    let (tenant, group) = (tenant(3), group_id(3));
    plain
        .add_memberships(&tenant, &memberships(&group, 0..20))
        .await
        .unwrap();
    let cut = with_faults(
        &local.moto.sdk_config().await,
        Arc::new(CutOffAfter {
            allowed: 1,
            seen: AtomicUsize::new(0),
        }),
    );
    let crashing = Store::new(AwsClients::new(&cut).dynamodb, TABLE);
    assert!(
        crashing
            .add_memberships(&tenant, &memberships(&group, 20..3020))
            .await
            .is_err()
    );
    assert_eq!(items_of(&plain, &tenant, &group).await, 1, "only the mark");

    // WHEN the group is read, whole or a page at a time
    // THEN all 3,020 are there, from what the split node kept
    assert_eq!(
        stored_members(&plain, &tenant, &group).await,
        expected(0..3020)
    );
    let page = plain
        .list_group_members(&tenant, &group, None, 5000)
        .await
        .unwrap();
    assert_eq!(page.members.len(), 3020);

    // WHEN another writer removes one of them and adds one
    plain
        .remove_memberships(&tenant, &memberships(&group, [5]))
        .await
        .unwrap();
    plain
        .add_memberships(&tenant, &memberships(&group, [7777]))
        .await
        .unwrap();

    // THEN it finished the split first: the children hold the members and both changes stand
    assert!(items_of(&plain, &tenant, &group).await > 100);
    let wanted = expected((0..3020).filter(|n| *n != 5).chain([7777]));
    assert_eq!(stored_members(&plain, &tenant, &group).await, wanted);
}

#[tokio::test]
async fn given_a_large_group_when_its_members_are_paged_then_every_member_comes_once_in_pages_of_the_limit()
 {
    // GIVEN a group of 1,000 members
    let local = spawn().await;
    let store = store(&local).await;
    let (tenant, group) = (tenant(4), group_id(4));
    store
        .add_memberships(&tenant, &memberships(&group, 0..1000))
        .await
        .unwrap();

    // WHEN it is read 64 at a time, cursor after cursor
    let mut seen = BTreeSet::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_group_members(&tenant, &group, after.as_ref(), 64)
            .await
            .unwrap();
        pages += 1;
        assert!(page.members.len() <= 64);
        for member in page.members {
            assert!(seen.insert(member.to_string()), "{member} twice");
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }

    // THEN every member came once, in 16 pages
    assert_eq!(seen, expected(0..1000));
    assert_eq!(pages, 16);
}

#[tokio::test]
async fn given_changes_of_a_large_group_dense_or_sparse_when_applied_then_each_lands_once_and_costs_about_one_unit()
 {
    // GIVEN 9,000 members of one group gathered at once (more than one slice of neighbours)
    let local = spawn().await;
    let store = store(&local).await;
    let (tenant, group) = (tenant(5), group_id(5));
    let mut changes = lifecycle::store::MemberChanges::default();
    changes.extend(memberships(&group, 0..9_000).iter().map(|m| (m, true)));

    // WHEN they are written
    let applied = store
        .apply_member_changes(&tenant, changes, 4)
        .await
        .expect("written");

    // THEN each is added once, in about one write unit per three members (new nodes go in
    // transactions, twice the units), and the group reads back whole
    assert_eq!(applied.added, 9_000);
    assert!(
        applied.write_units * 3 <= 9_000,
        "{} write units for 9,000 members",
        applied.write_units
    );
    assert_eq!(
        stored_members(&store, &tenant, &group).await,
        expected(0..9_000)
    );

    for (size, stride, first) in [(20_u32, 450_u32, 1_u32), (200, 44, 2)] {
        // WHEN `size` changes spread over the whole group come (half removals, half new members):
        // 20 are located one by one, 200 read the stretch of the group they fall in
        let removed: Vec<u32> = (0..size / 2).map(|n| first + n * stride * 2).collect();
        let added: Vec<u32> = (0..size / 2).map(|n| 20_000 + size * 100 + n).collect();
        let mut changes = lifecycle::store::MemberChanges::default();
        changes.extend(
            memberships(&group, removed.clone())
                .iter()
                .map(|m| (m, false)),
        );
        changes.extend(memberships(&group, added.clone()).iter().map(|m| (m, true)));
        let applied = store
            .apply_member_changes(&tenant, changes, 4)
            .await
            .unwrap();

        // THEN exactly those change the store, at about one write unit each
        assert_eq!(
            (applied.added, applied.removed),
            (u64::from(size / 2), u64::from(size / 2))
        );
        assert!(
            applied.write_units <= 2 * u64::from(size),
            "{} write units for {size} changes",
            applied.write_units
        );
        let stored = stored_members(&store, &tenant, &group).await;
        assert!(
            added
                .iter()
                .all(|n| stored.contains(&member(*n).to_string()))
        );
        assert!(
            removed
                .iter()
                .all(|n| !stored.contains(&member(*n).to_string()))
        );
    }
}
