#!/usr/bin/env bash
# demo.sh: the graceful-shutdown lesson, live, step by step. See
# scripts/demo/main.go; this builds it and execs it, so that Ctrl+C and
# kill reach the demo itself.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/lab-demo.XXXXXX")
trap 'rm -rf "$bin"' EXIT # until exec: then the driver removes it
trap 'exit 130' INT && trap 'exit 143' TERM
GOTMPDIR=$bin go build -C "$root" -o "$bin/demo" ./scripts/demo || exit 2
LAB_REPO_ROOT=$root LAB_DRIVER_DIR=$bin exec "$bin/demo" "$@"
