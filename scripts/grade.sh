#!/usr/bin/env bash
# grade.sh EXERCISE [DIR]: grades a fixed copy of an exercise (PASS or FAIL
# with the reason). See scripts/grade/main.go; this builds it and execs it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/lab-grade.XXXXXX")
trap 'rm -rf "$bin"' EXIT
GOTMPDIR=$bin go build -C "$root" -o "$bin/grade" ./scripts/grade || exit 2
LAB_REPO_ROOT=$root "$bin/grade" "$@"
