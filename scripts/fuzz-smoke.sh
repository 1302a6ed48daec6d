#!/bin/sh
# Fuzz the parsers that take outside input (cargo-fuzz / libFuzzer, crate fuzz/):
#   config_parse    core::config::parse + duplicate_keys (config documents, PUT /_switchyard/config)
#   receipt_verify  core::receipt::ReceiptSigner::verify (tokens from POST /_switchyard/feedback)
#   url_split       core::urlparts::split (every request URL)
#
#   sh scripts/fuzz-smoke.sh                  CI smoke run: each target for FUZZ_SECONDS (20)
#   FUZZ_RUNS=10000000 sh scripts/fuzz-smoke.sh config_parse   the documented long run
#
# Installs the nightly toolchain and cargo-fuzz when missing. When nightly cannot be
# installed (no network, no rustup) it says so loudly and exits 0: the fuzz run is skipped,
# not passed. Any other failure (cargo-fuzz does not install, a target crashes) exits 1; a
# crash leaves its input in fuzz/artifacts/<target>/ (keep it as a regression test).
# Runs one target at a time under `nice` (one libFuzzer process, no -jobs).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

SECS=${FUZZ_SECONDS:-20}
TARGETS=${*:-config_parse receipt_verify url_split}

skip() {
  echo "" >&2
  echo "######## fuzz-smoke: SKIPPED — $1" >&2
  echo "######## (the fuzz targets did not run; nothing was checked)" >&2
  exit 0
}

if ! command -v rustup >/dev/null 2>&1; then
  skip "rustup is not installed, so the nightly toolchain cargo-fuzz needs cannot be installed"
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing the nightly toolchain (cargo-fuzz needs -Zsanitizer)" >&2
  rustup toolchain install nightly --profile minimal >&2 \
    || skip "'rustup toolchain install nightly' failed (offline?)"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >&2
fi

status=0
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t"
  if [ -n "${FUZZ_RUNS:-}" ]; then
    LIMIT="-runs=$FUZZ_RUNS"
  else
    LIMIT="-max_total_time=$SECS"
  fi
  echo "fuzz-smoke: $t ($LIMIT)" >&2
  start=$(date +%s)
  if ! nice -n 10 cargo +nightly fuzz run -O "$t" "$ROOT/fuzz/corpus/$t" "$ROOT/fuzz/seeds/$t" \
       -- "$LIMIT" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1; then
    echo "fuzz-smoke: $t FAILED (crash input in fuzz/artifacts/$t/)" >&2
    status=1
  fi
  echo "fuzz-smoke: $t done in $(( $(date +%s) - start )) s" >&2
done
exit $status
