#!/usr/bin/env bash
# Sets up mcpi on a fresh Debian machine and runs the main job.
#
#   scripts/run.sh                      installs what is missing, builds, installs
#                                       `mcpi`, runs `mpirun -n <cores+1> mcpi --mode balanced`
#   NP=3 scripts/run.sh --samples 1e9   other rank count; arguments go to mcpi
#
# Missing system packages are installed with apt when run as root; otherwise the
# exact apt command is printed. It runs from the repository root, so results
# land in its results/ (and a relative --output is relative to it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bootstrap.sh

bootstrap
echo "==> building mcpi (release)"
cargo build --release --locked
echo "==> installing mcpi into ${CARGO_HOME:-$HOME/.cargo}/bin"
cargo install --path . --locked --force --quiet
# The binary just installed, not an older one earlier on PATH.
MCPI="${CARGO_HOME:-$HOME/.cargo}/bin/mcpi"

# One controller plus one engine per core.
NP="${NP:-$(($(nproc) + 1))}"
mpirun_cmd "$NP"
echo "==> ${MPIRUN[*]} mcpi --mode balanced $*"
exec "${MPIRUN[@]}" "$MCPI" --mode balanced "$@"
