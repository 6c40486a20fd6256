#!/usr/bin/env bash
# A throw-away Slurm cluster on this machine, for trying slurm/*.sbatch and for the tests:
# munged + slurmctld + one slurmd per node, every file in one directory. One node by default;
# SLURM_LOCAL_NODES=N simulates N nodes with Linux namespaces (below).
#
#   scripts/slurm-local.sh up       # start it (or find it running); prints `export SLURM_CONF=...`
#   scripts/slurm-local.sh status   # daemons, sinfo, squeue; exit 0 only when it is up
#   scripts/slurm-local.sh down     # cancel jobs, stop exactly the daemons `up` started, remove the dir
#   scripts/slurm-local.sh kill NODE      # (several nodes) a node dies: SIGKILL to every process in it
#   scripts/slurm-local.sh link NODE down|up   # (several nodes) take NODE's link down or up
#
#   eval "$(scripts/slurm-local.sh up)"     # then sbatch, squeue, scontrol talk to it
#
# Environment:
#   SLURM_LOCAL_DIR      where everything lives (default ${TMPDIR:-/tmp}/mcpi-slurm-local):
#                        slurm.conf, munge key and socket, state, spool, logs, the pid list.
#                        Nothing under /etc, /run or /var is touched (several nodes: `ip netns
#                        add` makes /run/netns/<name> for each namespace; `down` removes them).
#   SLURM_LOCAL_CPUS     CPUs each node advertises (default: nproc). More than the machine has
#                        lets larger jobs start (SlurmdParameters=config_overrides); otherwise
#                        submit them with --overcommit.
#   SLURM_LOCAL_TIMEOUT  seconds to wait for the node to become idle (default 30).
#   SLURM_LOCAL_KEEP=1   `down` keeps the directory (logs) instead of removing it.
#   SLURM_LOCAL_NODES    number of nodes (default 1). With 1: one slurmd on 127.0.0.1, ports
#                        6817/6818 (so one such cluster per machine). With N > 1: nodes node1..nodeN,
#                        each a network namespace + UTS namespace (its own hostname) + mount
#                        namespace (its own /etc/hosts, a file in the directory), linked by veth
#                        pairs to a bridge in 10.250.X.0/24 (X picked free): node K is 10.250.X.K,
#                        the controller's namespace "head" 10.250.X.250, the bridge .254. slurmctld
#                        runs in "head", each slurmd in its node, munged here (its socket is a
#                        file, which every namespace sees). All traffic stays on that bridge.
#                        Every task of a job gets UCX_TLS=tcp (a TaskProlog; docs/multi-node.md
#                        says why). The names of the namespaces and links are recorded in
#                        $SLURM_LOCAL_DIR/net before they are made; `down` stops what is left
#                        running inside those namespaces (job steps: only this cluster's
#                        daemons start anything there) and removes exactly those.
#
# Needs root: the daemons run as root (SlurmUser=root). Missing slurm-wlm/munge are installed
# with apt-get. Works without a TTY. Each daemon runs in the foreground (munged -F,
# slurmctld -D, slurmd -D) in its own session (setsid ... &); its PID is recorded at once in
# $SLURM_LOCAL_DIR/pids, and `down` signals only those PIDs, after checking that each is
# still the program that was started -- never anything by name. Every wait is bounded.
# One node uses TCP ports 6817 and 6818 on 127.0.0.1, so one such cluster runs per machine;
# several nodes use those ports inside their own namespaces (several clusters may run at once).
set -euo pipefail

export PATH="/usr/sbin:/sbin:$PATH"   # slurmctld, slurmd and munged live in /usr/sbin
export LC_ALL=C

CTLD_PORT=6817
SLURMD_PORT=6818
MARKER=.mcpi-slurm-local              # marks a directory this script created

die()  { echo "slurm-local: error: $*" >&2; exit 1; }
note() { echo "slurm-local: $*" >&2; }

usage() {
    echo "usage: $0 up|down|status | kill NODE | link NODE down|up   (directory: \$SLURM_LOCAL_DIR, default \${TMPDIR:-/tmp}/mcpi-slurm-local)" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
cmd=$1
dir=${SLURM_LOCAL_DIR:-${TMPDIR:-/tmp}/mcpi-slurm-local}
[[ $dir == /* ]] || dir=$PWD/$dir

# Nodes: as asked for `up`; as recorded by `up` for everything else.
if [[ $cmd == up ]]; then
    nodes=${SLURM_LOCAL_NODES:-1}
    if [[ ! $nodes =~ ^[1-9][0-9]*$ ]] || (( nodes > 200 )); then
        die "SLURM_LOCAL_NODES must be a whole number from 1 to 200, not '$nodes'"
    fi
else
    nodes=$(cat "$dir/nodes" 2>/dev/null || echo 1)
fi
multi() { (( nodes > 1 )); }

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

# Lines "<pid> <name> <where>" of the daemons started by `up` (where: "-" here, or a node).
read_pids() {
    [[ -f $dir/pids ]] || return 0
    cat "$dir/pids"
}

count_running() {
    local pid name n=0
    while read -r pid name _; do
        [[ -n ${pid:-} ]] || continue
        if running "$pid" "$name"; then n=$(( n + 1 )); fi
    done < <(read_pids)
    echo "$n"
}

# munged, slurmctld, and a slurmd per node.
daemon_count() { echo $(( 2 + nodes )); }

# Sends SIG to each PID, waits up to 10 s for them to go, then SIGKILL (5 s more).
stop_pids() {   # signal, pids...
    local sig=$1 pid; shift
    [[ $# -gt 0 ]] || return 0
    for pid in "$@"; do kill -"$sig" "$pid" 2>/dev/null || true; done
    local deadline=$(( SECONDS + 10 )) left
    while :; do
        left=()
        for pid in "$@"; do alive "$pid" && left+=("$pid"); done
        [[ ${#left[@]} -eq 0 ]] && return 0
        if (( SECONDS >= deadline )); then
            note "still alive 10 s after SIG$sig, sending SIGKILL: ${left[*]}"
            for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
            deadline=$(( SECONDS + 5 ))
            while :; do
                local still=()
                for pid in "${left[@]}"; do alive "$pid" && still+=("$pid"); done
                [[ ${#still[@]} -eq 0 ]] && return 0
                (( SECONDS < deadline )) || die "could not kill: ${still[*]}"
                sleep 0.1
            done
        fi
        sleep 0.05
    done
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

# The node names: this machine's short name for one node, node1..nodeN for several.
node_names() {
    if multi; then
        local k
        for ((k = 1; k <= nodes; k++)); do echo "node$k"; done
    else
        node_name
    fi
}

# The nodes' states, one word per node (empty when slurmctld does not answer).
node_states() {
    SLURM_CONF=$dir/slurm.conf timeout 5 sinfo -h -N -o %t 2>/dev/null || true
}

# Every node in one of the given states?
all_nodes() {
    local states s n=0 want
    states=$(node_states)
    for s in $states; do
        n=$(( n + 1 ))
        for want in "$@"; do [[ $s == "$want" ]] && continue 2; done
        return 1
    done
    (( n == nodes ))
}

dump_logs() {
    local f
    for f in "$dir"/log/*.log; do
        [[ -f $f ]] || continue
        echo "----- last lines of ${f##*/} -----" >&2
        tail -n 20 "$f" >&2
    done
}

# --- the simulated network (several nodes) ---------------------------------------------------
# $dir/net records, before each is made: "subnet X", "bridge NAME", "netns NAME HOST" and
# "link NAME HOST" (the bridge side of HOST's veth pair). Names carry a tag from the
# directory's path, so two clusters in two directories do not collide.

net_field() {   # kind, host: the recorded name
    [[ -f $dir/net ]] || return 0
    awk -v k="$1" -v h="$2" '$1 == k && $3 == h { print $2 }' "$dir/net"
}

subnet() { awk '$1 == "subnet" { print $2 }' "$dir/net" 2>/dev/null; }

# A /24 in 10.250.0.0/16 that no address or route here uses yet, starting at the tag's.
pick_subnet() {
    local start=$1 i x used
    used=$( { ip -4 -o addr show; ip -4 route show; } 2>/dev/null)
    for ((i = 0; i < 250; i++)); do
        x=$(( (start + i) % 250 + 1 ))
        grep -q "10\.250\.$x\." <<<"$used" || { echo "$x"; return 0; }
    done
    return 1
}

# Namespace NS for HOST at 10.250.X.SUFFIX, linked to the bridge BR by veth LINK (eth0 inside).
add_host() {   # host, address suffix, namespace, link, bridge
    local host=$1 suffix=$2 ns=$3 link=$4 br=$5 x
    x=$(subnet)
    echo "netns $ns $host" >> "$dir/net"
    ip netns add "$ns"
    echo "link $link $host" >> "$dir/net"
    ip link add "$link" type veth peer name eth0 netns "$ns"
    ip link set "$link" master "$br" up
    ip -n "$ns" addr add "10.250.$x.$suffix/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    echo "10.250.$x.$suffix $host" >> "$dir/hosts"
}

net_up() {
    local tag hash x k br
    hash=$(printf '%s' "$dir" | cksum | awk '{ print $1 }')
    tag=$(printf '%04x' $(( hash % 65536 )))
    br=mcpibr$tag
    x=$(pick_subnet "$hash") || die "no free /24 left in 10.250.0.0/16"
    printf '127.0.0.1 localhost\n' > "$dir/hosts"
    echo "subnet $x" > "$dir/net"
    echo "bridge $br" >> "$dir/net"
    ip link add "$br" type bridge
    ip addr add "10.250.$x.254/24" dev "$br"
    ip link set "$br" up
    add_host head 250 "mcpi-$tag-head" "mcpi${tag}h" "$br"
    for ((k = 1; k <= nodes; k++)); do add_host "node$k" "$k" "mcpi-$tag-node$k" "mcpi$tag$k" "$br"; done
}

# Stops every process left in the recorded namespaces (job steps and ranks: only our daemons
# and their jobs ever ran there), then removes the namespaces, links and bridge.
net_down() {
    [[ -f $dir/net ]] || return 0
    local kind name pids=() p
    while read -r kind name _; do
        [[ $kind == netns && -e /run/netns/$name ]] || continue
        for p in $(ip netns pids "$name" 2>/dev/null); do pids+=("$p"); done
    done < "$dir/net"
    if [[ ${#pids[@]} -gt 0 ]]; then
        note "stopping processes left in the nodes: ${pids[*]}"
        stop_pids TERM "${pids[@]}"
    fi
    while read -r kind name _; do
        case $kind in
            netns) [[ -e /run/netns/$name ]] && ip netns del "$name" ;;
            link | bridge) ip link show "$name" >/dev/null 2>&1 && ip link del "$name" ;;
        esac
    done < <(tac "$dir/net")
    while read -r kind name _; do
        [[ $kind != netns || ! -e /run/netns/$name ]] || die "namespace $name is still there"
    done < "$dir/net"
    rm -f "$dir/net"
}

# ON_HOST: the words that run a command as HOST: in its network namespace, with its hostname,
# /etc/hosts, and its own $dir/node (spool and tmp: node-local on a real cluster; Slurm's pmix
# plugin names sockets and directories that would collide on a shared one), bind-mounted in a
# mount namespace of its own, so nothing changes outside.
# nsenter, not `ip netns exec`: that remounts /sys, hiding /sys/fs/cgroup, which slurmd
# needs. Every step execs, so the PID of the command is the PID of the program.
on_host() {   # host
    local ns
    ns=$(net_field netns "$1")
    [[ -n $ns ]] || die "no node '$1' in this cluster"
    # shellcheck disable=SC2016  # expanded by that sh
    ON_HOST=(nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private sh -c
             'hostname "$0" && mount --bind "$1" /etc/hosts && mount --bind "$2" "$3" &&
              shift 3 && exec "$@"'
             "$1" "$dir/hosts" "$dir/on/$1" "$dir/node")
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
    local cpus=$1 mem=$2 ctld nodelines="" partition host x k spool=$dir/spool/slurmd.%n
    local slurmd_log=$dir/log/slurmd.log slurmd_pid=$dir/run/slurmd.pid
    if multi; then
        spool=$dir/node/spool
        slurmd_log=$dir/log/slurmd.%n.log
        slurmd_pid=$dir/run/slurmd.%n.pid
        x=$(subnet)
        ctld="head(10.250.$x.250)"
        for ((k = 1; k <= nodes; k++)); do
            nodelines+="NodeName=node$k NodeAddr=10.250.$x.$k CPUs=$cpus RealMemory=$mem State=UNKNOWN"$'\n'
        done
        partition="node[1-$nodes]"
    else
        host=$(node_name)
        ctld="${host}(127.0.0.1)"
        nodelines="NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN"$'\n'
        partition=$host
    fi
    cat > "$dir/slurm.conf" <<EOC
# Generated by scripts/slurm-local.sh: a throw-away cluster of $nodes node(s), everything in one dir.
ClusterName=mcpi-local
SlurmctldHost=${ctld}
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=${dir}/munge/munge.socket
CredType=cred/munge

StateSaveLocation=${dir}/state
SlurmdSpoolDir=${spool}
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmdPidFile=${slurmd_pid}
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${slurmd_log}
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
EOC
    if multi; then
        cat >> "$dir/slurm.conf" <<EOC
# The nodes share one kernel, so UCX would carry MPI traffic between them through shared
# memory; the task prolog sets UCX_TLS=tcp (unless the job set it) so it crosses the links.
TaskProlog=${dir}/task-prolog
# A node that stops answering is DOWN after 10 s (SlurmdTimeout), its jobs requeued or ended.
SlurmdTimeout=10
# Detect a dead node quickly, and end a step whose node died soon.
MessageTimeout=5
EOC
        cat > "$dir/task-prolog" <<'EOP'
#!/bin/sh
# Written by scripts/slurm-local.sh for a cluster of simulated nodes on one kernel.
[ -n "${UCX_TLS:-}" ] || echo "export UCX_TLS=tcp"
EOP
        chmod 0755 "$dir/task-prolog"
        echo "PMIxTmpDirBase=$dir/node/tmp" > "$dir/mpi.conf"
        # Slurm's pmix plugin makes its per-step client directories in TmpFS (default /tmp,
        # which all the nodes share here): the node-local one instead.
        echo "TmpFS=$dir/node/tmp" >> "$dir/slurm.conf"
    fi
    printf '%s' "$nodelines" >> "$dir/slurm.conf"
    echo "PartitionName=local Nodes=${partition} Default=YES MaxTime=INFINITE State=UP" >> "$dir/slurm.conf"
    : > "$dir/plugstack.conf"
}

start_daemon() {   # name, where ("-" or a host), then the command line; records "<pid> <name> <where>"
    local name=$1 where=$2 log; shift 2
    log=$dir/log/$name.log
    [[ $where == - ]] || log=$dir/log/$name.$where.log
    ON_HOST=()
    [[ $where == - ]] || on_host "$where"
    setsid ${ON_HOST[@]+"${ON_HOST[@]}"} "$@" </dev/null >>"$log" 2>&1 &
    echo "$! $name $where" >> "$dir/pids"
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
    # Reverse start order: the slurmds, slurmctld, munged.
    while read -r pid name _; do
        [[ -n ${pid:-} ]] || continue
        pids=("$pid" ${pids[@]+"${pids[@]}"})
        names=("$name" ${names[@]+"${names[@]}"})
    done < <(read_pids)
    local i
    for i in "${!pids[@]}"; do
        if running "${pids[$i]}" "${names[$i]}"; then targets+=("${pids[$i]}"); fi
    done
    stop_pids TERM ${targets[@]+"${targets[@]}"} >&2
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
    net_down
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
    if [[ -f $dir/pids || -f $dir/net ]]; then
        local n was
        n=$(count_running)
        was=$(cat "$dir/nodes" 2>/dev/null || echo 1)
        if (( was == nodes && n == $(daemon_count) )) && all_nodes idle alloc mix; then
            note "already up ($dir)"
            echo "export SLURM_CONF=$dir/slurm.conf"
            return 0
        fi
        note "found a cluster of $was node(s) with $n daemon(s) running: stopping it first"
        stop_daemons >/dev/null
        net_down
    fi
    ensure_packages

    local port
    if ! multi; then
        for port in "$CTLD_PORT" "$SLURMD_PORT"; do
            if port_in_use "$port"; then
                die "TCP port $port is in use (another slurmctld/slurmd on this machine?); this cluster needs ports $CTLD_PORT and $SLURMD_PORT"
            fi
        done
    fi

    mkdir -p "$dir"
    touch "$dir/$MARKER"
    rm -rf "$dir"/{munge,state,spool,run,log,node,on}
    mkdir -p "$dir"/{munge,state,spool,run,log}
    chmod 0711 "$dir" "$dir/munge"
    check_path_searchable "$dir"
    echo "$nodes" > "$dir/nodes"
    if multi; then
        mkdir -p "$dir/node"
        for host in head $(node_names); do mkdir -p "$dir/on/$host"/{spool,tmp}; done
    else
        mkdir -p "$dir/spool/slurmd.$(node_name)"
    fi

    local cpus mem nproc_ host
    nproc_=$(nproc)
    cpus=${SLURM_LOCAL_CPUS:-$nproc_}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_CPUS must be a positive integer, not '$cpus'"
    mem=$(awk -v n="$nodes" '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 / n }' /proc/meminfo)
    (( mem >= 1 )) || mem=1000

    # From here on, a failure or an interruption stops whatever was started.
    trap 'rc=$?; if (( rc != 0 )); then dump_logs; stop_daemons >/dev/null || true; net_down || true; fi' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    if multi; then net_up; fi
    write_conf "$cpus" "$mem"

    # Fresh random munge key, root-only.
    ( umask 077; dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none )
    chmod 0400 "$dir/munge/munge.key"

    # munged -F ignores --log-file and logs to stderr: start_daemon's redirect catches it.
    start_daemon munged - munged -F \
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

    if multi; then
        start_daemon slurmctld head slurmctld -D -i -f "$dir/slurm.conf"
        for host in $(node_names); do
            start_daemon slurmd "$host" slurmd -D -f "$dir/slurm.conf" -N "$host"
        done
    else
        start_daemon slurmctld - slurmctld -D -i -f "$dir/slurm.conf"
        start_daemon slurmd - slurmd -D -f "$dir/slurm.conf" -N "$(node_name)"
    fi

    local timeout=${SLURM_LOCAL_TIMEOUT:-30} deadline pid name
    [[ $timeout =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_TIMEOUT must be a positive integer, not '$timeout'"
    deadline=$(( SECONDS + timeout ))
    while (( SECONDS < deadline )); do
        while read -r pid name _; do
            alive "$pid" || die "$name (pid $pid) exited during start-up"
        done < <(read_pids)
        all_nodes idle && break
        sleep 0.1
    done
    all_nodes idle || die "not every node idle after ${timeout} s (states: $(node_states | tr '\n' ' '))"

    trap - EXIT INT TERM
    local pids
    pids=$(awk '{ printf "%s ", $1 }' "$dir/pids")
    if multi; then
        note "up: $nodes nodes node1..node$nodes, $cpus CPUs each ($nproc_ on this machine), 10.250.$(subnet).0/24, partition local, pids $pids"
    else
        note "up: node $(node_name), $cpus CPUs ($nproc_ on this machine), partition local, pids $pids"
    fi
    echo "export SLURM_CONF=$dir/slurm.conf"
}

# --- status ----------------------------------------------------------------------------------

do_status() {
    if [[ ! -f $dir/pids ]]; then
        echo "not running (no $dir/pids)"
        return 1
    fi
    local pid name where rc=0 kind host
    while read -r pid name where; do
        [[ -n ${pid:-} ]] || continue
        [[ ${where:--} == - ]] && where="" || where=" on $where"
        if running "$pid" "$name"; then
            echo "$name$where: running (pid $pid)"
        else
            echo "$name$where: NOT running (pid $pid)"
            rc=1
        fi
    done < <(read_pids)
    if [[ -f $dir/net ]]; then
        while read -r kind name host; do
            case $kind in
                subnet) echo "network: 10.250.$name.0/24" ;;
                bridge)
                    if ip link show "$name" >/dev/null 2>&1; then echo "bridge $name: present"
                    else echo "bridge $name: MISSING"; rc=1; fi ;;
                netns)
                    if [[ -e /run/netns/$name ]]; then echo "$host: namespace $name"
                    else echo "$host: namespace $name MISSING"; rc=1; fi ;;
                link) echo "$host: link $name $(cat "/sys/class/net/$name/operstate" 2>/dev/null || echo MISSING)" ;;
            esac
        done < "$dir/net"
    fi
    echo "SLURM_CONF=$dir/slurm.conf"
    SLURM_CONF=$dir/slurm.conf timeout 5 sinfo || rc=1
    SLURM_CONF=$dir/slurm.conf timeout 5 squeue || rc=1
    return "$rc"
}

# --- faults (several nodes) ------------------------------------------------------------------

# A node dies: SIGKILL to every process in its namespace (its slurmd, job steps, ranks).
do_kill() {
    local host=${1:-} ns pids
    multi || die "kill: this cluster has one node"
    ns=$(net_field netns "$host")
    [[ -n $ns ]] || die "kill: no node '$host' in this cluster"
    pids=$(ip netns pids "$ns" | tr '\n' ' ')
    note "$host dies: SIGKILL to ${pids:-nothing}"
    # shellcheck disable=SC2086  # one pid per word
    [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
}

do_link() {
    local host=${1:-} state=${2:-} link
    multi || die "link: this cluster has one node"
    [[ $state == up || $state == down ]] || usage
    link=$(net_field link "$host")
    [[ -n $link ]] || die "link: no node '$host' in this cluster"
    ip link set "$link" "$state"
    note "$host: link $link $state"
}

case $cmd in
    up)      [[ $# -eq 1 ]] || usage; do_up ;;
    down)    [[ $# -eq 1 ]] || usage; do_down ;;
    status)  [[ $# -eq 1 ]] || usage; do_status ;;
    kill)    [[ $# -eq 2 ]] || usage; do_kill "$2" ;;
    link)    [[ $# -eq 3 ]] || usage; do_link "$2" "$3" ;;
    *)       usage ;;
esac
