#!/usr/bin/env bash
# Sampling-kernel throughput on one core of this machine.
#
# Runs the criterion benchmark `benches/kernel.rs` in the default build (the
# one users get: runtime CPU dispatch, no target-cpu) and, for comparison,
# the dispatched and portable kernels built with -C target-cpu=native in a
# separate target directory, then prints samples/s/core of every path, its
# ratios to the scalar reference and to the idiomatic `rand` f64 loop, the
# dispatched/native ratio, a one-rank `mcpi --samples 1e10` against the bare
# kernel, and the CPU it ran on. A few minutes on 2 cores.
#
# Then the cost of checkpoints: `mpirun -n 3 mcpi --samples 1e9` with 10^4
# and 10^6 chunks, saved as often as the disk allows (--checkpoint-every 0)
# against effectively never (1e7 s), wall time of the whole command, best of
# alternating runs. `scripts/bench.sh checkpoint` runs only that part.
#
# `scripts/bench.sh dispatch` measures the controller instead (issue 14's
# table): chunks/s with one-point chunks in both modes, the controller's CPU
# share with ~1 ms chunks, the efficiency with ~0.1 ms chunks, and the
# default job against its ideal time, each the best of a few alternating runs
# of `mpirun -n 3 mcpi`, next to a plain C MPI master-worker's tasks/s
# (benches/pingpong.c, built here with mpicc): the floor the MPI library sets.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/launch.sh
source scripts/lib/launch.sh

target=${CARGO_TARGET_DIR:-target}
native_target="$target/native-cpu"
crit="$target/criterion-bench"
log="$target/bench.log"
rounds=2
mkdir -p "$target"
rm -rf "$crit"
: >"$log"

cpu_model() {
    if [[ -r /proc/cpuinfo ]]; then
        awk -F': ' '
            /^model name/ && !m { m = $2 }
            /^vendor_id/ && !v { v = $2 }
            /^cpu family/ && !f { f = $2 }
            /^model\t/ && !n { n = $2 }
            /^flags/ && !fl { fl = $2 }
            END {
                simd = ""
                split("avx2 avx512f avx512dq avx512ifma", want, " ")
                for (i = 1; i <= 4; i++) if (index(" " fl " ", " " want[i] " ")) simd = simd " " want[i]
                printf "%s (%s family %s model %s;%s)\n", m, v, f, n, simd
            }' /proc/cpuinfo
    else
        sysctl -n machdep.cpu.brand_string 2>/dev/null || uname -m
    fi
}

# Median ns per iteration of benchmark $2 in build $1 (default|native): the
# lowest of the medians of the repeated runs, as other load only slows down.
median_ns() {
    local file best=""
    for file in "$crit"/"$1"-*/kernel/"$2"/new/estimates.json; do
        [[ -e "$file" ]] || continue
        best=$(sed -E 's/.*"median":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' "$file" |
            awk -v b="$best" '{ print (b == "" || $1 < b) ? $1 : b }')
    done
    echo "$best"
}

run() { # build round filter
    local env=(CRITERION_HOME="$crit/$1-$2")
    [[ $1 == native ]] && env+=(CARGO_TARGET_DIR="$native_target" RUSTFLAGS="-C target-cpu=native")
    env "${env[@]}" cargo bench --bench kernel -- --noplot "${@:3}" >>"$log" 2>&1 \
        || { tail -n 30 "$log"; exit 1; }
}

# Best wall time, in seconds, of `mpirun -n 3 mcpi --samples 1e9 --chunks $1
# --checkpoint-every $2` over the rounds already run (ckpt_best) and this one.
declare -A ckpt_best
ckpt_run() { # chunks every
    local t0 t1 key="$1/$2"
    rm -f "$ckpt_dir"/*.h5 "$ckpt_dir"/*.journal
    t0=$(date +%s.%N)
    "${MPIRUN[@]}" "$target/release/mcpi" --samples 1e9 --chunks "$1" --checkpoint-every "$2" \
        --quiet --output "$ckpt_dir/c.h5" >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
    t1=$(date +%s.%N)
    ckpt_best[$key]=$(awk -v a="$t1" -v b="$t0" -v best="${ckpt_best[$key]:-}" 'BEGIN {
        t = a - b; print (best == "" || t < best) ? t : best }')
}

checkpoint_section() {
    local r ckpt_rounds=3
    cargo build --release --quiet >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
    mpirun_cmd 3
    ckpt_dir=$(mktemp -d)
    trap 'rm -rf "$ckpt_dir" "${e2e_dir:-}"' EXIT
    echo "checkpoints: ${MPIRUN[*]} mcpi --samples 1e9, best wall time of $ckpt_rounds alternating runs..."
    for r in $(seq "$ckpt_rounds"); do
        for chunks in 1e4 1e6; do
            ckpt_run "$chunks" 1e7
            ckpt_run "$chunks" 0
        done
    done
    printf "%-10s %18s %18s %8s\n" "chunks" "every 0 (s)" "every 1e7 (s)" "ratio"
    for chunks in 1e4 1e6; do
        awk -v c="$chunks" -v z="${ckpt_best[$chunks/0]}" -v n="${ckpt_best[$chunks/1e7]}" 'BEGIN {
            printf "%-10s %18.3f %18.3f %8.2f\n", c, z, n, z / n }'
    done
    echo "targets:"
    check "checkpoints 1e4 chunks: every 0 / 1e7" \
        "$(awk -v z="${ckpt_best[1e4/0]}" -v n="${ckpt_best[1e4/1e7]}" 'BEGIN{print z/n}')" "<=" 2
    check "checkpoints 1e6 chunks: every 0 / 1e7" \
        "$(awk -v z="${ckpt_best[1e6/0]}" -v n="${ckpt_best[1e6/1e7]}" 'BEGIN{print z/n}')" "<=" 3
}

# mcpi's --json field $1 from the JSON on stdin.
field() { sed -E "s/.*\"$1\":([0-9.eE+-]+).*/\1/"; }

# Keeps the larger (max) or smaller (min) of $2 and $3.
best() { awk -v how="$1" -v a="$2" -v b="$3" 'BEGIN {
    if (b == "") print a; else if (how == "max") print (a > b ? a : b); else print (a < b ? a : b) }'; }

# One `mpirun -n 3 mcpi` of the dispatch table; prints its JSON.
dispatch_run() { # args...
    "${MPIRUN[@]}" "$target/release/mcpi" --quiet --json --force --output "$disp_dir/d.h5" "$@" 2>>"$log" \
        || { tail -n 30 "$log"; exit 1; }
}

dispatch_section() {
    local r rounds=3 mpicc pp="$target/pingpong"
    cargo build --release --quiet >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
    mpirun_cmd 3
    # The C compiler of the MPI that mpirun launches: mpirun.mpich -> mpicc.mpich.
    mpicc=mpicc
    [[ ${MPIRUN[0]} == *mpirun.* ]] && mpicc="mpicc.${MPIRUN[0]##*mpirun.}"
    "$mpicc" -O2 -o "$pp" benches/pingpong.c >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
    disp_dir=$(mktemp -d)
    trap 'rm -rf "$disp_dir" "${ckpt_dir:-}" "${e2e_dir:-}"' EXIT
    echo "dispatch: ${MPIRUN[*]} mcpi (2 engines), best of $rounds alternating runs..."
    local floor1="" floor2="" bal="" dir="" share="" eff="" dflt="" rate="" pair="" v a b
    for r in $(seq "$rounds"); do
        floor1=$(best max "$("${MPIRUN[@]}" "$pp" 1000000 1)" "$floor1")
        floor2=$(best max "$("${MPIRUN[@]}" "$pp" 1000000 2)" "$floor2")
        v=$(dispatch_run --samples 1e6 --chunks 1e6 | field elapsed_s)
        bal=$(best max "$(awk -v e="$v" 'BEGIN { print 1e6 / e }')" "$bal")
        v=$(dispatch_run --mode direct --samples 1e6 --chunks 1e6 | field elapsed_s)
        dir=$(best max "$(awk -v e="$v" 'BEGIN { print 1e6 / e }')" "$dir")
        share=$(best min "$(dispatch_run --samples 3e9 --chunks 1000 | field controller_cpu_share)" "$share")
        eff=$(best max "$(dispatch_run --samples 3e9 --chunks 10000 | field efficiency)" "$eff")
        dflt=$(best min "$(dispatch_run | field elapsed_s)" "$dflt")
        # One engine's rate: one rank alone, 1e9 points.
        v=$("$target/release/mcpi" --quiet --json --force --output "$disp_dir/one.h5" --samples 1e9 | field elapsed_s)
        rate=$(best max "$(awk -v e="$v" 'BEGIN { print 1e9 / e }')" "$rate")
        # Two such ranks at once: each one's rate while the other computes,
        # as the two engines of the default job compute.
        "$target/release/mcpi" --quiet --json --force --output "$disp_dir/a.h5" --samples 1e9 >"$disp_dir/a.json" &
        b=$("$target/release/mcpi" --quiet --json --force --output "$disp_dir/b.h5" --samples 1e9 | field elapsed_s)
        wait $! || { tail -n 30 "$log"; exit 1; }
        a=$(field elapsed_s <"$disp_dir/a.json")
        pair=$(best max "$(awk -v a="$a" -v b="$b" 'BEGIN { print 1e9 / (a > b ? a : b) }')" "$pair")
    done
    local ideal ideal2
    ideal=$(awk -v r="$rate" 'BEGIN { print 1e8 / (2 * r) }')
    ideal2=$(awk -v r="$pair" 'BEGIN { print 1e8 / (2 * r) }')
    printf "%-62s %12s %10s\n" "measure" "value" "vs floor"
    printf "%-62s %12.0f\n" "C MPI master-worker (benches/pingpong.c), 1 in flight: tasks/s" "$floor1"
    printf "%-62s %12.0f\n" "C MPI master-worker, 2 in flight: tasks/s" "$floor2"
    awk -v b="$bal" -v d="$dir" -v f="$floor1" 'BEGIN {
        printf "%-62s %12.0f %9.2fx\n", "balanced, --samples 1e6 --chunks 1e6: chunks/s", b, b / f
        printf "%-62s %12.0f %9.2fx\n", "direct, --samples 1e6 --chunks 1e6: chunks/s", d, d / f }'
    printf "%-62s %12.4f\n" "controller CPU share, --samples 3e9 --chunks 1000" "$share"
    printf "%-62s %12.3f\n" "efficiency, --samples 3e9 --chunks 10000" "$eff"
    awk -v e="$dflt" -v i="$ideal" -v r="$rate" -v i2="$ideal2" -v r2="$pair" 'BEGIN {
        printf "%-62s %12.4f\n", "default job (1e8, 100 chunks): elapsed s", e
        printf "%-62s %12.4f\n", "  ideal s = 1e8 / (2 engines x " sprintf("%.3g", r) " samples/s, one rank)", i
        printf "%-62s %12.3f\n", "  ideal / elapsed", i / e
        printf "%-62s %12.4f\n", "  ideal s with two ranks at once (" sprintf("%.3g", r2) " samples/s each)", i2
        printf "%-62s %12.3f\n", "  that ideal / elapsed", i2 / e
        printf "%-62s %12.3f\n", "  rate of a rank with another computing / alone", r2 / r }'
    echo "targets:"
    check "balanced chunks/s / 1e6" "$(awk -v b="$bal" 'BEGIN{print b/1e6}')" ">=" 1
    check "direct chunks/s / 2e6" "$(awk -v d="$dir" 'BEGIN{print d/2e6}')" ">=" 1
    check "controller CPU share (%)" "$(awk -v s="$share" 'BEGIN{print s*100}')" "<=" 2
    check "efficiency, 1e4 chunks" "$eff" ">=" 0.95
    check "default job: ideal / elapsed" "$(awk -v e="$dflt" -v i="$ideal" 'BEGIN{print i/e}')" ">=" 0.90
    check "default job: ideal (two ranks at once) / elapsed" "$(awk -v e="$dflt" -v i="$ideal2" 'BEGIN{print i/e}')" ">=" 0.90
}

check() { # label value op threshold
    awk -v l="$1" -v v="$2" -v op="$3" -v t="$4" 'BEGIN {
        ok = (op == ">=") ? (v >= t) : (v <= t)
        printf "%-4s %-40s %.2f (target %s %.2f)\n", ok ? "ok" : "MISS", l, v, op, t }'
}

echo "CPU:   $(cpu_model)"
echo "rustc: $(rustc --version)"
if [[ ${1:-} == dispatch ]]; then
    echo "load:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (before); logs in $log"
    dispatch_section
    echo "load:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (after)"
    exit 0
fi
if [[ ${1:-} == checkpoint ]]; then
    echo "load:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (before); logs in $log"
    checkpoint_section
    echo "load:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (after)"
    exit 0
fi
echo "bench: 1 thread, 2^20 points per iteration, best median of $rounds alternating runs"
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (before); logs in $log"

echo "building: default (runtime dispatch) and -C target-cpu=native (separate target dir)..."
cargo bench --bench kernel --no-run >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
CARGO_TARGET_DIR="$native_target" RUSTFLAGS="-C target-cpu=native" \
    cargo bench --bench kernel --no-run >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
cargo build --release --quiet >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
e2e_dir=$(mktemp -d)
trap 'rm -rf "$e2e_dir"' EXIT
e2e_best=""
for r in $(seq "$rounds"); do
    echo "round $r/$rounds: default build, all paths; native build, dispatched and portable; mcpi -n 1e10..."
    run default "$r"
    run native "$r" 'dispatched|portable'
    # End to end: one rank, 1e10 points, everything mcpi does around the kernel.
    e2e=$("$target/release/mcpi" --samples 1e10 --quiet --json --output "$e2e_dir/e2e.h5" --force |
        sed -E 's/.*"elapsed_s":([0-9.eE+-]+).*/\1/')
    e2e_best=$(awk -v a="$e2e" -v b="$e2e_best" 'BEGIN { print (b == "" || a < b) ? a : b }')
done
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (after)"
echo

points=$((1 << 20))
scalar=$(median_ns default scalar)
randf=$(median_ns default rand-f64)
dispatched_dir=$(basename "$(dirname "$(compgen -G "$crit/default-1/kernel/dispatched/*/new" | head -n1)")")

row() { # name ns
    awk -v name="$1" -v ns="$2" -v p="$points" -v sc="$scalar" -v rf="$randf" 'BEGIN {
        printf "%-26s %9.3f %12.3e %10.2fx %10.2fx\n", name, ns / p, p / ns * 1e9, sc / ns, rf / ns }'
}

printf "%-26s %9s %12s %11s %11s\n" "path (default build)" "ns/point" "samples/s" "vs scalar" "vs rand-f64"
for k in avx512 avx2 portable scalar avx512-mul32 rand-f64; do
    ns=$(median_ns default "$k")
    [[ -n "$ns" ]] && row "$k" "$ns"
done
d_default=$(median_ns default "dispatched/*")
d_native=$(median_ns native "dispatched/*")
p_native=$(median_ns native portable)
row "dispatched ($dispatched_dir)" "$d_default"
echo
printf "%-26s %9s %12s %11s %11s\n" "path (target-cpu=native)" "ns/point" "samples/s" "vs scalar" "vs rand-f64"
row "dispatched ($dispatched_dir)" "$d_native"
row "portable" "$p_native"
echo
best_native=$(awk -v a="$d_native" -v b="$p_native" 'BEGIN { print (a < b ? a : b) }')
awk -v d="$d_default" -v n="$d_native" -v b="$best_native" 'BEGIN {
    printf "dispatched/native, same kernel:      %.3f\n", n / d
    printf "dispatched/native, fastest native:   %.3f\n", b / d }'
e2e_ns=$(awk -v e="$e2e_best" 'BEGIN { print e / 1e10 * 1e9 }')
awk -v e="$e2e_ns" -v d="$d_default" -v p="$points" 'BEGIN {
    printf "mcpi --samples 1e10, one rank:       %.3f ns/point, %.3f x the bare dispatched kernel\n", e, e / (d / p) }'
echo
# The issue's targets, checked on this run.
best_default=$d_default
avx2=$(median_ns default avx2)
portable=$(median_ns default portable)
echo "targets:"
check "best path / scalar" "$(awk -v a="$scalar" -v b="$best_default" 'BEGIN{print a/b}')" ">=" 5
check "best path / rand f64 loop" "$(awk -v a="$randf" -v b="$best_default" 'BEGIN{print a/b}')" ">=" 12
check "dispatched / native (fastest native)" "$(awk -v d="$d_default" -v b="$best_native" 'BEGIN{print b/d}')" ">=" 0.95
[[ -n "$avx2" ]] && check "avx2 / scalar" "$(awk -v a="$scalar" -v b="$avx2" 'BEGIN{print a/b}')" ">=" 2.5
check "portable / scalar" "$(awk -v a="$scalar" -v b="$portable" 'BEGIN{print a/b}')" ">=" 1.0
check "mcpi 1e10 end to end / bare kernel" "$(awk -v e="$e2e_ns" -v d="$d_default" -v p="$points" 'BEGIN{print e/(d/p)}')" "<=" 1.05
echo
checkpoint_section
