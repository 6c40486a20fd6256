#!/usr/bin/env bash
# End-to-end tests of slurm/pi.sbatch and slurm/scaling.sbatch on a live, throw-away
# single-node Slurm cluster (scripts/slurm-local.sh), with real `sbatch --wait` jobs.
#
#   scripts/test-slurm.sh mpich=target/release/mcpi openmpi=target/openmpi/release/mcpi
#   scripts/test-slurm.sh                        # mpich= mcpi on PATH, else target/release/mcpi
#
# Each IMPL=PATH names an mcpi binary and the MPI it is built with (mpich or openmpi); its
# plain `mpirun.IMPL` run gives the inside count every job must reproduce. Needs root (the
# daemons run as root); installs slurm-wlm, munge and hdf5-tools with apt-get when missing.
#
# Everything happens in a temporary directory: the cluster ($SLURM_LOCAL_DIR, default inside
# it) and a submission directory with slurm/, scripts/scaling.sh and results/, so the
# repository's results/ is never written to. The scaling sweep's folder is then plotted with
# the repository's scripts/plot (its .venv-plot is created on first use, as scripts/plot does). The cluster is torn down on every exit: success, failure, SIGINT, SIGTERM
# (as sent by `timeout`). Each `sbatch --wait` is bounded by MCPI_TEST_JOB_TIMEOUT seconds
# (default 120). MCPI_TEST_KEEP=1 keeps the temporary directory.
set -euo pipefail

export PATH="/usr/sbin:/sbin:$PATH"
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
job_timeout=${MCPI_TEST_JOB_TIMEOUT:-120}
seed=4242
samples=1e7

[[ $(id -u) -eq 0 ]] || { echo "error: run as root (the throw-away Slurm cluster runs as root)" >&2; exit 2; }

# --- binaries ------------------------------------------------------------------------------------
declare -A bin=()
if [[ $# -eq 0 ]]; then
    if command -v mcpi >/dev/null 2>&1; then set -- "mpich=$(command -v mcpi)"; else set -- "mpich=$repo/target/release/mcpi"; fi
fi
for spec in "$@"; do
    impl=${spec%%=*} path=${spec#*=}
    [[ $impl == mpich || $impl == openmpi ]] || { echo "error: '$spec': expected mpich=PATH or openmpi=PATH" >&2; exit 2; }
    [[ -f $path && -x $path ]] || { echo "error: $impl: no executable mcpi at $path" >&2; exit 2; }
    command -v "mpirun.$impl" >/dev/null 2>&1 || { echo "error: $impl: mpirun.$impl is not installed" >&2; exit 2; }
    bin[$impl]=$(cd "$(dirname "$path")" && pwd -P)/$(basename "$path")
done
impls=()
for impl in mpich openmpi; do [[ -n ${bin[$impl]:-} ]] && impls+=("$impl"); done

if ! command -v h5dump >/dev/null 2>&1; then
    echo "installing hdf5-tools (h5dump) with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends hdf5-tools; } >&2
fi

# A clean Slurm environment (this may run inside someone's allocation), keeping only where
# the caller wants the cluster (scripts/test.sh tears it down from there if this is killed).
local_dir=${SLURM_LOCAL_DIR:-}
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^SLURM_' || true)
unset MCPI_BIN MCPI_ARGS MCPI_LAUNCHER MCPI_SRUN_MPI MCPI_MPIRUN
unset NP SAMPLES PER_ENGINE CHUNKS REPEATS MODES KINDS SEED OUT

# --- temporary world and teardown ----------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpi-slurm-test.XXXXXX")
chmod 0711 "$tmp"                     # munged needs o+x on every directory above its socket
export SLURM_LOCAL_DIR=${local_dir:-$tmp/cluster}
sub=$tmp/submit                       # stands in for the repository root
mkdir -p "$sub/slurm" "$sub/scripts/lib" "$sub/results"
cp "$repo/slurm/pi.sbatch" "$repo/slurm/scaling.sbatch" "$sub/slurm/"
cp "$repo/scripts/scaling.sh" "$sub/scripts/"               # what scaling.sbatch runs
cp "$repo"/scripts/lib/* "$sub/scripts/lib/"                 # launch.sh, manifest-columns
repo_results_before=$(ls -A "$repo/results" 2>/dev/null || true)

waiter=""
# shellcheck disable=SC2317  # run by the traps
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $waiter ]]; then kill -TERM "$waiter" 2>/dev/null || true; wait "$waiter" 2>/dev/null || true; fi
    if [[ $rc -ne 0 && -d $SLURM_LOCAL_DIR/log ]]; then
        for f in "$SLURM_LOCAL_DIR"/log/slurmctld.log "$SLURM_LOCAL_DIR"/log/slurmd.log; do
            [[ -f $f ]] && { echo "----- last lines of ${f##*/} -----"; tail -n 15 "$f"; }
        done
    fi
    "$here/slurm-local.sh" down || rc=1
    if [[ ${MCPI_TEST_KEEP:-0} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "test-slurm: interrupted" >&2; exit 130' INT
trap 'echo "test-slurm: terminated" >&2; exit 143' TERM

# --- checks --------------------------------------------------------------------------------------
pass=0 fail=0
ok()  { echo "  PASS: $*"; pass=$(( pass + 1 )); }
bad() { echo "  FAIL: $*"; fail=$(( fail + 1 )); }
check() {   # description, command...
    local desc=$1; shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}
eq() { [[ $1 == "$2" ]]; }

# attr FILE NAME: an HDF5 root attribute's value (h5dump), "" when absent.
attr() {
    { h5dump -a "$2" "$1" 2>/dev/null || true; } |
        sed -n 's/^ *(0): "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1 || true
}

# submit [env NAME=VALUE...] -- [sbatch options] SCRIPT [args]: runs `sbatch --wait` from the
# submission directory, in the background so that a signal is handled at once. Sets job_rc,
# job_id and job_out, and prints the transcript line.
submit() {
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local t0=$SECONDS
    ( cd "$sub" && exec env ${envs[@]+"${envs[@]}"} timeout "$job_timeout" sbatch --wait --parsable "$@" \
        >"$tmp/sbatch.out" 2>"$tmp/sbatch.err" ) &
    waiter=$!
    job_rc=0
    wait "$waiter" || job_rc=$?
    waiter=""
    job_id=$(head -n 1 "$tmp/sbatch.out" 2>/dev/null || true)
    job_id=${job_id%%;*}
    job_out=$sub/results/$(job_name "$@")-$job_id.out
    echo "\$ ${envs[*]:+$(printf '%q ' "${envs[@]}")}sbatch --wait $*"
    echo "    => job ${job_id:-?}, exit $job_rc, $(( SECONDS - t0 )) s"
    if [[ $job_rc == 124 ]]; then
        echo "    TIMED OUT after $job_timeout s"
        sed 's/^/    sbatch: /' "$tmp/sbatch.err"
    fi
}
job_name() {   # the --job-name of a submission: mcpi or mcpi-scaling
    local a
    for a in "$@"; do [[ $a == slurm/scaling.sbatch ]] && { echo mcpi-scaling; return; }; done
    echo mcpi
}
json_of() {    # the JSON summary line in a job's output
    grep -m 1 '^{' "$1" 2>/dev/null || true
}
json_get() {   # top-level scalar KEY of JSON (quotes stripped)
    sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\)"\{0,1\}[,}].*/\1/p' <<<"$1" | head -n 1
}
show_out() {   # after a failed check: what the job printed
    [[ -f $job_out ]] || { echo "    (no job output file ${job_out##*/})"; return 0; }
    echo "    ----- ${job_out##*/} -----"
    sed 's/^/    | /' "$job_out"
}
is_int() { [[ $1 =~ ^[0-9]+$ ]]; }

# A finished pi.sbatch job: exit status, output file, JSON, the -j<tag>.h5 file and its
# slurm_* attributes, and the inside count. expect_job RANKS INSIDE [TAG]
expect_job() {
    local ranks=$1 want=$2 tag=${3:-$job_id} nf=$fail json h5
    check "job $job_id: sbatch --wait exit 0" eq "$job_rc" 0
    check "job $job_id: job output ${job_out#"$sub"/}" test -s "$job_out"
    json=$(json_of "$job_out")
    h5=$(compgen -G "$sub/results/mcpi-j$tag.h5" | head -n 1 || true)
    check "job $job_id: result ${h5#"$sub"/}" test -n "$h5"
    check "job $job_id: JSON names it" eq "$(json_get "$json" output)" "${h5#"$sub"/}"
    check "job $job_id: ranks $ranks (JSON $(json_get "$json" ranks), HDF5 $(attr "$h5" ranks))" \
        eq "$(json_get "$json" ranks) $(attr "$h5" ranks)" "$ranks $ranks"
    check "job $job_id: HDF5 slurm_job_id $(attr "$h5" slurm_job_id), slurm_nodes $(attr "$h5" slurm_nodes), slurm_ntasks $(attr "$h5" slurm_ntasks)" \
        eq "$(attr "$h5" slurm_job_id) $(attr "$h5" slurm_nodes) $(attr "$h5" slurm_ntasks)" "$job_id 1 $ranks"
    check "job $job_id: HDF5 inside $(attr "$h5" inside) = plain mpirun's $want" eq "$(attr "$h5" inside)" "$want"
    (( fail == nf )) || show_out
    last_h5=$h5
}

# --- the tests -----------------------------------------------------------------------------------
echo "binaries: $(for i in "${impls[@]}"; do printf '%s=%s ' "$i" "${bin[$i]}"; done)"
echo "work:     $tmp"
t_start=$SECONDS

# Reference inside counts from plain mpirun runs with the same seed, samples and chunks.
declare -A plain=()
for impl in "${impls[@]}"; do
    flags=()
    [[ $impl == openmpi ]] && flags=(--oversubscribe)
    ( cd "$tmp" && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 \
        "mpirun.$impl" ${flags[@]+"${flags[@]}"} -n 3 "${bin[$impl]}" \
        -q -n "$samples" -s "$seed" -o "plain-$impl.h5" )
    plain[$impl]=$(attr "$tmp/plain-$impl.h5" inside)
    check "plain mpirun.$impl -n 3: inside ${plain[$impl]}" is_int "${plain[$impl]}"
done

echo "--- scripts/slurm-local.sh up"
t_up=$SECONDS
if ! "$here/slurm-local.sh" up >"$tmp/up.out" 2>&1; then
    cat "$tmp/up.out"
    bad "cluster up"
    exit 1
fi
export SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf
ok "cluster up in $(( SECONDS - t_up )) s: $(grep -o 'node .*' "$tmp/up.out" | head -n 1)"
check "slurm-local.sh up again: finds it running" "$here/slurm-local.sh" up
check "slurm-local.sh status: exit 0" "$here/slurm-local.sh" status
cpus=$(sinfo -h -o %c)
daemon_pids=$(awk '{ print $1 }' "$SLURM_LOCAL_DIR/pids")

for impl in "${impls[@]}"; do
    mcpi=${bin[$impl]} want=${plain[$impl]}
    echo "--- $impl: slurm/pi.sbatch"

    # The default 4 tasks exceed the node's CPUs here: --overcommit. srun with the plugin
    # chosen for this MPI (pmi2 for MPICH, pmix for Open MPI).
    submit "MCPI_BIN=$mcpi" -- --overcommit slurm/pi.sbatch --samples "$samples" --seed "$seed" --json
    is_int "$job_id" || { cat "$tmp/sbatch.err"; bad "sbatch printed a job id"; exit 1; }
    expect_job 4 "$want"
    check "job $job_id: mpi_library is $impl's ($(attr "$last_h5" mpi_library | cut -c1-20))" \
        grep -q "$([[ $impl == openmpi ]] && echo '^Open MPI' || echo '^MPICH')" <<<"$(attr "$last_h5" mpi_library)"
    check "job $job_id: launched with srun --mpi=$([[ $impl == openmpi ]] && echo pmix || echo pmi2)" \
        grep -q "command: *srun --mpi=$([[ $impl == openmpi ]] && echo pmix || echo pmi2) " "$job_out"

    # One task: the serial baseline as a job. Options from MCPI_ARGS.
    submit "MCPI_BIN=$mcpi" "MCPI_ARGS=--samples $samples --seed $seed --mode direct" -- --ntasks=1 slurm/pi.sbatch --json
    expect_job 1 "$want"

    # Through the MPI library's own mpirun, $cpus tasks (no --overcommit needed).
    submit "MCPI_BIN=$mcpi" MCPI_LAUNCHER=mpirun -- --ntasks="$cpus" slurm/pi.sbatch -n "$samples" -s "$seed" --mode direct --json
    expect_job "$cpus" "$want"
    check "job $job_id: launched with mpirun.$impl -n $cpus" grep -q "command: *mpirun.$impl -n $cpus " "$job_out"
done

mcpi=${bin[${impls[0]}]} want=${plain[${impls[0]}]}
echo "--- ${impls[0]}: arrays, failures, signals, slurm/scaling.sbatch"

# A job array: every task names its result <array job>_<task> and records both ids.
submit "MCPI_BIN=$mcpi" -- --array=1-2 --ntasks=1 slurm/pi.sbatch -n "$samples" -s "$seed"
check "array job $job_id: sbatch --wait exit 0" eq "$job_rc" 0
for task in 1 2; do
    h5=$(compgen -G "$sub/results/mcpi-j${job_id}_$task.h5" | head -n 1 || true)
    check "array job $job_id task $task: result ${h5#"$sub"/}, slurm_array_job_id/task_id $(attr "$h5" slurm_array_job_id)/$(attr "$h5" slurm_array_task_id), inside $(attr "$h5" inside)" \
        eq "$(attr "$h5" slurm_array_job_id) $(attr "$h5" slurm_array_task_id) $(attr "$h5" inside)" "$job_id $task $want"
done

# Bad input fails the job, with mcpi's message in the job output (once: rank 0 only).
submit "MCPI_BIN=$mcpi" -- --ntasks=2 slurm/pi.sbatch --samples 1e7 --bogus
check "job $job_id (--bogus): sbatch --wait exit non-zero" test "$job_rc" -ne 0 -a "$job_rc" -ne 124
n=$(grep -c "^mcpi: error: unexpected argument '--bogus'" "$job_out" || true)
check "job $job_id: one 'mcpi: error: unexpected argument' line in the job output (got $n)" eq "$n" 1
check "job $job_id: no result file" eq "$(compgen -G "$sub/results/*-j$job_id.h5" || true)" ""
(( n == 1 )) || show_out

# No mcpi: the job fails at once and says why.
submit MCPI_BIN=/nonexistent/mcpi -- --ntasks=1 slurm/pi.sbatch
check "job $job_id (MCPI_BIN=/nonexistent/mcpi): exit 126" eq "$job_rc" 126
check "job $job_id: says so" grep -q '^pi.sbatch: error: /nonexistent/mcpi is not an executable file' "$job_out"

# An srun plugin that MPICH does not speak (none): every task would run alone; mcpi refuses.
if [[ ${impls[0]} == mpich ]]; then
    submit "MCPI_BIN=$mcpi" MCPI_SRUN_MPI=none -- --ntasks=2 slurm/pi.sbatch -n 1e6
    check "job $job_id (srun --mpi=none): exit non-zero" test "$job_rc" -ne 0 -a "$job_rc" -ne 124
    check "job $job_id: mcpi says the ranks would run alone" \
        grep -q '^mcpi: error: srun started 2 tasks but MPI sees 1 rank' "$job_out"
fi

# SIGTERM to the batch shell (what --signal=B:TERM@60 sends before the time limit) reaches
# the ranks through the trap: mcpi saves its checkpoint and the job ends with 143. Requeued,
# the same job finds the checkpoint and resumes it to the uninterrupted inside count.
( cd "$tmp" && timeout 120 "mpirun.${impls[0]}" -n 3 "$mcpi" -q -n 3e10 -s "$seed" -o plain-3e10.h5 )
want_long=$(attr "$tmp/plain-3e10.h5" inside)
id=$(cd "$sub" && MCPI_BIN=$mcpi sbatch --parsable --ntasks=2 slurm/pi.sbatch -n 3e10 -s "$seed" -q --checkpoint-every 0.2)
job_out=$sub/results/mcpi-$id.out
checkpoint=$sub/results/mcpi-j$id.partial.h5
saved=""
for ((i = 0; i < 600; i++)); do
    [[ -e $checkpoint ]] && saved=$(attr "$checkpoint" chunks_done) && ((saved >= 5)) && break
    sleep 0.1
done
t0=$SECONDS
scancel --batch --signal=TERM "$id"
state=""
for ((i = 0; i < 300; i++)); do
    state=$(scontrol show job -o "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
    [[ $state == JobState=RUNNING || $state == JobState=COMPLETING ]] || break
    sleep 0.1
done
echo "\$ sbatch --ntasks=2 slurm/pi.sbatch -n 3e10; scancel --batch --signal=TERM $id"
echo "    => job $id ended $(( SECONDS - t0 )) s after the signal ($state, $(scontrol show job -o "$id" | grep -o 'ExitCode=[0-9:]*'))"
sed -n 's/^\(mcpi: interrupted.*\)/    | \1/p' "$job_out"
nf=$fail
check "job $id: the trap passed SIGTERM on to the ranks" grep -q '^== received SIGTERM at .*: sending it to the ranks' "$job_out"
check "job $id: ended with mcpi's 143 ($state)" eq "$(scontrol show job -o "$id" | grep -o 'ExitCode=[0-9:]*')" "ExitCode=143:0"
saved=$(attr "$checkpoint" chunks_done)
check "job $id: 'interrupted by SIGTERM: $saved/100 chunks saved in results/mcpi-j$id.partial.h5'" \
    grep -q "^mcpi: interrupted by SIGTERM: $saved/100 chunks saved in results/mcpi-j$id.partial.h5; resume with mcpi --resume results/mcpi-j$id.partial.h5" "$job_out"
check "job $id: $saved of 100 chunks saved" test "$saved" -gt 0 -a "$saved" -lt 100
t0=$SECONDS
scontrol requeue "$id"
# A requeued job waits about two minutes before it may start again, so that the node can
# clean up after its first run (srun's pmi2 fails in a step that starts too soon). Start it
# once slurmd has finished with the first run's step and batch script.
for ((i = 0; i < 600; i++)); do
    grep -q "\[$id.0\] done with job" "$SLURM_LOCAL_DIR/log/slurmd.log" &&
        grep -q "\[$id.batch\] done with job" "$SLURM_LOCAL_DIR/log/slurmd.log" && break
    sleep 0.1
done
scontrol update JobId="$id" StartTime=now
for ((i = 0; i < 1200; i++)); do
    state=$(scontrol show job -o "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
    [[ $state == JobState=COMPLETED || $state == JobState=FAILED ]] && break
    sleep 0.1
done
result=$sub/results/mcpi-j$id.h5
echo "\$ scontrol requeue $id  => $state after $(( SECONDS - t0 )) s: ${result#"$sub"/}, inside $(attr "$result" inside) (plain mpirun: $want_long)"
check "job $id requeued: $state" eq "$state" JobState=COMPLETED
check "job $id requeued: resumed its checkpoint" grep -q "^== resuming results/mcpi-j$id.partial.h5 (restart 1 of job $id)" "$job_out"
check "job $id requeued: inside $(attr "$result" inside) = plain mpirun's $want_long, in 2 sessions" \
    eq "$(attr "$result" inside) $(attr "$result" sessions) $(attr "$result" slurm_job_id)" "$want_long 2 $id"
check "job $id requeued: the checkpoint is gone" test ! -e "$checkpoint"
(( fail == nf )) || show_out
[[ $state == JobState=COMPLETED ]] || scancel "$id" || true

# The scaling sweep: scripts/scaling.sh with srun steps inside one allocation, one folder, one
# file per run, the same answer; then scripts/plot reads the folder.
echo "--- ${impls[0]}: slurm/scaling.sbatch"
nf=$fail
submit "MCPI_BIN=$mcpi" "NP=1 2 3" "SAMPLES=$samples" REPEATS=2 "SEED=$seed" -- --overcommit --ntasks=3 slurm/scaling.sbatch
check "job $job_id: sbatch --wait exit 0" eq "$job_rc" 0
dir=$(compgen -G "$sub/results/scaling-*-j$job_id" || true)
check "job $job_id: one sweep folder results/scaling-<UTC>-j$job_id (${dir#"$sub"/})" \
    eq "$(wc -l <<<"$dir") ${dir:+set}" "1 set"
want_files=$(for r in 1 2; do for n in 1 2 3; do for m in balanced direct; do echo "strong-$m-${n}r-$r.h5"; done; done; done | sort)
check "job $job_id: it holds the 12 files strong-<mode>-<N>r-<repeat>.h5" \
    eq "$(cd "$dir" 2>/dev/null && printf '%s\n' *.h5 | sort)" "$want_files"
check "job $job_id: manifest.tsv lists the 12 runs" \
    eq "$(grep -v '^#' "$dir/manifest.tsv" 2>/dev/null | tail -n +2 | cut -f9 | sort)" "$want_files"
check "job $job_id: manifest.tsv names the job and the launcher srun --mpi=$([[ ${impls[0]} == openmpi ]] && echo pmix || echo pmi2) -n N" \
    eq "$(grep -E '^# (slurm_job_id|launcher)' "$dir/manifest.tsv" 2>/dev/null | cut -f2 | tr '\n' ' ')" \
    "srun --mpi=$([[ ${impls[0]} == openmpi ]] && echo pmix || echo pmi2) -n N $job_id "
insides=$(for f in "$dir"/*.h5; do attr "$f" inside; done | sort -u)
check "job $job_id: every run's inside = plain mpirun's $want (got ${insides//$'\n'/ })" eq "$insides" "$want"
ranks=$(for f in "$dir"/*.h5; do echo "$(attr "$f" mode)-$(attr "$f" ranks)r-$(attr "$f" slurm_job_id)"; done | sort -u | tr '\n' ' ')
check "job $job_id: files record mode, ranks and the job ($ranks)" \
    eq "$ranks" "balanced-1r-$job_id balanced-2r-$job_id balanced-3r-$job_id direct-1r-$job_id direct-2r-$job_id direct-3r-$job_id "
steps=$(for f in "$dir"/*.h5; do attr "$f" slurm_step_id; done | sort -un | wc -l)
check "job $job_id: each run was a job step of its own ($steps step ids)" eq "$steps" 12
(( fail == nf )) || show_out
# The figures, with the repository's scripts/plot (and its .venv-plot: scripts/test.sh has
# made it by now; alone, the first run creates it).
nf=$fail
t0=$SECONDS
if [[ -n $dir ]] && timeout 600 "$repo/scripts/plot" "$dir" >"$tmp/plot.out" 2>&1; then plot_rc=0; else plot_rc=$?; fi
echo "\$ scripts/plot results/${dir##*/}"
echo "    => exit $plot_rc, $(( SECONDS - t0 )) s: $(cd "$dir" 2>/dev/null && printf '%s ' *.png)"
check "scripts/plot on the Slurm sweep folder: exit 0" eq "$plot_rc" 0
for fig in strong-scaling gantt load-balance convergence; do
    check "scripts/plot wrote $fig.png" test -s "$dir/$fig.png"
done
(( fail == nf )) || sed 's/^/    plot: /' "$tmp/plot.out"

# A request the node can never satisfy is refused at submission, not left pending forever.
out=$(cd "$sub" && timeout 30 sbatch --parsable --ntasks=100000 slurm/pi.sbatch 2>&1) && rc=0 || rc=$?
check "sbatch --ntasks=100000: refused at once (exit $rc: ${out//$'\n'/ })" test "$rc" -ne 0 -a "$rc" -ne 124

check "the repository's results/ is untouched" eq "$(ls -A "$repo/results" 2>/dev/null || true)" "$repo_results_before"

echo "--- scripts/slurm-local.sh down"
"$here/slurm-local.sh" down
left=""
for p in $daemon_pids; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }; s=${s%% *}
    [[ $s == Z || $s == X ]] || left+=" $p"
done
check "daemons ${daemon_pids//$'\n'/ } gone${left:+ (left:$left)}" test -z "$left"
check "slurm-local.sh down again: nothing to do, exit 0" "$here/slurm-local.sh" down
if "$here/slurm-local.sh" status >/dev/null 2>&1; then bad "slurm-local.sh status after down: exit 1"; else ok "slurm-local.sh status after down: exit 1"; fi

echo "test-slurm: $pass passed, $fail failed, $(( SECONDS - t_start )) s"
(( fail == 0 ))
