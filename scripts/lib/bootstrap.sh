# shellcheck shell=bash
# Shared set-up for scripts/run.sh and scripts/test.sh: makes sure the system
# packages mcpi builds and runs with are there (for the tests, Open MPI beside
# MPICH) and selects an MPI implementation by path. How to call mpirun
# (mpirun_cmd) comes from launch.sh beside this file. Sourced, not executed.

# shellcheck source=scripts/lib/launch.sh
source "$(dirname "${BASH_SOURCE[0]}")/launch.sh"

# System packages: an MPI (MPICH unless an MPI compiler wrapper is already
# installed, e.g. Open MPI's), HDF5 with its tools, libclang for bindgen, and
# pkg-config.
mcpi_packages() {
    local pkgs=(libhdf5-dev hdf5-tools libclang-dev pkg-config)
    command -v mpicc >/dev/null 2>&1 || pkgs+=(mpich libmpich-dev)
    printf '%s\n' "${pkgs[@]}"
}

# ensure_packages PKG...: installs the missing ones with apt when root,
# otherwise prints the exact command and fails.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "mcpi needs these system packages; install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "==> installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# bootstrap: packages plus a Rust toolchain check.
bootstrap() {
    local pkgs
    mapfile -t pkgs < <(mcpi_packages)
    ensure_packages "${pkgs[@]}"
    if ! command -v cargo >/dev/null 2>&1; then
        echo "mcpi needs a Rust toolchain (cargo); see https://rustup.rs" >&2
        return 1
    fi
}

# The value an alternative (mpi = mpicc and friends, mpirun) points to, or "".
alternative_value() {
    update-alternatives --query "$1" 2>/dev/null | sed -n 's/^Value: //p'
}

# Keep MPICH the system's default MPI: installing Open MPI would switch the
# `mpi` (mpicc) and `mpirun` alternatives to it (its priority is higher).
pin_mpich() {
    [ -x /usr/bin/mpicc.mpich ] && [ -e /usr/bin/mpirun.mpich ] || return 0
    update-alternatives --set mpi /usr/bin/mpicc.mpich >/dev/null
    update-alternatives --set mpirun /usr/bin/mpirun.mpich >/dev/null
    if [ "$(alternative_value mpi)" != /usr/bin/mpicc.mpich ] ||
        [ "$(alternative_value mpirun)" != /usr/bin/mpirun.mpich ]; then
        echo "could not keep MPICH the default MPI (update-alternatives --query mpi / mpirun)" >&2
        return 1
    fi
}

# ensure_open_mpi: as root, installs Open MPI (openmpi-bin libopenmpi-dev) next
# to MPICH so that scripts/test.sh runs against both, and leaves MPICH the
# default that a plain `cargo build` and `mpirun` use. The scripts select an
# implementation by path (mpicc.openmpi, mpirun.openmpi: see mpi_select), never
# by changing the alternatives. Not root: nothing happens.
ensure_open_mpi() {
    local pkg absent=0
    for pkg in openmpi-bin libopenmpi-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            absent=1
    done
    [ "$absent" -eq 1 ] && [ "$(id -u)" -eq 0 ] || return 0
    pin_mpich
    ensure_packages openmpi-bin libopenmpi-dev
    pin_mpich
}

# mpi_installed: the MPI implementations installed side by side, one per line
# (mpich, openmpi), found by their suffixed Debian commands.
mpi_installed() {
    local impl
    for impl in mpich openmpi; do
        if command -v "mpicc.$impl" >/dev/null 2>&1 && command -v "mpirun.$impl" >/dev/null 2>&1; then
            echo "$impl"
        fi
    done
}

# mpi_select IMPL: builds and runs against IMPL (mpich or openmpi) from here on:
# MPICC for rsmpi's build probe, MCPI_MPIRUN for the tests and mpirun_cmd, and a
# target directory of its own (the build probe does not rerun when MPICC
# changes). MPICH keeps the default target/ when it is the default mpicc.
mpi_select() {
    local impl=$1
    export MPICC="mpicc.$impl" MCPI_MPIRUN="mpirun.$impl"
    if [ "$impl" = mpich ] && mpicc -show 2>/dev/null | grep -q mpich; then
        export CARGO_TARGET_DIR="$PWD/target"
    else
        export CARGO_TARGET_DIR="$PWD/target/$impl"
    fi
}
