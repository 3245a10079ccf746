#!/usr/bin/env bash
# demo.sh: the graceful-shutdown lesson, live, in four steps.
#
#   1. 01-basic         gets SIGINT  (Ctrl+C) with requests in flight: they fail.
#   2. 02-graceful      gets SIGTERM (kill, docker stop, Kubernetes): they finish.
#   3. 03-workers       gets SIGINT with requests and jobs in flight: all finish.
#   4. 04-zero-downtime gets SIGHUP under load once v2 is installed over v1:
#                       it hands its socket to v2, and not one request fails.
#
# Every step prints the commands it runs, then a verdict table (what
# happened, what the lesson expects) and a timeline around the signal.
# Run `scripts/demo.sh --help` for the options and exit statuses.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Errors that stop the demo before it can judge anything exit 2, so that
# 1 always means "it ran, and some outcome was not what the lesson says".
DIE_STATUS=2
CLIENTS=4 # step 4's clients

usage() {
  cat <<EOF
Usage: ${0##*/} [--fast] [--no-pause] [--help]

Runs the graceful-shutdown lesson live, one step per example server:
  1. 01-basic         gets SIGINT (Ctrl+C) while requests are in flight: they fail
  2. 02-graceful      gets SIGTERM (kill, docker stop, Kubernetes): they finish
  3. 03-workers       gets SIGINT while requests and jobs are in flight: all finish
  4. 04-zero-downtime is upgraded from v1 to v2 with SIGHUP while $CLIENTS clients
                      keep sending requests: it hands its socket over, none fails
Each step prints the commands it runs, then a verdict table and a timeline.

Options:
  --fast       short timings (GET / takes 2s, a job 500ms, shutdown budget 4s;
               300ms a request in step 4) instead of the blog post's 5 s
               (1s a request in step 4); for CI
  --no-pause   do not wait for Enter between steps (also the case when
               stdin is not a terminal)
  -h, --help   show this help

Environment:
  PORT         port on 127.0.0.1 for the servers (default 8080); must be free
  NO_COLOR     set it (non-empty) to turn colours off; they are only ever
               used when stdout is a terminal

Exit status: 0 every outcome matched the lesson; 1 some did not (the last
line names them); 2 the demo could not run (bad option, missing tool, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
EOF
}

# ---------------------------------------------------------------- options --

FAST=0
PAUSE=0
[[ -t 0 ]] && PAUSE=1 # pause between steps only when someone can press Enter
while (($#)); do
  case $1 in
    --fast) FAST=1 ;;
    --no-pause) PAUSE=0 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
  shift
done

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  BOLD=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GREEN=$'\e[32m' YELLOW=$'\e[33m' CYAN=$'\e[36m' RESET=$'\e[0m'
else
  BOLD='' DIM='' RED='' GREEN='' YELLOW='' CYAN='' RESET=''
fi

# The default timings are the post's: GET / takes 5 s, shutdown may take 5 s.
# STAGGER spaces the requests out. SETTLE is pacing, not synchronisation: the
# signal goes out SETTLE after the log shows every request inside the handler,
# so that it lands mid-request. It also keeps the last request (which needs
# DELAY from its start) inside the budget (TIMEOUT from the signal) when, as
# in the post, DELAY equals TIMEOUT.
#
# Step 4 puts 04-zero-downtime under load: CLIENTS loops of GET /, started
# UP_STAGGER apart, each sending its next request as soon as it has an answer.
# GET / takes UP_DELAY there, shorter than DELAY, so that each client sends
# several requests before and after the upgrade. A client stops when told,
# and in any case after LOAD_MAX requests or LOAD_SECONDS.
if ((FAST)); then
  DELAY=2s TIMEOUT=4s TIMEOUT_S=4 WORK=500ms STAGGER=0.2 SETTLE=0.2
  UP_DELAY=300ms UP_STAGGER=0.075 LOAD_SECONDS=30
else
  DELAY=5s TIMEOUT=5s TIMEOUT_S=5 WORK=2s STAGGER=0.5 SETTLE=1
  UP_DELAY=1s UP_STAGGER=0.25 LOAD_SECONDS=60
fi
LOAD_MAX=60
PORT=${PORT:-8080}
ADDR=127.0.0.1:$PORT
# curl prints the body, then the status code on a line of its own. --max-time
# bounds every request, so the demo never hangs on one.
CURL=(curl -sS --max-time $((TIMEOUT_S + 10)) -w '\n%{http_code}')
# Step 4's clients also print which version and process answered (curl
# 7.84 or newer: %header{}).
LOAD_CURL=(curl -sS --max-time $((TIMEOUT_S + 10)) -w '\n%{http_code} X-Version: %header{x-version} X-Pid: %header{x-pid}')

# A script started in the background by a non-interactive shell (`demo.sh &`
# in CI, say) inherits SIGINT ignored, and bash cannot undo that, set -m or
# not: 01-basic would inherit it too and shrug off our SIGINT. (02 and 03 are
# fine: signal.Notify re-enables it.) env --default-signal resets it.
SIGINT_RESET=()
if [[ $(trap -p INT) == "trap -- '' SIGINT" ]]; then
  env --default-signal=INT true 2>/dev/null ||
    die "SIGINT is ignored here (started in the background?) and env has no --default-signal to undo it; run the demo in the foreground"
  SIGINT_RESET=(env --default-signal=INT)
fi

# ----------------------------------------------------------------- cleanup --

WORK_DIR=''
HELPER_PIDS=() # background curls and log readers, each in its own process group

# shellcheck disable=SC2317 # called from cleanup, the EXIT trap
stop_helpers() {
  local pid
  for pid in "${HELPER_PIDS[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  HELPER_PIDS=()
}

# cleanup runs on every exit, also after an error or Ctrl+C: it ends, by PID,
# every server, curl and log reader this script started, and the server
# 04-zero-downtime started itself on SIGHUP (through its PID file and
# process group: see watch_successors), and removes the temporary directory.
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  local status=$? pid file pids=("${SERVER_PIDS[@]}" "${HELPER_PIDS[@]}")
  # A child that bash has just forked runs our traps until it execs; if a
  # signal lands in that instant, it must not clean up under our feet.
  [[ $BASHPID == "$$" ]] || return "$status"
  # A second Ctrl+C must not cut the cleanup short (and leave WORK_DIR).
  trap - EXIT
  trap '' INT TERM
  set +e
  for pid in "${SERVER_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null && echo "${0##*/}: stopping server PID $pid" >&2
  done
  for file in "${SUCCESSOR_PIDFILES[@]}"; do
    read_pidfile "$file"
    [[ -n $REPLY && " ${SERVER_PIDS[*]} " != *" $REPLY "* ]] && pid_running "$REPLY" &&
      echo "${0##*/}: stopping server PID $REPLY (from its PID file)" >&2
  done
  # From here on, quiet: bash would report each process we kill as "Killed".
  exec 2>/dev/null
  stop_servers
  stop_helpers
  ((${#pids[@]} == 0)) || wait "${pids[@]}"
  if [[ -n $WORK_DIR ]]; then
    cd / && rm -rf "$WORK_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; echo "${0##*/}: interrupted" >&2; exit 130' INT
trap 'echo "${0##*/}: terminated" >&2; exit 143' TERM

# ----------------------------------------------------------------- helpers --

[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or newer (for EPOCHREALTIME); this is bash $BASH_VERSION"
require_tools go curl mkfifo mktemp grep awk
# Step 4 reads response headers with curl's -w '%header{...}' (curl 7.84).
if ! [[ $(curl --version) =~ ^curl\ ([0-9]+)\.([0-9]+) ]] ||
  ((BASH_REMATCH[1] * 1000 + BASH_REMATCH[2] < 7084)); then
  die "needs curl 7.84 or newer (for -w '%header{...}'); this is $(curl --version | head -n 1)"
fi
require_free_port "$PORT"

DEMO_T0=0 # when the demo started, in microseconds
STEP_T0=0 # when the current step's first request went out
now_us
DEMO_T0=$REPLY

# quote_cmd WORD... sets REPLY to the command as you would type it.
quote_cmd() {
  local word q="'" line=''
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=@%+,-]+$ || $word == '&' ]]; then
      line+=" $word"
    else
      line+=" $q${word//$q/$q\\$q$q}$q"
    fi
  done
  REPLY=${line# }
}

# show_cmd WORD... prints a command, with the step's clock, before it runs.
show_cmd() {
  quote_cmd "$@"
  show_line "$REPLY"
}

# show_line LINE does the same for a command line written out already.
show_line() {
  local line=$1 when='       '
  if ((STEP_T0)); then
    now_us
    secs $((REPLY - STEP_T0))
    printf -v when '+%5ss' "$REPLY"
  fi
  printf '  %s%s%s  %s$ %s%s\n' "$DIM" "$when" "$RESET" "$BOLD" "$line" "$RESET"
}

# note TEXT... prints a comment line between commands.
note() {
  printf '  %s# %s%s\n' "$CYAN" "$*" "$RESET"
}

pause() {
  ((PAUSE)) || return 0
  printf '\n%s>> Press Enter to %s (Ctrl+C quits) %s' "$YELLOW" "$1" "$RESET"
  read -r _ || true
}

# banner TITLE TEXT_LINES... -- COMMAND_LINES...: what the step will do.
banner() {
  local title=$1 line in_cmds=0
  shift
  printf '\n%s%s== %s ==%s\n' "$BOLD" "$CYAN" "$title" "$RESET"
  for line in "$@"; do
    if [[ $line == -- ]]; then
      in_cmds=1
      printf '\n  The commands, in order:\n'
    elif ((in_cmds)); then
      printf '    %s\n' "$line"
    else
      printf '  %s\n' "$line"
    fi
  done
}

# ---------------------------------------------------------------- one step --

# Per step: the server's name and stamped log, the rows of the verdict in
# order, what each row expects, and when the signal went out.
PROG='' LOG='' READER_PID='' SIG_NAME='' SIG_US=0 EXIT_US=0
LABELS=()
CURL_PIDS=()
declare -A EXPECT=()
TOTAL=0
MISMATCHES=()

begin_step() {
  PROG=$1
  SIG_NAME=SIG$2
  STEP_DIR=$WORK_DIR/$PROG
  mkdir -p "$STEP_DIR"
  LABELS=() CURL_PIDS=() EXPECT=() SIG_US=0 EXIT_US=0 STEP_T0=0
  printf '\n'
}

# expect LABEL OUTCOME: one verdict row, in the order of the calls.
expect() {
  LABELS+=("$1")
  EXPECT[$1]=$2
}

# launch FLAGS...: starts ./PROG (see begin_step) from the build dir. Its
# output goes through a FIFO into stamp_lines, which stamps every log line
# with the time in microseconds (Go's log only prints whole seconds).
#
# Job control (set -m) is on while it starts: each background process then
# gets its own process group. Without it, bash starts background commands of
# a script with SIGINT ignored, and 01-basic, which does not catch SIGINT,
# would shrug off our Ctrl+C. It is off again at once, so that a real Ctrl+C
# at the keyboard still reaches this script and its trap.
launch() {
  local fifo=$STEP_DIR/server.fifo cmd=("./$PROG" "$@")
  LOG=$STEP_DIR/server.log
  require_free_port "$PORT"
  mkfifo "$fifo"
  if [[ $PROG == 01-basic && ${#SIGINT_RESET[@]} -gt 0 ]]; then
    note "SIGINT was ignored when this script started; env resets it for the server"
    cmd=("${SIGINT_RESET[@]}" "${cmd[@]}")
  fi
  show_cmd GIN_MODE=release "${cmd[@]}" '&'
  set -m
  stamp_lines <"$fifo" >"$LOG" &
  READER_PID=$!
  set +m
  HELPER_PIDS+=("$READER_PID")
  start_server "$fifo" "${cmd[@]}"
  wait_for_port "$PORT" "$SERVER_PID" "$LOG"
  note "listening, PID $SERVER_PID"
}

# request LABEL CURL_ARGS...: runs one curl and records, in STEP_DIR/LABEL.*,
# when it was sent and answered (or failed), its exit code, output and error.
request() {
  local label=$1 rc=0 sent
  shift
  now_us
  sent=$REPLY
  "$@" </dev/null >"$STEP_DIR/$label.out" 2>"$STEP_DIR/$label.err" || rc=$?
  now_us
  printf '%s %s %s\n' "$sent" "$REPLY" "$rc" >"$STEP_DIR/$label.res"
}

# fire LABEL bg|fg METHOD PATH: one request, in the background (to be in
# flight when the signal comes) or in the foreground (its answer shown).
fire() {
  local label=$1 mode=$2 method=$3 path=$4 args
  args=("${CURL[@]}")
  [[ $method == GET ]] || args+=(-X "$method")
  args+=("http://$ADDR$path")
  ((STEP_T0)) || { now_us && STEP_T0=$REPLY; }
  if [[ $mode == bg ]]; then
    show_cmd "${args[@]}" '&'
    set -m # its own process group, so the trap can end curl with it
    request "$label" "${args[@]}" &
    CURL_PIDS+=("$!")
    HELPER_PIDS+=("$!")
    set +m
  else
    show_cmd "${args[@]}"
    request "$label" "${args[@]}"
    outcome "$label"
    printf '             %s-> %s%s\n' "$DIM" "$REPLY" "$RESET"
  fi
}

# send_gets N: N requests to GET /, STAGGER apart, in the background.
send_gets() {
  local i
  for ((i = 1; i <= $1; i++)); do
    ((i == 1)) || sleep "$STAGGER"
    fire "req$i" bg GET /
  done
}

# signal_server SIG WHY: sends the signal and notes when.
signal_server() {
  local sig=$1 why=$2
  note "$why"
  show_cmd kill "-$sig" "$SERVER_PID"
  now_us
  SIG_US=$REPLY
  kill "-$sig" "$SERVER_PID"
}

# outcome LABEL sets REPLY to what a request got, in the verdict's words.
outcome() {
  local label=$1 sent answered rc code body msg
  read -r sent answered rc <"$STEP_DIR/$label.res"
  if ((rc == 0)); then
    code=$(tail -n 1 "$STEP_DIR/$label.out")
    body=$(sed '$d' "$STEP_DIR/$label.out")
    REPLY="$code $body"
  elif ((rc == 7)) && grep -qiE "refused|couldn't connect" "$STEP_DIR/$label.err"; then
    REPLY='curl: (7) connection refused'
  else
    msg=$(head -n 1 "$STEP_DIR/$label.err")
    REPLY="curl: ($rc) ${msg#curl: (*) }"
  fi
}

# log_time REGEX sets REPLY to the stamp of the first log line matching REGEX
# (empty when none does).
log_time() {
  REPLY=$(grep -m 1 -E "^[0-9]+ .*$1" "$LOG" | cut -d ' ' -f 1) || REPLY=''
}

# job_id LABEL sets REPLY to the id the server gave that job, or empty.
job_id() {
  REPLY=''
  outcome "$1"
  [[ $REPLY =~ ^202\ \{\"id\":([0-9]+)\}$ ]] && REPLY=${BASH_REMATCH[1]}
  [[ $REPLY =~ ^[0-9]+$ ]] || REPLY=''
}

# observed LABEL sets REPLY to what happened to that row.
observed() {
  local label=$1 id last
  case $label in
    server)
      if ((SERVER_STATUS > 128)); then
        REPLY="killed by SIG$(kill -l $((SERVER_STATUS - 128)))"
      else
        # The last line with Go's date prefix: an error may span lines.
        last=$(grep -E '^[0-9]+ [0-9]{4}/[0-9]{2}/[0-9]{2} ' "$LOG" | tail -n 1 | cut -d ' ' -f 4-)
        REPLY="exit $SERVER_STATUS ($last)"
      fi
      ;;
    job[0-9]*)
      job_id "$label"
      id=$REPLY
      if [[ -z $id ]]; then
        outcome "$label"
        REPLY="POST /jobs: $REPLY"
      else
        REPLY=$(grep -m 1 -oE "job $id (done|abandoned: .*)$" "$LOG") || REPLY="job $id: no fate in the log"
      fi
      ;;
    *) outcome "$label" ;;
  esac
}

# finish_step waits for everything in flight, shows the server's log, the
# verdict and the timeline.
finish_step() {
  local pid label got want
  for pid in "${CURL_PIDS[@]}"; do
    wait "$pid" || true
    forget_pid HELPER_PIDS "$pid"
  done
  note "waiting for the server to exit"
  wait_server_exit "$SERVER_PID" $((TIMEOUT_S + 10))
  wait "$READER_PID" || true # it stops at EOF, now that the server is gone
  forget_pid HELPER_PIDS "$READER_PID"
  log_time 'EOF$'
  EXIT_US=$REPLY

  printf '\n  %sThe server log (%s):%s\n' "$BOLD" "$PROG" "$RESET"
  cut -d ' ' -f 2- "$LOG" | grep -v '^EOF$' | sed "s/^/    $DIM/; s/\$/$RESET/"
  if grep -qE ' job [0-9]+ queued$' "$LOG"; then
    printf '\n  %sEach job'\''s fate, from that log:%s\n' "$BOLD" "$RESET"
    grep -oE 'job [0-9]+ (done|abandoned: .*)$' "$LOG" | sed 's/^/    /' || echo '    (none logged)'
  fi

  verdict_header
  for label in "${LABELS[@]}"; do
    observed "$label"
    got=$REPLY
    want=${EXPECT[$label]}
    if [[ $label == job[0-9]* ]]; then
      job_id "$label"
      want="job ${REPLY:-${label#job}} $want"
    fi
    verdict_row "$label" "$got" "$want"
  done
  timeline
}

# verdict_header prints the verdict table's title and column names, and
# sets PROG_W, the width of its program column.
verdict_header() {
  PROG_W=$((${#PROG} > 11 ? ${#PROG} : 11))
  printf '\n  %sVerdict (%s):%s\n' "$BOLD" "$PROG" "$RESET"
  printf '  %-*s %-9s| %-35s| %s\n' "$PROG_W" program request 'what happened' 'the lesson expects'
}

# verdict_row LABEL GOT WANT prints one row and counts it for the RESULT line.
verdict_row() {
  local label=$1 got=$2 want=$3 mark
  TOTAL=$((TOTAL + 1))
  if [[ $got == "$want" ]]; then
    mark="$GREEN✔$RESET"
  else
    mark="$RED✘$RESET"
    MISMATCHES+=("$PROG $label")
  fi
  printf '%s %-*s %-8s | %-34s | %s\n' "$mark" "$PROG_W" "$PROG" "$label" "$got" "$want"
}

# --------------------------------------------------------------- timeline --

TL_WIDTH=50

# col US sets REPLY to the timeline column of the moment US.
col() {
  local c=$((($1 - STEP_T0) * (TL_WIDTH - 1) / TL_SPAN))
  ((c < 0)) && c=0
  ((c > TL_WIDTH - 1)) && c=$((TL_WIDTH - 1))
  REPLY=$c
}

# row_span LABEL sets FROM, MID, TO (microseconds: start, start of the solid
# part, end), OK and NOTE for one timeline row. A request is solid from sent
# to answered; a job is dotted while queued and solid while it runs.
row_span() {
  local label=$1 sent answered rc id
  case $label in
    server)
      FROM=$STEP_T0 MID=$STEP_T0 TO=$EXIT_US
      OK=$((SERVER_STATUS == 0))
      secs $((EXIT_US - STEP_T0))
      if ((OK)); then
        NOTE="exit 0 at $REPLY s"
      elif ((SERVER_STATUS > 128)); then
        NOTE="killed by SIG$(kill -l $((SERVER_STATUS - 128))) at $REPLY s"
      else
        NOTE="exit $SERVER_STATUS at $REPLY s"
      fi
      ;;
    job[0-9]*)
      job_id "$label"
      id=$REPLY
      read -r sent answered rc <"$STEP_DIR/$label.res"
      FROM=$sent MID=$sent TO=$answered OK=0 NOTE='not accepted'
      [[ -n $id ]] || return 0
      log_time " job $id queued$" && FROM=${REPLY:-$sent}
      log_time " job $id started$" && MID=${REPLY:-$FROM}
      log_time " job $id (done|abandoned)" && TO=${REPLY:-$MID}
      if grep -qE " job $id done$" "$LOG"; then OK=1 NOTE='done'; else NOTE=abandoned; fi
      secs $((TO - FROM))
      NOTE="$NOTE $REPLY s after queued"
      ;;
    *)
      read -r sent answered rc <"$STEP_DIR/$label.res"
      FROM=$sent MID=$sent TO=$answered OK=$((rc == 0))
      case $rc in
        0) NOTE=$(tail -n 1 "$STEP_DIR/$label.out") ;;
        7) NOTE=refused ;;
        52) NOTE='empty reply' ;;
        *) NOTE="curl error $rc" ;;
      esac
      secs $((TO - FROM))
      NOTE="$NOTE after $REPLY s"
      ;;
  esac
}

# timeline_header END_US sets TL_SPAN (the step's start to END_US) and
# TL_SIGCOL (the signal's column), and prints the timeline's two header lines.
timeline_header() {
  TL_SPAN=$(($1 - STEP_T0))
  ((TL_SPAN > 0)) || TL_SPAN=1
  col "$SIG_US"
  TL_SIGCOL=$REPLY
  secs $((SIG_US - STEP_T0))
  printf '\n  %sTimeline%s (0 = the first request; %s| = %s sent at %s s%s; one column = %s ms)\n' \
    "$BOLD" "$RESET" "$YELLOW" "$SIG_NAME" "$REPLY" "$RESET" $((TL_SPAN / (TL_WIDTH - 1) / 1000))
  secs "$TL_SPAN"
  printf '  %-9s %-*s%s s\n' '' "$TL_WIDTH" '0 s' "$REPLY"
}

timeline() {
  local label end=$EXIT_US a b c i bar colour fill
  for label in "${LABELS[@]}"; do
    [[ $label == server ]] && continue
    row_span "$label"
    ((TO > end)) && end=$TO
  done
  timeline_header "$end"
  for label in "${LABELS[@]}"; do
    row_span "$label"
    fill='='
    [[ $label == server ]] && fill='-'
    col "$FROM" && a=$REPLY
    col "$MID" && b=$REPLY
    col "$TO" && c=$REPLY
    bar=''
    for ((i = 0; i < TL_WIDTH; i++)); do
      if ((i == c)); then
        if ((OK)); then bar+='o'; else bar+='X'; fi
      elif ((i == TL_SIGCOL)); then
        bar+='|'
      elif ((i >= a && i < b)); then
        bar+='.'
      elif ((i >= b && i < c)); then
        bar+=$fill
      else
        bar+=' '
      fi
    done
    colour=$GREEN
    ((OK)) || colour=$RED
    bar=${bar//|/$YELLOW|$colour}
    printf '  %-9s %s%s%s  %s\n' "$label" "$colour" "$bar" "$RESET" "$NOTE"
  done
  printf '  %s= in flight or running  . queued  o answered/done  X failed  - server up%s\n' "$DIM" "$RESET"
}

# ------------------------------------------------------------------- steps --

step_build() {
  local name
  banner "Build the three examples" \
    "We build binaries and run those, not \`go run\`: a signal sent to \`go run\`" \
    "reaches the go tool, which dies and leaves the real server running." \
    "Requests go to 127.0.0.1:$PORT only. Timings: GET / takes $DELAY, shutdown budget $TIMEOUT."
  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/graceful-demo.XXXXXX")
  show_cmd cd "$REPO_ROOT"
  for name in 01-basic 02-graceful 03-workers; do
    show_cmd go build -o "$WORK_DIR/bin/$name" "./$name"
    build_examples "$WORK_DIR/bin" "$name"
  done
  show_cmd cd "$WORK_DIR/bin"
  cd "$WORK_DIR/bin"
}

step_basic() {
  quote_cmd "${CURL[@]}" "http://$ADDR/"
  banner "Step 1 of 4: 01-basic, no signal handling, stopped with SIGINT (Ctrl+C)" \
    "Three GET / requests (each takes $DELAY) start $STAGGER s apart. Once the log shows" \
    "all three inside the handler, the server gets SIGINT, what Ctrl+C sends." \
    "01-basic does not catch it: the process dies on the spot and every request" \
    "in flight gets an empty reply. A 4th request, after the signal, is refused." \
    -- \
    "GIN_MODE=release ./01-basic -addr $ADDR -delay $DELAY &" \
    "$REPLY &        # 3 times, $STAGGER s apart" \
    "kill -INT <server pid>    # like Ctrl+C, once 3 x 'GET / started' are logged" \
    "$REPLY          # after the signal"
  pause "run step 1"
  begin_step 01-basic INT
  launch -addr "$ADDR" -delay "$DELAY"
  send_gets 3
  wait_for_log "$LOG" 'GET / started' 3 "$SERVER_PID" 10
  sleep "$SETTLE"
  signal_server INT "the log shows 3 x 'GET / started': signal now, as Ctrl+C would"
  wait_port_closed "$PORT" 10
  note "the port is closed; one more request"
  fire late fg GET /
  expect req1 'curl: (52) Empty reply from server'
  expect req2 'curl: (52) Empty reply from server'
  expect req3 'curl: (52) Empty reply from server'
  expect late 'curl: (7) connection refused'
  expect server 'killed by SIGINT'
  finish_step
}

step_graceful() {
  quote_cmd "${CURL[@]}" "http://$ADDR/"
  banner "Step 2 of 4: 02-graceful, stopped with SIGTERM (kill, docker stop, Kubernetes)" \
    "Same three requests. This time the server gets SIGTERM, what \`kill PID\`," \
    "\`docker stop\` and Kubernetes send. 02-graceful catches it: it closes the" \
    "listener at once (a 4th request is refused) and gives the three requests" \
    "up to -timeout $TIMEOUT to finish. Each gets its answer; the process exits 0." \
    -- \
    "GIN_MODE=release ./02-graceful -addr $ADDR -delay $DELAY -timeout $TIMEOUT &" \
    "$REPLY &        # 3 times, $STAGGER s apart" \
    "kill -TERM <server pid>   # once 3 x 'GET / started' are logged" \
    "$REPLY          # once 'Shutdown Server' is logged"
  pause "run step 2"
  begin_step 02-graceful TERM
  launch -addr "$ADDR" -delay "$DELAY" -timeout "$TIMEOUT"
  send_gets 3
  wait_for_log "$LOG" 'GET / started' 3 "$SERVER_PID" 10
  sleep "$SETTLE"
  signal_server TERM "the log shows 3 x 'GET / started': signal now, as \`kill\` would"
  wait_for_log "$LOG" 'Shutdown Server' 1 "$SERVER_PID" 10
  wait_port_closed "$PORT" 10
  note "'Shutdown Server' is logged and the port is closed; one more request"
  fire late fg GET /
  expect req1 '200 Welcome Gin Server'
  expect req2 '200 Welcome Gin Server'
  expect req3 '200 Welcome Gin Server'
  expect late 'curl: (7) connection refused'
  expect server 'exit 0 (Server exiting)'
  finish_step
}

step_workers() {
  local i get post
  quote_cmd "${CURL[@]}" "http://$ADDR/"
  get=$REPLY
  quote_cmd "${CURL[@]}" -X POST "http://$ADDR/jobs"
  post=$REPLY
  banner "Step 3 of 4: 03-workers, requests and background jobs, stopped with SIGINT" \
    "Two GET / requests, then four POST /jobs: each job is accepted with a 202" \
    "at once, and 2 workers run them ($WORK each), so two run and two wait." \
    "Then SIGINT (Ctrl+C). 03-workers stops accepting (a late POST /jobs is" \
    "refused), lets the requests finish, then lets the workers finish every" \
    "accepted job: each job ends with 'job N done', and the process exits 0." \
    -- \
    "GIN_MODE=release ./03-workers -addr $ADDR -delay $DELAY -timeout $TIMEOUT -workers 2 -work $WORK -queue 10 &" \
    "$get &        # 2 times, $STAGGER s apart" \
    "$post         # 4 times" \
    "kill -INT <server pid>    # once 2 x 'GET / started' and 4 x 'job N queued' are logged" \
    "$post         # once 'Shutdown Server' is logged"
  pause "run step 3"
  begin_step 03-workers INT
  launch -addr "$ADDR" -delay "$DELAY" -timeout "$TIMEOUT" -workers 2 -work "$WORK" -queue 10
  send_gets 2
  for ((i = 1; i <= 4; i++)); do
    fire "job$i" fg POST /jobs
  done
  wait_for_log "$LOG" 'GET / started' 2 "$SERVER_PID" 10
  wait_for_log "$LOG" 'job [0-9]+ queued' 4 "$SERVER_PID" 10
  sleep "$SETTLE"
  signal_server INT "2 requests in the handler, 4 jobs accepted: signal now, as Ctrl+C would"
  wait_for_log "$LOG" 'Shutdown Server' 1 "$SERVER_PID" 10
  wait_port_closed "$PORT" 10
  note "'Shutdown Server' is logged and the port is closed; one more job"
  fire late-job fg POST /jobs
  expect req1 '200 Welcome Gin Server'
  expect req2 '200 Welcome Gin Server'
  for ((i = 1; i <= 4; i++)); do
    expect "job$i" 'done' # finish_step puts "job ID " before it, ID as the server gave
  done
  expect late-job 'curl: (7) connection refused'
  expect server 'exit 0 (Server exiting)'
  finish_step
}

# ------------------------------------------------- step 4: under load, SIGHUP --

# Step 4's clients: CLIENTS loops of GET /, back to back. Each answer is kept
# as loadN.I.{res,out,err} (see request); scan_load reads them into these
# arrays, keyed "N.I": when sent and answered (microseconds), curl's exit
# code, the HTTP status, X-Version, X-Pid and the body. LOAD_DONE[N] counts
# client N's answers read so far.
declare -A R_SENT=() R_END=() R_RC=() R_CODE=() R_VER=() R_PID=() R_BODY=()
LOAD_DONE=()
LOAD_PIDS=()
LOAD_STOP=''
LOAD_RE='^([0-9]+) X-Version: (.*) X-Pid: (.*)$'
# Step 4's two servers: v1, which this script starts, and v2, which v1
# starts on SIGHUP and which the PID file names once it serves.
OLD_PID='' OLD_STATUS='' OLD_EXIT_US=0
NEW_PID='' NEW_START_US=0 NEW_EXIT_US=0 NEW_TERMED=0 NEW_OK=0
# One timeline row being drawn: its bars and its ends, by column.
TL_CHARS=() TL_ENDS=() TL_SIGCOL=0

# load_loop N is client N: GET / again and again until the file LOAD_STOP
# appears, LOAD_MAX requests are sent or LOAD_SECONDS pass.
load_loop() {
  local n=$1 i end
  now_us
  end=$((REPLY + LOAD_SECONDS * 1000000))
  for ((i = 1; i <= LOAD_MAX; i++)); do
    [[ -e $LOAD_STOP ]] && break
    now_us
    ((REPLY < end)) || break
    request "load$n.$i" "${LOAD_CURL[@]}" "http://$ADDR/"
  done
}

# scan_load reads the answers the clients recorded since the last call.
scan_load() {
  local n i key sent answered rc lines
  for ((n = 1; n <= CLIENTS; n++)); do
    for ((i = ${LOAD_DONE[n]:-0} + 1; ; i++)); do
      key=$n.$i
      rc=''
      if [[ -f $STEP_DIR/load$key.res ]]; then
        read -r sent answered rc <"$STEP_DIR/load$key.res" || true
      fi
      [[ $rc =~ ^[0-9]+$ ]] || break # not answered yet
      R_SENT[$key]=$sent R_END[$key]=$answered R_RC[$key]=$rc
      R_CODE[$key]='' R_VER[$key]='' R_PID[$key]='' R_BODY[$key]=''
      if ((rc == 0)); then
        mapfile -t lines <"$STEP_DIR/load$key.out"
        if ((${#lines[@]})) && [[ ${lines[-1]} =~ $LOAD_RE ]]; then
          R_CODE[$key]=${BASH_REMATCH[1]} R_VER[$key]=${BASH_REMATCH[2]} R_PID[$key]=${BASH_REMATCH[3]}
          unset 'lines[-1]'
          R_BODY[$key]=${lines[*]}
        fi
      fi
      LOAD_DONE[n]=$i
    done
  done
}

# load_ok KEY succeeds when that request got 200 Welcome Gin Server.
load_ok() {
  [[ ${R_RC[$1]} == 0 && ${R_CODE[$1]} == 200 && ${R_BODY[$1]} == 'Welcome Gin Server' ]]
}

# load_outcome KEY sets REPLY to what that request got, in the verdict's words.
load_outcome() {
  if [[ ${R_RC[$1]} == 0 ]]; then
    REPLY="${R_CODE[$1]:-no status} ${R_BODY[$1]}"
  else
    outcome "load$1"
  fi
}

# wait_clients VERSION COUNT SECONDS waits until every client has COUNT
# answers (200) from VERSION. It fails when SECONDS pass first, or when no
# client runs any more.
wait_clients() {
  local version=$1 count=$2 seconds=$3 tries n i seen short pid running
  for ((tries = 0; tries < seconds * 20; tries++)); do
    scan_load
    short=0
    for ((n = 1; n <= CLIENTS; n++)); do
      seen=0
      for ((i = 1; i <= ${LOAD_DONE[n]:-0}; i++)); do
        if load_ok "$n.$i" && [[ ${R_VER[$n.$i]} == "$version" ]]; then
          seen=$((seen + 1))
        fi
      done
      ((seen >= count)) || short=1
    done
    ((short)) || return 0
    running=0
    for pid in "${LOAD_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null && running=1
    done
    ((running)) || return 1
    sleep 0.05
  done
  return 1
}

# last_words FROM sets REPLY to a server's last log line (Go's log lines
# only, without stamp and date). Both processes write to the one log, and
# only the stream's order tells them apart: FROM=old takes the lines before
# v2's 'Shutdown Server' (v2 gets SIGTERM after v1 has exited), leaving out
# what v2 logs while it serves; FROM=new takes the last line of all.
last_words() {
  REPLY=$(awk -v who="$1" -v new="${NEW_PID:+1}" '
    who == "old" && new && / Shutdown Server / { exit }
    !/^[0-9]+ [0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9] / { next }
    who == "old" && new && (/ GET \/ started/ || / serving on /) { next }
    { last = $0 }
    END { print last }' "$LOG" | cut -d ' ' -f 4-)
}

step_upgrade() {
  local n get pid tries pidfile=04-zero-downtime.pid
  quote_cmd "${LOAD_CURL[@]}" "http://$ADDR/"
  get=$REPLY
  banner "Step 4 of 4: 04-zero-downtime, upgraded from v1 to v2 under load with SIGHUP" \
    "02-graceful finishes its requests, but until a new process listens, clients" \
    "are refused. 04-zero-downtime hands its listening socket to the new binary" \
    "instead. v1 serves; $CLIENTS clients send GET / (here it takes $UP_DELAY) back to" \
    "back. Mid-load, v2 is installed at v1's path and v1 gets SIGHUP: it starts" \
    "v2 as its child on the same socket and, once v2 is ready, finishes its own" \
    "requests and exits 0. Every request gets a 200, and each client sees the" \
    "X-Version header go from v1 to v2. Last, SIGTERM stops v2 as it did 02." \
    -- \
    "go build -ldflags '-X main.version=v1' -o 04-zero-downtime ./04-zero-downtime" \
    "go build -ldflags '-X main.version=v2' -o 04-zero-downtime-v2 ./04-zero-downtime" \
    "GIN_MODE=release ./04-zero-downtime -addr $ADDR -delay $UP_DELAY -timeout $TIMEOUT -pidfile $pidfile &" \
    "while [ ! -e stop-load ]; do $get; done &   # $CLIENTS clients, $UP_STAGGER s apart" \
    "cp 04-zero-downtime-v2 04-zero-downtime.next   # once each client has 2 answers from v1" \
    "mv 04-zero-downtime.next 04-zero-downtime" \
    "kill -HUP <v1 pid>" \
    "cat $pidfile    # once 'Upgrade done' is logged and v1 has exited: v2's PID" \
    "touch stop-load           # once each client has 2 answers from v2" \
    "kill -TERM <v2 pid>"
  pause "run step 4"
  begin_step 04-zero-downtime HUP
  R_SENT=() R_END=() R_RC=() R_CODE=() R_VER=() R_PID=() R_BODY=() LOAD_DONE=() LOAD_PIDS=()
  LOAD_STOP=$WORK_DIR/bin/stop-load
  OLD_PID='' OLD_STATUS='' OLD_EXIT_US=0 NEW_PID='' NEW_START_US=0 NEW_EXIT_US=0 NEW_TERMED=0 NEW_OK=0

  show_cmd cd "$REPO_ROOT"
  show_cmd go build -ldflags "-X main.version=v1" -o "$WORK_DIR/bin/04-zero-downtime" ./04-zero-downtime
  build_version "$WORK_DIR/bin/04-zero-downtime" 04-zero-downtime v1
  show_cmd go build -ldflags "-X main.version=v2" -o "$WORK_DIR/bin/04-zero-downtime-v2" ./04-zero-downtime
  build_version "$WORK_DIR/bin/04-zero-downtime-v2" 04-zero-downtime v2
  show_cmd cd "$WORK_DIR/bin"

  launch -addr "$ADDR" -delay "$UP_DELAY" -timeout "$TIMEOUT" -pidfile "$pidfile"
  OLD_PID=$SERVER_PID
  # v2 will be v1's child, not ours: the trap finds it through these.
  watch_successors "$OLD_PID" "$WORK_DIR/bin/$pidfile"
  wait_for_log "$LOG" ' serving on ' 1 "$OLD_PID" 10
  show_cmd cat "$pidfile"
  read_pidfile "$pidfile"
  printf '             %s-> %s%s\n' "$DIM" "${REPLY:-(no PID)}" "$RESET"

  now_us
  STEP_T0=$REPLY
  for ((n = 1; n <= CLIENTS; n++)); do
    ((n == 1)) || sleep "$UP_STAGGER"
    show_line "while [ ! -e stop-load ]; do $get; done &"
    set -m # its own process group, so the trap can end the loop and its curl
    load_loop "$n" &
    LOAD_PIDS+=("$!")
    HELPER_PIDS+=("$!")
    set +m
  done
  wait_clients v1 2 15 || die "the clients did not get 2 answers each from v1 within 15 s"

  note "each client has 2 answers from v1. Install v2 where v1 runs from: cp onto"
  note "a running binary fails (text file busy), so copy it beside and mv it over."
  note "mv swaps the name; v1 keeps running its own file, which no name points to"
  show_cmd cp 04-zero-downtime-v2 04-zero-downtime.next
  cp 04-zero-downtime-v2 04-zero-downtime.next
  show_cmd mv 04-zero-downtime.next 04-zero-downtime
  mv 04-zero-downtime.next 04-zero-downtime
  signal_server HUP "SIGHUP: v1 starts ./04-zero-downtime, v2 now, and hands it the socket"

  # The evidence: 'Upgrade done' in the log, v1 gone, the PID file naming v2.
  for ((tries = 0; tries < 200; tries++)); do
    grep -qE 'Upgrade (done|failed)' "$LOG" && break
    pid_running "$OLD_PID" || break
    sleep 0.05
  done
  if grep -q 'Upgrade failed' "$LOG"; then
    note "the upgrade failed, v1 still serves: $(grep -m 1 -o 'Upgrade failed.*' "$LOG")"
  else
    if grep -q 'Upgrade done' "$LOG"; then
      note "'Upgrade done' is logged: v2 serves; v1 finishes its requests, then exits"
    elif pid_running "$OLD_PID"; then
      die "v1 logged neither 'Upgrade done' nor 'Upgrade failed' within 10 s of SIGHUP"
    fi
    wait_server_exit "$OLD_PID" $((TIMEOUT_S + 10))
    OLD_STATUS=$SERVER_STATUS
    now_us
    OLD_EXIT_US=$REPLY
    note "v1 (PID $OLD_PID) has exited; the PID file names the process that serves now"
    show_cmd cat "$pidfile"
    read_pidfile "$pidfile"
    printf '             %s-> %s%s\n' "$DIM" "${REPLY:-(no PID)}" "$RESET"
    if [[ -n $REPLY && $REPLY != "$OLD_PID" ]] && pid_running "$REPLY"; then
      NEW_PID=$REPLY
      log_time " serving on .*\\(pid $NEW_PID\\)"
      NEW_START_US=${REPLY:-$OLD_EXIT_US}
      wait_clients v2 2 15 || note "not every client got 2 answers from v2 within 15 s"
    fi
  fi

  note "stop the load: each client finishes the request it has in flight"
  show_cmd touch stop-load
  touch "$LOAD_STOP"
  for pid in "${LOAD_PIDS[@]}"; do
    wait "$pid" || true
    forget_pid HELPER_PIDS "$pid"
  done
  LOAD_PIDS=()
  scan_load

  if [[ -n $NEW_PID ]]; then
    note "stop v2 as 02-graceful was stopped. It is v1's child, not ours: poll till it is gone"
    if pid_running "$NEW_PID"; then
      show_cmd kill -TERM "$NEW_PID"
      kill -TERM "$NEW_PID"
      NEW_TERMED=1
    fi
    wait_pid_gone "$NEW_PID" $((TIMEOUT_S + 10)) ||
      die "v2 (PID $NEW_PID) did not exit within $((TIMEOUT_S + 10)) s of SIGTERM"
    now_us
    NEW_EXIT_US=$REPLY
  elif pid_running "$OLD_PID"; then
    note "stop v1, which still serves"
    show_cmd kill -TERM "$OLD_PID"
    kill -TERM "$OLD_PID"
    wait_server_exit "$OLD_PID" $((TIMEOUT_S + 10))
    OLD_STATUS=$SERVER_STATUS
    now_us
    OLD_EXIT_US=$REPLY
  fi

  # The log reader stops at EOF, once no process holds the log's FIFO open:
  # then no process of v1's group is left, and the trap need not watch it.
  for ((tries = 0; tries < 100; tries++)); do
    kill -0 "$READER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$READER_PID" 2>/dev/null; then
    note "a process still holds the server log open; the exit trap will end it"
    kill -KILL -- "-$READER_PID" 2>/dev/null || true
  fi
  wait "$READER_PID" || true
  forget_pid HELPER_PIDS "$READER_PID"
  log_time 'EOF$'
  EXIT_US=${REPLY:-$NEW_EXIT_US}
  [[ -z $REPLY ]] || unwatch_successors
  ((NEW_EXIT_US == 0 || EXIT_US == 0)) || NEW_EXIT_US=$EXIT_US

  printf '\n  %sThe server log (%s; v1 and v2 write to the same one):%s\n' "$BOLD" "$PROG" "$RESET"
  cut -d ' ' -f 2- "$LOG" | grep -vE '^EOF$|GET / started|^\[GIN\]' | sed "s/^/    $DIM/; s/\$/$RESET/"
  printf '    %s(left out: %s x "GET / started" and %s [GIN] access lines)%s\n' "$DIM" \
    "$(grep -c 'GET / started' "$LOG")" "$(grep -c ' \[GIN\] ' "$LOG")" "$RESET"

  judge_upgrade
  timeline_upgrade
}

# judge_upgrade prints step 4's verdict, measured from the clients' answers,
# the PID file and the log.
judge_upgrade() {
  local n i key total=0 failed=0 first='' got version pid word count pids seq last
  verdict_header
  for ((n = 1; n <= CLIENTS; n++)); do
    for ((i = 1; i <= ${LOAD_DONE[n]:-0}; i++)); do
      total=$((total + 1))
      load_ok "$n.$i" && continue
      failed=$((failed + 1))
      if [[ -z $first ]]; then
        load_outcome "$n.$i"
        first=$REPLY
      fi
    done
  done
  if ((total == 0)); then
    got='no request was answered'
  elif ((failed == 0)); then
    got='0 failed, all answered 200'
  else
    got="$failed of $total failed: $first"
  fi
  verdict_row requests "$got" '0 failed, all answered 200'

  # Which process answered for each version: v1 = the PID we started, v2 =
  # the one the PID file named after the upgrade.
  for version in v1 v2; do
    pid=$OLD_PID word=old
    [[ $version == v2 ]] && pid=$NEW_PID word=new
    count=0 pids=' '
    for ((n = 1; n <= CLIENTS; n++)); do
      for ((i = 1; i <= ${LOAD_DONE[n]:-0}; i++)); do
        key=$n.$i
        if ! load_ok "$key" || [[ ${R_VER[$key]} != "$version" ]]; then continue; fi
        count=$((count + 1))
        [[ $pids == *" ${R_PID[$key]} "* ]] || pids+="${R_PID[$key]} "
      done
    done
    if ((count == 0)); then
      got="no answer from $version"
    elif [[ -z $pid ]]; then
      got="answers from $version, no $word PID"
    elif [[ $pids == " $pid " ]]; then
      got="answers from $version, the $word PID"
    else
      got="answers from $version, PIDs$pids"
      got=${got% }
    fi
    verdict_row "$version" "$got" "answers from $version, the $word PID"
  done

  # Each client's answers, in order, are v1s and then v2s.
  got='each saw v1, then v2'
  for ((n = 1; n <= CLIENTS; n++)); do
    seq='' last=''
    for ((i = 1; i <= ${LOAD_DONE[n]:-0}; i++)); do
      key=$n.$i
      load_ok "$key" || continue
      [[ ${R_VER[$key]} == "$last" ]] || seq+=" ${R_VER[$key]:-(none)}"
      last=${R_VER[$key]}
    done
    if [[ $seq != ' v1 v2' ]]; then
      got="client$n saw:${seq:- no answer}"
      break
    fi
  done
  verdict_row clients "$got" 'each saw v1, then v2'

  if [[ -z $OLD_STATUS ]]; then
    got='did not exit'
  elif ((OLD_STATUS > 128)); then
    got="killed by SIG$(kill -l $((OLD_STATUS - 128)))"
  else
    last_words old
    got="exit $OLD_STATUS ($REPLY)"
  fi
  verdict_row old "$got" 'exit 0 (Server exiting)'

  if [[ -z $NEW_PID ]]; then
    got='never served'
  else
    last_words new
    if ((NEW_TERMED)); then got="exited on SIGTERM ($REPLY)"; else got="exited before SIGTERM ($REPLY)"; fi
  fi
  verdict_row new "$got" 'exited on SIGTERM (Server exiting)'
  NEW_OK=0
  [[ $got == 'exited on SIGTERM (Server exiting)' ]] && NEW_OK=1
  return 0
}

# tl_draw LABEL OK NOTE prints one timeline row from TL_CHARS, TL_ENDS and
# the signal's column: ends first, then the signal, then the bars. The row
# is green (red when not OK), v2's bars cyan and the signal yellow.
tl_draw() {
  local label=$1 ok=$2 note=$3 i ch bar='' colour=$GREEN want now=''
  ((ok)) || colour=$RED
  for ((i = 0; i < TL_WIDTH; i++)); do
    if [[ -n ${TL_ENDS[i]:-} ]]; then
      ch=${TL_ENDS[i]}
    elif ((i == TL_SIGCOL)); then
      ch='|'
    else
      ch=${TL_CHARS[i]:- }
    fi
    case $ch in
      '|') want=$YELLOW ;;
      2) want=$CYAN ;;
      *) want=$colour ;;
    esac
    [[ $want == "$now" ]] || bar+=$want
    now=$want
    bar+=$ch
  done
  printf '  %-9s %s%s  %s\n' "$label" "$bar" "$RESET" "$note"
}

# timeline_upgrade draws each client's requests, one after the other, with
# the version that answered (1 or 2), and the two servers' lifetimes.
timeline_upgrade() {
  local n i key end=$EXIT_US a c fill v1 v2 bad
  for key in "${!R_END[@]}"; do
    ((R_END[$key] > end)) && end=${R_END[$key]}
  done
  ((OLD_EXIT_US > end)) && end=$OLD_EXIT_US
  ((NEW_EXIT_US > end)) && end=$NEW_EXIT_US
  timeline_header "$end"
  for ((n = 1; n <= CLIENTS; n++)); do
    TL_CHARS=() TL_ENDS=() v1=0 v2=0 bad=0
    for ((i = 1; i <= ${LOAD_DONE[n]:-0}; i++)); do
      key=$n.$i
      col "${R_SENT[$key]}" && a=$REPLY
      col "${R_END[$key]}" && c=$REPLY
      fill='='
      if load_ok "$key"; then
        case ${R_VER[$key]} in
          v1) fill=1 v1=$((v1 + 1)) ;;
          v2) fill=2 v2=$((v2 + 1)) ;;
        esac
        [[ ${TL_ENDS[c]:-} == X ]] || TL_ENDS[c]=o # an o never hides an X
      else
        bad=$((bad + 1))
        TL_ENDS[c]=X
      fi
      for ((; a < c; a++)); do TL_CHARS[a]=$fill; done
    done
    tl_draw "client$n" $((bad == 0)) "$v1 x v1, $v2 x v2, $bad failed"
  done

  TL_CHARS=() TL_ENDS=()
  col "$OLD_EXIT_US" && c=$REPLY
  for ((a = 0; a < c; a++)); do TL_CHARS[a]='-'; done
  secs $((OLD_EXIT_US - STEP_T0))
  if [[ $OLD_STATUS == 0 ]]; then
    TL_ENDS[c]=o
    tl_draw old 1 "v1, PID $OLD_PID: exit 0 at $REPLY s"
  else
    TL_ENDS[c]=X
    tl_draw old 0 "v1, PID $OLD_PID: ${OLD_STATUS:+exit $OLD_STATUS at $REPLY s}"
  fi

  TL_CHARS=() TL_ENDS=()
  if [[ -n $NEW_PID ]]; then
    col "$NEW_START_US" && a=$REPLY
    col "$NEW_EXIT_US" && c=$REPLY
    for ((; a < c; a++)); do TL_CHARS[a]='-'; done
    if ((NEW_OK)); then TL_ENDS[c]=o; else TL_ENDS[c]=X; fi
    secs $((NEW_START_US - STEP_T0))
    a=$REPLY
    secs $((NEW_EXIT_US - STEP_T0))
    tl_draw new "$NEW_OK" "v2, PID $NEW_PID: serving at $a s, gone at $REPLY s"
  else
    tl_draw new 0 'v2 never served'
  fi
  printf '  %s1 2 in flight, answered by v1 or v2  o answered/exit 0  X failed  - server up%s\n' "$DIM" "$RESET"
}

# -------------------------------------------------------------------- main --

step_build
step_basic
pause "go on to step 2"
step_graceful
pause "go on to step 3"
step_workers
pause "go on to step 4"
step_upgrade

now_us
secs $((REPLY - DEMO_T0))
printf '\nFinished in %s s.\n' "$REPLY"
if ((${#MISMATCHES[@]} == 0)); then
  printf '%sRESULT: PASS %d/%d outcomes matched the lesson%s\n' "$GREEN" "$TOTAL" "$TOTAL" "$RESET"
  exit 0
fi
mismatches=$(printf '%s, ' "${MISMATCHES[@]}")
printf '%sRESULT: FAIL %d/%d outcomes matched the lesson; mismatches: %s%s\n' \
  "$RED" $((TOTAL - ${#MISMATCHES[@]})) "$TOTAL" "${mismatches%, }" "$RESET"
exit 1
