# shellcheck shell=bash
# Helpers shared by demo.sh and load.sh (and bench.sh, which sources
# load.sh). Source it; it only defines things. demo.sh alone uses
# stamp_lines, wait_server_exit and wait_port_closed; the rest serves both.
#
# Every server goes through start_server, which records its PID, so that
# stop_servers (run from the scripts' EXIT trap) can end each one by PID;
# a successor that a server starts itself is found through watch_successors.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER_PIDS=()

# die prints one line on stderr and exits non-zero (DIE_STATUS, default 1);
# the EXIT trap cleans up.
die() {
  echo "${0##*/}: $*" >&2
  exit "${DIE_STATUS:-1}"
}

# require_tools exits with a clear message when a command is missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is needed but was not found in PATH"
  done
}

# port_in_use succeeds when something accepts TCP connections on 127.0.0.1:PORT.
# The connect gets 1 s: a listener whose accept queue is full drops the SYN,
# and an unbounded connect would retry for minutes; such a port counts as in
# use. (--foreground: timeout stays in our process group, so Ctrl+C and the
# cleanup reach it.)
port_in_use() {
  local port=$1 rc=0
  # shellcheck disable=SC2016 # $1 is for the inner bash
  timeout --foreground 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null || rc=$?
  ((rc == 0 || rc == 124))
}

# require_free_port refuses a port that is not a number or is already taken.
require_free_port() {
  local port=$1
  # Decimal only: bash would read 08080 as (bad) octal, 0100 as 64.
  if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || ((10#$port > 65535)); then
    die "PORT must be a number from 1 to 65535, got '$port'"
  fi
  if port_in_use "$port"; then
    die "port $port on 127.0.0.1 is busy; stop what uses it or set PORT to a free one"
  fi
}

# build_examples DIR NAME... builds each example into DIR/NAME. We run the
# binaries rather than `go run`: a signal sent to `go run` reaches the go
# tool, which dies and leaves the real server running, unsignalled.
#
# The go tool's own temporary folder goes in DIR too (GOTMPDIR): a Ctrl+C
# mid-build leaves it behind, and DIR is the scripts' to remove.
build_examples() {
  local dir=$1 name
  shift
  mkdir -p "$dir"
  for name in "$@"; do
    (cd "$REPO_ROOT" && GOTMPDIR=$dir go build -o "$dir/$name" "./$name") || die "could not build ./$name"
  done
}

# build_version OUT NAME VERSION builds ./NAME into OUT with its version
# variable (main.version) set to VERSION, as 04-zero-downtime reports it.
build_version() {
  local out=$1 name=$2 version=$3
  mkdir -p "$(dirname "$out")"
  (cd "$REPO_ROOT" && GOTMPDIR=$(dirname "$out") go build -ldflags "-X main.version=$version" -o "$out" "./$name") ||
    die "could not build ./$name ($version)"
}

# start_server LOG COMMAND... starts a server in the background, its output
# in LOG, and sets SERVER_PID. Job control (`set -m`) is on while it starts,
# so that the server gets its own process group and does not inherit "ignore
# SIGINT", which bash gives background jobs of a non-interactive script; it
# is off again at once, so that a Ctrl+C still reaches the script's trap
# (and bash prints no job notices later).
start_server() {
  local log=$1
  shift
  set -m
  GIN_MODE=release "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  set +m
  SERVER_PIDS+=("$SERVER_PID")
}

# wait_for_port PORT PID LOG [STEP_MS] waits (10 s at most) until the server
# accepts connections, looking every STEP_MS milliseconds (1 to 999, default
# 100); if the server exits or never listens, it shows why and dies.
wait_for_port() {
  local port=$1 pid=$2 log=$3 step=${4:-100} pause tries
  printf -v pause '0.%03d' "$step"
  for ((tries = 0; tries < 10000 / step; tries++)); do
    port_in_use "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      server_last_line "$log"
      die "the server exited before listening on port $port: $REPLY"
    fi
    sleep "$pause"
  done
  die "the server did not listen on port $port within 10 s"
}

# server_last_line LOG sets REPLY to the last line the server wrote in LOG,
# a raw log or one written by stamp_lines: from that, the stamp and the EOF
# marker are dropped, once the EOF marker is there (1 s at most: the reader
# may lag behind a server that has just exited).
server_last_line() {
  local log=$1 stamp='^[0-9]{16} ' tries
  REPLY=$(head -n 1 "$log" 2>/dev/null) || REPLY=''
  if [[ $REPLY =~ $stamp ]]; then
    for ((tries = 0; tries < 20; tries++)); do
      [[ $(tail -n 1 "$log") =~ ${stamp}EOF$ ]] && break
      sleep 0.05
    done
    REPLY=$(grep -vE "${stamp}EOF$" "$log" | tail -n 1)
    REPLY=${REPLY#* }
  else
    REPLY=$(tail -n 1 "$log" 2>/dev/null) || REPLY=''
  fi
  REPLY=${REPLY:-(no output)}
}

# forget_pid ARRAY PID drops PID, a process that has exited (and was
# reaped), from the array named ARRAY (SERVER_PIDS, say), so that the
# cleanup never signals a PID the system reused.
forget_pid() {
  local -n forget_list=$1
  local forget_gone=$2 forget_one forget_kept=()
  for forget_one in "${forget_list[@]}"; do
    [[ $forget_one == "$forget_gone" ]] || forget_kept+=("$forget_one")
  done
  forget_list=("${forget_kept[@]}")
}

# wait_server_exit PID SECONDS waits until the server exits, sets
# SERVER_STATUS to its exit status (128+N when signal N killed it) and
# forgets it. It dies if the server still runs after SECONDS.
# shellcheck disable=SC2034 # SERVER_STATUS is read by the caller
wait_server_exit() {
  local pid=$1 seconds=$2 tries
  for ((tries = 0; tries < seconds * 20; tries++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && die "the server (PID $pid) did not exit within $seconds s"
  SERVER_STATUS=0
  wait "$pid" || SERVER_STATUS=$?
  forget_pid SERVER_PIDS "$pid"
}

# now_us [VAR] sets VAR (default REPLY) to the time in microseconds since
# the epoch, without forking: it costs microseconds, not a millisecond like
# $(date) (bash 5's EPOCHREALTIME; its decimal point follows the locale).
# shellcheck disable=SC2120 # VAR is optional; demo.sh uses REPLY
now_us() {
  printf -v "${1:-REPLY}" '%s' "${EPOCHREALTIME/[.,]/}"
}

# secs US sets REPLY to US microseconds as seconds with two decimals
# (1234567 -> 1.23; below 0 -> 0.00).
secs() {
  local us=$1
  ((us >= 0)) || us=0
  printf -v REPLY '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
}

# stamp_lines copies stdin to stdout, each line prefixed with now_us, so
# that a server's log gets sub-second times; at EOF (the server exited)
# it writes one last line: "<time> EOF".
stamp_lines() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    now_us
    printf '%s %s\n' "$REPLY" "$line"
  done
  now_us
  printf '%s EOF\n' "$REPLY"
}

# wait_for_log LOG REGEX COUNT PID SECONDS waits until COUNT lines of LOG
# match the extended REGEX. It dies if the server PID exits first or if
# SECONDS pass: synchronise on what the server says, never on a bare sleep.
wait_for_log() {
  local log=$1 regex=$2 count=$3 pid=$4 seconds=$5 tries seen=0
  for ((tries = 0; tries < seconds * 20; tries++)); do
    seen=$(grep -cE -- "$regex" "$log" 2>/dev/null) || seen=0
    ((seen >= count)) && return 0
    kill -0 "$pid" 2>/dev/null || die "the server exited while we waited for $count x '$regex' in its log (saw $seen)"
    sleep 0.05
  done
  die "the server log showed $seen of $count x '$regex' within $seconds s"
}

# wait_port_closed PORT SECONDS waits until 127.0.0.1:PORT refuses
# connections (the listener is closed); it dies if SECONDS pass first.
wait_port_closed() {
  local port=$1 seconds=$2 tries
  for ((tries = 0; tries < seconds * 20; tries++)); do
    port_in_use "$port" || return 0
    sleep 0.05
  done
  die "port $port still accepts connections after $seconds s"
}

# A server that upgrades itself in place (04-zero-downtime, on SIGHUP)
# starts its successor as its own child. The successor outlives it
# (reparented: it is not this script's child) and start_server never saw
# it. watch_successors PGID PIDFILE records where to find it: the PID file,
# which the serving process rewrites once it is ready, and the process group
# of the first server (its PID: start_server runs under set -m), which every
# successor inherits and which also catches one that has not written its PID
# yet. stop_servers ends both; unwatch_successors once they are known gone.
SUCCESSOR_GROUPS=()
SUCCESSOR_PIDFILES=()

watch_successors() {
  SUCCESSOR_GROUPS+=("$1")
  SUCCESSOR_PIDFILES+=("$2")
}

unwatch_successors() {
  SUCCESSOR_GROUPS=()
  SUCCESSOR_PIDFILES=()
}

# read_pidfile FILE sets REPLY to the PID in FILE, or empty when there is
# none (yet). The file may lack a final newline.
read_pidfile() {
  REPLY=''
  [[ -r $1 ]] || return 0
  read -r REPLY <"$1" 2>/dev/null || true
  [[ $REPLY =~ ^[0-9]+$ ]] || REPLY=''
}

# pid_running PID succeeds while PID is a live process. kill -0 alone also
# succeeds for a zombie, and a successor's zombie may stay one for good
# where PID 1 does not reap orphans (in some containers).
pid_running() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  [[ -r /proc/$1/stat ]] || return 0
  read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
  [[ ${stat##*') '} != Z* ]]
}

# wait_pid_gone PID SECONDS waits until PID is no longer running, for a
# process that is not our child (wait cannot be used); it fails if SECONDS
# pass first.
wait_pid_gone() {
  local pid=$1 seconds=$2 tries
  for ((tries = 0; tries < seconds * 20; tries++)); do
    pid_running "$pid" || return 0
    sleep 0.05
  done
  ! pid_running "$pid"
}

# stop_servers kills, by PID, every server this script started and is still
# running, and every successor it watches (see watch_successors).
# A successor is not our child, so wait cannot tell when it is gone: poll,
# briefly, so that nothing is left running once the script has exited.
stop_servers() {
  local pid file successors=()
  for file in "${SUCCESSOR_PIDFILES[@]}"; do
    read_pidfile "$file"
    [[ -z $REPLY ]] || successors+=("$REPLY")
  done
  for pid in "${successors[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${SUCCESSOR_GROUPS[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${successors[@]}"; do
    wait_pid_gone "$pid" 2 || true
  done
  SERVER_PIDS=()
  unwatch_successors
}
