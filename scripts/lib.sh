# shellcheck shell=bash
# Helpers shared by demo.sh and load.sh. Source it; it only defines things.
#
# Every server goes through start_server, which records its PID, so that
# stop_servers (run from the scripts' EXIT trap) can end each one by PID.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER_PIDS=()

# die prints one line on stderr and exits non-zero; the EXIT trap cleans up.
die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

# require_tools exits with a clear message when a command is missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed but was not found in PATH"
  done
}

# port_in_use succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  local port=$1
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# require_free_port refuses a port that is not a number or is already taken.
require_free_port() {
  local port=$1
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "PORT must be a number from 1 to 65535, got '$port'"
  fi
  if port_in_use "$port"; then
    die "port $port on 127.0.0.1 is busy; stop what uses it or set PORT to a free one"
  fi
}

# build_examples DIR NAME... builds each example into DIR/NAME. We run the
# binaries rather than `go run`: a signal sent to `go run` reaches the go
# tool, which dies and leaves the real server running, unsignalled.
build_examples() {
  local dir=$1 name
  shift
  for name in "$@"; do
    (cd "$REPO_ROOT" && go build -o "$dir/$name" "./$name") || die "could not build ./$name"
  done
}

# start_server LOG COMMAND... starts a server in the background, its output
# in LOG, and sets SERVER_PID. Run with `set -m` on, so that the server gets
# its own process group and does not inherit "ignore SIGINT", which bash
# gives background jobs of a non-interactive script.
start_server() {
  local log=$1
  shift
  GIN_MODE=release "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
}

# wait_for_port PORT PID LOG waits (10 s at most) until the server accepts
# connections; if the server exits or never listens, it shows why and dies.
wait_for_port() {
  local port=$1 pid=$2 log=$3 tries
  for ((tries = 0; tries < 100; tries++)); do
    port_in_use "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      die "the server exited before listening on port $port: $(tail -n 1 "$log")"
    fi
    sleep 0.1
  done
  die "the server did not listen on port $port within 10 s"
}

# stop_servers kills, by PID, every server this script started and is still running.
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}
