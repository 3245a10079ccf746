package lesson

import (
	"fmt"
	"time"
)

// Timings are a demo run's numbers: the post's (5 s requests) or --fast's.
type Timings struct {
	Delay   time.Duration // how long GET / takes
	Timeout time.Duration // the shutdown budget
	Work    time.Duration // how long a job takes (03)
	Stagger time.Duration // between two requests sent in flight
	// Settle is pacing, not synchronisation: the signal goes out Settle
	// after the log shows every request inside the handler, so that it
	// lands mid-request. It also keeps the last request (which needs Delay
	// from its start) inside the budget when, as in the post, Delay equals
	// Timeout.
	Settle time.Duration
	// The upgrade step: GET / takes UpDelay, shorter than Delay, so that
	// each client sends several requests before and after the upgrade; its
	// clients start UpStagger apart and stop after LoadFor at the latest.
	UpDelay   time.Duration
	UpStagger time.Duration
	LoadFor   time.Duration
}

// PostTimings are the blog post's numbers; FastTimings are --fast's, for a
// shorter class and for the tests.
var (
	PostTimings = Timings{Delay: 5 * time.Second, Timeout: 5 * time.Second, Work: 2 * time.Second,
		Stagger: 500 * time.Millisecond, Settle: time.Second,
		UpDelay: time.Second, UpStagger: 250 * time.Millisecond, LoadFor: time.Minute}
	FastTimings = Timings{Delay: 2 * time.Second, Timeout: 4 * time.Second, Work: 500 * time.Millisecond,
		Stagger: 200 * time.Millisecond, Settle: 200 * time.Millisecond,
		UpDelay: 300 * time.Millisecond, UpStagger: 75 * time.Millisecond, LoadFor: 30 * time.Second}
)

// Evidence is a log line to wait for: N lines containing Text.
type Evidence struct {
	Text string
	N    int
}

// Request is one request of a step.
type Request struct {
	Label  string
	Method string
	Path   string
}

// The outcomes the lessons talk about, as the demo words them.
const (
	EmptyReply  = "curl: (52) Empty reply from server"
	Refusal     = "curl: (7) connection refused"
	Answered    = "200 " + Welcome
	ExitedClean = "exit 0 (Server exiting)"
)

func expectGets(n int, want string) []Verdict {
	var rows []Verdict
	for i := 1; i <= n; i++ {
		rows = append(rows, Verdict{Label: fmt.Sprintf("req%d", i), Want: want})
	}
	return rows
}

// Verdict is one row of a step's verdict: what happened to a request, a
// job or the server, beside what the lesson expects.
type Verdict struct {
	Label string `json:"label"`
	Got   string `json:"got"`
	Want  string `json:"want"`
}

// Matched reports whether the outcome was the lesson's.
func (v Verdict) Matched() bool { return v.Got == v.Want }

// Welcome is the slow handler's answer.
const Welcome = "Welcome Gin Server"
