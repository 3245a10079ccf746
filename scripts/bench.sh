#!/usr/bin/env bash
# bench.sh measures what a graceful shutdown costs, for 02-graceful and
# 03-workers, over several runs, and prints a Markdown table of medians and
# the machine it ran on. It is a benchmark, not a test: it reports numbers
# and does not judge them (load.sh does that).
#
#   idle exit       SIGTERM to an idle server -> the process is gone
#   drain overhead  the last in-flight answer reaches its client -> the
#                   process is gone. Shutdown checks for idle connections
#                   at growing intervals (1 ms, 2 ms, 4 ms ... up to every
#                   500 ms), so it notices the end of the drain late.
#   under load      requests cut / refused / served when SIGTERM lands in
#                   the middle of a hey run, at several concurrency levels
#                   (the same run as load.sh, through its functions)
#
# Progress goes to stderr, the Markdown table to stdout:
#   scripts/bench.sh -n 5 > bench.md

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=load.sh
source "$(dirname "${BASH_SOURCE[0]}")/load.sh"

BENCH_PROGRAMS=(02-graceful 03-workers)
BENCH_LEVELS=(10 50 200)      # hey -c for the "under load" rows
LOAD_DELAY=300ms              # GET / under load, as in load.sh --fast
LOAD_DURATION=2s              # hey -z under load
DRAIN_DELAY=1s                # GET / while measuring the drain
DRAIN_CLIENTS=10              # requests in flight while measuring the drain

usage() {
  cat <<EOF
Usage: ${0##*/} [-n RUNS]

Measures, for ${BENCH_PROGRAMS[*]}, the exit time of an idle server, the
drain overhead, and the requests cut / refused / served under load
(hey -c ${BENCH_LEVELS[*]}), and prints the medians as a Markdown table.

  -n RUNS      how many times to measure everything, 1 to 50; default 5
  -h, --help   show this help

Environment: PORT (default 8080) is the port on 127.0.0.1 the servers use.
Takes about 20 s per run.
Exit status: 0 the table was printed; 2 it could not run (bad option, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
EOF
}

# median_of N... prints "MEDIAN MIN MAX" of integers (for an even count,
# the mean of the two middle values).
median_of() {
  local sorted=()
  read -ra sorted <<<"$(printf '%s\n' "$@" | sort -n | tr '\n' ' ')"
  local n=${#sorted[@]} mid=$((${#sorted[@]} / 2)) median
  if ((n % 2)); then
    median=${sorted[mid]}
  else
    median=$(((sorted[mid - 1] + sorted[mid]) / 2))
  fi
  echo "$median ${sorted[0]} ${sorted[n - 1]}"
}

# ms US prints microseconds as milliseconds with one decimal: 1234 -> 1.2.
ms() {
  local us=$1 sign=""
  if ((us < 0)); then sign=- us=$((-us)); fi
  printf '%s%d.%d' "$sign" $((us / 1000)) $((us % 1000 / 100))
}

# ms_cell US... prints "median ms (min–max)" for a table cell.
ms_cell() {
  local median min max
  read -r median min max <<<"$(median_of "$@")"
  echo "$(ms "$median") ms ($(ms "$min")–$(ms "$max"))"
}

# check_exit NAME notes a run whose server did not exit 0; the notes are
# printed under the table.
NOTES=()
check_exit() {
  local name=$1
  if ((WAIT_HUNG || WAIT_RC != 0)); then
    NOTES+=("$name ended with '$(exit_text "$WAIT_RC" "$WAIT_HUNG")' in one run")
  fi
}

# measure_idle NAME PORT sets MEASURED_US: SIGTERM to an idle server -> exit.
measure_idle() {
  local name=$1 port=$2 t0 pid
  launch_server "$name" "$LOAD_DELAY" "$port"
  pid=$SERVER_PID
  # wait_for_port's probe opened a connection: let the server see it close,
  # or Shutdown would wait for it.
  sleep 0.2
  now_us t0
  kill -TERM "$pid"
  wait_exit "$pid" 15
  forget_pid SERVER_PIDS "$pid"
  check_exit "$name"
  MEASURED_US=$((WAIT_US - t0))
}

# measure_drain NAME PORT sets MEASURED_US: the last answer reaches its
# client -> the server is gone. DRAIN_CLIENTS clients send one request each
# (hey -n = -c), so hey exits right after the last answer (within about a
# millisecond: it prints its report and quits). SIGTERM goes at a random
# point of the first 40% of the requests, so that the last answer lands at
# a random point of Shutdown's polling cycle: the median is a fair cost.
measure_drain() {
  local name=$1 port=$2 pid which rc now hey_us="" server_us="" waiting drain_us
  drain_us=$(duration_us "$DRAIN_DELAY")
  launch_server "$name" "$DRAIN_DELAY" "$port"
  pid=$SERVER_PID
  launch_hey "$LOAD_DIR/$name.drain" -c "$DRAIN_CLIENTS" -n "$DRAIN_CLIENTS" "http://127.0.0.1:$port/"
  wait_started "$SERVER_LOG" "$DRAIN_CLIENTS"
  sleep_us $((RANDOM % 1000 * drain_us * 4 / 10 / 1000))
  kill -TERM "$pid"

  sleep 15 &
  GUARD_PID=$!
  while [[ -z $hey_us || -z $server_us ]]; do
    waiting=("$GUARD_PID")
    [[ -n $hey_us ]] || waiting+=("$HEY_PID")
    [[ -n $server_us ]] || waiting+=("$pid")
    rc=0
    wait -n -p which "${waiting[@]}" 2>/dev/null || rc=$?
    now_us now
    case $which in
      "$HEY_PID") hey_us=$now HEY_PID="" ;;
      "$pid") server_us=$now WAIT_RC=$rc WAIT_HUNG=0 ;;
      *) GUARD_PID="" && die "$name: hey or the server still running 15 s after SIGTERM" ;;
    esac
  done
  kill -KILL "$GUARD_PID" 2>/dev/null || true # see wait_exit
  wait "$GUARD_PID" 2>/dev/null || true
  GUARD_PID=""
  forget_pid SERVER_PIDS "$pid"
  check_exit "$name"
  MEASURED_US=$((server_us - hey_us))
}

machine_line() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  echo "${cpu:-unknown CPU}, $(nproc) CPUs (nproc)"
}

main() {
  local runs=5
  while (($# > 0)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      -n)
        (($# >= 2)) || die "-n needs a number"
        runs=$2
        shift
        ;;
      *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
  done
  if ! [[ $runs =~ ^[0-9]+$ ]] || ((10#$runs < 1 || 10#$runs > 50)); then
    die "-n must be a number from 1 to 50, got '$runs'"
  fi
  runs=$((10#$runs))

  require_bash_51
  require_tools go awk nproc
  local port=${PORT:-8080}
  require_free_port "$port"

  load_traps
  load_prepare "$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")" "${BENCH_PROGRAMS[@]}"

  # Samples, one space-separated list per "PROGRAM:measurement".
  local -A samples=()
  local run name c
  for ((run = 1; run <= runs; run++)); do
    for name in "${BENCH_PROGRAMS[@]}"; do
      echo "run $run/$runs: $name ..." >&2
      measure_idle "$name" "$port"
      samples[$name:idle]+=" $MEASURED_US"
      measure_drain "$name" "$port"
      samples[$name:drain]+=" $MEASURED_US"
      for c in "${BENCH_LEVELS[@]}"; do
        run_load "$name" "$c" "$LOAD_DURATION" "$LOAD_DELAY" "$port"
        WAIT_RC=${RESULT[$name:exit_rc]} WAIT_HUNG=0
        check_exit "$name"
        samples[$name:cut$c]+=" ${RESULT[$name:cut]}"
        samples[$name:refused$c]+=" ${RESULT[$name:refused]}"
        samples[$name:served$c]+=" ${RESULT[$name:served]}"
      done
    done
  done

  local row cell median key _
  echo "### Graceful shutdown benchmark"
  echo
  echo "- machine: $(machine_line)"
  echo "- $(go version)"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- $runs runs; times are median (min–max), counts are medians"
  echo
  printf '| measurement |'
  printf ' %s |' "${BENCH_PROGRAMS[@]}"
  printf '\n|---|'
  printf -- '---:|%.0s' "${BENCH_PROGRAMS[@]}"
  printf '\n'

  row="| SIGTERM → exit, idle server |"
  for name in "${BENCH_PROGRAMS[@]}"; do
    # shellcheck disable=SC2086 # the samples are space-separated numbers
    row+=" $(ms_cell ${samples[$name:idle]}) |"
  done
  echo "$row"
  row="| drain overhead: last answer → exit ($DRAIN_CLIENTS requests of $DRAIN_DELAY) |"
  for name in "${BENCH_PROGRAMS[@]}"; do
    # shellcheck disable=SC2086
    row+=" $(ms_cell ${samples[$name:drain]}) |"
  done
  echo "$row"
  for c in "${BENCH_LEVELS[@]}"; do
    row="| c=$c: cut / refused / served |"
    for name in "${BENCH_PROGRAMS[@]}"; do
      cell=""
      for key in cut refused served; do
        # shellcheck disable=SC2086
        read -r median _ <<<"$(median_of ${samples[$name:$key$c]})"
        cell+="${cell:+ / }$median"
      done
      row+=" $cell |"
    done
    echo "$row"
  done

  echo
  echo "Under load: GET / takes $LOAD_DELAY, hey -c C -z $LOAD_DURATION -q 20 (each client"
  echo "tries at most 20 times a second, which caps \"refused\"), SIGTERM in the middle."
  if ((${#NOTES[@]} > 0)); then
    echo
    printf -- '- note: %s\n' "${NOTES[@]}"
  fi
}

main "$@"
