#!/usr/bin/env bash
# demo.sh: the graceful-shutdown lesson, live. The demo is scripts/demo/main.go;
# this builds it and execs it, so that Ctrl+C and kill reach the demo itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(mktemp -d "${TMPDIR:-/tmp}/lab-demo.XXXXXX")
go build -o "$bin/demo" ./scripts/demo || { rm -rf "$bin"; exit 2; }
LAB_DRIVER_DIR=$bin exec "$bin/demo" "$@"
