#!/usr/bin/env bash
# The whole test suite: formatting, Rust unit/property/integration tests, then the
# compatibility tests with real Python clients (scripts/compat.sh creates their
# virtualenv). Cargo's target directory lives outside the clone so warm runs are fast.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo fmt --all -- --check
# --all-targets also builds the criterion benches and runs each once (test mode),
# so a broken bench fails here; doc tests need their own run.
cargo test --workspace --locked --all-targets
cargo test --workspace --locked --doc
scripts/compat.sh
