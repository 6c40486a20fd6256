# shellcheck shell=bash
# Shared set-up for scripts/run.sh and scripts/test.sh: makes sure the system
# packages mcpi builds and runs with are there, and knows how to call mpirun.
# Sourced, not executed.

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

# mpirun_cmd NP: the mpirun command line for NP ranks, for MPICH or Open MPI
# (Open MPI refuses root and more ranks than cores unless told).
mpirun_cmd() {
    local np=$1
    MPIRUN=(mpirun)
    if mpirun --version 2>/dev/null | grep -q 'Open MPI'; then
        MPIRUN+=(--oversubscribe)
        if [ "$(id -u)" -eq 0 ]; then
            export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        fi
    fi
    MPIRUN+=(-n "$np")
}
