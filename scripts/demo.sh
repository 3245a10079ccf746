#!/usr/bin/env bash
# demo.sh: the graceful-shutdown lesson, live, step by step. See
# scripts/demo/main.go, a tool of go.mod: `go tool -n` builds it once into
# Go's build cache and prints its path, and exec runs it, so that Ctrl+C
# and kill reach the demo itself (not a go command in between).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trap 'exit 130' INT && trap 'exit 143' TERM
driver=$(go -C "$root" tool -n demo) || exit 2
LAB_REPO_ROOT=$root exec "$driver" "$@"
