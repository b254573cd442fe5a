//! Unit tests of the trie: planning, reading a split cut short, the hash.
use super::read::Members;
use super::*;

fn account(n: usize) -> String {
    format!("0b9f1c2e-0000-4000-8000-{n:012}")
}

fn members(range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(account).collect()
}

fn read(nodes: Vec<Node>) -> BTreeSet<String> {
    let mut nodes = nodes;
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    let mut reader = Members::default();
    let mut out = Vec::new();
    for node in nodes {
        reader.feed(node, &mut out);
    }
    reader.finish(&mut out);
    let unique: BTreeSet<String> = out.iter().cloned().collect();
    assert_eq!(unique.len(), out.len(), "a member read twice");
    unique
}

async fn with_trie<T>(f: impl AsyncFnOnce(&Trie<'_>) -> T) -> T {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    let store = Store::new(aws_sdk_dynamodb::Client::from_conf(config), "t");
    let tenant = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
    let group = GroupId::parse("0b9f1c2e-0000-4000-8000-00000000abcd").unwrap();
    let trie = Trie::new(&store, &tenant, &group);
    f(&trie).await
}

#[tokio::test]
async fn given_members_of_a_group_when_planned_then_every_item_fits_a_write_unit_and_reads_back_whole()
 {
    with_trie(async |trie| {
        for size in [0, 1, 20, 200, 5_000] {
            // GIVEN a group of `size` members
            let wanted = members(0..size);
            // WHEN its trie is planned
            let mut planned = Vec::new();
            trie.plan(String::new(), wanted.clone(), &mut planned);
            // THEN every node fits one write unit, parents come first, and the leaves hold
            // every member once
            assert!(planned.iter().all(|node| trie.fits(node)), "{size}");
            assert_eq!(planned[0].path, "");
            assert_eq!(read(planned.clone()), wanted, "{size}");
            let leaves = planned.iter().filter(|n| n.fanout.is_none()).count();
            assert!(
                size < 100 || leaves * 10 <= size,
                "{size} members in {leaves} leaves: not packed"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn given_a_split_cut_short_when_read_then_its_kept_members_count_only_for_missing_children() {
    with_trie(async |trie| {
        // GIVEN a leaf that grew and was marked split, keeping its 60 members, with only
        // some of its children written
        let wanted = members(0..60);
        let mut planned = Vec::new();
        trie.plan(String::new(), wanted.clone(), &mut planned);
        let fanout = planned[0].fanout.expect("60 members split");
        let marked = Node {
            path: String::new(),
            members: wanted.clone(),
            version: 2,
            fanout: Some(fanout),
        };
        let children: Vec<Node> = planned[1..]
            .iter()
            .filter(|node| node.path.starts_with('0'))
            .cloned()
            .collect();
        // WHEN the group is read
        let mut nodes = vec![marked];
        nodes.extend(children.clone());
        // THEN every member is read once: from the written children, and from the split node
        // for the children still missing
        assert_eq!(read(nodes.clone()), wanted);
        // and a change under a missing child finds the unfinished split
        let missing = wanted
            .iter()
            .map(|m| hash_path(m))
            .find(|path| path.starts_with('1'))
            .expect("a member under 1");
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        assert!(matches!(
            find(&nodes, &missing),
            Found::Unfinished(_) | Found::Gap
        ));
    })
    .await;
}

#[test]
fn given_an_account_when_hashed_then_its_path_is_stable_and_64_bits() {
    // Pinned: a change here would strand every stored member in the wrong leaf.
    let path = hash_path("abc");
    assert_eq!(path.len(), HASH_BITS);
    assert!(path.starts_with("10111010")); // SHA-256("abc") starts with 0xba
}

#[test]
fn given_a_stored_node_whose_split_reaches_past_the_hash_when_read_then_it_is_refused_not_followed()
{
    // GIVEN a node item of a group whose fan-out would take its children past 64 bits
    let item = Item::from([
        (PK.to_owned(), AttributeValue::S("T#t#MEMB#01".into())),
        (
            SK.to_owned(),
            AttributeValue::S("0b9f1c2e-0000-4000-8000-00000000abcd#01".into()),
        ),
        (VERSION.to_owned(), AttributeValue::N("1".into())),
        (FANOUT.to_owned(), AttributeValue::N("99".into())),
    ]);
    // WHEN it is read THEN it is a malformed item, an error, not a node to split by
    assert!(matches!(
        super::read::node_of(item),
        Err(StoreError::MalformedKey { .. })
    ));
}
