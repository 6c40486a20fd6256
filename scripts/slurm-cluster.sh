#!/usr/bin/env bash
# Throwaway single-node Slurm cluster for testing mcpi's Slurm path.
#
#   scripts/slurm-cluster.sh start  DIR   # munged + slurmctld + slurmd, node idle on return
#   scripts/slurm-cluster.sh status DIR   # daemons, sinfo, squeue
#   scripts/slurm-cluster.sh stop   DIR   # cancel jobs, stop exactly the daemons started
#
# Everything (slurm.conf, munge key and socket, state, spool, logs, pid list) lives in DIR;
# nothing under /etc, /run or /var is touched. Clients select the cluster with
#
#   export SLURM_CONF=DIR/slurm.conf
#
# Must run as root (the daemons run as root, SlurmUser=root). When slurm-wlm or munge is
# missing and we are root, they are installed with apt-get. Works without a TTY (CI=true).
#
# Each daemon runs in the foreground (munged -F, slurmctld -D, slurmd -D) in its own session
# (setsid ... &); its PID is recorded in DIR/pids at once, and `stop` signals only those PIDs
# (after checking each one is still the program we started), never anything by name.
#
# Oversubscription: the node advertises max(nproc, 8) CPUs (override: SLURM_CLUSTER_CPUS)
# using SlurmdParameters=config_overrides, so the default `sbatch slurm/pi.sbatch`
# (--ntasks=4) and `--ntasks=8` examples run on a 2-core machine instead of pending forever.
# mcpi's ranks wait politely (adaptive backoff), so running more ranks than cores is fine for
# a functional test -- but do not take timings from an oversubscribed node.
# EnforcePartLimits=ALL makes a request larger than that fail at submission, not hang.
#
# Environment knobs: SLURM_CLUSTER_CPUS, SLURM_CLUSTER_TIMEOUT (seconds to wait for the node to
# be idle, default 30), SLURM_CLUSTER_STOP_TIMEOUT (seconds to wait after SIGTERM, default 10).
set -euo pipefail

export PATH="/usr/sbin:/sbin:$PATH"   # slurmctld, slurmd and munged live in /usr/sbin
export LC_ALL=C

CTLD_PORT=6817
SLURMD_PORT=6818

die()  { echo "slurm-cluster: error: $*" >&2; exit 1; }
note() { echo "slurm-cluster: $*" >&2; }

usage() {
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

# --- helpers ---------------------------------------------------------------------------------

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
    local pid=$1 name=$2 comm
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$name"* ]]
}

# Is something listening on TCP PORT (any address, IPv4 or IPv6)? Reads /proc/net/tcp{,6}
# directly so it needs neither ss nor netstat. State 0A = LISTEN.
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

# pids file lines: "<pid> <name>"
read_pids() {
    [[ -f $dir/pids ]] || return 0
    cat "$dir/pids"
}

any_alive() {
    local pid name
    while read -r pid name; do
        [[ -n ${pid:-} ]] || continue
        if alive "$pid" && is_ours "$pid" "$name"; then return 0; fi
    done < <(read_pids)
    return 1
}

ensure_packages() {
    local missing=()
    command -v munged    >/dev/null 2>&1 || missing+=(munge)
    command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm)
    command -v slurmd    >/dev/null 2>&1 || missing+=(slurm-wlm)
    command -v sbatch    >/dev/null 2>&1 || missing+=(slurm-wlm)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    # de-duplicate
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if [[ $(id -u) -ne 0 ]]; then
        die "missing ${missing[*]}; install them (apt-get install -y slurm-wlm munge) or run as root"
    fi
    note "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends slurm-wlm munge >&2 \
        || die "apt-get install slurm-wlm munge failed"
}

# Every directory on the way to the munge socket must be searchable by all (munged refuses
# "Socket is inaccessible: execute permissions for all required"). mktemp -d gives 0700.
check_path_searchable() {
    local d=$1
    while [[ $d != / && -n $d ]]; do
        if [[ $(( 8#$(stat -c %a "$d") & 1 )) -eq 0 ]]; then
            die "directory '$d' is not searchable by others (chmod o+x it, e.g. chmod 0711): munged requires it for its socket"
        fi
        d=$(dirname "$d")
    done
}

dump_logs() {
    local f
    for f in "$dir"/log/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [[ -f $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 20 "$f" >&2
    done
}

# --- stop ------------------------------------------------------------------------------------

do_stop() {
    local timeout=${SLURM_CLUSTER_STOP_TIMEOUT:-10}
    [[ -f $dir/pids ]] || { note "nothing to stop (no $dir/pids)"; return 0; }

    # Cancel whatever is still queued or running, so no slurmstepd outlives slurmd.
    if [[ -f $dir/slurm.conf ]] && any_alive; then
        local jobs
        jobs=$(SLURM_CONF=$dir/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            note "cancelling jobs: ${jobs//$'\n'/ }"
            # shellcheck disable=SC2086
            SLURM_CONF=$dir/slurm.conf timeout 5 scancel $jobs 2>/dev/null || true
            local i
            for ((i = 0; i < 50; i++)); do
                [[ -z $(SLURM_CONF=$dir/slurm.conf timeout 5 squeue -h -o %i 2>/dev/null || true) ]] && break
                sleep 0.1
            done
        fi
    fi

    # Reverse start order: slurmd, slurmctld, munged.
    local pids=() names=() pid name
    while read -r pid name; do
        [[ -n ${pid:-} ]] || continue
        pids=("$pid" "${pids[@]}")
        names=("$name" "${names[@]}")
    done < <(read_pids)

    local i targets=()
    for i in "${!pids[@]}"; do
        pid=${pids[$i]} name=${names[$i]}
        if alive "$pid" && is_ours "$pid" "$name"; then
            kill -TERM "$pid" 2>/dev/null || true
            targets+=("$pid")
        fi
    done

    local deadline=$(( SECONDS + timeout )) left
    while :; do
        left=()
        for pid in "${targets[@]}"; do alive "$pid" && left+=("$pid"); done
        [[ ${#left[@]} -eq 0 ]] && break
        if (( SECONDS >= deadline )); then
            note "still alive after SIGTERM + ${timeout}s, sending SIGKILL: ${left[*]}"
            for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
            local kdeadline=$(( SECONDS + 5 ))
            while :; do
                local still=()
                for pid in "${left[@]}"; do alive "$pid" && still+=("$pid"); done
                [[ ${#still[@]} -eq 0 ]] && break
                (( SECONDS >= kdeadline )) && die "could not kill: ${still[*]}"
                sleep 0.1
            done
            break
        fi
        sleep 0.05
    done
    rm -f "$dir/pids"
    note "stopped (${targets[*]:-none running})"
}

# --- start -----------------------------------------------------------------------------------

write_conf() {
    local host=$1 cpus=$2 mem=$3
    cat > "$dir/slurm.conf" <<EOF
# Generated by scripts/slurm-cluster.sh: a throwaway single-node cluster, everything in one dir.
ClusterName=mcpi-test
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
# Advertise CPUs from this file, not from the hardware (lets --ntasks=4 run on 2 cores).
SlurmdParameters=config_overrides

NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
    : > "$dir/plugstack.conf"
}

start_daemon() {   # name, then command line; records "<pid> <name>" in DIR/pids
    local name=$1; shift
    setsid "$@" </dev/null >>"$dir/log/$name.log" 2>&1 &
    echo "$! $name" >> "$dir/pids"
}

do_start() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (the throwaway cluster runs SlurmUser=root)"
    ensure_packages

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if any_alive; then
        die "a cluster from $dir/pids is already running; run '$0 stop $dir' first"
    fi
    rm -f "$dir/pids"

    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        if port_in_use "$port"; then
            die "TCP port $port is already in use (another slurmctld/slurmd?); this script needs ports $CTLD_PORT and $SLURMD_PORT free"
        fi
    done

    mkdir -p "$dir"/{munge,state,spool,run,log}
    chmod 0711 "$dir" "$dir/munge"
    check_path_searchable "$dir"

    local host cpus mem nproc_
    host=$(uname -n); host=${host%%.*}
    nproc_=$(nproc)
    cpus=${SLURM_CLUSTER_CPUS:-$(( nproc_ > 8 ? nproc_ : 8 ))}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "SLURM_CLUSTER_CPUS must be a positive integer, got '$cpus'"
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    (( mem >= 1 )) || mem=1000
    write_conf "$host" "$cpus" "$mem"

    # Fresh random munge key, root-only.
    rm -f "$dir/munge/munge.key"
    ( umask 077; dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none )
    chmod 0400 "$dir/munge/munge.key"
    chown root:root "$dir/munge/munge.key"

    export SLURM_CONF=$dir/slurm.conf

    # From here on, a failure stops whatever was started.
    trap 'rc=$?; if (( rc != 0 )); then dump_logs; do_stop || true; fi' EXIT

    # munged -F ignores --log-file and logs to stderr: the redirect in start_daemon catches it.
    start_daemon munged munged -F \
        --socket="$dir/munge/munge.socket" \
        --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.pid" \
        --seed-file="$dir/munge/munged.seed" \
        --log-file="$dir/log/munged.log"
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -S $dir/munge/munge.socket ]] && break
        alive "$(awk '$2 == "munged" { print $1 }' "$dir/pids")" || die "munged exited during start-up"
        sleep 0.05
    done
    [[ -S $dir/munge/munge.socket ]] || die "munged socket did not appear within 5 s"

    start_daemon slurmctld slurmctld -D -i -f "$dir/slurm.conf"
    start_daemon slurmd    slurmd    -D -f "$dir/slurm.conf" -N "$host"

    local timeout=${SLURM_CLUSTER_TIMEOUT:-30} state="" deadline
    deadline=$(( SECONDS + timeout ))
    while (( SECONDS < deadline )); do
        local pid name
        while read -r pid name; do
            alive "$pid" || die "$name (pid $pid) exited during start-up"
        done < <(read_pids)
        state=$(timeout 5 sinfo -h -n "$host" -o %t 2>/dev/null || true)
        [[ $state == idle ]] && break
        sleep 0.1
    done
    [[ $state == idle ]] || die "node $host not idle after ${timeout}s (state: '${state:-unknown}')"

    trap - EXIT
    note "cluster up: node $host, $cpus CPUs advertised ($nproc_ real), pids $(awk '{ printf "%s ", $1 }' "$dir/pids")"
    echo "export SLURM_CONF=$dir/slurm.conf"
}

# --- status ----------------------------------------------------------------------------------

do_status() {
    [[ -f $dir/pids ]] || { echo "not running (no $dir/pids)"; return 1; }
    local pid name rc=0
    while read -r pid name; do
        [[ -n ${pid:-} ]] || continue
        if alive "$pid" && is_ours "$pid" "$name"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: NOT running (pid $pid)"; rc=1
        fi
    done < <(read_pids)
    export SLURM_CONF=$dir/slurm.conf
    echo "SLURM_CONF=$SLURM_CONF"
    timeout 5 sinfo || rc=1
    timeout 5 squeue || rc=1
    return $rc
}

case $cmd in
    start)  do_start ;;
    stop)   [[ -d $dir ]] || die "no such directory: $dir"; dir=$(cd "$dir" && pwd -P); do_stop ;;
    status) [[ -d $dir ]] || die "no such directory: $dir"; dir=$(cd "$dir" && pwd -P); do_status ;;
    *)      usage ;;
esac
