#!/usr/bin/env python3
"""Monthly AWS cost of one tenant (README "Cost per tenant"; `make bench` prints it).

A small documented calculation, not a measurement of a bill: the per-run counts below come from
the benches (each says where), the prices are AWS's public on-demand prices for us-east-1 (each
says which page; DynamoDB's are those since AWS halved on-demand prices in November 2024; read
from stored copies of the pages on 2026-12-06, not fetched live from this machine: check them
before quoting), and every assumption is a named constant, so anyone can re-run it with their
own figures:

    python3 tools/cost.py [--accounts 50,1000,100000] [--active-share 0.6] [--own-app]
    python3 tools/cost.py --layouts   # write and read units of other membership layouts

Counts scale linearly with the number of accounts from the 100,000-account measurements (a 1 %
delta writes ~1 % of the items; the license refresh reads one page of 120 sign-ins per 120
accounts); the fixed part of a run (the lease, the tenant, the settings, the run record, the
token) is counted once per run.
"""

import argparse
import math

# --- Prices: us-east-1, on demand (see the module's note on their date) ---------------------------------
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (standard table class)
DDB_WRITE_PER_MILLION = 0.625  # write request unit: one write of up to 1 KB
DDB_READ_PER_MILLION = 0.125  # read request unit: one strongly consistent read of up to 4 KB
DDB_STORAGE_PER_GB_MONTH = 0.25
# https://aws.amazon.com/lambda/pricing/ (Arm, first 6 billion GB-s a month)
LAMBDA_ARM_PER_GB_S = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
# https://aws.amazon.com/sqs/pricing/ (per 64 KB chunk of a request; after the free million)
SQS_STANDARD_PER_MILLION = 0.40
# https://aws.amazon.com/secrets-manager/pricing/
SECRET_PER_MONTH = 0.40
SECRETS_PER_10K_CALLS = 0.05
# https://aws.amazon.com/eventbridge/pricing/ (custom events)
EVENTS_PER_MILLION = 1.00

# --- The tenant's month ------------------------------------------------------------------------
HOURS = 730  # hourly delta syncs
DAYS = 30.4  # daily license refreshes
FULL_SYNCS = 1  # a full sync a month (the first one, or a resync after Graph's 410)
MEMORY_GB = 0.5  # the sync's and the license refresh's MemorySize (infra/template.yaml)

# --- Counted per run at 100,000 accounts (README "Performance") --------------------------------
REF = 100_000
# functions/sync/examples/bench_sync.rs, full sync of 100,000 accounts, 2,000 groups, 386,743
# memberships: write units the sync counted (one per KB of each item written, twice in a
# transaction), release build, 2026-12-07. 488,749 records: 100,000 accounts, 2,000 groups and the
# memberships packed in items of at most 1 KB. (Before the packed layout: 488,749 units, an item
# per record.)
FULL_WRITES = 173_882
# The same tenant after a 1 % change (300 added, 300 deleted, 400 updated accounts, 3,866
# membership changes; the deleted accounts' memberships go too): write units (5,989 records).
# (Before: 5,521 units, for the same change without the deleted accounts' memberships counted.)
DELTA_WRITES = 5_263
# Reads: a sync compares each page of accounts and groups with what is stored (one BatchGetItem
# per page, strongly consistent, one read unit per item under 4 KB), and reads a group's member
# items, or the one item a changed member is in, before writing them: about one read unit per
# write unit. An estimate from the code path, not a count.
FULL_READS = FULL_WRITES
DELTA_READS = DELTA_WRITES
# Wall times against moto, an upper bound on Lambda time: moto takes one request at a time, at
# about 3 ms each on this machine, where DynamoDB answers in milliseconds, many at once (a delta's
# ~10,000 single-item member requests are most of its 35 s here).
FULL_SECONDS = 86.7
DELTA_SECONDS = 35.1
# Per run, whatever the size: the lease (conditional put, renew, release), the tenant and its
# settings (reads), the pending-run claim and the run record (writes).
RUN_FIXED_WRITES = 6
RUN_FIXED_READS = 4
# A sync run's SQS requests: the fan-out's SendMessage, the event source's ReceiveMessage and
# DeleteMessage (Lambda's own empty long polls are per queue, not per tenant: left out).
RUN_SQS = 3

# License refresh (functions/license-refresh/examples/bench_refresh.rs, 1,000 accounts):
# 9 sign-in pages + 1 SKU list + 1 token = 11 Graph requests; one BatchGetItem read per account
# (one attribute, one read unit each), one UpdateItem per account whose last sign-in changed,
# one PutItem per page (the cursor); the report reads every stored account (a Query: 4 KB a read
# unit, accounts of ~1 KB); the job record is written at each step (4) and once more at the end.
SIGN_IN_PAGE = 120
REFRESH_FIXED_WRITES = 6
ACCOUNT_KB = 1.0
# Under Graph's modelled latency (graph_sim::LatencyModel::graph) a sign-in page takes
# 150 + 120 x 0.6 + 700 ms = ~0.92 s; that, not the store, bounds the refresh's Lambda time.
SIGN_IN_PAGE_SECONDS = 0.92

# --- Membership layouts (`--layouts`) ----------------------------------------------------------
# DynamoDB's rules (developer guide, "Read/write capacity mode" and "Item sizes"): a write costs
# 1 write unit per KB of the item, rounded up, the larger of its size before and after; a
# strongly consistent read 1 read unit per 4 KB, rounded up per item for GetItem and
# BatchGetItem, over the summed sizes for a Query; an item is at most 400 KB; a transaction
# costs twice. The bench's tenant (bench_sync --users 100000 --groups 2000): 386,743
# memberships; its 1 % change added and removed 3,866. Sizes are estimates from the keys:
MEMBERSHIPS = 386_743
# What a full sync and a 1 % delta wrote before the packed layout (one item per membership).
BEFORE_FULL_WRITES = 488_749
BEFORE_DELTA_WRITES = 5_521
GROUPS = 2_000
DELTA_MEMBER_CHANGES = 3_866
# One membership item today: pk `T#{tenant}#MEMB#07` (~47 B), sk `{group}#{account}` (73 B),
# the group and account ids as attributes (~90 B with names): about 230 B, one write unit.
MEMBERSHIP_ITEM_BYTES = 230
# An object id in a packed list (36 characters, quotes, a comma, DynamoDB's list overhead).
ID_BYTES = 40
# A packed item's own key and attributes besides the ids.
PACK_OVERHEAD_BYTES = 150
# A group of this many members, for "read one group's members".
TYPICAL_GROUP = 200


def ceil_units(size_bytes, unit_bytes):
    return max(1, math.ceil(size_bytes / unit_bytes))


def pack_units(chunk_kb):
    """Members in chunks of at most `chunk_kb` KB per group: ids per chunk, full-sync write
    units (every group's chunks written once; on average half a chunk unused per group), units
    of one membership change (its chunk read and written again, conditionally on a version)."""
    per_chunk = (chunk_kb * 1024 - PACK_OVERHEAD_BYTES) // ID_BYTES
    chunks = math.ceil(MEMBERSHIPS / per_chunk + GROUPS / 2)
    # A chunk costs what it holds, rounded up to the KB: at most `chunk_kb` each.
    held = MEMBERSHIPS * ID_BYTES / 1024 + chunks * (PACK_OVERHEAD_BYTES / 1024 + 0.5)
    return per_chunk, min(chunks * chunk_kb, math.ceil(held)), chunk_kb, math.ceil(chunk_kb / 4)


def layouts():
    """Rows: layout, full-sync write units, 1 % delta write / read units (memberships only),
    month's membership write units, one group's members (read units), one account's groups."""
    rows = []
    one = ceil_units(MEMBERSHIP_ITEM_BYTES, 1024)
    rows.append((
        "one item per membership (before)",
        MEMBERSHIPS * one,
        DELTA_MEMBER_CHANGES * one,
        DELTA_MEMBER_CHANGES,  # BatchGetItem of each changed key: 1 unit each
        math.ceil(TYPICAL_GROUP * MEMBERSHIP_ITEM_BYTES / 4096),  # Query of its prefix
        "1 GetItem per group asked (offboarding asks Graph's list)",
    ))
    for chunk_kb in (1, 4, 400):
        per_chunk, full_w, change_w, change_r = pack_units(chunk_kb)
        # A 400 KB chunk is a group's whole list: a change rewrites the group's list, whose
        # size follows the group (the bench's average group: MEMBERSHIPS / GROUPS members).
        if chunk_kb == 400:
            avg_kb = math.ceil(MEMBERSHIPS / GROUPS * ID_BYTES / 1024)
            change_w, change_r = avg_kb, math.ceil(avg_kb / 4)
        rows.append((
            f"members packed per group, chunks of {chunk_kb} KB (~{per_chunk:,} ids)",
            full_w,
            DELTA_MEMBER_CHANGES * change_w,
            DELTA_MEMBER_CHANGES * change_r,
            math.ceil(TYPICAL_GROUP * ID_BYTES / 4096) + 1,
            "the chunk holding it, per group asked (a bucket by account id)",
        ))
    # Group ids on the account item: no item of its own, but the account item grows by its
    # groups (3.87 a account: ~155 B), so about that share of ~1 KB accounts cross into a second
    # write unit, and every membership change rewrites its account.
    per_account = MEMBERSHIPS / REF * ID_BYTES
    crossing = per_account / (ACCOUNT_KB * 1024)
    rows.append((
        "group ids on the account item",
        math.ceil(REF * crossing),
        math.ceil(DELTA_MEMBER_CHANGES * (1 + crossing)),
        DELTA_MEMBER_CHANGES,
        math.ceil(REF * ACCOUNT_KB / 4),  # no index on a list: a Query of every account
        "1 GetItem (the account)",
    ))
    # Built: a trie per group of items of at most 1 KB (shared/lifecycle/src/store/memberships.rs),
    # measured by bench_sync (FULL_WRITES, DELTA_WRITES) less what the other items cost before.
    rows.append((
        "trie of 1 KB items per group, first writes in transactions (built, measured)",
        FULL_WRITES - (BEFORE_FULL_WRITES - MEMBERSHIPS),
        DELTA_WRITES - (BEFORE_DELTA_WRITES - DELTA_MEMBER_CHANGES),
        DELTA_MEMBER_CHANGES,  # the item each change is in, located by a Query of one item
        math.ceil(TYPICAL_GROUP * ID_BYTES / 4096) + 1,
        "1 Query per group asked, of the one item (offboarding asks Graph's list)",
    ))
    per_chunk, full_w, change_w, change_r = pack_units(1)
    rows.append((
        "both directions (1 KB chunks + the account), one transaction a change",
        full_w + math.ceil(REF * crossing),
        DELTA_MEMBER_CHANGES * 2 * (change_w + 1),
        DELTA_MEMBER_CHANGES * 2 * (change_r + 1),
        math.ceil(TYPICAL_GROUP * ID_BYTES / 4096) + 1,
        "1 GetItem (the account)",
    ))
    return rows


def print_layouts():
    syncs = HOURS - FULL_SYNCS
    print(
        f"Membership layouts at {REF:,} accounts, {GROUPS:,} groups, {MEMBERSHIPS:,} memberships; "
        f"a 1 % delta changes {DELTA_MEMBER_CHANGES:,}; a month = {FULL_SYNCS} full + {syncs} deltas. "
        "Units of the memberships alone: accounts, groups and SKUs cost the same in every layout "
        f"(a full sync's other {BEFORE_FULL_WRITES - MEMBERSHIPS:,} writes, a delta's other "
        f"{BEFORE_DELTA_WRITES - DELTA_MEMBER_CHANGES:,})."
    )
    print()
    print(
        "| layout | full sync W | full sync W, all items | 1 % delta W / R | month W (memberships) "
        f"| month W, all the sync's items | one group's members, {TYPICAL_GROUP} (R) | one account's groups |"
    )
    print("|---|---|---|---|---|---|---|---|")
    today_month = None
    for name, full_w, delta_w, delta_r, group_r, account_read in layouts():
        month = FULL_SYNCS * full_w + syncs * delta_w
        all_month = month + FULL_SYNCS * (BEFORE_FULL_WRITES - MEMBERSHIPS) + syncs * (
            BEFORE_DELTA_WRITES - DELTA_MEMBER_CHANGES
        )
        today_month = today_month or all_month
        print(
            f"| {name} | {full_w:,} | {full_w + BEFORE_FULL_WRITES - MEMBERSHIPS:,} | {delta_w:,} / {delta_r:,} "
            f"| {month:,} | {all_month:,} ({all_month / today_month - 1:+.1%}) | {group_r:,} | {account_read} |"
        )


def monthly(accounts, active_share, own_app):
    scale = accounts / REF
    pages = max(1, math.ceil(accounts / SIGN_IN_PAGE))
    # Units per run.
    full_w = FULL_WRITES * scale + RUN_FIXED_WRITES
    full_r = FULL_READS * scale + RUN_FIXED_READS
    delta_w = DELTA_WRITES * scale + RUN_FIXED_WRITES
    delta_r = DELTA_READS * scale + RUN_FIXED_READS
    refresh_w = accounts * active_share + pages + REFRESH_FIXED_WRITES
    refresh_r = accounts + math.ceil(accounts * ACCOUNT_KB / 4) + RUN_FIXED_READS
    # Lambda seconds per run: at least a second each (cold paths, the token).
    full_s = max(1.0, FULL_SECONDS * scale)
    delta_s = max(1.0, DELTA_SECONDS * scale)
    refresh_s = max(1.0, pages * SIGN_IN_PAGE_SECONDS)
    invocations_refresh = max(1, math.ceil(refresh_s / (900 - 60)))
    syncs = HOURS - FULL_SYNCS
    writes = FULL_SYNCS * full_w + syncs * delta_w + DAYS * refresh_w
    reads = FULL_SYNCS * full_r + syncs * delta_r + DAYS * refresh_r
    gb_s = MEMORY_GB * (FULL_SYNCS * full_s + syncs * delta_s + DAYS * refresh_s)
    lambda_requests = HOURS + DAYS * invocations_refresh
    sqs = HOURS * RUN_SQS + DAYS * invocations_refresh * RUN_SQS
    events = DAYS  # the refresh's completion event (a sync run puts none)
    # Secrets Manager: the platform app's secret is read once per warm container (cached); a
    # tenant with its own app registration has its own secret, read once per invocation.
    secret_calls = lambda_requests if own_app else 0
    secret_months = 1 if own_app else 0
    storage_gb = (accounts * ACCOUNT_KB + accounts * 3.87 * 0.2 + accounts * 0.02 * 1.0) / 1e6
    cost = {
        "DynamoDB writes": writes / 1e6 * DDB_WRITE_PER_MILLION,
        "DynamoDB reads": reads / 1e6 * DDB_READ_PER_MILLION,
        "DynamoDB storage": storage_gb * DDB_STORAGE_PER_GB_MONTH,
        "Lambda GB-s": gb_s * LAMBDA_ARM_PER_GB_S,
        "Lambda requests": lambda_requests / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
        "SQS": sqs / 1e6 * SQS_STANDARD_PER_MILLION,
        "EventBridge": events / 1e6 * EVENTS_PER_MILLION,
        "Secrets Manager": secret_months * SECRET_PER_MONTH
        + secret_calls / 1e4 * SECRETS_PER_10K_CALLS,
    }
    units = {
        "full sync (W/R)": (full_w, full_r),
        "1 % delta (W/R)": (delta_w, delta_r),
        "refresh (W/R)": (refresh_w, refresh_r),
        "month (W/R)": (writes, reads),
        "GB-s": gb_s,
    }
    return cost, units


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="50,1000,100000")
    parser.add_argument(
        "--active-share",
        type=float,
        default=0.6,
        help="share of accounts whose last sign-in changes from one day to the next (assumed)",
    )
    parser.add_argument(
        "--own-app",
        action="store_true",
        help="the tenant connects its own app registration (a secret of its own)",
    )
    parser.add_argument(
        "--layouts",
        action="store_true",
        help="print the write and read units of membership layouts instead (README)",
    )
    args = parser.parse_args()
    if args.layouts:
        print_layouts()
        return
    sizes = [int(a) for a in args.accounts.split(",")]
    rows = [(n, *monthly(n, args.active_share, args.own_app)) for n in sizes]
    print(
        "Monthly cost of one tenant: hourly delta syncs at 1 % churn, a daily license refresh, "
        f"one full sync; us-east-1 on-demand prices (tools/cost.py names each); {args.active_share:.0%} of "
        f"accounts sign in daily; {'own app (a secret per tenant)' if args.own_app else 'admin consent (the platform app)'}"
    )
    print()
    print("| accounts | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in rows[0][1]:
        print(f"| {name} | " + " | ".join(f"${r[1][name]:.4f}" for r in rows) + " |")
    print("| **total per month** | " + " | ".join(f"**${sum(r[1].values()):.2f}**" for r in rows) + " |")
    print()
    print("| units | " + " | ".join(f"{n:,}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name in rows[0][2]:
        cells = []
        for r in rows:
            value = r[2][name]
            cells.append(
                f"{value[0]:,.0f} / {value[1]:,.0f}" if isinstance(value, tuple) else f"{value:,.0f}"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
