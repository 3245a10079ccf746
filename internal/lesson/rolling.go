package lesson

import (
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
