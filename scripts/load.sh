#!/usr/bin/env bash
# load.sh SUBCOMMAND: the lessons under load, side by side: stop (SIGTERM
# mid-run), upgrade (a new version), arrival (clients that keep arriving),
# rolling (a rolling restart behind HAProxy). See scripts/load/main.go,
# which driver.sh builds and runs.
exec "$(dirname "${BASH_SOURCE[0]}")/driver.sh" load "$@"
