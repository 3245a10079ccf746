#!/usr/bin/env bash
# load.sh SUBCOMMAND: the lessons under load, side by side: stop (SIGTERM
# mid-run), upgrade (a new version), arrival (clients that keep arriving),
# rolling (a rolling restart behind HAProxy). See scripts/load/main.go; it
# is built and run as demo.sh's driver is.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trap 'exit 130' INT && trap 'exit 143' TERM
driver=$(go -C "$root" tool -n load) || exit 2
LAB_REPO_ROOT=$root exec "$driver" "$@"
