# shellcheck shell=bash
# The Python environment of scripts/plot and its tests: a virtual environment in
# <repo>/.venv-plot with the pinned packages of scripts/requirements.txt, created
# on first use and re-installed only when that file or the venv's Python changes.
# Never installs anything system-wide with pip (as root, python3-venv comes from apt
# when Debian's python3 lacks it). Sourced, not executed; messages go to stderr.

# plot_env: makes sure the environment is ready and sets PLOT_PYTHON to its python.
plot_env() {
    local here repo venv req stamp python want have start
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    repo="$(cd "$here/.." && pwd)"
    venv="$repo/.venv-plot"
    req="$here/requirements.txt"
    stamp="$venv/.requirements.sha256"
    python="${PYTHON:-python3}"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

    if ! command -v "$python" >/dev/null 2>&1; then
        echo "plot: error: $python not found; install Python 3 (Debian: apt-get install -y python3 python3-venv)" >&2
        return 1
    fi
    # Serialise concurrent runs while the venv is created or updated.
    exec 9>"$venv.lock"
    flock 9

    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        have="$(cat "$stamp" 2>/dev/null || true)"
    else
        have=""
        echo "plot: creating the plotting environment in .venv-plot (first run)" >&2
        start=$SECONDS
        _plot_make_venv "$python" "$venv" || { exec 9>&-; return 1; }
    fi
    want="$want $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"

    if [ "$want" != "$have" ]; then
        echo "plot: installing the pinned packages of scripts/requirements.txt" >&2
        rm -f "$stamp"
        if ! "$venv/bin/python" -m pip install -q --only-binary=:all: -r "$req" >&2; then
            echo "plot: error: pip could not install scripts/requirements.txt into .venv-plot" >&2
            exec 9>&-
            return 1
        fi
        printf '%s\n' "$want" >"$stamp"
        [ -z "${start:-}" ] || echo "plot: environment ready in $((SECONDS - start)) s" >&2
    fi
    exec 9>&-
    # shellcheck disable=SC2034  # read by the scripts that source this file
    PLOT_PYTHON="$venv/bin/python"
}

_plot_make_venv() {  # _plot_make_venv PYTHON VENV
    local python=$1 venv=$2
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2 && return 0
    rm -rf "$venv"
    # Debian splits venv/ensurepip into the python3-venv package.
    if "$python" -c 'import ensurepip' >/dev/null 2>&1; then
        echo "plot: error: '$python -m venv $venv' failed" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "plot: error: Python's venv module is unusable; install it with: sudo apt-get install -y python3-venv" >&2
        return 1
    fi
    echo "plot: python3-venv is missing; installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q python3-venv >&2; then
        apt-get update -q >&2
        apt-get install -y -q python3-venv >&2 || return 1
    fi
    "$python" -m venv "$venv" >&2 && return 0
    rm -rf "$venv"
    echo "plot: error: '$python -m venv $venv' still fails after installing python3-venv" >&2
    return 1
}
