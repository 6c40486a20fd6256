#!/usr/bin/env bash
# Self-test of scripts/plot.sh / plot.py on real mcpi results files.
#
#   scripts/test-plot.sh FILE.h5 [FILE.h5 ...]
#
# Plots the files into a temporary directory and checks the PNGs, the
# --summary table, the error for a non-mcpi file, and that an existing PNG
# is kept without --force. Ends with a line "N passed, M failed" and exits
# non-zero if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plot="$here/plot.sh"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 FILE.h5 [FILE.h5 ...]" >&2
    exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok()  { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
check() {  # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

is_png() {  # valid PNG signature and more than 10 KiB
    local f="$1"
    [ -f "$f" ] || return 1
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || return 1
    [ "$(stat -c %s "$f")" -gt 10240 ]
}

attr_mode() {  # mode attribute of an mcpi file, via the plotting venv
    "$here/../.venv-plot/bin/python" -c \
        'import sys, h5py; m = h5py.File(sys.argv[1], "r").attrs["mode"]; print(m.decode() if isinstance(m, bytes) else m)' "$1"
}

# 1. Plot all files into a temp dir (this also creates the venv if needed).
out="$tmp/out"
if "$plot" "$@" -o "$out" >"$tmp/plot.out" 2>"$tmp/plot.err"; then
    ok "plot.sh exits 0 on $# file(s)"
else
    bad "plot.sh exits 0 on $# file(s): $(tail -n 3 "$tmp/plot.err")"
fi
for f in "$@"; do
    png="$out/$(basename "${f%.*}").png"
    check "$(basename "$png") is a valid, non-trivial PNG" is_png "$png"
done
check "no temporary files left in the output dir" \
    test -z "$(find "$out" -name '*.tmp' -print -quit 2>/dev/null)"

# 2. --summary: a '#' header plus one line per file, with the right mode.
if "$plot" --summary "$@" >"$tmp/summary.out" 2>"$tmp/summary.err"; then
    ok "--summary exits 0"
else
    bad "--summary exits 0: $(tail -n 1 "$tmp/summary.err")"
fi
grep -v '^#' "$tmp/summary.out" >"$tmp/summary.rows" || true
check "--summary prints one line per file ($#)" \
    test "$(wc -l <"$tmp/summary.rows")" -eq "$#"
i=0
for f in "$@"; do
    i=$((i + 1))
    want="$(attr_mode "$f")" || want="?"
    got="$(sed -n "${i}p" "$tmp/summary.rows" | awk '{print $1}')"
    name="$(sed -n "${i}p" "$tmp/summary.rows" | awk '{print $NF}')"
    check "--summary line $i: mode $got (want $want) for $name" \
        test "$got" = "$want" -a "$name" = "$(basename "$f")"
done

# 3. Non-mcpi inputs fail with exit != 0 and a one-line error.
"$here/../.venv-plot/bin/python" -c \
    'import h5py, sys
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["mode"] = "balanced"
    f.create_dataset("x", data=[1, 2, 3])' "$tmp/other.h5"
# Copies of a real file, one without the rng attribute, one without /chunks.
"$here/../.venv-plot/bin/python" -c \
    'import h5py, shutil, sys
src, no_rng, no_chunks = sys.argv[1:]
for dst in (no_rng, no_chunks):
    shutil.copyfile(src, dst)
with h5py.File(no_rng, "a") as f:
    del f.attrs["rng"]
with h5py.File(no_chunks, "a") as f:
    del f["chunks"]' "$1" "$tmp/no-rng.h5" "$tmp/no-chunks.h5"
printf 'not hdf5\n' >"$tmp/text.h5"
for f in "$tmp/other.h5" "$tmp/no-rng.h5" "$tmp/no-chunks.h5" "$tmp/text.h5" "$tmp/missing.h5"; do
    rc=0
    "$plot" "$f" -o "$tmp/bad" >/dev/null 2>"$tmp/bad.err" || rc=$?
    lines="$(wc -l <"$tmp/bad.err")"
    check "$(basename "$f") is refused (exit $rc, $lines stderr line(s): $(head -n 1 "$tmp/bad.err"))" \
        test "$rc" -ne 0 -a "$lines" -eq 1
    check "$(basename "$f") wrote no PNG" \
        test ! -e "$tmp/bad/$(basename "${f%.*}").png"
done

# 4. An existing PNG is kept without --force and replaced with it.
first="$1"
png="$out/$(basename "${first%.*}").png"
printf 'keep me\n' >"$png"
rc=0
"$plot" "$first" -o "$out" >/dev/null 2>"$tmp/exists.err" || rc=$?
check "existing PNG refused without --force (exit $rc)" \
    test "$rc" -ne 0 -a "$(cat "$png")" = "keep me"
check "refusal message mentions --force" grep -q -- '--force' "$tmp/exists.err"
rc=0
"$plot" "$first" -o "$out" --force >/dev/null 2>"$tmp/force.err" || rc=$?
check "--force replaces the existing PNG (exit $rc)" is_png "$png"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
