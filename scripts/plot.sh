#!/usr/bin/env bash
# Plot mcpi HDF5 results files.
#
#   scripts/plot.sh FILE.h5 [FILE.h5 ...] [-o OUTDIR] [--force] [--summary]
#
# On first use this creates a virtual environment at <repo>/.venv-plot and
# installs the pinned packages from scripts/requirements-plot.txt into it.
# They are re-installed only when that file (or the venv's Python) changes.
# All setup messages go to stderr, so stdout carries only plot.py's output.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$repo/.venv-plot"
req="$here/requirements-plot.txt"
stamp="$venv/.requirements-plot.sha256"
python="${PYTHON:-python3}"

export MPLBACKEND=Agg
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export DEBIAN_FRONTEND=noninteractive

say() { printf 'plot.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$python" >/dev/null 2>&1 || die "$python not found; install Python 3 (Debian: apt-get install -y python3 python3-venv)"

# Serialise concurrent runs while the venv is created or updated.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
fi

make_venv() {
    rm -rf "$venv"
    if "$python" -m venv "$venv" >&2; then
        return 0
    fi
    rm -rf "$venv"
    # Debian splits venv/ensurepip into the python3-venv package.
    if "$python" -c 'import ensurepip' >/dev/null 2>&1; then
        die "'$python -m venv $venv' failed"
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "Python's venv module is unusable (ensurepip missing); install it with: sudo apt-get install -y python3-venv"
    fi
    say "python3-venv is missing; installing it with apt-get"
    if ! apt-get install -y -q python3-venv >&2; then
        apt-get update -q >&2
        apt-get install -y -q python3-venv >&2
    fi
    "$python" -m venv "$venv" >&2 || { rm -rf "$venv"; die "'$python -m venv $venv' still fails after installing python3-venv"; }
}

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    want="$want $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
    have="$(cat "$stamp" 2>/dev/null || true)"
else
    have=""
    say "creating the plotting environment in .venv-plot (first run)"
    start=$SECONDS
    make_venv
    want="$want $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
fi

if [ "$want" != "$have" ]; then
    say "installing pinned plotting packages from scripts/requirements-plot.txt"
    rm -f "$stamp"
    "$venv/bin/python" -m pip install -q --only-binary=:all: -r "$req" >&2
    printf '%s\n' "$want" >"$stamp"
    if [ -n "${start:-}" ]; then
        say "environment ready in $((SECONDS - start)) s"
    fi
fi

# Release the lock before plotting.
if command -v flock >/dev/null 2>&1; then
    exec 9>&-
fi

exec "$venv/bin/python" "$here/plot.py" "$@"
