#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this and nothing else):
# set-up on a fresh machine, formatting, lints, unit and integration tests
# (the real binary under real mpirun, HDF5 files read back) once per MPI
# implementation, a small scaling sweep and its figures (pytest), and
# slurm/*.sbatch on a live single-node Slurm cluster that the test starts and
# always stops again.
#
#   MCPI_MPI=mpich|openmpi|all   MPI implementations to test (default all:
#                                every one installed; as root, Open MPI is
#                                installed beside MPICH, which stays the default)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bootstrap.sh

step() { printf '\n==> %s\n' "$*"; }

bootstrap
ensure_open_mpi
export CARGO_TERM_COLOR=never

mapfile -t installed < <(mpi_installed)
case ${MCPI_MPI:-all} in
    all) impls=(${installed[@]+"${installed[@]}"}) ;;
    mpich | openmpi)
        if ! printf '%s\n' ${installed[@]+"${installed[@]}"} | grep -qx "$MCPI_MPI"; then
            echo "MCPI_MPI=$MCPI_MPI: mpicc.$MCPI_MPI and mpirun.$MCPI_MPI are not installed" >&2
            exit 2
        fi
        impls=("$MCPI_MPI")
        ;;
    *)
        echo "MCPI_MPI must be mpich, openmpi or all, not '$MCPI_MPI'" >&2
        exit 2
        ;;
esac
if [ ${#impls[@]} -eq 0 ]; then
    echo "no MPI found as mpicc.mpich/mpirun.mpich or mpicc.openmpi/mpirun.openmpi" >&2
    exit 2
fi

work="$(mktemp -d)"
chmod 0711 "$work"   # the Slurm test's munged needs o+x on the way to its socket
export SLURM_LOCAL_DIR="$work/slurm"
# Whatever happens (a failure, Ctrl-C, `timeout`), no Slurm daemon outlives the suite.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -d "$SLURM_LOCAL_DIR" ]; then scripts/slurm-local.sh down || rc=1; fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "a plain cargo build links the default MPI (mpicc -show: MPICH unless chosen otherwise)"
default_lib=libmpich
mpicc -show 2>/dev/null | grep -q mpich || default_lib=libmpi.so
cargo build --release --locked
ldd target/release/mcpi | grep "$default_lib"

declare -A counts=()
for impl in "${impls[@]}"; do
    mpi_select "$impl"
    step "cargo test against $impl (MPICC=$MPICC, mpirun: $MCPI_MPIRUN, target: ${CARGO_TARGET_DIR#"$PWD"/})"
    MCPI_EXPECT_MPI=$impl cargo test --locked 2>&1 | tee "$work/test-$impl.log"
    counts[$impl]=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$work/test-$impl.log" |
        awk '{ n += $1 } END { print n + 0 }')
    cargo build --release --locked
done

step "scaling sweep and figures with ${impls[0]} (pytest scripts/tests: scripts/scaling.sh, scripts/plot)"
mpi_select "${impls[0]}"
mcpi="$CARGO_TARGET_DIR/release/mcpi"
source scripts/lib/plotenv.sh
plot_env
# The tests run SAMPLES=1e7 NP="1 2 3" REPEATS=2 scripts/scaling.sh with this binary (and
# $MCPI_MPIRUN, its mpirun) and plot it; each command they start has its own timeout.
MCPI_BIN="$mcpi" MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1 timeout 1200 \
    "$PLOT_PYTHON" -m pytest -p no:cacheprovider -q scripts/tests 2>&1 | tee "$work/pytest.log"
pytest_passed=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$work/pytest.log" | tail -n 1)

if [ "$(id -u)" -eq 0 ]; then
    step "slurm/pi.sbatch and slurm/scaling.sbatch on a live Slurm of one node and of three (scripts/test-slurm.sh: pytest scripts/tests/test_slurm.py test_nodes.py)"
    binaries=()
    for impl in "${impls[@]}"; do
        mpi_select "$impl"
        binaries+=("$impl=$CARGO_TARGET_DIR/release/mcpi")
    done
    slurm_start=$SECONDS
    timeout -k 10 1500 scripts/test-slurm.sh "${binaries[@]}"
    slurm_s=$((SECONDS - slurm_start))
else
    step "Slurm tests skipped: they need root (the throw-away cluster's daemons run as root)"
fi

step "all tests passed"
for impl in "${impls[@]}"; do
    echo "cargo test against $impl: ${counts[$impl]} tests passed"
done
echo "pytest scripts/tests (${impls[0]}): ${pytest_passed:-?} tests passed"
if [ -n "${slurm_s:-}" ]; then echo "Slurm part: ${slurm_s} s"; fi
