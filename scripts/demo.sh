#!/usr/bin/env bash
# demo.sh: the graceful-shutdown lesson, live, in three steps.
#
#   1. 01-basic    gets SIGINT  (Ctrl+C) with requests in flight: they fail.
#   2. 02-graceful gets SIGTERM (kill, docker stop, Kubernetes): they finish.
#   3. 03-workers  gets SIGINT with requests and jobs in flight: all finish.
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

usage() {
  cat <<EOF
Usage: ${0##*/} [--fast] [--no-pause] [--help]

Runs the graceful-shutdown lesson live, one step per example server:
  1. 01-basic    gets SIGINT (Ctrl+C) while requests are in flight: they fail
  2. 02-graceful gets SIGTERM (kill, docker stop, Kubernetes): they finish
  3. 03-workers  gets SIGINT while requests and jobs are in flight: all finish
Each step prints the commands it runs, then a verdict table and a timeline.

Options:
  --fast       short timings (GET / takes 1s, a job 500ms, shutdown budget 3s)
               instead of the blog post's 5 s; for CI
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
if ((FAST)); then
  DELAY=1s TIMEOUT=3s TIMEOUT_S=3 WORK=500ms STAGGER=0.2 SETTLE=0.2
else
  DELAY=5s TIMEOUT=5s TIMEOUT_S=5 WORK=2s STAGGER=0.5 SETTLE=1
fi
PORT=${PORT:-8080}
ADDR=127.0.0.1:$PORT
# curl prints the body, then the status code on a line of its own. --max-time
# bounds every request, so the demo never hangs on one.
CURL=(curl -sS --max-time $((TIMEOUT_S + 10)) -w '\n%{http_code}')

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

# forget_helper PID: it has been waited for, so its PID may be reused.
forget_helper() {
  local gone=$1 pid kept=()
  for pid in "${HELPER_PIDS[@]}"; do
    [[ $pid == "$gone" ]] || kept+=("$pid")
  done
  HELPER_PIDS=("${kept[@]}")
}

# cleanup runs on every exit, also after an error or Ctrl+C: it ends, by PID,
# every server, curl and log reader this script started, and removes the
# temporary directory.
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  local status=$? pid pids=("${SERVER_PIDS[@]}" "${HELPER_PIDS[@]}")
  trap - EXIT INT TERM
  set +e
  for pid in "${SERVER_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null && echo "${0##*/}: stopping server PID $pid" >&2
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
require_tools go curl mkfifo mktemp grep
require_free_port "$PORT"

DEMO_T0=0 # when the demo started, in microseconds
STEP_T0=0 # when the current step's first request went out
now_us
DEMO_T0=$REPLY

# secs US sets REPLY to US microseconds as seconds with two decimals.
secs() {
  local us=$1
  ((us >= 0)) || us=0
  printf -v REPLY '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
}

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
  local when='       '
  if ((STEP_T0)); then
    now_us
    secs $((REPLY - STEP_T0))
    printf -v when '+%5ss' "$REPLY"
  fi
  quote_cmd "$@"
  printf '  %s%s%s  %s$ %s%s\n' "$DIM" "$when" "$RESET" "$BOLD" "$REPLY" "$RESET"
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
  HELPER_PIDS+=("$READER_PID")
  start_server "$fifo" "${cmd[@]}"
  set +m
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
  local pid label got want mark
  for pid in "${CURL_PIDS[@]}"; do
    wait "$pid" || true
    forget_helper "$pid"
  done
  note "waiting for the server to exit"
  wait_server_exit "$SERVER_PID" $((TIMEOUT_S + 10))
  wait "$READER_PID" || true # it stops at EOF, now that the server is gone
  forget_helper "$READER_PID"
  log_time 'EOF$'
  EXIT_US=$REPLY

  printf '\n  %sThe server log (%s):%s\n' "$BOLD" "$PROG" "$RESET"
  cut -d ' ' -f 2- "$LOG" | grep -v '^EOF$' | sed "s/^/    $DIM/; s/\$/$RESET/"
  if grep -qE ' job [0-9]+ queued$' "$LOG"; then
    printf '\n  %sEach job'\''s fate, from that log:%s\n' "$BOLD" "$RESET"
    grep -oE 'job [0-9]+ (done|abandoned: .*)$' "$LOG" | sed 's/^/    /' || echo '    (none logged)'
  fi

  printf '\n  %sVerdict (%s):%s\n' "$BOLD" "$PROG" "$RESET"
  printf '  %-11s %-9s| %-35s| %s\n' program request 'what happened' 'the lesson expects'
  for label in "${LABELS[@]}"; do
    observed "$label"
    got=$REPLY
    want=${EXPECT[$label]}
    if [[ $label == job[0-9]* ]]; then
      job_id "$label"
      want="job ${REPLY:-${label#job}} done"
    fi
    TOTAL=$((TOTAL + 1))
    if [[ $got == "$want" ]]; then
      mark="$GREEN✔$RESET"
    else
      mark="$RED✘$RESET"
      MISMATCHES+=("$PROG $label")
    fi
    printf '%s %-11s %-8s | %-34s | %s\n' "$mark" "$PROG" "$label" "$got" "$want"
  done
  timeline
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

timeline() {
  local label end=$EXIT_US sigcol a b c i bar colour fill
  for label in "${LABELS[@]}"; do
    [[ $label == server ]] && continue
    row_span "$label"
    ((TO > end)) && end=$TO
  done
  TL_SPAN=$((end - STEP_T0))
  ((TL_SPAN > 0)) || TL_SPAN=1
  col "$SIG_US"
  sigcol=$REPLY
  secs $((SIG_US - STEP_T0))
  printf '\n  %sTimeline%s (0 = the first request; %s| = %s sent at %s s%s; one column = %s ms)\n' \
    "$BOLD" "$RESET" "$YELLOW" "$SIG_NAME" "$REPLY" "$RESET" $((TL_SPAN / (TL_WIDTH - 1) / 1000))
  secs "$TL_SPAN"
  printf '  %-9s %-*s%s s\n' '' "$TL_WIDTH" '0 s' "$REPLY"
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
      elif ((i == sigcol)); then
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
  banner "Step 1 of 3: 01-basic, no signal handling, stopped with SIGINT (Ctrl+C)" \
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
  banner "Step 2 of 3: 02-graceful, stopped with SIGTERM (kill, docker stop, Kubernetes)" \
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
  banner "Step 3 of 3: 03-workers, requests and background jobs, stopped with SIGINT" \
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
    expect "job$i" 'done' # finish_step puts in the id the server gave
  done
  expect late-job 'curl: (7) connection refused'
  expect server 'exit 0 (Server exiting)'
  finish_step
}

# -------------------------------------------------------------------- main --

step_build
step_basic
pause "go on to step 2"
step_graceful
pause "go on to step 3"
step_workers

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
