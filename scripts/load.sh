#!/usr/bin/env bash
# load.sh puts each example under load, sends it SIGTERM halfway through, and
# shows side by side what the load generator (hey) saw: the answers it got,
# and its errors sorted into refused / cut / timeout / other.
#
#   refused  the listener was already closed: harmless, a client can retry
#   cut      the server accepted the request, then dropped it: data loss
#
# The lesson: 01-basic cuts the requests it was serving; 02-graceful and
# 03-workers answer every request they accepted, and only refuse new ones.
#
# With --upgrade it compares two ways to put a new version in place under the
# same load: 02-graceful stopped (SIGTERM) and started again, which refuses
# clients until the new process listens, and 04-zero-downtime upgraded in
# place (v2 moved over its binary, then SIGHUP), which refuses none.
#
# The script exits non-zero, naming the mismatch, when the numbers disagree.
#
# bench.sh sources this file for its functions; main only runs when the file
# is executed.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Errors that stop the run before it can judge anything exit 2, so that 1
# always means "the results contradict the lesson" (bench.sh inherits it).
DIE_STATUS=2

ALL_PROGRAMS=(01-basic 02-graceful 03-workers)
UPGRADE_PROGRAMS=(02-graceful 04-zero-downtime) # the columns of --upgrade

usage() {
  cat <<EOF
Usage: ${0##*/} [--fast] [-c N] [-z DURATION] [PROGRAM...]
       ${0##*/} --upgrade [--fast] [-c N] [-z DURATION]

Runs hey against GET / of each PROGRAM (default: ${ALL_PROGRAMS[*]}),
sends the server SIGTERM in the middle of the run, and prints what hey saw.

With --upgrade, the same load meets a new version put in place mid-run:
02-graceful is stopped (SIGTERM), and once it has exited a new 02-graceful
starts on the same port; 04-zero-downtime gets a v2 build moved over its
binary, then SIGHUP, and hands its socket over. Expected: 02 refuses some
requests (nothing listens in between), 04 none; neither cuts any.

  -c N          concurrent clients (hey -c), 1 to 1000; default 50
  -z DURATION   how long hey runs (hey -z), 1s to 60s, like 3s or 1500ms,
                and 3 times GET /'s delay at least; default 4s, 2s with --fast.
                With --upgrade, 4 times the delay at least (4s, 1200ms with
                --fast): the signal goes after half of -z, the old process
                may take a delay to drain, and the new one must still get
                requests before hey stops. If hey stops first all the same,
                that is a setup error (exit 2): use a longer -z
  --fast        GET / takes 300ms instead of 1s, and the default -z is 2s
  --upgrade     compare 02-graceful and 04-zero-downtime as above (no PROGRAM)
  -h, --help    show this help

Environment: PORT (default 8080) is the port on 127.0.0.1 the servers use.
Exit status: 0 the results match the lesson; 1 they do not (the lines
after the table name each mismatch); 2 it could not run (bad option, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
EOF
}

# ---------------------------------------------------------------------------
# Small helpers (bench.sh uses them too)
# ---------------------------------------------------------------------------

# require_bash_51 stops early on an old bash: we need `wait -n -p` (5.1) and
# EPOCHREALTIME (5.0). macOS ships bash 3.2; `brew install bash` fixes that.
require_bash_51() {
  if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    die "needs bash 5.1 or newer, this is $BASH_VERSION"
  fi
}

# sleep_us N sleeps N microseconds (nothing when N <= 0).
sleep_us() {
  local us=$1
  ((us > 0)) || return 0
  sleep "$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))"
}

# duration_us turns a Go-style duration with one unit (300ms, 2s, 1.5s, 1m)
# into microseconds; it fails on anything else.
duration_us() {
  local text=$1 int frac unit scaled
  [[ $text =~ ^([0-9]+)(\.([0-9]{1,6}))?(ms|s|m)$ ]] || return 1
  int=${BASH_REMATCH[1]} frac=${BASH_REMATCH[3]}000000 unit=${BASH_REMATCH[4]}
  scaled=$((10#$int * 1000000 + 10#${frac:0:6})) # in millionths of the unit
  case $unit in
    ms) echo $((scaled / 1000)) ;;
    s) echo "$scaled" ;;
    m) echo $((scaled * 60)) ;;
  esac
}

# ---------------------------------------------------------------------------
# Processes: every one we start is recorded, so cleanup can end it by PID
# ---------------------------------------------------------------------------

HEY=""       # path of the hey binary, set by load_prepare
HEY_PID=""   # the hey run in progress, if any
HEY_TIMEOUT_S=10 # hey -t: no request waits longer (see launch_hey)
GUARD_PID="" # the watchdog `sleep` of wait_exit, if any
LOAD_DIR=""  # temp dir: binaries, logs, hey's output

# load_prepare DIR PROGRAM... builds hey and the examples into DIR.
# We build hey once instead of calling `go tool hey` each time: `go tool`
# would re-check the build on every run, and $! would be the PID of the go
# command rather than of hey, so cleanup could not stop hey by its PID
# (lib.sh builds the servers for the same reason).
load_prepare() {
  local dir=$1
  shift
  LOAD_DIR=$dir
  HEY=$dir/hey
  mkdir -p "$dir"
  # GOTMPDIR: go's own temp folder goes in DIR too, as in build_examples.
  (cd "$REPO_ROOT" && GOTMPDIR=$dir go build -o "$HEY" github.com/rakyll/hey) || die "could not build hey"
  build_examples "$dir" "$@"
}

# load_cleanup ends, by PID, whatever is still running, and removes the
# temp dir. The scripts run it from their EXIT trap.
load_cleanup() {
  # A child that bash has just forked (say for `sleep`) runs our traps until
  # it execs; if a signal lands in that instant, it would clean up too, and
  # kill hey or delete the temp dir under our feet. Only the script cleans up.
  [[ $BASHPID == "$$" ]] || return 0
  local pid killed=("${SERVER_PIDS[@]}" "$HEY_PID" "$GUARD_PID")
  trap '' INT TERM # a second Ctrl+C must not cut the cleanup short
  # Quietly: bash would print a "Killed" line for each process it reaps.
  {
    stop_servers
    for pid in "${killed[@]}"; do
      [[ -n $pid ]] || continue
      kill -KILL "$pid"
      wait "$pid"
    done
  } 2>/dev/null || true
  HEY_PID="" GUARD_PID=""
  [[ -z $LOAD_DIR ]] || rm -rf "$LOAD_DIR"
  LOAD_DIR=""
}

# load_traps sets the traps of load.sh and bench.sh: load_cleanup on exit,
# and the exit statuses of SIGINT and SIGTERM.
load_traps() {
  trap load_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# start_example NAME DELAY PORT [ARG...] starts the example NAME (the binary
# $LOAD_DIR/NAME) on 127.0.0.1:PORT, GET / taking DELAY, ARGs as more flags,
# its output in $LOAD_DIR/NAME.log, and sets SERVER_PID and SERVER_LOG. It
# does not wait for the server to listen.
start_example() {
  local name=$1 delay=$2 port=$3
  shift 3
  require_free_port "$port"
  SERVER_LOG=$LOAD_DIR/$name.log
  start_server "$SERVER_LOG" "$LOAD_DIR/$name" -addr "127.0.0.1:$port" -delay "$delay" "$@"
}

# launch_server NAME DELAY PORT [ARG...] is start_example, then waits until
# the server listens.
launch_server() {
  start_example "$@"
  wait_for_port "$3" "$SERVER_PID" "$SERVER_LOG"
}

# launch_hey OUT ARG... starts hey in the background, its report in OUT, and
# sets HEY_PID.
#   -d x   sends a 1-byte body. Without a body a GET is "replayable", and Go's
#          client quietly resends it on a new connection when a reused
#          keep-alive connection dies before the answer: 01-basic's cut
#          requests would then show up as "connection refused" (the resend's
#          error), never as cut. With a body, hey reports what really happened.
#   -q 20  at most 20 requests a second per client. A served request takes
#          300ms or more, so this never slows them down; it stops hey from
#          firing ~25,000 refused connections a second at a dead port, which
#          would starve a small machine.
#   -t 10  no request waits more than 10 s (it would count as a timeout).
launch_hey() {
  local out=$1
  shift
  set -m
  "$HEY" -d x -q 20 -t "$HEY_TIMEOUT_S" "$@" >"$out" 2>&1 &
  HEY_PID=$!
  set +m
}

# wait_exit PID LIMIT_S waits until the process PID (a child of this shell)
# exits, LIMIT_S seconds at most, then SIGKILLs it. It sets WAIT_RC (its exit
# status, 128+N when killed by signal N), WAIT_US (when it ended, see now_us) and
# WAIT_HUNG (1 when we had to kill it).
wait_exit() {
  local pid=$1 limit=$2 which=""
  WAIT_RC=0 WAIT_HUNG=0
  sleep "$limit" &
  GUARD_PID=$!
  wait -n -p which "$pid" "$GUARD_PID" 2>/dev/null || WAIT_RC=$?
  now_us WAIT_US
  if [[ $which == "$GUARD_PID" ]]; then
    WAIT_HUNG=1 WAIT_RC=0
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || WAIT_RC=$?
  else
    # SIGKILL, not SIGTERM: the guard may not have become `sleep` yet, and
    # until then it is a copy of this script, which traps SIGTERM.
    kill -KILL "$GUARD_PID" 2>/dev/null || true
    wait "$GUARD_PID" 2>/dev/null || true
  fi
  GUARD_PID=""
}

# exit_text RC HUNG prints how a process ended: "exit 0", "exit 1",
# "SIGTERM" (killed by that signal), or "hung, killed".
exit_text() {
  local rc=$1 hung=$2
  if ((hung)); then
    echo "hung, killed"
  elif ((rc > 128)); then
    echo "SIG$(kill -l $((rc - 128)))"
  else
    echo "exit $rc"
  fi
}

# request_counts LOG prints "STARTED FINISHED": how many GET / entered the
# handler ("GET / started" lines) and how many were answered (gin's logger
# writes its "[GIN]" line as the answer goes out).
request_counts() {
  awk '/GET \/ started/ { s++ } /^\[GIN\]/ { f++ } END { print s + 0, f + 0 }' "$1"
}

# wait_started LOG N waits (10 s at most) until N requests have reached the
# handler.
wait_started() {
  local log=$1 want=$2 started finished tries
  for ((tries = 0; tries < 500; tries++)); do
    read -r started finished <<<"$(request_counts "$log")"
    ((started >= want)) && return 0
    sleep 0.02
  done
  die "only $started of $want requests reached the handler within 10 s"
}

# wait_all_in_flight LOG N waits (10 s at most) until, after an answer went
# out, all N clients have their next request inside the handler, and two
# looks 20 ms apart agree (no answer in between). hey's clients move in
# step (same start, same delay): answers go out in bursts a delay apart,
# and this is the quiet part between two bursts, with no answer due soon
# and no keep-alive connection idle between two requests.
#
# Why that matters: a SIGTERM that lands inside a burst would hit Go's
# keep-alive race. Shutdown closes idle connections, and drops a request
# that reaches one after it started (net/http's serve loop returns without
# answering); Go's client resends such a request only when it is
# replayable, which ours are not (see launch_hey). That loss is real, but
# it is another lesson than "02 finishes what it accepted".
wait_all_in_flight() {
  local log=$1 want=$2 started finished first="" previous=-1 tries
  for ((tries = 0; tries < 500; tries++)); do
    read -r started finished <<<"$(request_counts "$log")"
    if [[ -z $first ]]; then
      first=$finished
    elif ((finished > first && started - finished >= want && finished == previous)); then
      return 0
    fi
    if ((started - finished >= want)); then previous=$finished; else previous=-1; fi
    sleep 0.02
  done
  die "the clients were never all in flight at once within 10 s ($((started - finished)) of $want)"
}

# ---------------------------------------------------------------------------
# Reading hey's report
# ---------------------------------------------------------------------------

# classify_hey FILE reads hey's summary and prints one "KEY VALUE" line each:
#   status CODE COUNT    one per HTTP status received
#   refused|cut|timeout|other COUNT
#   other_text [COUNT] TEXT   each error text counted as "other"
# hey keys its errors by their full text, ephemeral ports included, so the
# ports are stripped first and equal texts added up. Rules, first match wins:
#   refused  "connection refused"
#   cut      "EOF", "connection reset by peer", "broken pipe",
#            "server closed idle connection"
#   timeout  "Client.Timeout exceeded", "deadline exceeded", "i/o timeout"
#   other    anything else
classify_hey() {
  awk '
    function strip_ports(s,   out, hostport) {
      out = ""
      while (match(s, /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+/)) {
        hostport = substr(s, RSTART, RLENGTH)
        sub(/:[0-9]+$/, "", hostport)
        out = out substr(s, 1, RSTART - 1) hostport
        s = substr(s, RSTART + RLENGTH)
      }
      return out s
    }
    function class_of(e) {
      if (index(e, "connection refused")) return "refused"
      if (index(e, "EOF") || index(e, "connection reset by peer") ||
          index(e, "broken pipe") || index(e, "server closed idle connection")) return "cut"
      if (index(e, "Client.Timeout exceeded") || index(e, "deadline exceeded") ||
          index(e, "i/o timeout")) return "timeout"
      return "other"
    }
    # Lines look like "  [200]\t150 responses" and "  [12]\tGet ...: EOF".
    # The error list ends the report: in it, a line of another shape is
    # the rest of an error text that spans lines.
    /^Status code distribution:/ { section = "status"; next }
    /^Error distribution:/       { section = "error"; next }
    /^[^ ]/ && section != "error" { section = "" }
    section == "status" && /^  \[[0-9]+\]\t/ {
      code = $0; sub(/^  \[/, "", code); sub(/\].*/, "", code)
      n = $0; sub(/^[^\t]*\t/, "", n); sub(/ .*/, "", n)
      status[code] += n
      next
    }
    section == "error" && /^  \[[0-9]+\]\t/ {
      n = $0; sub(/^  \[/, "", n); sub(/\].*/, "", n)
      text = $0; sub(/^[^\t]*\t/, "", text)
      last = strip_ports(text)
      errors[last] += n
      next
    }
    section == "error" && NF > 0 && last != "" {
      n = errors[last]; delete errors[last]
      last = last " " strip_ports($0)
      errors[last] += n
    }
    END {
      for (code in status) print "status", code, status[code]
      count["refused"] = count["cut"] = count["timeout"] = count["other"] = 0
      for (e in errors) {
        c = class_of(e)
        count[c] += errors[e]
        if (c == "other") print "other_text", "[" errors[e] "]", e
      }
      print "refused", count["refused"]
      print "cut", count["cut"]
      print "timeout", count["timeout"]
      print "other", count["other"]
    }
  ' "$1"
}

# ---------------------------------------------------------------------------
# One load run
# ---------------------------------------------------------------------------

# (This file avoids `< <(...)`: bash 5.2 may reap such a process late and
# print "wait_for: No record of process"; `<<<"$(...)"` has no such issue.)
#
# RESULT holds the last run of each program, keyed "PROGRAM:KEY":
#   codes (space-separated), status_CODE, served, refused, cut, timeout,
#   other, other_texts (one per line), signal_at (as text), exit, exit_rc,
#   exit_after (as text); --upgrade adds the
#   keys listed at run_restart.
declare -A RESULT=()

# One run in progress, set by load_begin: the server's PID and log, when hey
# started and when its -z runs out (see now_us), and where its report goes.
RUN_PID="" RUN_LOG="" RUN_T0=0 RUN_END=0 RUN_OUT=""
SIGNAL_US=0 # when signal_in_flight signalled RUN_PID (see now_us)

# load_begin NAME CONCURRENCY DURATION DELAY PORT [ARG...] forgets NAME's
# last RESULT, starts NAME (GET / taking DELAY, ARGs as more flags) and hey
# against it for DURATION, and returns in the middle of the run. It sets
# RUN_PID, RUN_LOG, RUN_T0, RUN_END and RUN_OUT.
load_begin() {
  local name=$1 conc=$2 duration=$3 delay=$4 port=$5 duration_in_us now key
  shift 5
  duration_in_us=$(duration_us "$duration")
  for key in "${!RESULT[@]}"; do
    [[ $key != "$name:"* ]] || unset "RESULT[$key]"
  done

  launch_server "$name" "$delay" "$port" "$@"
  RUN_PID=$SERVER_PID RUN_LOG=$SERVER_LOG RUN_OUT=$LOAD_DIR/$name.hey

  now_us RUN_T0
  RUN_END=$((RUN_T0 + duration_in_us))
  launch_hey "$RUN_OUT" -c "$conc" -z "$duration" "http://127.0.0.1:$port/"

  # Sync on evidence, not on a guess: wait for every client's first request
  # in the handler, then for the middle of the run.
  wait_started "$RUN_LOG" "$conc"
  now_us now
  sleep_us $((RUN_T0 + duration_in_us / 2 - now))
}

# signal_in_flight NAME SIGNAL CONCURRENCY sends SIGNAL to RUN_PID once the
# log shows every client's request inside the handler (see
# wait_all_in_flight), and records when: SIGNAL_US, RESULT[NAME:signal_at*].
signal_in_flight() {
  local name=$1 signal=$2 conc=$3
  wait_all_in_flight "$RUN_LOG" "$conc"
  now_us SIGNAL_US
  kill "-$signal" "$RUN_PID"
  secs $((SIGNAL_US - RUN_T0))
  RESULT[$name:signal_at]=${REPLY}s
}

# wait_old_exit NAME waits (15 s at most: 02/03/04 may take up to their
# -timeout, 5 s, to drain) until RUN_PID, signalled at SIGNAL_US, has
# exited, and records how: RESULT[NAME:exit*].
wait_old_exit() {
  local name=$1
  wait_exit "$RUN_PID" 15
  forget_pid SERVER_PIDS "$RUN_PID"
  RESULT[$name:exit]=$(exit_text "$WAIT_RC" "$WAIT_HUNG")
  RESULT[$name:exit_rc]=$WAIT_RC
  secs $((WAIT_US - SIGNAL_US))
  RESULT[$name:exit_after]=${REPLY}s
}

# run_load NAME CONCURRENCY DURATION DELAY PORT starts NAME with GET / taking
# DELAY, runs hey for DURATION, sends SIGTERM in the middle (when the first
# round of requests after half of DURATION is all in the handler), and fills
# RESULT.
run_load() {
  local name=$1 conc=$2
  load_begin "$@"
  signal_in_flight "$name" TERM "$conc"
  wait_old_exit "$name"
  load_end "$name"
}

# load_end NAME waits for hey to finish and reads its report into RESULT.
load_end() {
  local name=$1 key rest code count served=0 now limit_us limit
  # hey stops starting requests at DURATION and waits for those in flight
  # (HEY_TIMEOUT_S at most, its -t): what is left of DURATION, then that,
  # then 5 s more is plenty.
  now_us now
  limit_us=$((RUN_END - now))
  ((limit_us > 0)) || limit_us=0
  limit_us=$((limit_us + (HEY_TIMEOUT_S + 5) * 1000000))
  secs "$limit_us"
  limit=$REPLY
  wait_exit "$HEY_PID" "$limit"
  HEY_PID=""
  ((WAIT_HUNG == 0)) || die "hey did not finish within $limit s"

  RESULT[$name:codes]=""
  RESULT[$name:other_texts]=""
  while read -r key rest; do
    case $key in
      status)
        code=${rest%% *} count=${rest#* }
        RESULT[$name:codes]+="$code "
        RESULT[$name:status_$code]=$count
        served=$((served + count))
        ;;
      other_text) RESULT[$name:other_texts]+="$rest"$'\n' ;;
      *) RESULT[$name:$key]=$rest ;;
    esac
  done <<<"$(classify_hey "$RUN_OUT")"
  RESULT[$name:served]=$served
}

# ---------------------------------------------------------------------------
# --upgrade: a new version under the same load
# ---------------------------------------------------------------------------

# run_restart and run_upgrade fill RESULT as run_load does (exit* is about
# the old process), and add:
#   signal       the signal and when, as text ("SIGTERM 1.32s")
#   old_server, new_server   "PID N", or "VERSION, PID N" for 04
#   new_after    the signal -> the new process accepts connections, as text
#   after_old    answers the new process gave once the old one had exited
#   new_exit     how the new process ended (SIGTERM, once hey is done)
#   new_version, new_pid, pidfile_pid   (04) what the log and PID file say

# run_restart NAME CONCURRENCY DURATION DELAY PORT puts a new NAME in place
# the classic way: under hey's load, NAME gets SIGTERM in the middle of the
# run (as in run_load); once it has exited, a new NAME starts on the same
# port, and hey goes on. Until the new one listens, nothing does.
run_restart() {
  local name=$1 conc=$2 delay=$4 port=$5 new now answered
  load_begin "$@"
  RESULT[$name:old_server]="PID $RUN_PID"
  signal_in_flight "$name" TERM "$conc"
  RESULT[$name:signal]="SIGTERM ${RESULT[$name:signal_at]}"
  wait_old_exit "$name"

  # The new process gets a log of its own; the old one's stays beside.
  mv "$RUN_LOG" "$LOAD_DIR/$name.old.log"
  start_example "$name" "$delay" "$port"
  new=$SERVER_PID
  wait_for_port "$port" "$new" "$SERVER_LOG" 5
  now_us now
  require_time_left "$3" "the new $name listened" "$now"
  RESULT[$name:new_server]="PID $new"
  secs $((now - SIGNAL_US))
  RESULT[$name:new_after]=${REPLY}s

  load_end "$name"
  read -r _ answered <<<"$(request_counts "$SERVER_LOG")"
  RESULT[$name:after_old]=$answered
  kill -TERM "$new"
  wait_exit "$new" 15
  forget_pid SERVER_PIDS "$new"
  RESULT[$name:new_exit]=$(exit_text "$WAIT_RC" "$WAIT_HUNG")
}

# require_time_left DURATION WHAT WHEN dies (a setup error, not a lesson
# mismatch) when WHEN (see now_us) is less than 100 ms before hey's -z
# DURATION runs out: the new process would get no request of its own.
require_time_left() {
  local duration=$1 what=$2 when=$3
  ((when + 100000 >= RUN_END)) || return 0
  secs $((when - RUN_T0))
  die "-z $duration is too short: hey's run was (nearly) over when $what, $REPLY s in; use a longer -z"
}

# run_upgrade NAME CONCURRENCY DURATION DELAY PORT upgrades NAME
# (04-zero-downtime) in place: under hey's load, in the middle of the run,
# the v2 build $LOAD_DIR/NAME-v2 is moved over the running binary and NAME
# gets SIGHUP (when run_load would send SIGTERM). It starts v2 as its child
# on the same socket and, once v2 serves, finishes its requests and exits;
# hey goes on.
run_upgrade() {
  local name=$1 conc=$2 bin=$LOAD_DIR/$1 pidfile=$LOAD_DIR/$1.pid old new version now
  load_begin "$@" -pidfile "$pidfile"
  old=$RUN_PID
  # v2 will be v1's child, not ours: the cleanup finds it through these.
  watch_successors "$old" "$pidfile"
  wait_for_log "$RUN_LOG" " serving on .*\\(pid $old\\)" 1 "$old" 10
  read -r version _ <<<"$(logged_server "$RUN_LOG" "" "$old")"
  RESULT[$name:old_server]="$version, PID $old"

  # cp onto a running binary fails (text file busy): copy v2 beside it,
  # then mv it over. v1 keeps running its own file, which no name points to.
  cp "$bin-v2" "$bin.next"
  mv -f "$bin.next" "$bin"
  signal_in_flight "$name" HUP "$conc"
  RESULT[$name:signal]="SIGHUP ${RESULT[$name:signal_at]}"
  wait_new_serving "$name" "$RUN_LOG" "$old"
  now_us now
  read -r version new <<<"$REPLY"
  RESULT[$name:new_server]="$version, PID $new"
  RESULT[$name:new_version]=$version RESULT[$name:new_pid]=$new
  secs $((now - SIGNAL_US))
  RESULT[$name:new_after]=${REPLY}s
  wait_old_exit "$name"
  require_time_left "$3" "the old $name exited" "$WAIT_US"

  load_end "$name"
  RESULT[$name:after_old]=$(answers_after_exit "$RUN_LOG")
  read_pidfile "$pidfile"
  RESULT[$name:pidfile_pid]=$REPLY

  # Stop v2 as 02 is stopped. It is not our child: no exit status to wait
  # for; poll until it is gone, and read how it ended in the log.
  kill -TERM "$new" 2>/dev/null || true
  if wait_pid_gone "$new" 15; then
    if [[ $(grep -c ' Server exiting$' "$RUN_LOG") -ge 2 && $(tail -n 1 "$RUN_LOG") == *' Server exiting' ]]; then
      RESULT[$name:new_exit]="exit 0 (log)"
    else
      RESULT[$name:new_exit]="failed (log)"
    fi
  else
    kill -KILL "$new" 2>/dev/null || true
    wait_pid_gone "$new" 2 || true
    RESULT[$name:new_exit]="hung, killed"
  fi
  pid_running "$new" || unwatch_successors
}

# logged_server LOG OTHER_THAN [PID] prints "VERSION PID" from the first
# "version V serving on ADDR (pid N)" line of LOG whose PID is not
# OTHER_THAN (and is PID, if given); or "failed TEXT" when an "Upgrade
# failed" line comes first; or nothing.
logged_server() {
  awk -v other="$2" -v want="${3:-}" '
    / Upgrade failed/ { sub(/^.* Upgrade failed/, "Upgrade failed"); print "failed", $0; exit }
    / version [^ ]+ serving on .*\(pid [0-9]+\)$/ {
      pid = $NF; sub(/\)$/, "", pid)
      if (pid == other || (want != "" && pid != want)) next
      for (i = 1; i < NF; i++) if ($i == "version") { print $(i + 1), pid; exit }
    }' "$1"
}

# wait_new_serving NAME LOG OLD_PID waits (10 s at most) until a process
# other than OLD_PID logs that it serves, and sets REPLY to "VERSION PID".
# It dies when the log says the upgrade failed, or after 10 s.
wait_new_serving() {
  local name=$1 log=$2 old=$3 tries
  for ((tries = 0; tries < 1000; tries++)); do
    REPLY=$(logged_server "$log" "$old")
    case $REPLY in
      failed\ *) die "$name: ${REPLY#failed }" ;;
      ?*) return 0 ;;
    esac
    sleep 0.01
  done
  die "$name: no new process served within 10 s of SIGHUP"
}

# answers_after_exit LOG counts the answers ("[GIN]" lines) logged after the
# first "Server exiting": in 04's log, which v1 and v2 share, the answers v2
# gave once v1 was gone.
answers_after_exit() {
  awk '/ Server exiting$/ { gone = 1; next } gone && /^\[GIN\]/ { n++ } END { print n + 0 }' "$1"
}

# upgrade_mismatches prints one line per --upgrade result that contradicts
# the lesson, nothing when all agree.
upgrade_mismatches() {
  local name refused
  # Both: no request cut, only 200s, no timeout, the old process exits 0.
  lesson_mismatches "${UPGRADE_PROGRAMS[@]}"
  for name in "${UPGRADE_PROGRAMS[@]}"; do
    ((${RESULT[$name:after_old]:-0} > 0)) ||
      echo "$name: the new process answered nothing once the old one had exited"
    [[ ${RESULT[$name:new_exit]} == "exit 0"* ]] ||
      echo "$name: the new process ended with '${RESULT[$name:new_exit]}', expected exit 0"
  done
  refused=${RESULT[02-graceful:refused]}
  ((refused > 0)) || echo "02-graceful: no request refused, yet nothing listened between stop and start"
  name=04-zero-downtime refused=${RESULT[04-zero-downtime:refused]}
  ((refused == 0)) || echo "$name: $refused request(s) refused, expected 0 (the socket never closes)"
  [[ ${RESULT[$name:new_version]} == v2 ]] ||
    echo "$name: the new process is version '${RESULT[$name:new_version]}', expected v2"
  [[ ${RESULT[$name:pidfile_pid]} == "${RESULT[$name:new_pid]}" ]] ||
    echo "$name: the PID file names '${RESULT[$name:pidfile_pid]}', not the new process ${RESULT[$name:new_pid]}"
}

# ---------------------------------------------------------------------------
# The table and the verdict
# ---------------------------------------------------------------------------

# The widths of the table's first column and of each program's column, and
# the rows under the error classes: "LABEL=KEY", the value RESULT[PROG:KEY].
LABEL_WIDTH=13 COLUMN_WIDTH=13
TABLE_ROWS=("SIGTERM at=signal_at" "server exit=exit" "exit after=exit_after")

# print_row LABEL VALUE... prints one table line: the label, then one
# right-aligned column per program.
print_row() {
  local label=$1 value
  shift
  printf '%-*s' "$LABEL_WIDTH" "$label"
  for value in "$@"; do
    printf ' %*s' "$COLUMN_WIDTH" "$value"
  done
  printf '\n'
}

# print_table PROGRAM... prints the last run of each program side by side.
print_table() {
  local name code key codes=() row=()
  # The status codes any program received, in order.
  read -ra codes <<<"$(for name in "$@"; do
    for code in ${RESULT[$name:codes]}; do echo "$code"; done
  done | sort -nu | tr '\n' ' ')"

  print_row "" "$@"
  for code in "${codes[@]}"; do
    row=()
    for name in "$@"; do row+=("${RESULT[$name:status_$code]:-0}"); done
    print_row "status $code" "${row[@]}"
  done
  for key in refused cut timeout other; do
    row=()
    for name in "$@"; do row+=("${RESULT[$name:$key]}"); done
    print_row "$key" "${row[@]}"
  done
  for key in "${TABLE_ROWS[@]}"; do
    row=()
    for name in "$@"; do row+=("${RESULT[$name:${key#*=}]}"); done
    print_row "${key%%=*}" "${row[@]}"
  done

  # Nothing is silently lost: show the text of every "other" error.
  for name in "$@"; do
    if [[ -n ${RESULT[$name:other_texts]} ]]; then
      printf '\nother errors seen by hey against %s:\n' "$name"
      printf '%s' "${RESULT[$name:other_texts]}" | sed 's/^/  /'
    fi
  done
}

# lesson_mismatches PROGRAM... prints one line per result that contradicts
# the lesson, nothing when all agree.
lesson_mismatches() {
  local name code cut timeout other served ending
  for name in "$@"; do
    cut=${RESULT[$name:cut]} timeout=${RESULT[$name:timeout]}
    other=${RESULT[$name:other]} served=${RESULT[$name:served]}
    ending=${RESULT[$name:exit]}
    if [[ $name == 01-basic ]]; then
      ((cut > 0)) || echo "$name: no request was cut, yet it dies with requests in flight"
      [[ $ending == SIGTERM ]] || echo "$name: ended with '$ending', expected death by SIGTERM"
      continue
    fi
    ((cut == 0)) || echo "$name: $cut request(s) cut, expected 0"
    for code in ${RESULT[$name:codes]}; do
      [[ $code == 200 ]] ||
        echo "$name: ${RESULT[$name:status_$code]} answer(s) with status $code, expected only 200"
    done
    ((timeout == 0)) || echo "$name: $timeout request(s) timed out, expected 0"
    ((other == 0)) || echo "$name: $other other error(s), expected 0"
    ((served > 0)) || echo "$name: no request was answered at all"
    [[ $ending == "exit 0" ]] || echo "$name: ended with '$ending', expected exit 0"
  done
}

# ---------------------------------------------------------------------------

main() {
  local conc=50 duration="" fast=0 upgrade=0 delay name programs=()
  while (($# > 0)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      --fast) fast=1 ;;
      --upgrade) upgrade=1 ;;
      -c)
        (($# >= 2)) || die "-c needs a number"
        conc=$2
        shift
        ;;
      -z)
        (($# >= 2)) || die "-z needs a duration, like 3s"
        duration=$2
        shift
        ;;
      -*) die "unknown option '$1' (try --help)" ;;
      *) [[ " ${programs[*]} " == *" $1 "* ]] || programs+=("$1") ;; # once each
    esac
    shift
  done

  if ! [[ $conc =~ ^[0-9]+$ ]] || ((10#$conc < 1 || 10#$conc > 1000)); then
    die "-c must be a number from 1 to 1000, got '$conc'"
  fi
  conc=$((10#$conc))
  if ((fast)); then delay=300ms; else delay=1s; fi
  if [[ -z $duration ]]; then
    if ((fast)); then duration=2s; else duration=4s; fi
  fi
  local duration_in_us
  duration_in_us=$(duration_us "$duration") ||
    die "-z must be a duration like 3s, 1500ms or 1m, got '$duration'"
  ((duration_in_us >= 1000000 && duration_in_us <= 60000000)) ||
    die "-z must be from 1s to 60s, got '$duration'"
  # The signal goes at the first round of requests that starts after half
  # of -z: a round must fit in the second half.
  ((duration_in_us >= 3 * $(duration_us "$delay"))) ||
    die "-z must be at least 3 times as long as GET / takes ($delay), got '$duration'"
  if ((upgrade)); then
    # Half of -z, a round to drain, and the new process must get requests.
    ((duration_in_us >= 4 * $(duration_us "$delay"))) ||
      die "with --upgrade, -z must be at least 4 times as long as GET / takes ($delay), got '$duration'"
    ((${#programs[@]} == 0)) ||
      die "--upgrade always runs 02-graceful and 04-zero-downtime; it takes no PROGRAM, got '${programs[*]}'"
  fi
  ((${#programs[@]} > 0)) || programs=("${ALL_PROGRAMS[@]}")
  for name in "${programs[@]}"; do
    [[ " ${ALL_PROGRAMS[*]} " == *" $name "* ]] ||
      die "unknown program '$name' (choose from: ${ALL_PROGRAMS[*]})"
  done

  require_bash_51
  require_tools go awk
  local port=${PORT:-8080}
  require_free_port "$port"

  load_traps
  if ((upgrade)); then
    main_upgrade "$conc" "$duration" "$delay" "$port"
  else
    main_shutdown "$conc" "$duration" "$delay" "$port" "${programs[@]}"
  fi
}

# main_shutdown CONCURRENCY DURATION DELAY PORT PROGRAM... is the normal mode.
main_shutdown() {
  local conc=$1 duration=$2 delay=$3 port=$4 name
  shift 4
  load_prepare "$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")" "$@"

  echo "GET / answers in $delay; hey -c $conc -z $duration; SIGTERM in the middle of the run."
  for name in "$@"; do
    echo "running $name ..."
    run_load "$name" "$conc" "$duration" "$delay" "$port"
  done

  echo
  print_table "$@"
  echo
  echo "refused: connection refused, the listener was closed (the client may retry)"
  echo "cut:     accepted, then dropped (EOF, connection reset, broken pipe)"
  # The two subtleties behind the numbers: see launch_hey and wait_all_in_flight.
  echo "body:    1 byte, else Go's client silently resends a GET whose reused keep-alive connection died unanswered"
  echo "timing:  SIGTERM once every request is in the handler: net/http can drop one racing Shutdown on an idle connection"
  verdict "$(lesson_mismatches "$@")"
}

# main_upgrade CONCURRENCY DURATION DELAY PORT is the --upgrade mode.
main_upgrade() {
  local conc=$1 duration=$2 delay=$3 port=$4 zd=04-zero-downtime
  load_prepare "$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")" 02-graceful
  build_version "$LOAD_DIR/$zd" "$zd" v1
  build_version "$LOAD_DIR/$zd-v2" "$zd" v2

  echo "GET / answers in $delay; hey -c $conc -z $duration; a new version in the middle of the run."
  echo "running 02-graceful: SIGTERM, wait for its exit, start a new one ..."
  run_restart 02-graceful "$conc" "$duration" "$delay" "$port"
  echo "running $zd: v2 moved over its binary, SIGHUP ..."
  run_upgrade "$zd" "$conc" "$duration" "$delay" "$port"

  echo
  LABEL_WIDTH=16 COLUMN_WIDTH=16
  TABLE_ROWS=("signal at=signal" "old server=old_server" "old exit=exit" "old exit after=exit_after"
    "new server=new_server" "new serves after=new_after" "after old exit=after_old" "new exit=new_exit")
  print_table "${UPGRADE_PROGRAMS[@]}"
  echo
  echo "refused:          connection refused, nothing was listening (the client may retry)"
  echo "cut:              accepted, then dropped (EOF, connection reset, broken pipe)"
  echo "new serves after: signal -> the new process accepts; meanwhile 02 refuses, 04's old one accepts"
  echo "after old exit:   answers the new process gave once the old one had exited"
  echo "exit 0 (log):     04's new process is not our child: its log ends with 'Server exiting'"
  verdict "$(upgrade_mismatches)"
}

# verdict MISMATCHES prints the verdict, and exits 1 when MISMATCHES (one
# per line) is not empty.
verdict() {
  local line
  echo
  if [[ -n $1 ]]; then
    echo "These results contradict the lesson:"
    while IFS= read -r line; do echo "  $line"; done <<<"$1"
    exit 1
  fi
  echo "These results match the lesson."
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
