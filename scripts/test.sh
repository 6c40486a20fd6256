#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this and nothing else):
# set-up on a fresh machine, formatting, lints, unit and integration tests
# (the real binary under real mpirun, HDF5 files read back), the plotting
# scripts and `sbatch slurm/pi.sbatch` on a live single-node Slurm cluster
# that the test starts and stops itself.
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

step "plots from fresh results (scripts/plot.sh)"
cargo build --release --locked
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mcpi="$PWD/target/release/mcpi"
mpirun_cmd 3
"${MPIRUN[@]}" "$mcpi" -q -n 1e7 -o "$work/balanced-3r.h5"
"${MPIRUN[@]}" "$mcpi" -q -n 1e7 --mode direct -o "$work/direct-3r.h5"
mpirun_cmd 4
"${MPIRUN[@]}" "$mcpi" -q -n 1e7 -k 300 --targets :-1 -o "$work/balanced-4r-targets.h5"
"$mcpi" -q -n 1e7 -o "$work/serial-1r.h5"
scripts/test-plot.sh "$work"/*.h5

step "sbatch slurm/pi.sbatch on a live single-node Slurm (scripts/test-slurm.sh)"
scripts/test-slurm.sh "$mcpi"

step "all tests passed"
