# m365-lifecycle: the only entry points. Each target installs what it needs first.
#   make demo   the whole system locally, walked through step by step
#   make test   lint + every test (what CI runs)
#   make up     the local stack, until Ctrl-C
#   make token  a bearer token of the running `make up` stack: make token ORG=acme
#   make lint   fmt check, clippy (warnings denied), cfn-lint
#   make build  release Lambda bundles for arm64 (cargo-lambda, zig linker)
#   make bench  Graph client and sync figures against the simulator

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
VENV_STAMP := $(VENV)/.installed
# moto_server, cfn-lint and cargo-lambda come from the project-local virtualenv.
export PATH := $(VENV)/bin:$(PATH)
export MOTO_SERVER := $(VENV)/bin/moto_server
export CARGO_TERM_COLOR ?= auto

.PHONY: help venv browser test lint fmt demo up token build bench clean

# Debian's packages are installed as root (CI and these machines), else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

$(VENV_STAMP): tools/requirements.txt
	@echo "==> creating .venv from tools/requirements.txt (moto server, cfn-lint, cargo-lambda)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	@touch $@

venv: $(VENV_STAMP)

# Headless Chromium (Debian's package) for the browser test of the consent flow.
browser:
	@command -v chromium >/dev/null || { \
	  echo "==> installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cfn-lint infra/template.yaml

fmt:
	cargo fmt --all

test: lint browser
	cargo test --workspace --locked

demo: venv
	cargo run --locked -p devstack -- demo

up: venv
	cargo run --locked -p devstack -- up

ORG ?= demo
token:
	@cargo run --quiet --locked -p devstack -- token --org $(ORG)

build: venv
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --locked --workspace --bins --exclude devstack --exclude graph-sim

bench: venv
	tools/bench.sh

clean:
	cargo clean
	rm -rf $(VENV)
