#!/usr/bin/env bash
# A throw-away single-node Slurm cluster on this machine, for trying slurm/*.sbatch and for
# the tests: munged + slurmctld + slurmd, every file in one directory.
#
#   scripts/slurm-local.sh up       # start it (or find it running); prints `export SLURM_CONF=...`
#   scripts/slurm-local.sh status   # daemons, sinfo, squeue; exit 0 only when it is up
#   scripts/slurm-local.sh down     # cancel jobs, stop exactly the daemons `up` started, remove the dir
#
#   eval "$(scripts/slurm-local.sh up)"     # then sbatch, squeue, scontrol talk to it
#
# Environment:
#   SLURM_LOCAL_DIR      where everything lives (default ${TMPDIR:-/tmp}/mcpi-slurm-local):
#                        slurm.conf, munge key and socket, state, spool, logs, the pid list.
#                        Nothing under /etc, /run or /var is touched.
#   SLURM_LOCAL_CPUS     CPUs the node advertises (default: nproc). More than the machine has
#                        lets larger jobs start (SlurmdParameters=config_overrides); otherwise
#                        submit them with --overcommit.
#   SLURM_LOCAL_TIMEOUT  seconds to wait for the node to become idle (default 30).
#   SLURM_LOCAL_KEEP=1   `down` keeps the directory (logs) instead of removing it.
#
# Needs root: the daemons run as root (SlurmUser=root). Missing slurm-wlm/munge are installed
# with apt-get. Works without a TTY. Each daemon runs in the foreground (munged -F,
# slurmctld -D, slurmd -D) in its own session (setsid ... &); its PID is recorded at once in
# $SLURM_LOCAL_DIR/pids, and `down` signals only those PIDs, after checking that each is
# still the program that was started -- never anything by name. Every wait is bounded.
# It uses TCP ports 6817 and 6818 on 127.0.0.1, so one such cluster runs per machine.
set -euo pipefail

export PATH="/usr/sbin:/sbin:$PATH"   # slurmctld, slurmd and munged live in /usr/sbin
export LC_ALL=C

CTLD_PORT=6817
SLURMD_PORT=6818
MARKER=.mcpi-slurm-local              # marks a directory this script created
DAEMONS=(munged slurmctld slurmd)

die()  { echo "slurm-local: error: $*" >&2; exit 1; }
note() { echo "slurm-local: $*" >&2; }

usage() {
    echo "usage: $0 up|down|status   (directory: \$SLURM_LOCAL_DIR, default \${TMPDIR:-/tmp}/mcpi-slurm-local)" >&2
    exit 2
}

[[ $# -eq 1 ]] || usage
cmd=$1
dir=${SLURM_LOCAL_DIR:-${TMPDIR:-/tmp}/mcpi-slurm-local}
[[ $dir == /* ]] || dir=$PWD/$dir

# --- processes -------------------------------------------------------------------------------

# State letter of a process from /proc/PID/stat ("" when gone). The command name in field 2 is
# in parentheses and may contain spaces, so cut after the last ')'.
proc_state() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    echo "${stat%% *}"
}

# Alive = exists and is not a zombie (PID 1 in containers may reap zombies late).
alive() {
    local s
    s=$(proc_state "$1")
    [[ -n $s && $s != Z && $s != X ]]
}

# Is PID still the program NAME we started (guards against a recycled PID)?
is_ours() {
    local comm
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    [[ $comm == "$2"* ]]
}

running() { alive "$1" && is_ours "$1" "$2"; }

# Lines "<pid> <name>" of the daemons started by `up`.
read_pids() {
    [[ -f $dir/pids ]] || return 0
    cat "$dir/pids"
}

count_running() {
    local pid name n=0
    while read -r pid name; do
        [[ -n ${pid:-} ]] || continue
        if running "$pid" "$name"; then n=$(( n + 1 )); fi
    done < <(read_pids)
    echo "$n"
}

# Is something listening on TCP PORT? Reads /proc/net/tcp{,6} (no ss/netstat needed).
port_in_use() {
    local hex f
    hex=$(printf '%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        if awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
                             END { exit !found }' "$f"; then
            return 0
        fi
    done
    return 1
}

node_name() {
    local host
    host=$(uname -n)
    echo "${host%%.*}"
}

node_state() {
    SLURM_CONF=$dir/slurm.conf timeout 5 sinfo -h -n "$(node_name)" -o %t 2>/dev/null || true
}

dump_logs() {
    local f
    for f in "$dir"/log/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [[ -f $f ]] || continue
        echo "----- last lines of ${f##*/} -----" >&2
        tail -n 20 "$f" >&2
    done
}

# --- the directory ---------------------------------------------------------------------------

# Refuses a directory this script did not make (down removes it) or one that is not root's.
check_dir() {
    [[ -L $dir ]] && die "$dir is a symbolic link; set SLURM_LOCAL_DIR to a real directory"
    [[ -d $dir ]] || return 0
    [[ $(stat -c %u "$dir") == 0 ]] || die "$dir is not owned by root"
    if [[ ! -e $dir/$MARKER && -n $(ls -A "$dir") ]]; then
        die "$dir exists, is not empty and was not made by this script; set SLURM_LOCAL_DIR elsewhere"
    fi
}

# Every directory on the way to the munge socket must be searchable by all (munged refuses
# "Socket is inaccessible: execute permissions for all required"); mktemp -d gives 0700.
check_path_searchable() {
    local d=$1
    while [[ $d != / && -n $d ]]; do
        if (( (8#$(stat -c %a "$d") & 1) == 0 )); then
            die "directory '$d' is not searchable by others (munged needs that for its socket): chmod o+x it, or set SLURM_LOCAL_DIR elsewhere"
        fi
        d=$(dirname "$d")
    done
}

ensure_packages() {
    local missing=()
    command -v munged    >/dev/null 2>&1 || missing+=(munge)
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
    command -v slurmd    >/dev/null 2>&1 || missing+=(slurmd)
    command -v sbatch    >/dev/null 2>&1 || missing+=(slurm-client)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    note "installing slurm-wlm and munge with apt-get (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends slurm-wlm munge >&2 \
        || die "apt-get install slurm-wlm munge failed"
}

write_conf() {
    local host=$1 cpus=$2 mem=$3
    cat > "$dir/slurm.conf" <<EOF
# Generated by scripts/slurm-local.sh: a throw-away single-node cluster, everything in one dir.
ClusterName=mcpi-local
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${dir}/munge/munge.socket
CredType=cred/munge

StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool/slurmd.%n
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmdPidFile=${dir}/run/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Without this, /etc/slurm/plugstack.conf would be read.
PlugStackConfig=${dir}/plugstack.conf

# No cgroups, no accounting daemon.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none

SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core

# MPICH's PMI client talks to Slurm's pmi2 plugin; --mpi=none would start N singletons.
MpiDefault=pmi2
# Kill the whole step when one rank exits non-zero (else srun can hang forever).
KillOnBadExit=1
# Impossible requests fail at submission instead of pending forever.
EnforcePartLimits=ALL
ReturnToService=2
# Keep finished jobs visible to 'scontrol show job' for a while (no accounting database).
MinJobAge=600
# Take the CPU count from this file, not the hardware (SLURM_LOCAL_CPUS may exceed nproc).
SlurmdParameters=config_overrides

NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
    : > "$dir/plugstack.conf"
}

start_daemon() {   # name, then command line; records "<pid> <name>" at once
    local name=$1; shift
    setsid "$@" </dev/null >>"$dir/log/$name.log" 2>&1 &
    echo "$! $name" >> "$dir/pids"
}

# --- down ------------------------------------------------------------------------------------

stop_daemons() {
    local pid name pids=() names=() targets=()
    # Cancel what is queued or running, so no slurmstepd outlives slurmd.
    if [[ -f $dir/slurm.conf ]] && (( $(count_running) > 0 )); then
        local jobs i
        jobs=$(SLURM_CONF=$dir/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            note "cancelling jobs: ${jobs//$'\n'/ }"
            # shellcheck disable=SC2086  # one id per word
            SLURM_CONF=$dir/slurm.conf timeout 5 scancel $jobs 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                [[ -z $(SLURM_CONF=$dir/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null || true) ]] && break
                sleep 0.1
            done
        fi
    fi
    # Reverse start order: slurmd, slurmctld, munged.
    while read -r pid name; do
        [[ -n ${pid:-} ]] || continue
        pids=("$pid" ${pids[@]+"${pids[@]}"})
        names=("$name" ${names[@]+"${names[@]}"})
    done < <(read_pids)
    local i
    for i in "${!pids[@]}"; do
        if running "${pids[$i]}" "${names[$i]}"; then
            kill -TERM "${pids[$i]}" 2>/dev/null || true
            targets+=("${pids[$i]}")
        fi
    done
    local deadline=$(( SECONDS + 10 )) left
    while :; do
        left=()
        for pid in ${targets[@]+"${targets[@]}"}; do alive "$pid" && left+=("$pid"); done
        [[ ${#left[@]} -eq 0 ]] && break
        if (( SECONDS >= deadline )); then
            note "still alive 10 s after SIGTERM, sending SIGKILL: ${left[*]}"
            for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
            deadline=$(( SECONDS + 5 ))
            while :; do
                local still=()
                for pid in "${left[@]}"; do alive "$pid" && still+=("$pid"); done
                [[ ${#still[@]} -eq 0 ]] && break
                (( SECONDS < deadline )) || die "could not kill: ${still[*]}"
                sleep 0.1
            done
            break
        fi
        sleep 0.05
    done
    rm -f "$dir/pids"
    echo "${targets[*]:-}"
}

do_down() {
    if [[ ! -d $dir ]]; then
        note "not running (no $dir)"
        return 0
    fi
    check_dir
    local stopped
    stopped=$(stop_daemons)
    if [[ ${SLURM_LOCAL_KEEP:-0} == 1 ]]; then
        note "down (stopped: ${stopped:-nothing was running}); kept $dir"
    else
        [[ -e $dir/$MARKER ]] && rm -rf "$dir"
        note "down (stopped: ${stopped:-nothing was running})"
    fi
}

# --- up --------------------------------------------------------------------------------------

do_up() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (the daemons run as root, SlurmUser=root)"
    check_dir
    if [[ -f $dir/pids ]]; then
        local n
        n=$(count_running)
        if (( n == ${#DAEMONS[@]} )) && [[ $(node_state) == idle || $(node_state) == alloc || $(node_state) == mix ]]; then
            note "already up ($dir)"
            echo "export SLURM_CONF=$dir/slurm.conf"
            return 0
        fi
        note "found a half-running cluster ($n of ${#DAEMONS[@]} daemons): stopping it first"
        stop_daemons >/dev/null
    fi
    ensure_packages

    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        if port_in_use "$port"; then
            die "TCP port $port is in use (another slurmctld/slurmd on this machine?); this cluster needs ports $CTLD_PORT and $SLURMD_PORT"
        fi
    done

    mkdir -p "$dir"
    touch "$dir/$MARKER"
    rm -rf "$dir"/{munge,state,spool,run,log}
    mkdir -p "$dir"/{munge,state,spool,run,log}
    chmod 0711 "$dir" "$dir/munge"
    check_path_searchable "$dir"

    local host cpus mem nproc_
    host=$(node_name)
    nproc_=$(nproc)
    cpus=${SLURM_LOCAL_CPUS:-$nproc_}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_CPUS must be a positive integer, not '$cpus'"
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    (( mem >= 1 )) || mem=1000
    write_conf "$host" "$cpus" "$mem"

    # Fresh random munge key, root-only.
    ( umask 077; dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none )
    chmod 0400 "$dir/munge/munge.key"

    # From here on, a failure or an interruption stops whatever was started.
    trap 'rc=$?; if (( rc != 0 )); then dump_logs; stop_daemons >/dev/null || true; fi' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    # munged -F ignores --log-file and logs to stderr: start_daemon's redirect catches it.
    start_daemon munged munged -F \
        --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.pid" \
        --seed-file="$dir/munge/munged.seed" \
        --log-file="$dir/log/munged.log"
    local munged_pid i
    munged_pid=$(awk '$2 == "munged" { print $1 }' "$dir/pids")
    for ((i = 0; i < 100; i++)); do
        [[ -S $dir/munge/munge.socket ]] && break
        alive "$munged_pid" || die "munged exited during start-up"
        sleep 0.05
    done
    [[ -S $dir/munge/munge.socket ]] || die "munged's socket did not appear within 5 s"

    start_daemon slurmctld slurmctld -D -i -f "$dir/slurm.conf"
    start_daemon slurmd    slurmd    -D -f "$dir/slurm.conf" -N "$host"

    local timeout=${SLURM_LOCAL_TIMEOUT:-30} state="" deadline pid name
    [[ $timeout =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_TIMEOUT must be a positive integer, not '$timeout'"
    deadline=$(( SECONDS + timeout ))
    while (( SECONDS < deadline )); do
        while read -r pid name; do
            alive "$pid" || die "$name (pid $pid) exited during start-up"
        done < <(read_pids)
        state=$(node_state)
        [[ $state == idle ]] && break
        sleep 0.1
    done
    [[ $state == idle ]] || die "node $host not idle after ${timeout} s (state '${state:-no answer}')"

    trap - EXIT INT TERM
    note "up: node $host, $cpus CPUs ($nproc_ on this machine), partition local, pids $(awk '{ printf "%s ", $1 }' "$dir/pids")"
    echo "export SLURM_CONF=$dir/slurm.conf"
}

# --- status ----------------------------------------------------------------------------------

do_status() {
    if [[ ! -f $dir/pids ]]; then
        echo "not running (no $dir/pids)"
        return 1
    fi
    local pid name rc=0
    while read -r pid name; do
        [[ -n ${pid:-} ]] || continue
        if running "$pid" "$name"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: NOT running (pid $pid)"
            rc=1
        fi
    done < <(read_pids)
    echo "SLURM_CONF=$dir/slurm.conf"
    SLURM_CONF=$dir/slurm.conf timeout 5 sinfo || rc=1
    SLURM_CONF=$dir/slurm.conf timeout 5 squeue || rc=1
    return "$rc"
}

case $cmd in
    up)     do_up ;;
    down)   do_down ;;
    status) do_status ;;
    *)      usage ;;
esac
