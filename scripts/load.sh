#!/usr/bin/env bash
# load.sh SUBCOMMAND: the lessons under load, side by side: stop (SIGTERM
# mid-run), upgrade (a new version), arrival (clients that keep arriving),
# rolling (a rolling restart behind HAProxy). See scripts/load/main.go.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/lab-load.XXXXXX")
trap 'rm -rf "$bin"' EXIT # until exec: then the driver removes it
trap 'exit 130' INT && trap 'exit 143' TERM
GOTMPDIR=$bin go build -C "$root" -o "$bin/load" ./scripts/load || exit 2
LAB_REPO_ROOT=$root LAB_DRIVER_DIR=$bin exec "$bin/load" "$@"
