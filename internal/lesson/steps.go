package lesson

import (
	"fmt"
	"syscall"
	"time"
)

// Shape is how a step runs: the demo has one runner per shape, and a new
// lesson's step is an entry in Steps, with a new runner only when none of
// these fits it.
type Shape string

const (
	// InFlight: GET requests (and POST /jobs) in flight, the signal once
	// the log shows them in the handler, a late request once the listener
	// is closed (steps 1 to 3).
	InFlight Shape = "in-flight"
	// HandOver: an in-place upgrade under load, v2 installed over the
	// running v1 and SIGHUP (step 4).
	HandOver Shape = "hand-over"
	// RollingRestart: instances behind HAProxy restarted one by one under
	// load (step 5).
	RollingRestart Shape = "rolling-restart"
	// OpenConnections: a stream, a socket and a request open at the
	// signal (step 6).
	OpenConnections Shape = "open-connections"
	// KillAndRestart: kill -9 mid-job, then started again on the same
	// store (step 7).
	KillAndRestart Shape = "kill-and-restart"
	// SharedQueue: instances sharing one PostgreSQL queue, kill -9 to
	// one mid-job, a rolling restart of the others (step 8).
	SharedQueue Shape = "shared-queue"
	// OpenCalls: a gRPC health Watch, a server stream and a slow call
	// open at the signal, each a grpcurl (step 9).
	OpenCalls Shape = "open-calls"
)

// Step is one step of the classroom demo as data: the program and its
// flags, what is sent and when, the evidence to wait for, the signal, and
// the outcome the lesson expects. The demo runs it (its Shape picks the
// runner); its help text is made from Summary; its verdicts and the tests
// read Expect.
type Step struct {
	Number  int    // the lesson's number: demo.sh --step N
	Program string // the lesson's folder
	Shape   Shape
	// Summary is the step's entry in demo.sh --help, line by line.
	Summary []string
	// Needs is a command the step needs besides Go and curl ("haproxy"):
	// without it the whole demo leaves the step out and says so.
	Needs string
	// Builds are the packages built before the steps run: the program,
	// and a client of the step's own. A step that builds its program as
	// part of the lesson (the upgrade's v1 and v2) lists none.
	Builds []string
	Title  string // the banner's, after "Step N: "
	Signal syscall.Signal
	// Intro says what will happen; it is printed before the commands.
	Intro func(Timings) []string
	Flags func(Timings) []string // after -addr
	Gets  int                    // GET / requests sent in the background, Stagger apart
	Jobs  int                    // POST /jobs sent in the foreground
	// Clients send GET / back to back (HandOver, RollingRestart); each
	// must have Answers answers before the next move.
	Clients int
	Answers int
	// Instances run behind HAProxy (RollingRestart), or share one
	// PostgreSQL queue (SharedQueue).
	Instances int
	// Workers run the jobs (KillAndRestart).
	Workers int
	// Tick is how often a stream and a socket send a message
	// (OpenConnections).
	Tick time.Duration
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

// StepOf returns the step whose program is program, and whether there is
// one.
func StepOf(program string) (Step, bool) {
	for _, s := range Steps {
		if s.Program == program {
			return s, true
		}
	}
	return Step{}, false
}

// Steps are the demo's steps, in order, numbered as their lessons.
var Steps = []Step{
	{
		Number:  1,
		Program: "01-basic",
		Shape:   InFlight,
		Builds:  []string{"01-basic"},
		Summary: []string{"gets SIGINT (Ctrl+C) while requests are in flight: they fail"},
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
		Number:  2,
		Program: "02-graceful",
		Shape:   InFlight,
		Builds:  []string{"02-graceful"},
		Summary: []string{"gets SIGTERM (kill, docker stop, Kubernetes): they finish"},
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
		Number:  3,
		Program: "03-workers",
		Shape:   InFlight,
		Builds:  []string{"03-workers"},
		Summary: []string{"gets SIGINT while requests and jobs are in flight: all finish"},
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
	{
		Number:  4,
		Program: "04-zero-downtime",
		Shape:   HandOver,
		Summary: []string{"is upgraded from v1 to v2 with SIGHUP while 4 clients",
			"keep sending requests: it hands its socket over, none fails"},
		Title: "04-zero-downtime, upgraded from v1 to v2 under load with SIGHUP",
		Intro: func(t Timings) []string {
			return []string{
				"02-graceful finishes its requests, but until a new process listens, clients",
				"are refused. 04-zero-downtime hands its listening socket to the new binary",
				fmt.Sprintf("instead. v1 serves; %d clients send GET / (here it takes %s) back to", 4, t.UpDelay),
				"back. Mid-load, v2 is installed at v1's path and v1 gets SIGHUP: it starts",
				"v2 as its child on the same socket and, once v2 is ready, finishes its own",
				"requests and exits 0. Every request gets a 200, and each client sees the",
				"X-Version header go from v1 to v2. Last, SIGTERM stops v2 as it did 02.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-delay", t.UpDelay.String(), "-timeout", t.Timeout.String(), "-pidfile", PIDFile}
		},
		Signal:  syscall.SIGHUP,
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
	},
	{
		Number:  5,
		Program: "05-load-balancer",
		Shape:   RollingRestart,
		Summary: []string{"runs as 3 instances behind HAProxy, restarted one by one",
			"while 4 clients send requests through it: none fails",
			"(needs haproxy: without it the whole demo leaves this",
			"step out and says so; uses PORT and the 3 ports after it)"},
		Needs: "haproxy",
		Title: "05-load-balancer, a rolling restart behind HAProxy",
		Intro: func(t Timings) []string {
			return []string{
				"In production several instances sit behind a load balancer, and a deploy",
				"restarts them one by one. HAProxy learns that one is going only when its",
				"health check fails: 02-graceful, which closes its listener at the signal,",
				"refuses what HAProxy still sends it meanwhile. 05-load-balancer answers",
				fmt.Sprintf("/readyz with 503 from the signal on and keeps serving for -drain-delay (%s):", RollingDrainDelay(t)),
				"HAProxy takes it out (DOWN) before it stops accepting. Every request gets",
				"a 200, and HAProxy never has to retry one.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-delay", t.UpDelay.String(), "-drain-delay", RollingDrainDelay(t).String(), "-timeout", t.Timeout.String()}
		},
		Signal:    syscall.SIGTERM,
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
	},
	{
		Number:  6,
		Program: "06-streaming",
		Shape:   OpenConnections,
		Summary: []string{"gets SIGTERM with an SSE stream (curl -N), a WebSocket",
			"and a request open: the stream and the socket end at",
			"once, the request finishes, and it exits 0 right after"},
		Builds: []string{"06-streaming", WebSocketClient},
		Title:  "06-streaming, a stream, a WebSocket and a request open, stopped with SIGTERM",
		Intro: func(t Timings) []string {
			return []string{
				"Server-Sent Events and WebSockets keep a connection open as long as the page",
				"is open. Shutdown waits for a stream as for any request, until its budget",
				"runs out, and forgets a WebSocket, whose connection was hijacked. 06-streaming",
				"registers a hook with srv.RegisterOnShutdown: at the signal the stream gets",
				"a last `event: shutdown` and ends, the socket gets a close frame 1001 (going",
				fmt.Sprintf("away), and the budget (%s) is left for the request in flight (GET / takes", t.Timeout),
				fmt.Sprintf("%s): it gets its 200, and the process exits 0 as soon as it has.", t.Delay),
				"The stream's client is curl -N. The WebSocket's is ./wsclient, built from",
				"scripts/wsclient: curl cannot speak WebSocket and Debian has no client the",
				"lab uses, so it is a few lines of Go on coder/websocket (the server's",
				"library) that print each message and the close, as a browser reports them.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-delay", t.Delay.String(), "-timeout", t.Timeout.String(), "-tick", (500 * time.Millisecond).String()}
		},
		Signal: syscall.SIGTERM,
		Tick:   500 * time.Millisecond,
		Expect: []Verdict{
			{Label: "stream", Want: StreamEndedClean},
			{Label: "socket", Want: SocketGoingAway},
			{Label: "request", Want: Answered},
			{Label: "server", Want: ExitedClean},
		},
	},
	{
		Number:  7,
		Program: "07-durable-jobs",
		Shape:   KillAndRestart,
		Summary: []string{"gets kill -9 while jobs run, and is started again on",
			"the same SQLite file: every job done, its effect once"},
		Builds: []string{"07-durable-jobs"},
		Title:  "07-durable-jobs, kill -9 mid-job, started again",
		Intro: func(t Timings) []string {
			return []string{
				fmt.Sprintf("Four POST /jobs, each committed to jobs.db (SQLite) before its 202; %d", 2),
				fmt.Sprintf("workers take a job each (%s) under a %s lease, so two run and two wait.", DurableWork(t), DurableLease(t)),
				"Then kill -9: no program can catch it, 03-workers would lose all four.",
				"Started again on the same jobs.db, 07 takes the two queued jobs at once,",
				"rescues the two that were running once their lease runs out, runs them a",
				"second time, and applies each job's effect once.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-db", "jobs.db", "-workers", "2",
				"-work", DurableWork(t).String(), "-lease", DurableLease(t).String(), "-timeout", t.Timeout.String()}
		},
		Signal:  syscall.SIGKILL,
		Workers: 2,
		Jobs:    4,
		Before:  []Evidence{{"started (attempt 1)", 2}},
		Expect: []Verdict{
			{Label: "job1", Want: "done, 2 attempts, 1 effect"},
			{Label: "job2", Want: "done, 2 attempts, 1 effect"},
			{Label: "job3", Want: "done, 1 attempt, 1 effect"},
			{Label: "job4", Want: "done, 1 attempt, 1 effect"},
			{Label: "server1", Want: "killed by SIGKILL"},
			{Label: "server2", Want: "exit 0 (Server exiting)"},
		},
	},
	{
		Number:  8,
		Program: "08-river",
		Shape:   SharedQueue,
		Summary: []string{"runs as 3 instances sharing River's queue in PostgreSQL;",
			"kill -9 to the one running job 1, a rolling restart of the",
			"others: every job done, its effect once (needs PostgreSQL:",
			"without it the whole demo leaves this step out and says so;",
			"uses the 3 ports after PORT)"},
		Needs:  "postgresql",
		Builds: []string{"08-river"},
		Title:  "08-river, three instances on River: kill -9 and a rolling restart",
		Intro: func(t Timings) []string {
			return []string{
				"Three instances share one queue: River's tables in PostgreSQL. Four POST /jobs;",
				fmt.Sprintf("each instance runs one job at a time (%s). kill -9 to the one running job 1:", RiverWork(t)),
				"its row stays 'running'. The two others get SIGTERM one at a time (River's soft",
				"stop lets their running job finish) and are started again. River's rescuer, in",
				fmt.Sprintf("the leading instance, takes job 1 back once it is older than -rescue-after (%s),", RiverRescueAfter(t)),
				"at its next sweep (every 30 s; a dead leader's term first, 15 s): up to a minute.",
				"Every job done, its effect once.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-workers", "1", "-work", RiverWork(t).String(),
				"-rescue-after", RiverRescueAfter(t).String(), "-timeout", t.Timeout.String()}
		},
		Signal:    syscall.SIGKILL,
		Instances: 3,
		Jobs:      4,
		Expect: []Verdict{
			{Label: "job1", Want: "done, 2 attempts, 1 effect"},
			{Label: "job2", Want: "done, 1 attempt, 1 effect"},
			{Label: "job3", Want: "done, 1 attempt, 1 effect"},
			{Label: "job4", Want: "done, 1 attempt, 1 effect"},
			{Label: "killed", Want: "killed by SIGKILL"},
			{Label: "stopped1", Want: "exit 0 (Server exiting)"},
			{Label: "stopped2", Want: "exit 0 (Server exiting)"},
		},
	},
	{
		Number:  9,
		Program: "09-grpc",
		Shape:   OpenCalls,
		Summary: []string{"gets SIGTERM with a health Watch, a stream and a slow",
			"call open (grpcurl): NOT_SERVING at once, the stream and",
			"the Watch end with the server's status after the drain,",
			"the call is answered, and it exits 0 right after"},
		Builds: []string{"09-grpc", GRPCurl},
		Title:  "09-grpc, a health Watch, a stream and a slow call open, stopped with SIGTERM",
		Intro: func(t Timings) []string {
			return []string{
				"The same stop on grpc-go. At the signal the health service says NOT_SERVING",
				fmt.Sprintf("at once, and the server keeps taking calls for -drain-delay (%s): 05's", GRPCDrainDelay(t)),
				"readiness drain. Then a stream interceptor ends every stream, the health",
				"Watch too, with UNAVAILABLE \"server shutting down\": 06's hook. GracefulStop,",
				fmt.Sprintf("beside a %s timer that would call Stop, waits for the call in flight (Slow", t.Timeout),
				fmt.Sprintf("takes %s): it gets its answer, and the process exits 0 as soon as it has.", t.Delay),
				"The clients are grpcurl (a tool of go.mod), which prints each message and",
				"the status that ends a call.",
			}
		},
		Flags: func(t Timings) []string {
			return []string{"-delay", t.Delay.String(), "-drain-delay", GRPCDrainDelay(t).String(),
				"-timeout", t.Timeout.String(), "-tick", (500 * time.Millisecond).String()}
		},
		Signal: syscall.SIGTERM,
		Tick:   500 * time.Millisecond,
		Expect: []Verdict{
			{Label: "watch", Want: WatchNotServingThenEnded},
			{Label: "stream", Want: GRPCShuttingDown},
			{Label: "call", Want: GRPCWelcome},
			{Label: "server", Want: ExitedClean},
		},
	},
}

// GRPCurl is the package of step 9's client, grpcurl, a tool of go.mod.
const GRPCurl = "github.com/fullstorydev/grpcurl/cmd/grpcurl"

// The outcomes of step 9's clients as grpcurl prints them: the statuses a
// Watch received, then the status that ended it; the status that ended the
// stream; the call's answer.
const (
	GRPCShuttingDown         = "Unavailable: server shutting down"
	WatchNotServingThenEnded = "SERVING, NOT_SERVING, " + GRPCShuttingDown
	GRPCWelcome              = `"Welcome gRPC Server"`
)

// GRPCDrainDelay is 09's -drain-delay in the demo: long enough to watch,
// short enough that the call started before the signal is still in
// flight when the drain ends.
func GRPCDrainDelay(t Timings) time.Duration {
	if t == FastTimings {
		return time.Second
	}
	return 2 * time.Second
}

// PIDFile is the -pidfile of the hand-over step, in the build folder: the
// serving process's PID.
const PIDFile = "04-zero-downtime.pid"

// WebSocketClient is the package of the demo's WebSocket client (see its
// doc comment: what it prints, why it exists).
const WebSocketClient = "scripts/wsclient"

// RestartedCleanly is what the lesson expects of each instance in a
// rolling restart.
const RestartedCleanly = "DOWN before it stopped, exit 0, UP"

// The outcomes of step 6's stream and socket, as the demo words them: the
// stream's last event was "shutdown" and curl exited 0; the socket got a
// close frame with 1001, going away, and 06-streaming's reason.
const (
	StreamEndedClean = "event: shutdown, curl exit 0"
	SocketGoingAway  = "close 1001 server shutting down"
)

// RollingDrainDelay is 05's -drain-delay in a rolling restart, the demo's,
// load.sh rolling's and TestRollingRestart's (at PostTimings): HAProxy
// needs fall × inter = 200 ms to see the 503s; the rest is room for a busy
// machine, and time to watch.
func RollingDrainDelay(t Timings) time.Duration {
	if t == FastTimings {
		return time.Second
	}
	return 2 * time.Second
}

// RollingHandlerDelay is GET /'s -delay in load.sh rolling and
// TestRollingRestart: a fast handler, so that the requests come often
// and many fall into the moment when 02's port refuses connections (from
// its listener closing until HAProxy's second failed check or the new
// instance listening, whichever comes first).
const RollingHandlerDelay = 50 * time.Millisecond

// DurableWork is how long a job takes in the kill-and-restart step: twice
// Timings.Work, so that the kill lands while the first jobs run.
func DurableWork(t Timings) time.Duration {
	return 2 * t.Work
}

// DurableLease is the kill-and-restart step's -lease: twice a job's time,
// so that a job that runs once keeps its lease even when a renewal (every
// third of it) comes a whole job's time late on a busy machine.
func DurableLease(t Timings) time.Duration {
	return 2 * DurableWork(t)
}

// RiverWork is how long a job takes in the River step: half the budget,
// so that a stopped instance's running job ends within it, and long
// enough that job 1 still runs once every instance has started a job
// (River's producers may wait for their next poll, every second, to fetch).
func RiverWork(t Timings) time.Duration {
	return t.Timeout / 2
}

// RiverRescueAfter is the River step's -rescue-after, each job's deadline
// too: a job's time and 5 s, room for its completion's commit on a busy
// machine. The rescue waits for River's sweep (every 30 s) anyway.
func RiverRescueAfter(t Timings) time.Duration {
	return RiverWork(t) + 5*time.Second
}
