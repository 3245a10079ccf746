#!/usr/bin/env bash
# bench.sh: what a graceful shutdown costs, 02 and 03 over several runs, as
# a Markdown table of medians. See scripts/bench/main.go.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/lab-bench.XXXXXX")
trap 'rm -rf "$bin"' EXIT # until exec: then the driver removes it
trap 'exit 130' INT && trap 'exit 143' TERM
GOTMPDIR=$bin go build -C "$root" -o "$bin/bench" ./scripts/bench || exit 2
LAB_REPO_ROOT=$root LAB_DRIVER_DIR=$bin exec "$bin/bench" "$@"
