#!/usr/bin/env bash
# make contract-test (part of make test) and make fuzz: schemathesis against the devstack, driven by
# the committed OpenAPI document (docs/openapi.json).
#   1. starts `devstack up` on a free port (its state file in a temporary directory, so a running
#      `make up` is left alone) and waits for it;
#   2. takes a bearer token of the stack (every scope) and connects one simulated tenant with its
#      own app registration, so the tenant routes run their handlers, not only the tenant check;
#   3. runs schemathesis with a fixed seed and FUZZ_EXAMPLES examples per operation: no 5xx, every
#      status, content type and body as the document says, and invalid input refused with a 4xx;
#   4. stops the stack and fails when its log holds a panic.
# FUZZ_EXAMPLES (default 3) and FUZZ_SEED (default 15) bound the run; make fuzz raises the count.
# The tenant's removal is left out: it would remove the tenant every other operation uses.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${FUZZ_EXAMPLES:-3}
SEED=${FUZZ_SEED:-15}
FUZZ_VENV=${FUZZ_VENV:-.venv-fuzz}
target=${CARGO_TARGET_DIR:-target}

# The devstack is built as part of the workspace's test build (its libraries, binaries, tests and
# examples: what cargo nextest builds), so the dependencies are compiled with the one feature set
# the tests use and `make test` compiles them once, not twice.
echo "==> building the devstack with the workspace's tests"
cargo build --quiet --locked --workspace --lib --bins --tests --examples

work=$(mktemp -d)
stack_pid=
stop_stack() {
  if [ -n "$stack_pid" ]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
    stack_pid=
  fi
}
trap 'stop_stack; rm -rf "$work"' EXIT

# The devstack writes its state file under CARGO_TARGET_DIR: a directory of this run's own.
CARGO_TARGET_DIR="$work" RUST_LOG=${RUST_LOG:-warn} "$target/debug/devstack" up --port 0 \
  > "$work/devstack.log" 2>&1 &
stack_pid=$!
for _ in $(seq 1 600); do
  [ -s "$work/devstack.json" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { cat "$work/devstack.log" >&2; echo "the devstack stopped" >&2; exit 1; }
  sleep 0.2
done
[ -s "$work/devstack.json" ] || { cat "$work/devstack.log" >&2; echo "the devstack did not start" >&2; exit 1; }

api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_url"])' "$work/devstack.json")
token=$(CARGO_TARGET_DIR="$work" "$target/debug/devstack" token --org fuzz)

# The first simulated tenant's own app registration, as `devstack up` printed it.
read -r tenant_id client_id client_secret < <(python3 -c '
import re, sys
text = open(sys.argv[1]).read()
tenant = re.search(r"tenant ([0-9a-f-]{36})  domain", text).group(1)
app = re.search(r"own app registration: client id (\S+)  client secret (\S+)", text)
print(tenant, app.group(1), app.group(2))' "$work/devstack.log")
status=$(curl -s -o "$work/connect.json" -w '%{http_code}' -X POST "$api/tenants" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"tenant_id\":\"$tenant_id\",\"client_id\":\"$client_id\",\"client_secret\":\"$client_secret\",\"mode\":\"write\"}")
[ "$status" = 201 ] || { echo "connecting the tenant answered $status: $(cat "$work/connect.json")" >&2; exit 1; }

# A job of that tenant, so the job routes reach their handlers too.
status=$(curl -s -o "$work/job.json" -w '%{http_code}' -X POST "$api/tenants/$tenant_id/jobs" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"job_id":"fuzz-job","type":"license_refresh","inactive_after_days":30}')
[ "$status" = 202 ] || { echo "submitting a job answered $status: $(cat "$work/job.json")" >&2; exit 1; }

# The tenant and the job are the connected ones; every other value is generated.
# A list of jobs is validated job by job (the contract): a list with a bad job answers 207 with
# that job refused (400 in its result), so 207 is a refusal there too (only that operation answers it).
cat > "$work/schemathesis.toml" <<EOF
[parameters]
"path.tenant_id" = "$tenant_id"
"path.job_id" = "fuzz-job"

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "207"]
EOF
# The coverage phase walks every boundary of every job type of POST /jobs: about 1,700 cases and
# a minute of make test. make test leaves that phase of that one operation to make fuzz
# (FUZZ_JOB_COVERAGE=1); its examples and fuzzing phases still run here.
if [ "${FUZZ_JOB_COVERAGE:-0}" != 1 ]; then
  cat >> "$work/schemathesis.toml" <<EOF

[[operations]]
include-operation-id = "submitJobs"
phases.coverage.enabled = false
EOF
fi

echo "==> schemathesis: $EXAMPLES examples per operation, seed $SEED, against $api"
set +e
"$FUZZ_VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run docs/openapi.json \
  --url "$api" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "$EXAMPLES" --seed "$SEED" \
  --phases examples,coverage,fuzzing --workers 1 --no-shrink \
  --request-timeout 30 \
  --exclude-operation-id removeTenant \
  --no-color
fuzz_status=$?
set -e

stop_stack
if grep -n "panicked" "$work/devstack.log"; then
  echo "a function panicked during the run (above)" >&2
  exit 1
fi
exit "$fuzz_status"
