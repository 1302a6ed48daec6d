# Switchyard — build, run and test. `make test` is THE test command.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TOOLS := $(ROOT)/.tools/bin
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER := $(TOOLS)/wasm-bindgen-test-runner
# wasm-bindgen-test runs under Node (no browser needed).
export WASM_BINDGEN_TEST_TIMEOUT ?= 60
E2E_CONCURRENCY ?= 1

.PHONY: setup build demo demo-reset test test-native test-wasm test-www test-contracts test-browser test-promtool test-e2e lint fmt size size-check bench clean

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

test: setup test-native test-wasm test-www test-contracts test-browser test-promtool build size-check test-e2e

# The seeded simulations run once, below, with their figures printed.
test-native:
	cargo test --workspace --lib --bins --tests -- --skip aa_experiments_with_repeated_users --skip power_beside_the_fixed_horizon_test --skip bernoulli_bandit_regret --skip ope_intervals_cover_the_truth
	cargo test -p switchyard-core --benches
	@echo "== seeded simulations, figures printed:"
	cargo test -p switchyard-core --test stats_simulation -- --nocapture --test-threads=1
	@echo "== seeded off-policy-evaluation simulation, figures printed:"
	cargo test -p switchyard-core --test ope_simulation -- --nocapture

# The core's tests again on wasm32 (under Node), and the edge's wasm-only tests.
test-wasm:
	cargo test --target wasm32-unknown-unknown -p switchyard-core -p switchyard-edge --lib --tests

# The dashboard's modules and the router's platform module (src/js/platform.mjs), in Node.
test-www:
	node --test tests/www/ tests/router/

# The dashboard in a real headless Chromium (scripts/browser-test.sh installs Debian's
# chromium when run as root; REQUIRE_BROWSER=1, set by .ci/run, makes a missing browser fail).
test-browser:
	sh scripts/browser-test.sh

# Published contracts: every file in examples/ passes the validator and the JSON Schema;
# docs/config.schema.json and the validator agree on the fixtures and on thousands of generated
# documents; docs/openapi.yaml describes every answer of the live control plane (the built
# workers under wrangler dev, hence `build`) and every path the e2e tests and the CLI request.
test-contracts: build
	node --test tests/contracts/

# promtool on the rendered metrics (scripts/promtool-test.sh installs Debian's prometheus
# package when run as root; REQUIRE_PROMTOOL=1 makes a missing promtool fail). test-e2e then
# runs it on the live endpoint too, through PROMTOOL.
test-promtool:
	sh scripts/promtool-test.sh

test-e2e:
	PROMTOOL="$${PROMTOOL:-$$(command -v promtool || true)}" node --test --test-concurrency=$(E2E_CONCURRENCY) --test-timeout=300000 tests/e2e/

# Native: every crate (the worker crates are wasm32-only and empty natively). wasm32: the
# core and the three edge crates, as the workers are built. Then the core's module graph:
# no import cycle between its folders or between the files of one folder (the checker's own
# tests first, on synthetic crates with and without cycles).
lint:
	node --test tests/scripts/
	node scripts/check-modules.mjs
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown -p switchyard-core -p switchyard-edge -p switchyard-router -p switchyard-stats --lib --tests -- -D warnings

fmt:
	cargo fmt --all

size: build
	scripts/size.sh

# Fails when a bundle is over its budget in size-budget.json (part of `make test`).
size-check:
	node scripts/size-check.mjs

bench:
	cargo bench

clean:
	cargo clean
	rm -rf build .e2e .wrangler
