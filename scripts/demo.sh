#!/usr/bin/env bash
# demo.sh: the graceful-shutdown lesson, live, step by step. See
# scripts/demo/main.go, which driver.sh builds and runs.
exec "$(dirname "${BASH_SOURCE[0]}")/driver.sh" demo "$@"
