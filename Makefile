# m365-lifecycle: the only entry points. Each target installs what it needs first.
#   make demo   the whole system locally, walked through step by step
#   make test   lint + every test (what CI runs)
#   make up     the local stack, until Ctrl-C
#   make token  a bearer token of the running `make up` stack: make token ORG=acme [SCOPES="lifecycle.read"]
#   make lint   fmt check, clippy (warnings denied), cfn-lint, sam validate --lint, checkov
#   make contract-test  schemathesis against the devstack from docs/openapi.json, bounded (in make test)
#   make fuzz   the same, deeper (FUZZ_EXAMPLES=200)
#   make build  one release Lambda zip per function for arm64 (cargo-lambda, zig linker), sizes printed
#   make bench  Graph client and sync figures against the simulator, cold starts, cost per tenant
#   make iam-coverage  every test, then which actions of each function's IAM policy no test used
#   make proof  the full crash matrix: every job kind killed at every failure point, as a table
#   make deploy sam build + sam deploy into your AWS account (--guided the first time)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
VENV_STAMP := $(VENV)/.installed
# moto_server, cfn-lint, sam and cargo-lambda come from the project-local virtualenv; checkov
# pins its own boto3, so it lives in a virtualenv of its own.
CHECKOV_VENV := $(CURDIR)/.venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# schemathesis pins its own jsonschema and hypothesis: a virtualenv of its own too.
FUZZ_VENV := $(CURDIR)/.venv-fuzz
FUZZ_STAMP := $(FUZZ_VENV)/.installed
export PATH := $(VENV)/bin:$(PATH)
# No telemetry from `sam` on developer machines or CI.
export SAM_CLI_TELEMETRY := 0
export MOTO_SERVER := $(VENV)/bin/moto_server
export CARGO_TERM_COLOR ?= auto

.PHONY: help venv browser nextest test lint fmt demo up token build bench proof deploy clean contract-test fuzz iam-coverage

# Debian's packages are installed as root (CI and these machines), else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(VENV_STAMP): tools/requirements.txt
	@echo "==> creating .venv from tools/requirements.txt (moto server, cfn-lint, aws-sam-cli, cargo-lambda)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

venv: $(VENV_STAMP)

$(CHECKOV_STAMP): tools/requirements-checkov.txt
	@echo "==> creating .venv-checkov from tools/requirements-checkov.txt"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	@touch $@

$(FUZZ_STAMP): tools/requirements-fuzz.txt
	@echo "==> creating .venv-fuzz from tools/requirements-fuzz.txt"
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-fuzz.txt
	@touch $@

# Headless Chromium (Debian's package) for the browser test of the consent flow.
browser:
	@command -v chromium >/dev/null || { \
	  echo "==> installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The template: cfn-lint, SAM's own validation with its linter, and checkov's security checks
# (each suppression is justified beside the resource in infra/template.yaml).
lint: venv $(CHECKOV_STAMP)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cfn-lint infra/template.yaml
	sam validate --lint --template infra/template.yaml --region us-east-1
	$(CHECKOV_VENV)/bin/checkov --file infra/template.yaml --framework cloudformation --compact --quiet

fmt:
	cargo fmt --all

# cargo-nextest runs the test binaries side by side (.config/nextest.toml); it ships with the
# Rust toolchain image here, and is built from crates.io where it is missing. Doctests after.
# A failing test's output ends with its panic message and location, not a backtrace that pushes
# them out of a CI log's tail (RUST_BACKTRACE=1 cargo nextest run … for the backtrace).
test: lint browser nextest contract-test
	RUST_BACKTRACE=0 cargo nextest run --workspace --locked --no-fail-fast
	cargo test --workspace --doc --locked

nextest:
	@cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# The HTTP API fuzzed from its contract (tools/contract-test.sh): fixed seed, a few examples per
# operation; no 5xx, answers as docs/openapi.json says, no panic in the functions' log.
contract-test: venv $(FUZZ_STAMP)
	FUZZ_VENV=$(FUZZ_VENV) tools/contract-test.sh

fuzz: venv $(FUZZ_STAMP)
	FUZZ_VENV=$(FUZZ_VENV) FUZZ_JOB_COVERAGE=1 FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_SEED=$${FUZZ_SEED:-$$RANDOM} tools/contract-test.sh

demo: venv
	cargo run --locked -p devstack -- demo

up: venv
	cargo run --locked -p devstack -- up

ORG ?= demo
# SCOPES unset: every scope; SCOPES="lifecycle.read" (or "" for none): only those.
token:
	@cargo run --quiet --locked -p devstack -- token --org $(ORG) $(if $(filter undefined,$(origin SCOPES)),,--scope "$(SCOPES)")

# One zip per function (target/lambda/<function>/bootstrap.zip, what Lambda's provided.al2023
# runtime takes), each size printed.
build: venv
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --locked --output-format zip --workspace --bins --exclude devstack --exclude graph-sim
	@echo "==> one arm64 zip per function"
	@for zip in target/lambda/*/bootstrap.zip; do \
	  printf '  %-20s %9s  %s\n' "$$(basename $$(dirname $$zip))" "$$(numfmt --to=iec-i --suffix=B --format=%.1f $$(stat -c %s $$zip))" "$$zip"; \
	done

bench: venv
	tools/bench.sh

# Minimal IAM: every test runs with each function's credentials recorded (local_aws::usage),
# then each function's policy is compared with what its code used; fails on a granted action
# that no test used.
IAM_LOG := $(CURDIR)/target/iam-used.tsv
iam-coverage: venv browser nextest
	rm -f $(IAM_LOG)
	LOCAL_AWS_IAM_LOG=$(IAM_LOG) RUST_BACKTRACE=0 cargo nextest run --workspace --locked --no-fail-fast
	cargo run --locked -p devstack -- iam-coverage $(IAM_LOG)

# The crash matrix of tests/tests/crash_matrix/ at every failure point (make test samples a few
# per scenario) and the twenty-tenant run of tests/tests/many_tenants.rs (make proof only); prints
# one table row per scenario, then the test results. The test threads get 8 MiB of stack: a debug
# build's poll frames of the sync, driven on the test thread through the kill hooks, outgrow the
# default 2 MiB in the full-sync scenario (release builds, which Lambda runs, need far less).
proof: venv
	RUST_MIN_STACK=8388608 PROOF=full cargo test --quiet --locked -p e2e --test crash_matrix --test many_tenants -- --nocapture --test-threads 1 --include-ignored \
	  | awk '/^\| scenario/ { if (!header++) { print; getline; print }; next } \
	         /^\|---/ { next } /^\| / && !seen[$$0]++ { print } /^test result/ { print }'

# Not run by any test: it needs your AWS credentials. The first run asks for the stack name,
# region and parameters (--guided) and saves them in samconfig.toml; later runs reuse them.
deploy: venv
	sam build --beta-features --template infra/template.yaml
	sam deploy $(if $(wildcard samconfig.toml),,--guided)

clean:
	cargo clean
	rm -rf $(VENV) $(CHECKOV_VENV)
