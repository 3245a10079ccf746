#!/usr/bin/env bash
# load.sh: the lessons under load, side by side: SIGTERM mid-run, a new
# version (--upgrade), clients that keep arriving (--arrival), a rolling
# restart behind HAProxy (--rolling). See scripts/load/main.go.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/lab-load.XXXXXX")
trap 'rm -rf "$bin"' EXIT # until exec: then the driver removes it
trap 'exit 130' INT && trap 'exit 143' TERM
GOTMPDIR=$bin go build -C "$root" -o "$bin/load" ./scripts/load || exit 2
LAB_REPO_ROOT=$root LAB_DRIVER_DIR=$bin exec "$bin/load" "$@"
