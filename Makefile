# Switchyard — build, run and test. `make test` is THE test command.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TOOLS := $(ROOT)/.tools/bin
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER := $(TOOLS)/wasm-bindgen-test-runner
# wasm-bindgen-test runs under Node (no browser needed).
export WASM_BINDGEN_TEST_TIMEOUT ?= 60
E2E_CONCURRENCY ?= 1

.PHONY: setup build demo demo-reset test test-native test-wasm test-www test-contracts test-e2e lint fmt size bench clean

setup:
	scripts/setup.sh

# Both bundles: build/router/ (wrangler.toml) and build/stats/ (wrangler.stats.toml).
build: setup
	sh scripts/build-worker.sh all

demo:
	scripts/demo.sh

# Back to a first run: local KV/Durable Object state, demo logs and the worker bundles.
demo-reset:
	rm -rf .wrangler build
	@echo "demo-reset: removed .wrangler/ (local KV, Durable Objects, logs) and build/"

test: setup test-native test-wasm test-www test-contracts build test-e2e

test-native:
	cargo test --lib --tests --examples -- --skip aa_experiments_msprt --skip bernoulli_bandit_regret
	cargo test -p switchyard-model-server
	cargo test --benches
	@echo "== seeded simulations (issue 3), figures printed:"
	cargo test --test stats_simulation -- --nocapture --test-threads=1

test-wasm:
	cargo test -p switchyard --target wasm32-unknown-unknown --lib --tests

test-www:
	node --test tests/www/

# Published contracts: docs/config.schema.json vs the config fixtures, docs/openapi.yaml vs
# the requests the e2e tests and the dashboard make.
test-contracts:
	node --test tests/contracts/

test-e2e:
	node --test --test-concurrency=$(E2E_CONCURRENCY) --test-timeout=300000 tests/e2e/

# Native clippy covers the whole workspace (worker crate, CLI, model server); wasm clippy the
# worker crate only, also per worker (feature `router` alone, `stats` alone), as built.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p switchyard --target wasm32-unknown-unknown --lib --tests -- -D warnings
	cargo clippy -p switchyard --target wasm32-unknown-unknown --lib --tests --no-default-features --features router -- -D warnings
	cargo clippy -p switchyard --target wasm32-unknown-unknown --lib --tests --no-default-features --features stats -- -D warnings

fmt:
	cargo fmt --all

size: build
	scripts/size.sh

bench:
	cargo bench

clean:
	cargo clean
	rm -rf build .e2e .wrangler
