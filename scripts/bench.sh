#!/usr/bin/env bash
# bench.sh: what a graceful shutdown costs, 02 and 03 over several runs, as
# a Markdown table of medians. See scripts/bench/main.go, which driver.sh
# builds and runs.
exec "$(dirname "${BASH_SOURCE[0]}")/driver.sh" bench "$@"
