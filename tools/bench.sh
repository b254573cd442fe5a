#!/usr/bin/env bash
# make bench: the figures README.md quotes. Nothing here is asserted: it measures and prints.
#   1. Graph client: list 100,000 users and 2,000 groups with their members from the simulator.
#   2. Sync: a full sync of the same tenant into DynamoDB (moto), then a delta sync after 1 % change;
#      then a full sync of a smaller tenant under Graph's modelled latency (its critical path), the
#      same reads with nothing stored (--graph-only), and a full sync of 200,000 accounts whose
#      largest group's 200,000 members come in one delta page (peak RSS bounded by design).
#   3. Job latency: POST /jobs to a finished onboarding and offboarding (p50, p95), 100 jobs over
#      10 tenants at once on the whole local stack, Graph under its latency model.
#   4. Thousands of tenants: a simulation of one deployment serving 5,000 and 50,000 tenants.
#   5. Cold start: each function's init and first invocation under a local Lambda Runtime API
#      emulation (tools/coldstart.py).
#   4. Cost per tenant: the monthly cost of a 50, 1,000 and 100,000-account tenant from the counted
#      calls and AWS's public prices (tools/cost.py).
# Release builds (the Lambda profile). The simulator runs as its own process, so the client's CPU
# time and peak RSS are the client's alone.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${BENCH_USERS:-100000}
GROUP_COUNT=${BENCH_GROUPS:-2000}
target=${CARGO_TARGET_DIR:-target}

echo "==> building (release)"
cargo build --release --locked -p graph-sim --bin graph-sim -p graph --example list_tenant \
  -p sync --example bench_sync

# Against another Graph: GRAPH_BASE_URL, LOGIN_BASE_URL, TENANT_ID, CLIENT_ID and CLIENT_SECRET
# (as `make up` prints them for a simulated tenant) make the Graph client and the sync benchmark
# work on that tenant; the runs that need the bench's own simulator (its admin routes) are skipped.
if [ -n "${GRAPH_BASE_URL:-}" ] && [ -n "${LOGIN_BASE_URL:-}" ] && [ -n "${TENANT_ID:-}" ] \
  && [ -n "${CLIENT_ID:-}" ] && [ -n "${CLIENT_SECRET:-}" ]; then
  external=1
  echo
  echo "==> against the Graph at $GRAPH_BASE_URL, tenant $TENANT_ID (from the environment)"
else
  external=0
  sim_out=$(mktemp)
  "$target/release/graph-sim" --port 0 --users "$USERS" --groups "$GROUP_COUNT" > "$sim_out" &
  sim_pid=$!
  trap 'kill $sim_pid 2>/dev/null || true; rm -f "$sim_out"' EXIT
  for _ in $(seq 1 300); do [ -s "$sim_out" ] && break; sleep 0.1; done
  [ -s "$sim_out" ] || { echo "the simulator did not start" >&2; exit 1; }
  read -r GRAPH_BASE_URL LOGIN_BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET < <(python3 -c '
import json, sys
ready = json.loads(open(sys.argv[1]).readline())
tenant = ready["tenants"][0]
print(ready["graph_base_url"], ready["login_base_url"], tenant["tenant_id"],
      tenant["own_app"]["client_id"], tenant["own_app"]["client_secret"])' "$sim_out")
  export GRAPH_BASE_URL LOGIN_BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET
fi

echo
echo "==> Graph client: list every user and group with members (one tenant; $USERS and $GROUP_COUNT when simulated)"
"$target/release/examples/list_tenant"

if [ "$external" = 1 ]; then
  echo
  echo "==> Sync: the tenant at $GRAPH_BASE_URL into DynamoDB (moto), full then delta"
  "$target/release/examples/bench_sync"
  echo
  echo "(the latency-model run, the job-latency bench and the throttled run need the bench's own simulator: skipped)"
else
  kill $sim_pid 2>/dev/null || true
  # bench_sync starts its own simulator when these are not set.
  unset GRAPH_BASE_URL LOGIN_BASE_URL TENANT_ID CLIENT_ID CLIENT_SECRET

  echo
  echo "==> Sync: one tenant of $USERS accounts and $GROUP_COUNT groups into DynamoDB (moto), full then delta"
  echo "    (moto is far slower than DynamoDB: wall times here are an upper bound)"
  "$target/release/examples/bench_sync" --users "$USERS" --groups "$GROUP_COUNT"

  LATENCY_USERS=${BENCH_LATENCY_USERS:-10000}
  LATENCY_GROUPS=${BENCH_LATENCY_GROUPS:-200}
  echo
  echo "==> Sync under Graph's latency model (graph_sim::LatencyModel::graph): one full sync of"
  echo "    $LATENCY_USERS accounts and $LATENCY_GROUPS groups, where its Graph time goes and its critical path"
  "$target/release/examples/bench_sync" --users "$LATENCY_USERS" --groups "$LATENCY_GROUPS" \
    --latency graph --full-only

  echo
  echo "==> The same reads with nothing stored (bench-only, --graph-only): the Graph side of that"
  echo "    full sync alone, its wall beside the critical path when the store keeps up (not a sync)"
  "$target/release/examples/bench_sync" --users "$LATENCY_USERS" --groups "$LATENCY_GROUPS" \
    --latency graph --graph-only

  LARGEST_GROUP=${BENCH_LARGEST_GROUP:-200000}
  if [ "$LARGEST_GROUP" -gt 0 ]; then
    echo
    echo "==> Memory bounded by design: a full sync of $LARGEST_GROUP accounts whose largest group has"
    echo "    them all, every group's members@delta whole in one delta page (BENCH_LARGEST_GROUP=0 skips)"
    "$target/release/examples/bench_sync" --users "$LARGEST_GROUP" --groups 2 \
      --largest-group "$LARGEST_GROUP" --full-only
  fi

  echo
  echo "==> Job latency under Graph's latency model: 100 jobs (onboard, offboard) over 10 tenants at once"
  cargo build --release --locked -p e2e --example bench_jobs
  "$target/release/examples/bench_jobs" --tenants 10 --jobs-per-tenant 10 --pollers 10
fi

echo
echo "==> Thousands of tenants on a simulated clock (tools/capacity.py): 5,000, then 50,000"
python3 tools/capacity.py --scale 50000

echo
echo "==> Cold start: each function under a local Lambda Runtime API (exec -> first next = init)"
cargo build --release --locked -p api -p oauth-callback -p sync -p onboarding -p offboarding \
  -p license-refresh -p dead-letters --bins
CARGO_TARGET_DIR="$target" python3 tools/coldstart.py

echo
echo "==> Cost per tenant (tools/cost.py: counted calls x AWS's public us-east-1 prices)"
python3 tools/cost.py
python3 tools/cost.py --own-app | tail -n +3 | grep -E 'Secrets|total'
echo
python3 tools/cost.py --layouts
