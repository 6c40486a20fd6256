#!/usr/bin/env bash
# The scale model's calibration and its check against real runs
# (docs/scale-model.md).
#
#   scripts/model-calibrate.sh [PARAMS]           measure this machine, write PARAMS
#   scripts/model-calibrate.sh validate [PARAMS]  real runs against the model's predictions
#   scripts/model-calibrate.sh sweep [PARAMS]     the model's sweep as CSV (stdout)
#   scripts/model-calibrate.sh plot SWEEP OUT     its figure (scripts/model_plot.py)
#
# PARAMS defaults to target/model-params.json. Calibration, a minute or so:
# - rate: one rank, `mcpi --samples 1e9`, samples / serial_s (best of 3);
# - chunk_fixed, and rank 0's bookkeeping per chunk: one rank, 10^6 one-sample
#   chunks, serial_s / chunks and (elapsed - serial_s) / chunks (best of 3);
# - the transport and the waits: `mpirun -n 2 mcpi-model calibrate` (median of 3):
#   send, receive and empty-poll costs, one-way latency, sleep overshoot, yield.
# Validation runs each case of $cases 3 times (median) under $MCPI_MPIRUN.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/launch.sh
source scripts/lib/launch.sh

what=calibrate
case "${1:-}" in validate | sweep | plot) what=$1; shift ;; esac
params=${1:-target/model-params.json}
mcpi=target/release/mcpi
model=target/release/mcpi-model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ "$what" = plot ] || cargo build --release --quiet --bin mcpi --bin mcpi-model

# json FILE KEY: one number from a JSON object.
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# mcpi_json NP ARGS...: one run's --json summary on stdout.
mcpi_json() {
    local np=$1
    shift
    if [ "$np" = 1 ]; then
        "$mcpi" "$@" --json -q -o "$tmp/run.h5" --force
    else
        mpirun_cmd "$np"
        "${MPIRUN[@]}" "$mcpi" "$@" --json -q -o "$tmp/run.h5" --force
    fi
}

calibrate() {
    for i in 1 2 3; do
        mcpi_json 1 --samples 1e9 >"$tmp/rate$i.json"
        mcpi_json 1 --samples 1e6 --chunks 1e6 >"$tmp/tiny$i.json"
        mpirun_cmd 2
        "${MPIRUN[@]}" "$model" calibrate >"$tmp/mpi$i.json"
    done
    python3 - "$tmp" "$params" <<'EOF'
import json, statistics, sys
tmp, out = sys.argv[1], sys.argv[2]
load = lambda name: [json.load(open(f"{tmp}/{name}{i}.json")) for i in (1, 2, 3)]
rate = max(r["samples"] / r["serial_s"] for r in load("rate"))
tiny = load("tiny")
fixed = min(r["serial_s"] / r["chunks"] for r in tiny)
keeping = min((r["elapsed_s"] - r["serial_s"]) / r["chunks"] for r in tiny)
mpi = load("mpi")
med = lambda k: statistics.median(m[k] for m in mpi)
params = {
    "rate": rate,
    "chunk_fixed": fixed,
    "ctl_send": med("send"),
    "ctl_recv": med("recv") + keeping,
    "ctl_poll": med("poll"),
    "ctl_item": keeping,
    "eng_msg": med("send"),
    "latency": med("latency"),
    "local_latency": med("latency"),
    "pacing": {"backoff": {"overshoot": med("overshoot"), "yield_s": med("yield")}},
}
json.dump(params, open(out, "w"), indent=1)
print(json.dumps(params, indent=1))
EOF
}

# The runs this machine can reproduce: NP, samples, chunks.
cases=(
    "2 3e9 1000" "2 3e9 10000" "2 3e9 100000" "2 1e6 1e6"
    "3 3e9 1000" "3 3e9 10000" "3 3e9 100000" "3 1e6 1e6"
)

validate() {
    [ -f "$params" ] || calibrate >/dev/null
    echo "| ranks | samples | chunks | elapsed measured (s) | predicted | ratio | efficiency measured | predicted | ratio |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for c in "${cases[@]}"; do
        read -r np samples chunks <<<"$c"
        for i in 1 2 3; do
            mcpi_json "$np" --samples "$samples" --chunks "$chunks" >"$tmp/v$i.json"
        done
        "$model" predict "$params" --engines $((np - 1)) --samples "$samples" --chunks "$chunks" >"$tmp/p.json"
        python3 - "$tmp" "$np" "$samples" "$chunks" <<'EOF'
import json, statistics, sys
tmp, np, samples, chunks = sys.argv[1:]
runs = [json.load(open(f"{tmp}/v{i}.json")) for i in (1, 2, 3)]
p = json.load(open(f"{tmp}/p.json"))
e = statistics.median(r["elapsed_s"] for r in runs)
f = statistics.median(r["efficiency"] for r in runs)
print(f"| {np} | {samples} | {chunks} | {e:.4g} | {p['elapsed_s']:.4g} | {p['elapsed_s'] / e:.2f} "
      f"| {f:.3f} | {p['efficiency']:.3f} | {p['efficiency'] / f:.2f} |")
EOF
    done
}

case $what in
    calibrate) calibrate ;;
    validate) validate ;;
    sweep) "$model" sweep "$params" ;;
    plot)
        # shellcheck source=scripts/lib/plotenv.sh
        source scripts/lib/plotenv.sh
        plot_env
        "$PLOT_PYTHON" scripts/model_plot.py "$1" "$2"
        ;;
esac
