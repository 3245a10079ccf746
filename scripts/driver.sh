#!/usr/bin/env bash
# driver.sh NAME [ARGS...]: what demo.sh, load.sh, grade.sh and bench.sh
# run. It builds their Go driver, scripts/NAME, and execs it, so that
# Ctrl+C and kill reach the driver itself. The build goes to a folder kept
# between runs, one per checkout, where go build links again only what
# changed; the go command's temporary folder is beside it, so a new build
# replaces the old with one rename, never a half-written file, even while
# another run of it is starting.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=$1
shift
key=$(printf %s "$root" | cksum)
bin=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/graceful-shutdown-lab/drivers-${key%% *}
trap 'exit 130' INT && trap 'exit 143' TERM
mkdir -p "$bin"
GOTMPDIR=$bin go build -C "$root" -o "$bin/$name" "./scripts/$name" || exit 2
LAB_REPO_ROOT=$root exec "$bin/$name" "$@"
