package lab

import (
	"fmt"
	"time"
)

// RollingStep is the demo's step 5: 05-load-balancer's Instances behind
// HAProxy, restarted one by one (SIGTERM, exit, start again, UP) while
// Clients clients send GET / through HAProxy back to back.
var RollingStep = struct {
	Program   string
	Instances int
	Clients   int
	// Answers is how many answers each instance must have given before
	// the restart starts, and each new one before the load stops.
	Answers int
	Expect  []Verdict
}{
	Program:   "05-load-balancer",
	Instances: 3,
	Clients:   4,
	Answers:   2,
	Expect: []Verdict{
		{Label: "app1", Want: RestartedCleanly},
		{Label: "app2", Want: RestartedCleanly},
		{Label: "app3", Want: RestartedCleanly},
		{Label: "requests", Want: "0 failed, all answered 200"},
		{Label: "retries", Want: "0 (HAProxy's show stat)"},
	},
}

// RestartedCleanly is what the lesson expects of each instance in a
// rolling restart.
const RestartedCleanly = "DOWN before it stopped, exit 0, UP"

// RestartVerdict is one instance's restart in the verdict's words.
func RestartVerdict(r Restart) string {
	down := "DOWN before it stopped"
	switch {
	case r.Down.IsZero():
		down = "never DOWN"
	case !r.DownBeforeStopping():
		down = "DOWN after it stopped"
	}
	up := "UP"
	if r.Up.IsZero() {
		up = "never UP"
	}
	return down + ", " + r.Exit + ", " + up
}

// RollingDrainDelay is 05's -drain-delay in a rolling restart, the demo's,
// load.sh --rolling's and TestRollingRestart's (at PostTimings): HAProxy
// needs fall × inter = 200 ms to see the 503s; the rest is room for a busy
// machine, and time to watch.
func RollingDrainDelay(t Timings) time.Duration {
	if t == FastTimings {
		return time.Second
	}
	return 2 * time.Second
}

// RollingHandlerDelay is GET /'s -delay in load.sh --rolling and
// TestRollingRestart: a fast handler, so that the requests come often
// and many fall into the moment when 02's port refuses connections (from
// its listener closing until HAProxy's second failed check or the new
// instance listening, whichever comes first).
const RollingHandlerDelay = 50 * time.Millisecond

// LegendRolling explains the rolling restart's timeline.
const LegendRolling = "= in flight  o answered/exit 0  X failed  - instance up  D HAProxy has it DOWN"

// RestartRow draws an instance of a rolling restart on a timeline that
// starts at t0 and ends at stopped: up ('-') until HAProxy has it DOWN
// ('D'), which lasts until it exits ('o' for exit 0), then the new one up
// from when HAProxy reports it UP.
func RestartRow(r Restart, t0, stopped time.Time) TimelineRow {
	down := r.Down
	if down.IsZero() || down.After(r.Exited) {
		down = r.Exited
	}
	spans := []Span{
		{From: t0, To: down, Fill: '-'},
		{From: down, To: r.Exited, Fill: 'D', End: endMark(r.Exit == "exit 0")},
	}
	if !r.Up.IsZero() {
		spans = append(spans, Span{From: r.Up, To: stopped, Fill: '-', End: 'o'})
	}
	return TimelineRow{Label: r.Server, OK: RestartVerdict(r) == RestartedCleanly, Spans: spans,
		Note: fmt.Sprintf("SIGTERM %s, DOWN %s, exit %s, UP %s", SecondsSince(t0, r.Signalled),
			SecondsSince(t0, r.Down), SecondsSince(t0, r.Exited), SecondsSince(t0, r.Up))}
}

// SecondsSince is t on a clock that starts at t0, as Seconds writes it;
// "never" for a zero t.
func SecondsSince(t0, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return Seconds(t.Sub(t0))
}

// endMark is 'o' for an ending that went well, 'X' for one that did not.
func endMark(ok bool) byte {
	if ok {
		return 'o'
	}
	return 'X'
}
