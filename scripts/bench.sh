#!/usr/bin/env bash
# bench.sh: what a graceful shutdown costs, 02 and 03 over several runs, as
# a Markdown table of medians. See scripts/bench/main.go; it is built and
# run as demo.sh's driver is.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trap 'exit 130' INT && trap 'exit 143' TERM
driver=$(go -C "$root" tool -n bench) || exit 2
LAB_REPO_ROOT=$root exec "$driver" "$@"
