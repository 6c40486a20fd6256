#!/usr/bin/env bash
# End-to-end tests of slurm/pi.sbatch and slurm/scaling.sbatch on live, throw-away Slurm
# clusters (scripts/slurm-local.sh), with real batch jobs: runs pytest
# scripts/tests/test_slurm.py (one node) and scripts/tests/test_nodes.py (three simulated
# nodes; their docstrings say what they check) in the plotting environment (.venv-plot:
# pytest, h5py; created on first use by scripts/lib/plotenv.sh).
#
#   scripts/test-slurm.sh mpich=target/release/mcpi openmpi=target/openmpi/release/mcpi
#   scripts/test-slurm.sh                        # mpich= mcpi on PATH, else target/release/mcpi
#   scripts/test-slurm.sh mpich=PATH -- -k sigterm     # after --: more pytest arguments
#
# Each IMPL=PATH names an mcpi binary and the MPI it is built with (mpich or openmpi). Needs
# root (the daemons run as root); installs slurm-wlm and munge with apt-get when missing. The
# cluster is torn down on every exit: success, failure, SIGINT, SIGTERM (as sent by `timeout`).
# Environment: SLURM_LOCAL_DIR (where the cluster lives; default in a temporary directory),
# MCPI_TEST_JOB_TIMEOUT (seconds a job may take, default 120), MCPI_TEST_KEEP=1 (keep the
# temporary directory).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)

[[ $(id -u) -eq 0 ]] || { echo "error: run as root (the throw-away Slurm cluster runs as root)" >&2; exit 2; }

bins=()
while [[ $# -gt 0 && $1 != -- ]]; do
    if [[ $1 == *=* && ${1#*=} != /* ]]; then
        bins+=("${1%%=*}=$PWD/${1#*=}")   # a path relative to where this was called
    else
        bins+=("$1")
    fi
    shift
done
[[ ${1:-} != -- ]] || shift
if [[ ${#bins[@]} -eq 0 ]]; then
    if command -v mcpi >/dev/null 2>&1; then bins=("mpich=$(command -v mcpi)"); else bins=("mpich=$repo/target/release/mcpi"); fi
fi

# shellcheck source=scripts/lib/plotenv.sh
source "$here/lib/plotenv.sh"
plot_env
export MCPI_SLURM_BINS="${bins[*]}" MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1
# exec: `timeout`'s SIGTERM reaches pytest itself, which then tears the cluster down.
cd "$repo"
exec "$PLOT_PYTHON" -m pytest -p no:cacheprovider -v -rs scripts/tests/test_slurm.py \
    scripts/tests/test_nodes.py "$@"
