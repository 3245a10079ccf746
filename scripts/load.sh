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
# The script exits non-zero, naming the mismatch, when the numbers disagree.
#
# bench.sh sources this file for its functions; main only runs when the file
# is executed.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_PROGRAMS=(01-basic 02-graceful 03-workers)

usage() {
  cat <<EOF
Usage: ${0##*/} [--fast] [-c N] [-z DURATION] [PROGRAM...]

Runs hey against GET / of each PROGRAM (default: ${ALL_PROGRAMS[*]}),
sends the server SIGTERM in the middle of the run, and prints what hey saw.

  -c N          concurrent clients (hey -c), 1 to 1000; default 50
  -z DURATION   how long hey runs (hey -z), 1s to 60s, like 3s or 1500ms,
                and 3 times GET /'s delay at least; default 4s, 2s with --fast
  --fast        GET / takes 300ms instead of 1s, and the default -z is 2s
  -h, --help    show this help

Environment: PORT (default 8080) is the port on 127.0.0.1 the servers use.
Exit status: 0 when the results match the lesson, 1 otherwise.
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

# stamp VAR stores the wall clock, in microseconds, in VAR. It starts no
# process, so it costs microseconds, not a millisecond like $(date).
# (Some locales write EPOCHREALTIME with a comma: drop either separator.)
stamp() {
  printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"
}

# us_to_s 1234567 prints 1.23 (seconds, two decimals; for the table).
us_to_s() {
  local us=$1
  printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
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

# launch_server NAME DELAY PORT starts the example NAME on 127.0.0.1:PORT,
# waits until it listens, and sets SERVER_PID and SERVER_LOG.
launch_server() {
  local name=$1 delay=$2 port=$3
  require_free_port "$port"
  SERVER_LOG=$LOAD_DIR/$name.log
  # `set -m` only while starting it: the server gets its own process group
  # (see start_server), and bash prints no "Terminated" job notices later.
  set -m
  start_server "$SERVER_LOG" "$LOAD_DIR/$name" -addr "127.0.0.1:$port" -delay "$delay"
  set +m
  wait_for_port "$port" "$SERVER_PID" "$SERVER_LOG"
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
  "$HEY" -d x -q 20 -t 10 "$@" >"$out" 2>&1 &
  HEY_PID=$!
  set +m
}

# wait_exit PID LIMIT_S waits until the process PID (a child of this shell)
# exits, LIMIT_S seconds at most, then SIGKILLs it. It sets WAIT_RC (its exit
# status, 128+N when killed by signal N), WAIT_US (when it ended, see stamp) and
# WAIT_HUNG (1 when we had to kill it).
wait_exit() {
  local pid=$1 limit=$2 which=""
  WAIT_RC=0 WAIT_HUNG=0
  sleep "$limit" &
  GUARD_PID=$!
  wait -n -p which "$pid" "$GUARD_PID" 2>/dev/null || WAIT_RC=$?
  stamp WAIT_US
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
#   other, other_texts (one per line), signal_at_us, exit, exit_rc,
#   exit_after_us.
declare -A RESULT=()

# run_load NAME CONCURRENCY DURATION DELAY PORT starts NAME with GET / taking
# DELAY, runs hey for DURATION, sends SIGTERM in the middle (when the first
# round of requests after half of DURATION is all in the handler), and fills
# RESULT.
run_load() {
  local name=$1 conc=$2 duration=$3 delay=$4 port=$5
  local out=$LOAD_DIR/$name.hey half_us t0 now signal_us key rest code count served=0
  half_us=$(($(duration_us "$duration") / 2))
  for key in "${!RESULT[@]}"; do
    [[ $key != "$name:"* ]] || unset "RESULT[$key]"
  done

  launch_server "$name" "$delay" "$port"
  local pid=$SERVER_PID log=$SERVER_LOG

  stamp t0
  launch_hey "$out" -c "$conc" -z "$duration" "http://127.0.0.1:$port/"

  # Sync on evidence, not on a guess: wait for the middle of the run, then
  # for the log to show every client's request inside the handler.
  wait_started "$log" "$conc"
  stamp now
  sleep_us $((t0 + half_us - now))
  wait_all_in_flight "$log" "$conc"
  stamp signal_us
  kill -TERM "$pid"

  # 02/03 may take up to their -timeout (5 s) to drain; give them 15 s.
  wait_exit "$pid" 15
  forget_server "$pid"
  RESULT[$name:exit]=$(exit_text "$WAIT_RC" "$WAIT_HUNG")
  RESULT[$name:exit_rc]=$WAIT_RC
  RESULT[$name:exit_after_us]=$((WAIT_US - signal_us))
  RESULT[$name:signal_at_us]=$((signal_us - t0))

  # hey stops starting requests at DURATION and waits for those in flight
  # (10 s at most, its -t): it has had plenty of time after 30 s.
  wait_exit "$HEY_PID" 30
  HEY_PID=""
  ((WAIT_HUNG == 0)) || die "hey did not finish within 30 s"

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
  done <<<"$(classify_hey "$out")"
  RESULT[$name:served]=$served
}

# ---------------------------------------------------------------------------
# The table and the verdict
# ---------------------------------------------------------------------------

# print_row LABEL VALUE... prints one table line: the label, then one
# right-aligned column per program.
print_row() {
  local label=$1 value
  shift
  printf '%-13s' "$label"
  for value in "$@"; do
    printf ' %13s' "$value"
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
  row=()
  for name in "$@"; do row+=("$(us_to_s "${RESULT[$name:signal_at_us]}")s"); done
  print_row "SIGTERM at" "${row[@]}"
  row=()
  for name in "$@"; do row+=("${RESULT[$name:exit]}"); done
  print_row "server exit" "${row[@]}"
  row=()
  for name in "$@"; do row+=("$(us_to_s "${RESULT[$name:exit_after_us]}")s"); done
  print_row "exit after" "${row[@]}"

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
  local conc=50 duration="" fast=0 delay name programs=() mismatches line
  while (($# > 0)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      --fast) fast=1 ;;
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
  ((${#programs[@]} > 0)) || programs=("${ALL_PROGRAMS[@]}")
  for name in "${programs[@]}"; do
    [[ " ${ALL_PROGRAMS[*]} " == *" $name "* ]] ||
      die "unknown program '$name' (choose from: ${ALL_PROGRAMS[*]})"
  done

  require_bash_51
  require_tools go awk
  local port=${PORT:-8080}
  require_free_port "$port"

  trap load_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  load_prepare "$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")" "${programs[@]}"

  echo "GET / answers in $delay; hey -c $conc -z $duration; SIGTERM in the middle of the run."
  for name in "${programs[@]}"; do
    echo "running $name ..."
    run_load "$name" "$conc" "$duration" "$delay" "$port"
  done

  echo
  print_table "${programs[@]}"
  echo
  echo "refused: connection refused, the listener was closed (the client may retry)"
  echo "cut:     accepted, then dropped (EOF, connection reset, broken pipe)"

  mismatches=$(lesson_mismatches "${programs[@]}")
  if [[ -n $mismatches ]]; then
    echo
    echo "These results contradict the lesson:"
    while IFS= read -r line; do echo "  $line"; done <<<"$mismatches"
    exit 1
  fi
  echo
  echo "These results match the lesson."
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
