#!/usr/bin/env bash
# Balanced mode on the simulated cluster: efficiency and rank 0's CPU share with
# ~1 ms and ~0.1 ms chunks, shared memory (three ranks on one node) against TCP
# between nodes (one rank per node), for each MPI and window (docs/multi-node.md#measured).
#
#   eval "$(SLURM_LOCAL_NODES=3 scripts/slurm-local.sh up)"
#   scripts/nodes-sweep.sh mpich=BIN openmpi=BIN [WINDOWS...]     # default windows: 1 4 64
#
# One srun per case (`--json`), so a few hundredths either way are noise. Prints one line
# per case: MPI, transport, chunk size, window, efficiency, controller CPU share, elapsed.
# Env: SWEEP_CHUNKS="1.4e10:2000 1.4e10:20000" (samples:chunks pairs: ~1 ms and ~0.1 ms chunks
# on an AVX-512 core at ~7e9 samples/s).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A bins=()
windows=()
for arg in "$@"; do
    case "$arg" in
        mpich=* | openmpi=*) bins[${arg%%=*}]=$(realpath "${arg#*=}") ;;
        *) windows+=("$arg") ;;
    esac
done
[ ${#bins[@]} -gt 0 ] || { echo "usage: $0 mpich=BIN openmpi=BIN [WINDOWS...]" >&2; exit 2; }
[ ${#windows[@]} -gt 0 ] || windows=(1 4 64)
read -r -a chunk_cases <<<"${SWEEP_CHUNKS:-1.4e10:2000 1.4e10:20000}"
sinfo -h -o %D >/dev/null || { echo "no Slurm here: run scripts/slurm-local.sh up first" >&2; exit 2; }

out=$(mktemp -d "$PWD/target/nodes-sweep.XXXXXX")
trap 'rm -rf "$out"' EXIT
declare -A plugin=([mpich]=pmi2 [openmpi]=pmix)

printf "%-8s %-16s %-12s %6s %10s %10s %10s\n" MPI transport chunks window efficiency ctl_share elapsed_s
for impl in mpich openmpi; do
    [ -n "${bins[$impl]:-}" ] || continue
    for transport in shared tcp; do
        case $transport in
            shared) place=(--nodes=1 --ntasks=3 --overcommit) ;;
            tcp) place=(--nodes=3 --ntasks=3 --ntasks-per-node=1) ;;
        esac
        env=()
        # UCX picks shared memory when it may (even across namespaces); the
        # cluster's task prolog forces TCP unless the job says otherwise.
        [ "$impl/$transport" = mpich/shared ] && env=(UCX_TLS=all)
        for case in "${chunk_cases[@]}"; do
            for w in "${windows[@]}"; do
                json=$(env "${env[@]}" srun --mpi="${plugin[$impl]}" "${place[@]}" \
                    "${bins[$impl]}" -q --json -n "${case%%:*}" --chunks "${case#*:}" \
                    --window "$w" -o "$out/f.h5" --force)
                python3 - "$impl" "$transport" "$case" "$w" "$json" <<'EOF'
import json, sys
impl, transport, case, w, text = sys.argv[1:]
d = json.loads(text)
chunk_ms = d["serial_s"] / d["chunks"] * 1e3
print(f"{impl:<8} {transport:<16} {case.split(':')[1] + f' ({chunk_ms:.2f} ms)':<12} {w:>6} "
      f"{d['efficiency']:>10.3f} {100 * d['controller_cpu_share']:>9.1f}% {d['elapsed_s']:>10.3f}")
EOF
            done
        done
    done
done
