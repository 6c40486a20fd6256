#!/usr/bin/env bash
# End-to-end test of slurm/pi.sbatch on a real, throwaway single-node Slurm cluster.
#
#   scripts/test-slurm.sh [PATH/TO/mcpi]
#
# mcpi is the given binary, else `mcpi` on PATH, else target/release/mcpi. Needs root (the
# cluster daemons run as root); installs slurm-wlm, munge and hdf5-tools with apt-get when
# they are missing. Everything happens in a temporary directory: the cluster (see
# scripts/slurm-cluster.sh) and a submission directory holding slurm/pi.sbatch and results/,
# so the repository's own results/ is never written to. The cluster is stopped on any exit.
#
# Every wait is bounded: MCPI_TEST_JOB_TIMEOUT seconds per `sbatch --wait` (default 180).
# MCPI_TEST_KEEP=1 keeps the temporary directory for inspection.
set -uo pipefail

export PATH="/usr/sbin:/sbin:$PATH"
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
cluster_sh=$here/slurm-cluster.sh
job_timeout=${MCPI_TEST_JOB_TIMEOUT:-180}

pass=0
fail=0
ok()  { echo "PASS: $*"; pass=$(( pass + 1 )); }
bad() { echo "FAIL: $*"; fail=$(( fail + 1 )); }
check() {   # check "description" command...
    local desc=$1; shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}
finish() {
    echo "$pass passed, $fail failed"
    (( fail == 0 ))
    exit $?
}
abort() {   # a failure that makes the remaining checks meaningless
    bad "$*"
    finish
}

# --- prerequisites -------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || { echo "error: run as root (the throwaway Slurm cluster runs as root)" >&2; exit 2; }

if [[ $# -ge 1 ]]; then
    mcpi=$1
elif command -v mcpi >/dev/null 2>&1; then
    mcpi=$(command -v mcpi)
else
    mcpi=$repo/target/release/mcpi
fi
[[ -x $mcpi && ! -d $mcpi ]] || { echo "error: mcpi binary not found or not executable: $mcpi" >&2; exit 2; }
mcpi=$(cd "$(dirname "$mcpi")" && pwd -P)/$(basename "$mcpi")

if ! command -v h5dump >/dev/null 2>&1; then
    echo "installing hdf5-tools (h5dump) with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends hdf5-tools; } >&2 \
        || { echo "error: could not install hdf5-tools" >&2; exit 2; }
fi

# Start from a clean Slurm environment (we may be running inside someone's allocation).
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^SLURM_' || true)
unset MCPI_BIN MCPI_LAUNCHER MCPI_SRUN_MPI

# --- temporary world -----------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpi-slurm-test.XXXXXX") || exit 2
chmod 0711 "$tmp"            # munged needs o+x on every directory above its socket
cdir=$tmp/cluster
sub=$tmp/submit              # stands in for the repository root at submission time
mkdir -p "$sub/slurm" "$sub/results" "$tmp/bin"
cp "$repo/slurm/pi.sbatch" "$sub/slurm/pi.sbatch"
ln -s "$mcpi" "$tmp/bin/mcpi"    # found by pi.sbatch through PATH, as after `cargo install`
export PATH="$tmp/bin:$PATH"

repo_results_before=$(ls -A "$repo/results" 2>/dev/null || true)

waiter=""
# shellcheck disable=SC2317  # invoked through trap
cleanup() {
    local rc=$?
    if [[ -n ${waiter:-} ]]; then kill -TERM "$waiter" 2>/dev/null; wait "$waiter" 2>/dev/null; fi
    if [[ -f $cdir/pids ]]; then "$cluster_sh" stop "$cdir" >/dev/null 2>&1 || true; fi
    if [[ ${MCPI_TEST_KEEP:-0} == 1 ]]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "terminated" >&2; exit 143' TERM

show_file() {   # on failure, show what the job printed
    [[ -f $1 ]] || return 0
    echo "----- $1 -----"
    sed 's/^/    /' "$1"
}

# --- helpers -------------------------------------------------------------------------------------
# submit [sbatch options] slurm/pi.sbatch [mcpi args]: sets job_rc, job_id, job_out, job_json
submit() {
    # In the background + wait, so that a signal to this script is handled at once (bash runs
    # traps only after a foreground command ends); cleanup kills $waiter if it is still there.
    ( cd "$sub" && exec timeout "$job_timeout" sbatch --wait --parsable "$@" \
        >"$tmp/sbatch.out" 2>"$tmp/sbatch.err" ) &
    waiter=$!
    wait "$waiter"
    job_rc=$?
    waiter=""
    job_id=$(head -n 1 "$tmp/sbatch.out")
    job_id=${job_id%%;*}
    job_out=$sub/results/slurm-mcpi-$job_id.out
    job_json=$(grep -m 1 '^{' "$job_out" 2>/dev/null || true)
    if (( job_rc == 124 )); then
        echo "    sbatch --wait timed out after ${job_timeout}s" >&2
    fi
}

# json_get KEY: value of a top-level scalar in $job_json (quotes stripped)
json_get() {
    printf '%s\n' "$job_json" \
        | sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\)"\{0,1\}[,}].*/\1/p' | head -n 1
}

is_int() { [[ $1 =~ ^[0-9]+$ ]]; }
# shellcheck disable=SC2317  # invoked through check
eq()     { [[ $1 == "$2" ]]; }

# --- the test ------------------------------------------------------------------------------------
echo "mcpi: $mcpi"
echo "work: $tmp"
t0=$SECONDS

if "$cluster_sh" start "$cdir" >"$tmp/cluster-start.out" 2>&1; then
    ok "cluster started, node idle ($(grep -o '[0-9]* CPUs advertised ([0-9]* real)' "$tmp/cluster-start.out"))"
else
    cat "$tmp/cluster-start.out"
    abort "cluster start"
fi
export SLURM_CONF=$cdir/slurm.conf
cluster_pids=$(awk '{ print $1 }' "$cdir/pids")

# 1. Default job (balanced, --ntasks=4 from the #SBATCH lines), launched with srun --mpi=pmi2.
submit slurm/pi.sbatch --samples 1e7 --json
is_int "$job_id" || { cat "$tmp/sbatch.err"; abort "sbatch returned a job id (got '$job_id')"; }
check "job $job_id (balanced, default ntasks): sbatch --wait exit 0 (got $job_rc)" eq "$job_rc" 0
check "job $job_id: output file results/slurm-mcpi-$job_id.out has the JSON summary" test -n "$job_json"
check "job $job_id: mode balanced, ranks 4, engines 3" \
    eq "$(json_get mode) $(json_get ranks) $(json_get engines)" "balanced 4 3"
check "job $job_id: JSON slurm_job_id = $job_id (got '$(json_get slurm_job_id)')" eq "$(json_get slurm_job_id)" "$job_id"
h5=$(compgen -G "$sub/results/*-j$job_id.h5" | head -n 1)
check "job $job_id: results file *-j$job_id.h5 exists (${h5##*/})" test -n "$h5"
check "job $job_id: JSON output names that file" eq "$(json_get output)" "results/${h5##*/}"
attr=$( [[ -n $h5 ]] && h5dump -a slurm_job_id "$h5" 2>&1 | sed -n 's/.*(0): "\{0,1\}\([^"]*\)"\{0,1\}.*/\1/p')
check "job $job_id: h5dump -a slurm_job_id shows $job_id (got '$attr')" eq "$attr" "$job_id"
inside1=$(json_get inside)
(( fail == 0 )) || show_file "$job_out"
first_job=$job_id

# 2. Direct mode with 3 tasks: same seed/samples/chunks must give the same inside count.
nf=$fail
submit --ntasks=3 slurm/pi.sbatch --mode direct --samples 1e7 --json
check "job $job_id (direct, --ntasks=3): sbatch --wait exit 0 (got $job_rc)" eq "$job_rc" 0
check "job $job_id: mode direct, ranks 3, engines 2, slurm_job_id $job_id" \
    eq "$(json_get mode) $(json_get ranks) $(json_get engines) $(json_get slurm_job_id)" "direct 3 2 $job_id"
check "job $job_id: inside $(json_get inside) = job $first_job's $inside1 (reproducible across modes and rank counts)" \
    test -n "$inside1" -a "$(json_get inside)" = "$inside1"
(( fail == nf )) || show_file "$job_out"

# 3. The same run through the MPI library's launcher (MCPI_LAUNCHER=mpirun).
if command -v mpirun >/dev/null 2>&1; then
    nf=$fail
    MCPI_LAUNCHER=mpirun submit slurm/pi.sbatch --samples 1e7 --json --progress never
    check "job $job_id (MCPI_LAUNCHER=mpirun): exit 0 (got $job_rc), ranks 4, inside = $inside1" \
        eq "$job_rc $(json_get ranks) $(json_get inside)" "0 4 $inside1"
    check "job $job_id: the job script launched through mpirun" grep -q '^ *command: *mpirun -n 4 ' "$job_out" 2>/dev/null
    (( fail == nf )) || show_file "$job_out"
else
    echo "SKIP: MCPI_LAUNCHER=mpirun (no mpirun on PATH)"
fi

# 4. Bad input: the job fails, sbatch --wait says so, and mcpi's error is printed once (rank 0
#    only). Launcher lines such as "srun: error: ...: Exited with exit code 2" are not counted.
nf=$fail
submit slurm/pi.sbatch --samples 0
check "job $job_id (--samples 0): sbatch --wait exits non-zero (got $job_rc)" \
    test "$job_rc" -ne 0 -a "$job_rc" -ne 124
n_err=$(grep -c '^mcpi: error:' "$job_out" 2>/dev/null)
check "job $job_id: exactly one 'mcpi: error:' line (got ${n_err:-0})" eq "${n_err:-0}" 1
(( fail == nf )) || show_file "$job_out"

# 5. An impossible request is refused at submission (EnforcePartLimits=ALL) instead of pending.
out=$(cd "$sub" && timeout 30 sbatch --parsable --ntasks=100000 slurm/pi.sbatch 2>&1)
rc=$?
check "sbatch --ntasks=100000 is rejected at once (exit $rc: ${out//$'\n'/ })" test "$rc" -ne 0 -a "$rc" -ne 124

# 6. Nothing leaked into the repository's results/.
check "repository results/ untouched" eq "$(ls -A "$repo/results" 2>/dev/null || true)" "$repo_results_before"

# 7. Clean shutdown: exactly our daemons, and they are gone (a zombie awaiting reaping counts
#    as gone).
"$cluster_sh" stop "$cdir" >"$tmp/cluster-stop.out" 2>&1
rc=$?
left=""
for p in $cluster_pids; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }; s=${s%% *}
    [[ $s == Z || $s == X ]] || left+=" $p"
done
check "cluster stopped (exit $rc), daemon pids ${cluster_pids//$'\n'/ } gone${left:+ (left:$left)}" \
    test "$rc" -eq 0 -a -z "$left"

echo "elapsed: $(( SECONDS - t0 )) s"
finish
