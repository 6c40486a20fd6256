#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this and nothing else):
# set-up on a fresh machine, formatting, lints, unit and integration tests
# (the real binary under real mpirun, HDF5 files read back), a small scaling
# sweep and its figures (pytest), and `sbatch slurm/pi.sbatch` on a live
# single-node Slurm cluster that the test starts and stops itself.
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

step "scaling sweep and figures (pytest scripts/tests: scripts/scaling.sh, scripts/plot)"
cargo build --release --locked
mcpi="$PWD/target/release/mcpi"
source scripts/lib/plotenv.sh
plot_env
# The tests run SAMPLES=1e7 NP="1 2 3" REPEATS=2 scripts/scaling.sh with this binary and
# plot it; each command they start has its own timeout.
MCPI_BIN="$mcpi" MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1 timeout 1200 \
    "$PLOT_PYTHON" -m pytest -p no:cacheprovider -q scripts/tests

step "sbatch slurm/pi.sbatch on a live single-node Slurm (scripts/test-slurm.sh)"
scripts/test-slurm.sh "$mcpi"

step "all tests passed"
