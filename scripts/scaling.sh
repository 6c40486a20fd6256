#!/usr/bin/env bash
# Strong- and weak-scaling sweeps of mcpi, and a sweep of its schedules with and without a
# straggler: every run's HDF5 file in one folder, with a manifest.
# `scripts/scaling.sh --help` explains everything; scripts/plot turns the folder into figures.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/launch.sh
source "$here/lib/launch.sh"
# The manifest's columns, in order (scripts/plot reads the manifest by the same list).
read -r -a manifest_columns <<<"$(grep -v '^#' "$here/lib/manifest-columns")"

usage() {
    sed "s/@MANIFEST_COLUMNS@/${manifest_columns[*]}/" <<'EOF'
Usage: scripts/scaling.sh [OPTIONS]

Runs mcpi over a range of rank counts, in both modes, several times each, and keeps
every run's HDF5 results file in one new folder with a manifest:

  strong scaling  the same job (SAMPLES points in CHUNKS chunks) at every rank count
  weak scaling    PER_ENGINE points in CHUNKS chunks per engine: a run with E engines
                  computes E x PER_ENGINE points in E x CHUNKS chunks
  schedules       the strong job at the largest rank count of NP, once per schedule of
                  SCHEDULES and straggler setting of SLOW: 'direct' is --mode direct
                  (each engine a contiguous share, fixed up front), 'dynamic', 'guided'
                  and 'static' are --mode balanced --schedule dynamic|guided|static;
                  'none' runs every engine at full speed, ENGINE=FACTOR[,...] passes
                  --slow (e.g. 0=3: engine 0 takes 3 times as long per chunk)

Each setting is an option or an environment variable (the option wins):

  --np "LIST"          NP          rank counts [default: "1 2 ... cores+1"; cores = nproc]
  --samples N          SAMPLES     strong scaling, schedules: total points [default: 1e9]
  --per-engine N       PER_ENGINE  weak scaling: points per engine
                                   [default: SAMPLES / the largest engine count]
  --chunks K           CHUNKS      chunks (weak: per engine) [default: 100]
  --repeats R          REPEATS     runs of each setting [default: 3]
  --modes "LIST"       MODES       strong and weak: "balanced direct", "balanced" or
                                   "direct" [default: "balanced direct"]
  --kinds "LIST"       KINDS       any of strong, weak and schedules [default: "strong
                                   weak"; "schedules" when SCHEDULES or SLOW is set]
  --schedules "LIST"   SCHEDULES   schedules: any of direct, dynamic, guided, static
                                   [default: "direct dynamic guided static"]
  --slow "LIST"        SLOW        schedules: straggler settings, each none or
                                   ENGINE=FACTOR[,...] [default: "none 0=3"]
  --seed S             SEED        seed of every run [default: mcpi's]
  -o, --out DIR        OUT         the folder [default: results/scaling-<UTC>[-j<SLURM_JOB_ID>]
                                   under the current directory]
  -h, --help                       this text

Counts take mcpi's forms: 100000000, 1e8, 2.5e9, 100M, 1G, 1_000_000. One rank means
rank 0 computes everything alone (the serial baseline, 1 engine); N ranks mean a
controller and N-1 engines. Runs go round-robin (repeat 1 of every setting, then
repeat 2, ...) so that a slow phase of a shared machine spreads over all settings.

Output: one line per run, then a table of the median, min and max elapsed time per
setting (schedules: also the ratio of each median to direct's and static's with the
same SLOW setting). The folder holds <kind>-<mode>-<N>r-<repeat>.h5 files (schedules:
schedules-<schedule>-<none|slowExF...>-<N>r-<repeat>.h5) and manifest.tsv: '#' lines
with the sweep's settings, a header line, then one tab-separated line per
finished run: @MANIFEST_COLUMNS@.
The schedule column is direct for direct mode and mcpi's schedule in balanced mode;
slow is none or the --slow value.
Sweeps never overwrite each other: the default folder gets a -2, -3, ... suffix if
its name is taken, and an OUT that exists must be an empty directory.

Finding mcpi: $MCPI_BIN, else `mcpi` on PATH, else target/release/mcpi of this
repository (cargo build --release).

Launcher: mpirun -n N (with --oversubscribe for Open MPI, and Open MPI's run-as-root
variables when root), or $MCPI_LAUNCHER followed by -n N, e.g. inside a Slurm
allocation:
  MCPI_LAUNCHER="srun --mpi=pmi2" scripts/scaling.sh   ->  srun --mpi=pmi2 -n N mcpi ...
MCPI_LAUNCHER=srun alone means srun --mpi=$MCPI_SRUN_MPI (default pmi2), and
MCPI_LAUNCHER=mpirun alone means the default above, as for slurm/pi.sbatch. Inside a
job ($SLURM_JOB_ID set) the default folder name ends in -j<jobid>. In an allocation of
several nodes ($SLURM_JOB_NUM_NODES > 1) each run of N ranks spreads them round-robin over
min(N, nodes) nodes: srun gets -N and --distribution=cyclic, Open MPI's mpirun --map-by
node, MPICH's mpirun -hosts with the job's first min(N, nodes) nodes. The results files
name each engine's host (/engines).

Examples:
  scripts/scaling.sh                                   # 1e9 points, ranks 1..cores+1, 3 repeats
  SAMPLES=1e8 NP="1 3" REPEATS=1 scripts/scaling.sh    # a quick sweep
  scripts/scaling.sh --kinds strong --modes balanced --np "1 2 3 5" -o results/sweep-a
  SAMPLES=3e10 NP=3 SLOW="none 0=3" scripts/scaling.sh  # the 4 schedules, with and
                                                       # without a 3x slow engine 0
  scripts/plot results/scaling-<UTC>                   # figures next to the files
EOF
}

die() { printf 'scaling.sh: error: %s\n' "$*" >&2; exit 2; }

# to_int COUNT: mcpi's count syntax (digits, '_', a decimal point, eN, k/M/G/T) to an
# exact integer on stdout; fails on fractions and on values beyond 9.2e18.
to_int() {
    local s=${1//_/} int frac exp=0 suffix digits
    [[ $s =~ ^([0-9]+)(\.([0-9]+))?([eE]([0-9]+))?([kMGT])?$ ]] || return 1
    int=${BASH_REMATCH[1]} frac=${BASH_REMATCH[3]} suffix=${BASH_REMATCH[6]}
    [ -n "${BASH_REMATCH[5]}" ] && exp=$((10#${BASH_REMATCH[5]}))
    case $suffix in k) exp=$((exp + 3)) ;; M) exp=$((exp + 6)) ;; G) exp=$((exp + 9)) ;; T) exp=$((exp + 12)) ;; esac
    while [[ $frac == *0 ]]; do frac=${frac%0}; done
    [ "${#frac}" -le "$exp" ] || return 1
    exp=$((exp - ${#frac}))
    digits="$int$frac"
    digits=${digits#"${digits%%[!0]*}"}
    [ -z "$digits" ] && { echo 0; return 0; }
    [ $((${#digits} + exp)) -le 19 ] || return 1
    local n=$((10#$digits)) i
    for ((i = 0; i < exp; i++)); do
        [ "$n" -le $((9223372036854775807 / 10)) ] || return 1
        n=$((n * 10))
    done
    echo "$n"
}

# json_field NAME JSON: the value of a flat field of mcpi's --json object (numbers, strings).
json_field() {
    local v
    v=$(grep -o "\"$1\":\(\"[^\"]*\"\|[^,}]*\)" <<<"$2" | head -n 1) || return 1
    v=${v#*:}
    v=${v#\"}
    printf '%s\n' "${v%\"}"
}

np_list=${NP:-} samples=${SAMPLES:-1e9} per_engine=${PER_ENGINE:-} chunks=${CHUNKS:-100}
repeats=${REPEATS:-3} modes=${MODES:-balanced direct} kinds=${KINDS-} kinds_given=${KINDS+1}
seed=${SEED:-} out=${OUT:-} schedules=${SCHEDULES:-} slow=${SLOW:-}
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        -h|--help) usage; exit 0 ;;
        --np|--samples|--per-engine|--chunks|--repeats|--modes|--kinds|--seed|-o|--out|\
        --schedules|--slow)
            [ $# -ge 2 ] || die "$opt needs a value"
            case $opt in
                --np) np_list=$2 ;; --samples) samples=$2 ;; --per-engine) per_engine=$2 ;;
                --chunks) chunks=$2 ;; --repeats) repeats=$2 ;; --modes) modes=$2 ;;
                --kinds) kinds=$2 kinds_given=1 ;; --seed) seed=$2 ;; -o|--out) out=$2 ;;
                --schedules) schedules=$2 ;; --slow) slow=$2 ;;
            esac
            shift 2 ;;
        *) die "unknown argument '$opt' (see --help)" ;;
    esac
done

# --- check the settings before anything runs -------------------------------------------------
[ -n "$np_list" ] || np_list=$(seq -s ' ' 1 $(($(nproc) + 1)))
read -r -a nps <<<"$np_list"
[ ${#nps[@]} -gt 0 ] || die "NP is empty"
max_engines=1
for n in "${nps[@]}"; do
    [[ $n =~ ^[1-9][0-9]{0,5}$ ]] || die "NP: '$n' is not a rank count (1, 2, 3, ...)"
    [ $((n > 1 ? n - 1 : 1)) -gt "$max_engines" ] && max_engines=$((n - 1))
done
read -r -a mode_list <<<"$modes"
[ ${#mode_list[@]} -gt 0 ] || die "MODES is empty"
for m in "${mode_list[@]}"; do
    [[ $m == balanced || $m == direct ]] || die "MODES: '$m' is not balanced or direct"
done
if [ -z "$kinds_given" ]; then  # neither KINDS nor --kinds
    kinds="strong weak"
    [ -z "$schedules$slow" ] || kinds=schedules
fi
read -r -a kind_list <<<"$kinds"
[ ${#kind_list[@]} -gt 0 ] || die "KINDS is empty"
with_schedules=""
for k in "${kind_list[@]}"; do
    [[ $k == strong || $k == weak || $k == schedules ]] ||
        die "KINDS: '$k' is not strong, weak or schedules"
    [ "$k" != schedules ] || with_schedules=1
done
[ -n "$with_schedules" ] || [ -z "$schedules$slow" ] ||
    die "SCHEDULES and SLOW are for the schedules sweep, but KINDS ('$kinds') lacks schedules"
[[ $repeats =~ ^[1-9][0-9]{0,3}$ ]] || die "REPEATS: '$repeats' is not a count from 1 to 9999"
positive() {  # positive NAME VALUE: VALUE as a positive integer, or die
    local n
    if ! n=$(to_int "$2") || [ "$n" -eq 0 ]; then
        die "$1: '$2' is not a positive whole count"
    fi
    echo "$n"
}
samples_n=$(positive SAMPLES "$samples")
chunks_n=$(positive CHUNKS "$chunks")
if [ -n "$per_engine" ]; then
    per_engine_n=$(positive PER_ENGINE "$per_engine")
else
    per_engine_n=$((samples_n / max_engines))
fi
[ "$per_engine_n" -le $((9223372036854775807 / max_engines)) ] ||
    die "PER_ENGINE x $max_engines engines is too large"
[ $((chunks_n * max_engines)) -le 1000000 ] || die "CHUNKS x $max_engines engines is more than mcpi's 1e6 chunks"
[ -z "$seed" ] || [[ $seed =~ ^[0-9]+$ ]] || die "SEED: '$seed' is not a whole number"

# The schedules sweep: at the largest rank count, every schedule x straggler setting.
sched_np=${nps[0]}
for n in "${nps[@]}"; do [ "$n" -le "$sched_np" ] || sched_np=$n; done
sched_engines=$((sched_np > 1 ? sched_np - 1 : 1))
sched_list=() slow_list=()
if [ -n "$with_schedules" ]; then
    read -r -a sched_list <<<"${schedules:-direct dynamic guided static}"
    read -r -a slow_list <<<"${slow:-none 0=3}"
    [ ${#sched_list[@]} -gt 0 ] || die "SCHEDULES is empty"
    [ ${#slow_list[@]} -gt 0 ] || die "SLOW is empty"
    seen=" "
    for s in "${sched_list[@]}"; do
        [[ $s =~ ^(direct|dynamic|guided|static)$ ]] ||
            die "SCHEDULES: '$s' is not direct, dynamic, guided or static"
        [[ $seen != *" $s "* ]] || die "SCHEDULES: '$s' is listed twice"
        seen+="$s "
    done
    seen=" "
    for s in "${slow_list[@]}"; do
        [[ $seen != *" $s "* ]] || die "SLOW: '$s' is listed twice"
        seen+="$s "
        [ "$s" != none ] || continue
        [[ $s =~ ^[0-9]+=[0-9]+(\.[0-9]+)?(,[0-9]+=[0-9]+(\.[0-9]+)?)*$ ]] ||
            die "SLOW: '$s' is not none or ENGINE=FACTOR[,ENGINE=FACTOR...], e.g. 0=3"
        ids=" "
        IFS=, read -r -a pairs <<<"$s"
        for pair in "${pairs[@]}"; do
            e=$((10#${pair%%=*})) f=${pair#*=}
            [ "$e" -lt "$sched_engines" ] ||
                die "SLOW: '$s' slows engine $e, but $sched_np ranks have $sched_engines engine(s) (ids from 0)"
            [[ $f =~ ^0*[1-9][0-9]*(\.[0-9]+)?$ ]] || die "SLOW: '$s': the factor $f is below 1"
            [[ $ids != *" $e "* ]] || die "SLOW: '$s' slows engine $e twice"
            ids+="$e "
        done
    done
fi

# --- mcpi and the launcher (scripts/lib/launch.sh) -------------------------------------------
mcpi_find "$(cd "$here/.." && pwd)" || die "$MCPI_ERROR"
mcpi=$MCPI
launch_cmd 1
command -v "${LAUNCH[0]}" >/dev/null 2>&1 || die "launcher '${LAUNCH[0]}' not found"
[ "${LAUNCH[0]}" != srun ] || export SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}
launcher="${LAUNCH[*]}"
launcher="${launcher% -n 1} -n N"
# In a Slurm allocation of several nodes, every run spreads its ranks round-robin over
# min(N, nodes) nodes (spread_words in scripts/lib/launch.sh).
nodes=${SLURM_JOB_NUM_NODES:-1}
[[ $nodes =~ ^[1-9][0-9]*$ ]] || nodes=1
spread_words 1000000 "$nodes"
if [ ${#SPREAD[@]} -gt 0 ]; then
    launcher="$launcher ${SPREAD[*]}"
    launcher=${launcher/-N $nodes /-N min(N,$nodes) }
fi

# --- the folder --------------------------------------------------------------------------------
if [ -n "$out" ]; then
    if [ -e "$out" ] || [ -L "$out" ]; then
        if [ ! -d "$out" ] || [ -L "$out" ]; then die "OUT $out exists and is not a directory"; fi
        [ -z "$(ls -A "$out")" ] || die "OUT $out is not empty: sweeps never overwrite each other; choose a new folder"
    else
        mkdir -p "$out" || die "cannot create OUT $out"
    fi
else
    mkdir -p results || die "cannot create results/ in $PWD"
    base="results/scaling-$(date -u +%Y%m%dT%H%M%SZ)${SLURM_JOB_ID:+-j$SLURM_JOB_ID}"
    out=$base
    i=1
    until mkdir "$out" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 100 ] || die "cannot create a folder $base-N in results/"
        out="$base-$i"
    done
fi
manifest="$out/manifest.tsv"
manifest_row() {  # manifest_row CELL...: one tab-separated line
    local IFS=$'\t'
    printf '%s\n' "$*"
}
{
    printf '# mcpi scaling sweep\n'
    printf '# created_utc\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '# host\t%s\n' "$(uname -n)"
    printf '# cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    printf '# cores\t%s\n' "$(nproc)"
    printf '# mcpi\t%s\n' "$("$mcpi" --version)"
    printf '# launcher\t%s\n' "$launcher"
    printf '# slurm_job_id\t%s\n' "${SLURM_JOB_ID:-}"
    printf '# np\t%s\n# modes\t%s\n# kinds\t%s\n# repeats\t%s\n' "${nps[*]}" "${mode_list[*]}" "${kind_list[*]}" "$repeats"
    printf '# samples\t%s\n# per_engine\t%s\n# chunks\t%s\n# seed\t%s\n' "$samples_n" "$per_engine_n" "$chunks_n" "${seed:-default}"
    if [ -n "$with_schedules" ]; then
        printf '# schedules\t%s\n# slow\t%s\n# schedules_np\t%s\n' "${sched_list[*]}" "${slow_list[*]}" "$sched_np"
    fi
    manifest_row "${manifest_columns[@]}"
} >"$manifest"

scaling_kinds=$((${#kind_list[@]} - ${with_schedules:-0}))
runs=$(((scaling_kinds * ${#mode_list[@]} * ${#nps[@]} + ${#sched_list[@]} * ${#slow_list[@]}) * repeats))
printf '==> %s runs into %s (%s)\n' "$runs" "$out" "$launcher"
line_format='%-6s %-8s %5s %7s %6s %13s %11.6f %10.7f  %s\n'
sched_format='%-9s %-8s %-10s %5s %7s %6s %13s %11.6f %10.7f %7s  %s\n'
if [ "$scaling_kinds" -gt 0 ]; then
    printf '%-6s %-8s %5s %7s %6s %13s %11s %10s  %s\n' kind mode ranks engines repeat samples elapsed_s pi file
fi
if [ -n "$with_schedules" ]; then
    # shellcheck disable=SC2059  # the runs' format, with their numbers as strings
    printf "${sched_format//.[67]f/s}" kind schedule slow ranks engines repeat samples elapsed_s pi lambda file
fi

# --- the runs ----------------------------------------------------------------------------------
k=0
# run_one KIND MODE SCHEDULE SLOW RANKS SAMPLES CHUNKS REPEAT FILE: one run of mcpi into the
# folder, its manifest row and its line; exits the sweep if it fails.
run_one() {
    local kind=$1 mode=$2 schedule=$3 slowed=$4 n=$5 s=$6 c=$7 rep=$8 file=$9
    local engines=$((n > 1 ? n - 1 : 1)) args status json elapsed pi lambda col cells
    k=$((k + 1))
    launch_cmd "$n"
    spread_words "$n" "$nodes"
    LAUNCH+=("${SPREAD[@]}")
    args=(--mode "$mode")
    [ "$kind" != schedules ] || [ "$mode" = direct ] || args+=(--schedule "$schedule")
    [ "$slowed" = none ] || args+=(--slow "$slowed")
    args+=(-n "$s" -k "$c" -q --json -o "$out/$file")
    [ -z "$seed" ] || args+=(--seed "$seed")
    status=0
    json=$("${LAUNCH[@]}" "$mcpi" "${args[@]}" 2>"$out/.stderr") || status=$?
    if [ "$status" -ne 0 ] || [ ! -f "$out/$file" ]; then
        sed 's/^/    /' "$out/.stderr" >&2
        printf 'scaling.sh: error: run %s/%s failed (exit %s): %s\n' "$k" "$runs" "$status" \
            "${LAUNCH[*]} $mcpi ${args[*]}" >&2
        rm -f "$out/.stderr"
        exit 1
    fi
    rm -f "$out/.stderr"
    if ! elapsed=$(json_field elapsed_s "$json") || ! pi=$(json_field pi "$json"); then
        printf 'scaling.sh: error: no JSON summary from run %s: %s\n' "$k" "$json" >&2
        exit 1
    fi
    # Strong and weak runs take mcpi's default schedule (dynamic; an mcpi before schedules
    # does not say).
    if [ "$mode" = balanced ] && [ "$kind" != schedules ]; then
        schedule=$(json_field schedule "$json") || schedule=dynamic
    fi
    local -A row=([kind]=$kind [mode]=$mode [schedule]=$schedule [slow]=$slowed [ranks]=$n
        [engines]=$engines [repeat]=$rep [samples]=$s [chunks]=$c [elapsed_s]=$elapsed
        [file]=$file)
    cells=()
    for col in "${manifest_columns[@]}"; do cells+=("${row[$col]}"); done
    manifest_row "${cells[@]}" >>"$manifest"
    if [ "$kind" = schedules ]; then
        lambda=$(json_field imbalance "$json") && lambda=$(printf '%.3f' "$lambda") || lambda=-
        # shellcheck disable=SC2059  # the format is the table's, above
        printf "$sched_format" "$kind" "$schedule" "$slowed" "$n" "$engines" "$rep/$repeats" "$s" \
            "$elapsed" "$pi" "$lambda" "$out/$file"
    else
        # shellcheck disable=SC2059
        printf "$line_format" "$kind" "$mode" "$n" "$engines" "$rep/$repeats" "$s" "$elapsed" "$pi" \
            "$out/$file"
    fi
}

for ((rep = 1; rep <= repeats; rep++)); do
    for kind in "${kind_list[@]}"; do
        if [ "$kind" = schedules ]; then
            for slowed in "${slow_list[@]}"; do
                tag=none
                if [ "$slowed" != none ]; then tag=${slowed//=/x} tag="slow${tag//,/-}"; fi
                for schedule in "${sched_list[@]}"; do
                    mode=balanced
                    [ "$schedule" != direct ] || mode=direct
                    c=$chunks_n
                    [ "$c" -le "$samples_n" ] || c=$samples_n
                    run_one schedules "$mode" "$schedule" "$slowed" "$sched_np" "$samples_n" "$c" \
                        "$rep" "schedules-$schedule-$tag-${sched_np}r-$rep.h5"
                done
            done
            continue
        fi
        for n in "${nps[@]}"; do
            engines=$((n > 1 ? n - 1 : 1))
            if [ "$kind" = strong ]; then
                s=$samples_n c=$chunks_n
            else
                s=$((per_engine_n * engines)) c=$((chunks_n * engines))
            fi
            [ "$c" -le "$s" ] || c=$s
            for mode in "${mode_list[@]}"; do
                run_one "$kind" "$mode" "$mode" none "$n" "$s" "$c" "$rep" "$kind-$mode-${n}r-$rep.h5"
            done
        done
    done
done

# --- the tables --------------------------------------------------------------------------------
# median(arr, key, count): the median of arr[key, 1..count]; sets lo and hi to its min and max.
median_awk='
    function median(arr, k, cnt,    i, j, t, a) {
        for (i = 1; i <= cnt; i++) a[i] = arr[k, i]
        for (i = 2; i <= cnt; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
        lo = a[1]; hi = a[cnt]
        return cnt % 2 ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2
    }'

scaling_table() {  # the strong and weak runs of the manifest: medians, speedup, efficiency
    printf '\n==> elapsed_s over %s repeat(s); speedup = median 1-rank elapsed / median elapsed (strong),\n' "$repeats"
    printf '    weak efficiency = median 1-rank elapsed / median elapsed (weak)\n'
    awk -F '\t' "$median_awk"'
    /^#/ { next }
    !header { for (i = 1; i <= NF; i++) col[$i] = i; header = 1; next }
    $col["kind"] == "schedules" { next }
    {
        kind = $col["kind"]; ranks = $col["ranks"] + 0; elapsed = $col["elapsed_s"] + 0
        key = kind "\t" $col["mode"] "\t" sprintf("%06d", ranks)
        if (!(key in n)) { order[++keys] = key; eng[key] = $col["engines"]; smp[key] = $col["samples"] }
        v[key, ++n[key]] = elapsed
        if (ranks == 1) { one[kind, ++ones[kind]] = elapsed }
    }
    END {
        printf "%-6s %-8s %5s %7s %13s %11s %11s %11s %8s %10s\n", "kind", "mode", "ranks", "engines", "samples", "median_s", "min_s", "max_s", "speedup", "efficiency"
        for (kind in ones) base[kind] = median(one, kind, ones[kind])
        for (i = 2; i <= keys; i++) for (j = i; j > 1 && order[j-1] > order[j]; j--) { t = order[j]; order[j] = order[j-1]; order[j-1] = t }
        for (i = 1; i <= keys; i++) {
            key = order[i]; split(key, f, "\t")
            med = median(v, key, n[key])
            sp = "-"; ef = "-"
            if ((f[1] in base) && med > 0) {
                if (f[1] == "strong") { sp = sprintf("%.2f", base[f[1]] / med); ef = sprintf("%.1f%%", 100 * base[f[1]] / med / eng[key]) }
                else { ef = sprintf("%.1f%%", 100 * base[f[1]] / med) }
            }
            printf "%-6s %-8s %5d %7s %13s %11.6f %11.6f %11.6f %8s %10s\n", f[1], f[2], f[3], eng[key], smp[key], med, lo, hi, sp, ef
        }
    }' "$manifest"
}

schedules_table() {  # the schedules runs: medians, and ratios to direct and static
    printf '\n==> schedules: elapsed_s (the makespan) over %s repeat(s) at %s ranks; /direct and /static =\n' "$repeats" "$sched_np"
    printf '    median elapsed / median elapsed of direct (static) with the same slow setting\n'
    awk -F '\t' "$median_awk"'
    /^#/ { next }
    !header { for (i = 1; i <= NF; i++) col[$i] = i; header = 1; next }
    $col["kind"] != "schedules" { next }
    {
        key = $col["slow"] "\t" $col["schedule"]
        if (!(key in n)) { order[++keys] = key; rk[key] = $col["ranks"]; eng[key] = $col["engines"]; smp[key] = $col["samples"] }
        v[key, ++n[key]] = $col["elapsed_s"] + 0
    }
    function ratio(slow, of, to) {
        return (slow "\t" to) in med && med[slow "\t" to] > 0 ? sprintf("%.3f", of / med[slow "\t" to]) : "-"
    }
    END {
        printf "%-8s %-10s %5s %7s %13s %11s %11s %11s %8s %8s\n", "schedule", "slow", "ranks", "engines", "samples", "median_s", "min_s", "max_s", "/direct", "/static"
        for (i = 1; i <= keys; i++) { key = order[i]; med[key] = median(v, key, n[key]); low[key] = lo; high[key] = hi }
        for (i = 1; i <= keys; i++) {
            key = order[i]; split(key, f, "\t")
            printf "%-8s %-10s %5s %7s %13s %11.6f %11.6f %11.6f %8s %8s\n", f[2], f[1], rk[key], eng[key], smp[key], med[key], low[key], high[key], ratio(f[1], med[key], "direct"), ratio(f[1], med[key], "static")
        }
    }' "$manifest"
}

[ "$scaling_kinds" -eq 0 ] || scaling_table
[ -z "$with_schedules" ] || schedules_table
printf '\n==> %s\n    scripts/plot %s    # figures\n' "$manifest" "$out"
