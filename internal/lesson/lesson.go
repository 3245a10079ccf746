package lesson

import (
	"fmt"
	"syscall"
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

// PostTimings are the blog post's numbers; FastTimings are --fast's, for CI.
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

// Step is one step of the lesson as data: the program and its flags, what
// is sent and when, the evidence to wait for, the signal, and the outcome
// the lesson expects. The demo runs it; its verdicts and the tests read
// Expect.
type Step struct {
	Program string
	Title   string
	Signal  syscall.Signal
	// Intro says what will happen; it is printed before the commands.
	Intro func(Timings) []string
	Flags func(Timings) []string // after -addr
	Gets  int                    // GET / requests sent in the background, Stagger apart
	Jobs  int                    // POST /jobs sent next, in the foreground
	// Before is what the log must show before the signal goes out; After,
	// what it must show (besides a closed port) before the late request.
	Before []Evidence
	After  []Evidence
	// Late is the request sent once the listener is closed.
	Late Request
	// Expect lists the verdict rows in order, with what the lesson expects
	// (Got empty). A job's Want is its fate; the row says "job ID FATE",
	// ID as the server gave it.
	Expect []Verdict
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

// Steps are the demo's first three steps; the upgrade (step 4) is
// UpgradeStep, which runs under load, and step 6 is StreamingStep.
var Steps = []Step{
	{
		Program: "01-basic",
		Title:   "01-basic, no signal handling, stopped with SIGINT (Ctrl+C)",
		Signal:  syscall.SIGINT,
		Intro: func(t Timings) []string {
			return []string{
				fmt.Sprintf("Three GET / requests (each takes %s) start %s apart. Once the log shows", t.Delay, t.Stagger),
				"all three inside the handler, the server gets SIGINT, what Ctrl+C sends.",
				"01-basic does not catch it: the process dies on the spot and every request",
				"in flight gets an empty reply. A 4th request, after the signal, is refused.",
			}
		},
		Flags:  func(t Timings) []string { return []string{"-delay", t.Delay.String()} },
		Gets:   3,
		Before: []Evidence{{"GET / started", 3}},
		Late:   Request{"late", "GET", "/"},
		Expect: append(expectGets(3, EmptyReply),
			Verdict{Label: "late", Want: Refusal}, Verdict{Label: "server", Want: "killed by SIGINT"}),
	},
	{
		Program: "02-graceful",
		Title:   "02-graceful, stopped with SIGTERM (kill, docker stop, Kubernetes)",
		Signal:  syscall.SIGTERM,
		Intro: func(t Timings) []string {
			return []string{
				"Same three requests. This time the server gets SIGTERM, what `kill PID`,",
				"`docker stop` and Kubernetes send. 02-graceful catches it: it closes the",
				"listener at once (a 4th request is refused) and gives the three requests",
				fmt.Sprintf("up to -timeout %s to finish. Each gets its answer; the process exits 0.", t.Timeout),
			}
		},
		Flags:  func(t Timings) []string { return []string{"-delay", t.Delay.String(), "-timeout", t.Timeout.String()} },
		Gets:   3,
		Before: []Evidence{{"GET / started", 3}},
		After:  []Evidence{{"Shutdown Server", 1}},
		Late:   Request{"late", "GET", "/"},
		Expect: append(expectGets(3, Answered),
			Verdict{Label: "late", Want: Refusal}, Verdict{Label: "server", Want: ExitedClean}),
	},
	{
		Program: "03-workers",
		Title:   "03-workers, requests and background jobs, stopped with SIGINT",
		Signal:  syscall.SIGINT,
		Intro: func(t Timings) []string {
			return []string{
				"Two GET / requests, then four POST /jobs: each job is accepted with a 202",
				fmt.Sprintf("at once, and 2 workers run them (%s each), so two run and two wait.", t.Work),
				"Then SIGINT (Ctrl+C). 03-workers stops accepting (a late POST /jobs is",
				"refused), lets the requests finish, then lets the workers finish every",
				"accepted job: each job ends with 'job N done', and the process exits 0.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-delay", t.Delay.String(), "-timeout", t.Timeout.String(),
				"-workers", "2", "-work", t.Work.String(), "-queue", "10"}
		},
		Gets:   2,
		Jobs:   4,
		Before: []Evidence{{"GET / started", 2}, {" queued", 4}},
		After:  []Evidence{{"Shutdown Server", 1}},
		Late:   Request{"late-job", "POST", "/jobs"},
		Expect: append(expectGets(2, Answered),
			Verdict{Label: "job1", Want: "done"}, Verdict{Label: "job2", Want: "done"},
			Verdict{Label: "job3", Want: "done"}, Verdict{Label: "job4", Want: "done"},
			Verdict{Label: "late-job", Want: Refusal}, Verdict{Label: "server", Want: ExitedClean}),
	},
}

// UpgradeStep is step 4: 04-zero-downtime upgraded from v1 to v2 with
// SIGHUP while Clients clients send GET / back to back.
var UpgradeStep = struct {
	Program string
	Clients int
	// Answers is how many answers each client must have from a version
	// before the next move: from v1 before the upgrade, from v2 before the
	// load stops.
	Answers int
	Expect  []Verdict
}{
	Program: "04-zero-downtime",
	Clients: 4,
	Answers: 2,
	Expect: []Verdict{
		{Label: "requests", Want: "0 failed, all answered 200"},
		{Label: "v1", Want: "answers from v1, the old PID"},
		{Label: "v2", Want: "answers from v2, the new PID"},
		{Label: "clients", Want: "each saw v1, then v2"},
		{Label: "old", Want: ExitedClean},
		{Label: "new", Want: "exited on SIGTERM (Server exiting)"},
	},
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
