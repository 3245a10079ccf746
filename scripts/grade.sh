#!/usr/bin/env bash
# grade.sh EXERCISE [DIR]: grades a fixed copy of an exercise (PASS or FAIL
# with the reason). See scripts/grade/main.go; it is built and run as
# demo.sh's driver is.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trap 'exit 130' INT && trap 'exit 143' TERM
driver=$(go -C "$root" tool -n grade) || exit 2
LAB_REPO_ROOT=$root exec "$driver" "$@"
