#!/usr/bin/env bash
# grade.sh EXERCISE [DIR]: grades a fixed copy of an exercise (PASS or FAIL
# with the reason). See scripts/grade/main.go, which driver.sh builds and
# runs.
exec "$(dirname "${BASH_SOURCE[0]}")/driver.sh" grade "$@"
