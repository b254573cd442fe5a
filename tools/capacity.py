#!/usr/bin/env python3
"""One deployment serving thousands of tenants, simulated on a clock (issue 18).

A discrete-event simulation of the platform's schedules and queues, driven by the per-tenant
costs this project measures (README "Figures"): Graph's modelled latency per request
(shared/graph-sim/src/latency.rs), a job's own time under that model (tests/examples/bench_jobs.rs),
and the store writes of a 1 % delta (functions/sync/examples/bench_sync.rs). Nothing runs for
real: each sync, license refresh and job is a duration computed from the tenant's size, started
when a Lambda invocation is free, as Lambda's SQS event sources would start it.

What it models, in the template's terms:
  - a fan-out every 15 minutes queues a sync for each connected tenant whose sync is due (last sync
    end + the tenant's interval), one at a time per tenant (its lease);
  - a fan-out once a day queues one license refresh per tenant; a refresh reads every account's
    sign-in (pages of 120) and stops before its 900 s deadline, continuing in a new message;
  - a steady stream of lifecycle jobs (onboardings and offboardings) per tenant, by its size;
  - one account-wide Lambda concurrency pool (default 1,000) shared by the functions; an SQS
    event source adds at most 300 invocations a minute (AWS's documented scale-up for SQS), and
    a FIFO source runs at most one invocation per message group (one per account here).

It prints, per scenario: invocations at once (peak, mean) per function and in all; queue age of
syncs (p50, p99, max); how long each sync fan-out takes to drain; how many tenants ever waited
more than their interval plus one fan-out period; the biggest tenant's refresh; and each limit's
headroom (Lambda concurrency, a tenant's Graph budget, a DynamoDB partition's write rate, SQS).

Usage: python3 tools/capacity.py [--tenants 5000] [--hours 48] [--interval-minutes 60]
       [--concurrency 1000] [--refresh-spread-hours 0] [--seed 18] [--scale 20000,50000]
Standard library only; deterministic for a seed.
"""

import argparse
import heapq
import math
import random
from collections import deque

# --- Graph's modelled latency (shared/graph-sim/src/latency.rs, LatencyModel::graph), seconds ---
GET = 0.150
PER_OBJECT = 0.0006
DELTA_EXTRA = 0.250
SIGN_IN_EXTRA = 0.700
TOKEN = 0.200
SIGN_IN_PAGE = 120          # Graph's page size with $select=signInActivity
DELTA_PAGE = 999            # objects per delta page (users), member references likewise

# --- DynamoDB (real service, not moto): one BatchWriteItem of 25 / BatchGetItem of 100 / Put ---
BATCH_WRITE = 0.012
BATCH_GET = 0.010
SINGLE_WRITE = 0.006
QUERY = 0.006                    # a Query of one item (a membership's leaf, located)
# Measured (bench_sync, 1 % delta of 100,000 accounts, 2026-12-07): 5,989 records for 1,000
# changed accounts, 4,991 of them memberships added or removed (the deleted accounts' included),
# 998 accounts and SKUs.
ITEMS_PER_DELTA_ACCOUNT = 0.998  # written in BatchWriteItem requests of 25
MEMBER_CHANGES_PER_DELTA_ACCOUNT = 4.991   # each: its leaf located, then a conditional PutItem
MEMBER_CHANGES_IN_FLIGHT = 8     # the sync's write concurrency: groups placed at once
UPDATE_IN_FLIGHT = 8             # license refresh: last sign-in UpdateItems in flight at once

# --- a job's own time under the latency model (bench_jobs, p50) ---
ONBOARD_S = 4.8
OFFBOARD_S = 6.3

LAMBDA_DEADLINE = 900.0
DEADLINE_MARGIN = 30.0
SQS_SCALE_UP_PER_MINUTE = 300
FAN_OUT_PERIOD = 15 * 60
PARTITION_WCU = 1000.0           # DynamoDB: writes per second one partition takes
SHARDS = 16                      # shared/lifecycle/src/store/keys.rs SHARDS
GRAPH_RU_PER_10S = 8000          # a large tenant's budget per app (graph-facts.md)
GRAPH_APP_REQUESTS_PER_10S = 130_000   # global per app, across tenants (graph-facts.md)


def sizes(tenants, rng, smallest=10, largest=200_000):
    """Zipf-like sizes by rank: the largest tenant has `largest` accounts, the last `smallest`."""
    exponent = math.log(largest / smallest) / math.log(max(tenants, 2))
    out = [max(smallest, int(largest * (rank ** -exponent))) for rank in range(1, tenants + 1)]
    rng.shuffle(out)
    return out


def delta_sync_seconds(accounts, churn=0.01):
    """A delta sync at `churn`: the users and groups delta chains at once (critical path), the
    singles beside them, the changed items compared (BatchGetItem) and written (BatchWriteItem),
    and each membership change placed in its group's leaf (a Query, then a conditional PutItem;
    the packed layout, README "Store writes per membership layout")."""
    changed = max(1, int(accounts * churn))
    user_pages = 1 + changed // DELTA_PAGE
    users = user_pages * (GET + DELTA_EXTRA) + changed * PER_OBJECT
    member_refs = 4 * changed
    group_pages = 1 + member_refs // DELTA_PAGE
    groups = group_pages * (GET + DELTA_EXTRA) + member_refs * PER_OBJECT
    singles = 2 * GET
    graph = TOKEN + max(users, groups, singles)
    others = ITEMS_PER_DELTA_ACCOUNT * changed
    members = MEMBER_CHANGES_PER_DELTA_ACCOUNT * changed
    store = (math.ceil(others / 100) * BATCH_GET + math.ceil(others / 25) * BATCH_WRITE
             + members * (QUERY + SINGLE_WRITE) / MEMBER_CHANGES_IN_FLIGHT)
    items = others + members
    bookkeeping = 12 * SINGLE_WRITE      # lease, run record, delta links, progress
    return graph + store + bookkeeping, items


def refresh_seconds(accounts, signed_in_since=0.5):
    """A license refresh: SKUs, the sign-in chain (pages of 120), the changed sign-ins written."""
    pages = math.ceil(accounts / SIGN_IN_PAGE)
    chain = pages * (GET + SIGN_IN_EXTRA + SIGN_IN_PAGE * PER_OBJECT)
    writes = accounts * signed_in_since * SINGLE_WRITE / UPDATE_IN_FLIGHT
    return TOKEN + GET + chain + writes


def requests_per_second(function, payload, accounts, seconds):
    """Graph requests a second of one running invocation (its requests over its time)."""
    if function == "sync":
        changed = max(1, int(accounts[payload[0]] * 0.01))
        requests = 4 + changed // DELTA_PAGE + 4 * changed // DELTA_PAGE
    elif function == "license-refresh":
        requests = seconds / (GET + SIGN_IN_EXTRA + SIGN_IN_PAGE * PER_OBJECT)
    else:
        requests = 19          # bench_jobs: 1,918 requests for 100 jobs
    return requests / max(seconds, 0.001)


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


class Source:
    """One SQS event source with its queue."""

    def __init__(self, name, fifo=False):
        self.name = name
        self.fifo = fifo
        self.queue = deque()     # (enqueued_at, payload) in order
        self.running = 0
        self.allowed = 5         # Lambda starts an SQS source at 5 pollers' worth
        self.peak = 0
        self.busy_seconds = 0.0
        self.ages = []


def simulate(args, tenants):
    rng = random.Random(args.seed)
    accounts = sizes(tenants, rng)
    horizon = args.hours * 3600.0
    interval = args.interval_minutes * 60.0
    sources = {name: Source(name, fifo) for name, fifo in
               [("sync", False), ("license-refresh", False), ("onboarding", True),
                ("offboarding", True)]}
    events = []
    seq = 0

    def at(time, kind, payload=None):
        nonlocal seq
        seq += 1
        heapq.heappush(events, (time, seq, kind, payload))

    due = [rng.uniform(0, interval) for _ in range(tenants)]
    syncing = [False] * tenants
    lateness = [0.0] * tenants   # how long after its due time a tenant's sync started, at worst
    fan_out_drain = []
    pending_fan_outs = {}      # fan-out time -> syncs of it not yet started
    biggest = max(range(tenants), key=lambda t: accounts[t])
    biggest_refresh = {"invocations": 0, "seconds": 0.0}
    total_running = 0
    peak_total = 0
    graph_rate = 0.0        # Graph requests per second of the invocations running now
    graph_peak = 0.0
    partition_peak = 0.0

    for t in range(0, int(horizon), FAN_OUT_PERIOD):
        at(float(t), "fan_out")
    for day in range(0, int(horizon), 86400):
        at(float(day) + 3 * 3600, "refresh_fan_out")
    at(60.0, "scale_up")
    # Lifecycle jobs: about 0.05 % of a tenant's accounts a day each way (18 % a year).
    for tenant in range(tenants):
        per_day = accounts[tenant] * 0.0005
        for kind in ("onboarding", "offboarding"):
            time = rng.expovariate(per_day / 86400) if per_day > 0 else horizon
            while time < horizon:
                at(time, "job", (kind, tenant))
                time += rng.expovariate(per_day / 86400)

    def try_start(now):
        nonlocal total_running, peak_total
        progressed = True
        while progressed:
            progressed = False
            for source in sources.values():
                while (source.queue and source.running < source.allowed
                       and total_running < args.concurrency):
                    enqueued, payload = source.queue.popleft()
                    source.running += 1
                    total_running += 1
                    source.peak = max(source.peak, source.running)
                    peak_total = max(peak_total, total_running)
                    source.ages.append(now - enqueued)
                    start(now, source, payload)
                    progressed = True

    def start(now, source, payload):
        nonlocal partition_peak
        if source.name == "sync":
            tenant, fan_out = payload
            lateness[tenant] = max(lateness[tenant], now - due[tenant])
            seconds, items = delta_sync_seconds(accounts[tenant])
            partition_peak = max(partition_peak, items / SHARDS / max(seconds, 0.001))
            if fan_out in pending_fan_outs:
                pending_fan_outs[fan_out][0] -= 1
                if pending_fan_outs[fan_out][0] == 0:
                    fan_out_drain.append(now - fan_out)
                    del pending_fan_outs[fan_out]
        elif source.name == "license-refresh":
            tenant, left = payload
            seconds = min(left, LAMBDA_DEADLINE - DEADLINE_MARGIN)
            if tenant == biggest:
                biggest_refresh["invocations"] += 1
                biggest_refresh["seconds"] += seconds
            payload = (tenant, left - seconds)
        else:
            seconds = ONBOARD_S if source.name == "onboarding" else OFFBOARD_S
        source.busy_seconds += seconds
        rate = requests_per_second(source.name, payload, accounts, seconds)
        nonlocal graph_rate, graph_peak
        graph_rate += rate
        graph_peak = max(graph_peak, graph_rate)
        at(now + seconds, "end", (source.name, payload, rate))

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if now > horizon:
            break
        if kind == "fan_out":
            count = 0
            for tenant in range(tenants):
                if not syncing[tenant] and due[tenant] <= now:
                    syncing[tenant] = True
                    sources["sync"].queue.append((now, (tenant, now)))
                    count += 1
            if count:
                pending_fan_outs[now] = [count]
        elif kind == "refresh_fan_out":
            spread = args.refresh_spread_hours * 3600.0
            for tenant in range(tenants):
                job = (tenant, refresh_seconds(accounts[tenant]))
                if spread > 0:
                    at(now + spread * tenant / tenants, "refresh", job)
                else:
                    sources["license-refresh"].queue.append((now, job))
        elif kind == "refresh":
            sources["license-refresh"].queue.append((now, payload))
        elif kind == "job":
            job_kind, tenant = payload
            sources[job_kind].queue.append((now, tenant))
        elif kind == "scale_up":
            for source in sources.values():
                if source.fifo:
                    source.allowed = max(5, len(source.queue) + source.running)
                else:
                    source.allowed = min(args.concurrency,
                                         source.allowed + SQS_SCALE_UP_PER_MINUTE
                                         if source.queue else max(5, source.running))
            at(now + 60.0, "scale_up")
        elif kind == "end":
            name, done, rate = payload
            graph_rate -= rate
            source = sources[name]
            source.running -= 1
            total_running -= 1
            if name == "sync":
                tenant, _ = done
                syncing[tenant] = False
                due[tenant] = now + interval
            elif name == "license-refresh":
                tenant, left = done
                if left > 0:
                    source.queue.append((now, (tenant, left)))
        try_start(now)

    # A fan-out runs every 15 minutes, so a sync may start up to one period after it is due;
    # later than that, the tenant waited for something else (Lambda, the queue).
    missed = sum(1 for late in lateness if late > FAN_OUT_PERIOD + 60)
    return {
        "tenants": tenants,
        "accounts": sum(accounts),
        "largest": max(accounts),
        "sources": sources,
        "peak_total": peak_total,
        "hours": args.hours,
        "fan_out_drain": fan_out_drain,
        "missed": missed,
        "worst_late": max(lateness) if lateness else 0.0,
        "biggest_refresh": biggest_refresh,
        "partition_peak": partition_peak,
        "graph_peak": graph_peak,
        "interval": interval,
    }


def report(result, concurrency):
    hours = result["hours"]
    print(f"\n{result['tenants']:,} tenants, {result['accounts']:,} accounts "
          f"(largest {result['largest']:,}), {hours} h simulated, "
          f"sync every {result['interval'] / 60:.0f} min, Lambda pool {concurrency:,}")
    print("| function | invocations at once: peak | mean | queue age p50 | p99 | max |")
    print("|---|---|---|---|---|---|")
    for source in result["sources"].values():
        mean = source.busy_seconds / (hours * 3600)
        print(f"| {source.name} | {source.peak} | {mean:.1f} | "
              f"{percentile(source.ages, 0.5):.1f} s | {percentile(source.ages, 0.99):.1f} s | "
              f"{max(source.ages, default=0):.1f} s |")
    drains = result["fan_out_drain"]
    refresh = result["biggest_refresh"]
    print(f"all functions at once, peak: {result['peak_total']} of {concurrency}")
    print(f"a sync fan-out drains (last of its syncs started) in p50 "
          f"{percentile(drains, 0.5):.1f} s, max {max(drains, default=0):.1f} s")
    print(f"tenants whose sync started over a minute later than the fan-out period allows "
          f"(15 min after due): "
          f"{result['missed']} (latest start {result['worst_late'] / 60:.1f} min after due)")
    days = max(hours / 24, 1)
    print(f"the largest tenant's daily refresh: {refresh['invocations'] / days:.0f} invocation(s) "
          f"a day, {refresh['seconds'] / days:.0f} s of Lambda a day")
    print(f"Graph requests per second of the whole deployment, peak: {result['graph_peak']:.0f} "
          f"of the app's {GRAPH_APP_REQUESTS_PER_10S // 10:,} across tenants")
    print(f"busiest DynamoDB partition during a delta sync: "
          f"{result['partition_peak']:.0f} writes/s of {PARTITION_WCU:.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=5000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--interval-minutes", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--refresh-spread-hours", type=float, default=0.0,
                        help="spread the daily license refreshes over this many hours "
                             "(0: all at once, as the template's rate(1 day) fan-out does)")
    parser.add_argument("--scale", default="",
                        help="comma-separated tenant counts to run after --tenants")
    args = parser.parse_args()
    counts = [args.tenants] + [int(c) for c in args.scale.split(",") if c]
    print("Per-tenant costs (from the latency model and the measured figures):")
    print("| accounts | delta sync (1 % churn) | items written | license refresh | invocations |")
    print("|---|---|---|---|---|")
    for size in (50, 1_000, 10_000, 100_000, 200_000):
        seconds, items = delta_sync_seconds(size)
        refresh = refresh_seconds(size)
        invocations = math.ceil(refresh / (LAMBDA_DEADLINE - DEADLINE_MARGIN))
        print(f"| {size:,} | {seconds:.1f} s | {items:,.0f} | {refresh:.0f} s | {invocations} |")
    sign_in_ru = 10 / (GET + SIGN_IN_EXTRA + SIGN_IN_PAGE * PER_OBJECT) * 2
    print(f"one tenant's sign-in chain uses ~{sign_in_ru:.0f} RU per 10 s of its "
          f"{GRAPH_RU_PER_10S:,} (pages are read one after another)")
    for count in counts:
        report(simulate(args, count), args.concurrency)


if __name__ == "__main__":
    main()
