# shellcheck shell=bash
# shellcheck disable=SC2034  # MCPI, MCPI_ERROR, MPIRUN, LAUNCH are set for the sourcing script
# How mcpi is found and launched, in one place: for scripts/scaling.sh, slurm/pi.sbatch,
# slurm/scaling.sbatch, and scripts/run.sh and scripts/test.sh (through bootstrap.sh).
# Sourced, not executed; nothing here exits: failures are return statuses, with the reason
# in MCPI_ERROR for the caller's own "<script>: error: ..." line.

# mcpi_find ROOT: sets MCPI to the mcpi to run: $MCPI_BIN, else `mcpi` on PATH (after
# `cargo install --path .`), else ROOT/target/release/mcpi (after `cargo build --release`).
# Returns 127 when there is none, 126 when it is not an executable file.
mcpi_find() {
    local root=$1
    MCPI="" MCPI_ERROR=""
    if [[ -n ${MCPI_BIN:-} ]]; then
        MCPI=$MCPI_BIN
    elif command -v mcpi >/dev/null 2>&1; then
        MCPI=$(command -v mcpi)
    elif [[ -e $root/target/release/mcpi ]]; then
        MCPI=$root/target/release/mcpi
    else
        MCPI_ERROR="mcpi not found: not on PATH, no \$MCPI_BIN, no $root/target/release/mcpi. Install it (cargo install --path .), build it (cargo build --release) or set MCPI_BIN=/path/to/mcpi"
        return 127
    fi
    if [[ ! -f $MCPI || ! -x $MCPI ]]; then
        MCPI_ERROR="$MCPI is not an executable file"
        return 126
    fi
}

# mcpi_mpi MCPI: the MPI library that MCPI is linked with, from its shared libraries (Open
# MPI's libmpi pulls in libopen-pal): openmpi, mpich or unknown.
mcpi_mpi() {
    local libs
    libs=$(ldd "$1" 2>/dev/null || true)
    if grep -q 'libopen-pal' <<<"$libs"; then
        echo openmpi
    elif grep -q 'libmpich' <<<"$libs"; then
        echo mpich
    else
        echo unknown
    fi
}

# open_mpi_as_root: Open MPI refuses to run as root unless told.
open_mpi_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
}

# mpirun_cmd NP: sets MPIRUN to the command line for NP ranks with $MCPI_MPIRUN (default
# mpirun), for MPICH or Open MPI (Open MPI refuses root and more ranks than cores unless
# told).
mpirun_cmd() {
    local np=$1 mpirun=${MCPI_MPIRUN:-mpirun}
    MPIRUN=("$mpirun")
    # `mpirun (Open MPI) 4.1.4`, or `mpirun.openmpi (OpenRTE) 4.1.4`
    local version
    version=$("$mpirun" --version 2>/dev/null || true)
    if [[ $version == *"Open MPI"* || $version == *OpenRTE* ]]; then
        MPIRUN+=(--oversubscribe)
        open_mpi_as_root
    fi
    MPIRUN+=(-n "$np")
}

# launch_cmd NP: sets LAUNCH to the launcher words for NP ranks, from MCPI_LAUNCHER:
#   unset or "mpirun"   mpirun_cmd NP
#   "srun"              srun --mpi=$MCPI_SRUN_MPI (default pmi2) -n NP
#   anything else       its words, then -n NP (e.g. "srun --mpi=pmix")
launch_cmd() {
    local np=$1 words
    read -r -a words <<<"${MCPI_LAUNCHER:-mpirun}"
    [ ${#words[@]} -gt 0 ] || words=(mpirun)
    if [ "${words[*]}" = mpirun ]; then
        mpirun_cmd "$np"
        LAUNCH=("${MPIRUN[@]}")
    elif [ "${words[*]}" = srun ]; then
        LAUNCH=(srun --mpi="${MCPI_SRUN_MPI:-pmi2}" -n "$np")
    else
        LAUNCH=("${words[@]}" -n "$np")
    fi
}

# spread_words NP NODES: sets SPREAD to the launcher words (after launch_cmd) that place NP
# ranks round-robin over min(NP, NODES) nodes of a Slurm allocation: rank r on node r mod that
# (the launchers' default fills each node's task slots first, so a small run would stay on one
# node). srun: -N and --distribution=cyclic; Open MPI's mpirun: --map-by node; MPICH's
# (hydra): -hosts with the first nodes of the job, one slot each, which it wraps round (its
# -ppn 1 does not override the Slurm slots). Empty for one node, or for a launcher it does
# not know.
spread_words() {
    local np=$1 nodes=$2
    SPREAD=()
    [ "$nodes" -gt 1 ] || return 0
    local used=$((np < nodes ? np : nodes)) version=""
    # Read whole, not piped into `grep -q`: grep leaving early would SIGPIPE the launcher,
    # and under pipefail the test would fail now and then.
    [ "${LAUNCH[0]##*/}" = srun ] || version=$("${LAUNCH[0]}" --version 2>/dev/null || true)
    if [ "${LAUNCH[0]##*/}" = srun ]; then
        SPREAD=(-N "$used" --distribution=cyclic)
    elif [[ $version == *"Open MPI"* || $version == *OpenRTE* ]]; then
        SPREAD=(--map-by node)
    elif [[ $version == *HYDRA* ]]; then
        local hosts
        hosts=$(scontrol show hostnames "${SLURM_JOB_NODELIST:-}" 2>/dev/null |
            awk -v n="$used" 'NR <= n' | paste -sd , -) || hosts=""
        [ -z "$hosts" ] || SPREAD=(-hosts "$hosts")
    fi
}

# slurm_launcher MPI: settles the launcher of a Slurm job whose mcpi is built on MPI
# (mcpi_mpi's answer) and exports it:
#   MCPI_LAUNCHER=srun (the default)  MCPI_SRUN_MPI, srun's --mpi plugin: as set, else pmix
#                                     for Open MPI and pmi2 otherwise; SRUN_CPUS_PER_TASK
#                                     (since Slurm 22.05 srun no longer inherits
#                                     --cpus-per-task from the batch job)
#   MCPI_LAUNCHER=mpirun              MCPI_MPIRUN: as set, else mpirun.<MPI> where that
#                                     exists, else mpirun
# plus Open MPI's run-as-root variables for an Open MPI mcpi run by root. Returns 2 for any
# other MCPI_LAUNCHER.
slurm_launcher() {
    local mpi=$1
    [[ $mpi != openmpi ]] || open_mpi_as_root
    case ${MCPI_LAUNCHER:-srun} in
        srun)
            if [[ -z ${MCPI_SRUN_MPI:-} ]]; then
                if [[ $mpi == openmpi ]]; then MCPI_SRUN_MPI=pmix; else MCPI_SRUN_MPI=pmi2; fi
            fi
            export MCPI_LAUNCHER=srun MCPI_SRUN_MPI SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}
            ;;
        mpirun)
            if [[ -z ${MCPI_MPIRUN:-} ]]; then
                MCPI_MPIRUN=mpirun
                if [[ $mpi != unknown ]] && command -v "mpirun.$mpi" >/dev/null 2>&1; then
                    MCPI_MPIRUN=mpirun.$mpi
                fi
            fi
            export MCPI_LAUNCHER=mpirun MCPI_MPIRUN
            ;;
        *)
            MCPI_ERROR="MCPI_LAUNCHER must be srun or mpirun, not '$MCPI_LAUNCHER'"
            return 2
            ;;
    esac
}
