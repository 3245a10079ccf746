package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"golang.org/x/sys/unix"
)

// LoadConfig is one program under hey's load, or under clients that never
// resend (NeverResend).
type LoadConfig struct {
	Program  string // its name, as the tables show it: "02-graceful"
	Binary   string // the binary to start
	Hey      string // the hey binary (see BuildHey)
	Port     int    // on 127.0.0.1
	Delay    string // how long GET / takes, as -delay reads it: "300ms"
	Clients  int    // hey -c
	Duration string // hey -z, as given: "2s"
	Args     []string
	// NeverResend, when set, puts client.NeverResend's clients, which
	// never resend a request, in hey's place, on connections of that kind.
	NeverResend client.Connections
}

// LoadResult is what one load run saw: hey's report, and how the server
// (in the upgrade scenarios, the old and the new one) ended. load.sh's
// table, its verdict and its --json report are made from it.
type LoadResult struct {
	Program    string         `json:"program"`
	Clients    string         `json:"clients"` // "hey", or "never resend, " and the connections' kind
	Statuses   map[int]int    `json:"statuses"`
	Served     int            `json:"served"` // answers, whatever their status
	Refused    int            `json:"refused"`
	Cut        int            `json:"cut"`
	Timeout    int            `json:"timeout"`
	Other      int            `json:"other"`
	OtherTexts map[string]int `json:"other_texts,omitempty"`
	// CutBy counts the cut requests of clients that never resend by what
	// they saw: "connection reset by peer", "unexpected EOF" (FailureText).
	CutBy      map[string]int `json:"cut_by,omitempty"`
	Signal     string         `json:"signal"`       // "SIGTERM", "SIGHUP"
	SignalAt   time.Duration  `json:"signal_at_ns"` // since hey started
	Exit       string         `json:"exit"`         // how the (old) server ended, see Ending.Text
	ExitStatus int            `json:"exit_status"`  // see Ending.Status
	ExitAfter  time.Duration  `json:"exit_after_ns"`
	// AnsweredBeforeShutdown counts, under hey, the answers the (old)
	// server sent after SIGTERM went (once every request was in the
	// handler, see WaitAllInFlight) and before it logged "Shutdown
	// Server": 0, unless the machine was so busy that the signal went, or
	// was handled, late. Each such answer kept its connection open, and the
	// client's next request on it may meet Shutdown closing it: net/http's
	// keep-alive race cuts at most that many (gracefulMismatches).
	AnsweredBeforeShutdown int `json:"answered_before_shutdown"`
	// Started counts, under hey, the requests that reached the handler
	// ("GET / started"), in the server and, after a restart, in the new
	// one: a graceful program answers every one (Served), whatever the
	// keep-alive race cut before they could reach it.
	Started int `json:"started"`

	// The upgrade scenarios (RunRestart, RunUpgrade) add these.
	OldServer    string        `json:"old_server,omitempty"` // "PID N", or "v1, PID N" for 04
	NewServer    string        `json:"new_server,omitempty"`
	NewAfter     time.Duration `json:"new_after_ns,omitempty"` // signal -> the new process accepts
	AfterOldExit int           `json:"after_old_exit"`         // answers the new process gave once the old one had exited
	NewExit      string        `json:"new_exit,omitempty"`
	NewVersion   string        `json:"new_version,omitempty"` // 04: what the log and the PID file say
	NewPID       int           `json:"new_pid,omitempty"`
	PIDFilePID   int           `json:"pidfile_pid,omitempty"`
}

// Codes are the status codes received, in order.
func (r LoadResult) Codes() []int {
	var codes []int
	for code := range r.Statuses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	return codes
}

// Count is the number of failed requests of class c.
func (r LoadResult) Count(c client.Class) int {
	switch c {
	case client.Refused:
		return r.Refused
	case client.Cut:
		return r.Cut
	case client.Timeout:
		return r.Timeout
	}
	return r.Other
}

// LoadRun is one run in progress: a server, hey (or client.NeverResend) against it.
type LoadRun struct {
	Config      LoadConfig
	Server      *proc.Server
	Hey         *proc.Process
	NeverResend *client.NeverResend // instead of Hey, when Config.NeverResend is set
	Began       time.Time           // when hey started
	Ends        time.Time           // when its -z runs out
	// Signalled is when SignalInFlight signalled the server, and
	// answeredAtSignal how many answers it had logged when the signal
	// was decided on (WaitAllInFlight).
	Signalled        time.Time
	answeredAtSignal int
	Result           LoadResult
}

// BeginLoad starts the program and hey against it (see client.HeyCommand), or
// client.NeverResend's clients, and returns in the middle of the run, once every
// client's first request has reached the handler.
func BeginLoad(d *proc.Guard, cfg LoadConfig, args ...string) (*LoadRun, error) {
	duration, err := ParseDuration(cfg.Duration)
	if err != nil {
		return nil, err
	}
	s, err := StartServerListening(d, cfg, args...)
	if err != nil {
		return nil, err
	}
	r := &LoadRun{Config: cfg, Server: s, Result: LoadResult{Program: cfg.Program, Clients: "hey"}}
	r.Began = time.Now()
	r.Ends = r.Began.Add(duration)
	if cfg.NeverResend != "" {
		r.Result.Clients = "never resend, " + string(cfg.NeverResend)
		r.NeverResend = client.StartNeverResend(client.NeverResendOptions{Addr: s.Addr, Clients: cfg.Clients, Connections: cfg.NeverResend, Until: r.Ends})
	} else if r.Hey, err = d.Start(client.HeyCommand(cfg.Hey, s.URL("/"), "-c", strconv.Itoa(cfg.Clients), "-z", cfg.Duration)); err != nil {
		return nil, err
	}
	// Sync on evidence, not on a guess: wait for every client's first
	// request in the handler, then for the middle of the run.
	if err := s.Out.WaitFor("GET / started", cfg.Clients, s.OutputDone, 10*time.Second); err != nil {
		return nil, fmt.Errorf("only %d of %d requests reached the handler within 10 s", started(s.Out.All()), cfg.Clients)
	}
	time.Sleep(time.Until(r.Began.Add(duration / 2))) // the middle of the run: where the signal goes, not a sync
	return r, nil
}

// StartServerListening starts the program on 127.0.0.1:cfg.Port, GET / taking
// cfg.Delay, with cfg.Args and args as more flags, and waits (10 s at
// most) until it accepts connections.
func StartServerListening(d *proc.Guard, cfg LoadConfig, args ...string) (*proc.Server, error) {
	addr := "127.0.0.1:" + strconv.Itoa(cfg.Port)
	if err := proc.RequireFreePort(addr); err != nil {
		return nil, err
	}
	flags := append(append([]string{"-delay", cfg.Delay}, cfg.Args...), args...)
	s, err := d.StartServer(cfg.Binary, addr, flags...)
	if err != nil {
		return nil, err
	}
	if err := proc.WaitListening(addr, proc.Connect, 10*time.Second, s.Exited); err != nil {
		if !s.Running() {
			return nil, fmt.Errorf("the server exited before listening on port %d: %s", cfg.Port, s.Process.LastLine())
		}
		return nil, fmt.Errorf("the server did not listen on port %d within 10 s", cfg.Port)
	}
	return s, nil
}

// started and answered count the requests that entered the handler ("GET
// / started" lines) and those answered (gin's logger writes its "[GIN]"
// line as the answer goes out).
func started(lines []proc.Line) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l.Text, "GET / started") {
			n++
		}
	}
	return n
}

func answered(lines []proc.Line) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l.Text, "[GIN]") {
			n++
		}
	}
	return n
}

// WaitAllInFlight waits (10 s at most) until, after an answer went out,
// all clients have their next request inside the handler, and two looks
// 20 ms apart agree (no answer in between). hey's clients move in step
// (same start, same delay): answers go out in bursts a delay apart, and
// this is the quiet part between two bursts, with no answer due soon and
// no keep-alive connection idle between two requests.
//
// Why that matters: a SIGTERM that lands inside a burst would hit Go's
// keep-alive race. Shutdown closes idle connections, and drops a request
// that reaches one after it started (net/http's serve loop returns
// without answering); Go's client resends such a request only when it is
// replayable, which hey's are not (see client.HeyCommand). That loss is real, but
// it is another lesson than "02 finishes what it accepted".
func (r *LoadRun) WaitAllInFlight() error {
	want := r.Config.Clients
	first, previous, inFlight := -1, -1, 0
	for range 500 {
		// Out may lag behind the server on a busy machine: look at all it
		// has said, or an answer it already sent could go unseen.
		if err := r.Server.Sync(time.Second); err != nil {
			return err
		}
		lines := r.Server.Out.All()
		finished := answered(lines)
		inFlight = started(lines) - finished
		if first < 0 {
			first = finished
		} else if finished > first && inFlight >= want && finished == previous {
			r.answeredAtSignal = finished
			return nil
		}
		previous = -1
		if inFlight >= want {
			previous = finished
		}
		time.Sleep(20 * time.Millisecond) // the 20 ms of quiet looked for, not a sync
	}
	return fmt.Errorf("the clients were never all in flight at once within 10 s (%d of %d)", inFlight, want)
}

// waitSignalMoment waits for the moment the signal goes: with hey, until
// every request is in flight (WaitAllInFlight). Clients that never resend
// are there to meet the signal as it comes, requests arriving and
// keep-alive connections between two requests: they do not wait.
func (r *LoadRun) waitSignalMoment() error {
	if r.NeverResend != nil {
		return nil
	}
	return r.WaitAllInFlight()
}

// SignalInFlight sends sig to the server once every hey client's request
// is inside the handler (see waitSignalMoment), and records when.
func (r *LoadRun) SignalInFlight(sig syscall.Signal) error {
	if err := r.waitSignalMoment(); err != nil {
		return err
	}
	r.Signalled = time.Now()
	r.Result.Signal, r.Result.SignalAt = unix.SignalName(sig), r.Signalled.Sub(r.Began)
	return r.Server.Signal(sig)
}

// recordExit records how the (old) server ended.
func (r *LoadRun) recordExit(e proc.Ending) {
	r.Result.Exit, r.Result.ExitStatus = e.Text(), e.Status()
	r.Result.ExitAfter = e.At.Sub(r.Signalled)
}

// WaitExit waits (15 s at most: 02, 03 and 04 may take up to their
// -timeout, 5 s, to drain) until the signalled server has exited, killing
// it after that, and records how it ended and, under hey, the answers it
// sent before it began to shut down.
func (r *LoadRun) WaitExit() {
	r.recordExit(r.Server.WaitEnding(15 * time.Second))
	if r.Hey == nil {
		return
	}
	select { // the last of its output
	case <-r.Server.OutputDone:
	case <-time.After(2 * time.Second):
	}
	r.Result.AnsweredBeforeShutdown = answeredBeforeShutdown(r.Server.Out.All(), r.answeredAtSignal)
}

// answeredBeforeShutdown counts the answers logged after the first
// answeredAtSignal ones and before the "Shutdown Server" line (0 when
// there is none: the program never shut down gracefully).
func answeredBeforeShutdown(lines []proc.Line, answeredAtSignal int) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l.Text, " Shutdown Server ") {
			return max(n-answeredAtSignal, 0)
		}
		if strings.HasPrefix(l.Text, "[GIN]") {
			n++
		}
	}
	return 0
}

// Finish waits for hey to finish and reads its report into Result (or
// client.NeverResend's counts, see finishNeverResend).
func (r *LoadRun) Finish() error {
	if r.NeverResend != nil {
		r.finishNeverResend()
		return nil
	}
	// hey stops starting requests once -z runs out and waits for those in
	// flight (HeyTimeout at most): what is left of -z, then that, then 5 s
	// more is plenty.
	limit := max(time.Until(r.Ends), 0) + client.HeyTimeout + 5*time.Second
	if _, err := r.Hey.WaitExit(limit); err != nil {
		return fmt.Errorf("hey did not finish within %s s", report.Seconds(limit))
	}
	report := client.ParseHey(r.Hey.Out.String())
	res := &r.Result
	res.Statuses = report.Statuses
	res.Served = 0
	for _, n := range report.Statuses {
		res.Served += n
	}
	res.Refused, res.Cut = report.Errors[client.Refused], report.Errors[client.Cut]
	res.Timeout, res.Other = report.Errors[client.Timeout], report.Errors[client.Other]
	res.OtherTexts = report.OtherTexts
	return nil
}

// finishNeverResend waits for client.NeverResend's clients to stop (at the end of the run,
// client.NeverResendTimeout later at most) and sorts their counts as hey's report is:
// each failure by ClassifyText, and the cut ones by what the client saw.
func (r *LoadRun) finishNeverResend() {
	counts := r.NeverResend.Wait()
	res := &r.Result
	res.Statuses, res.CutBy, res.OtherTexts = make(map[int]int), make(map[string]int), make(map[string]int)
	for answer, n := range counts.Answers {
		res.Statuses[answer.Status] += n
		res.Served += n
	}
	for text, n := range counts.Failures {
		switch client.ClassifyText(text) {
		case client.Refused:
			res.Refused += n
		case client.Cut:
			res.Cut += n
			res.CutBy[text] += n
		case client.Timeout:
			res.Timeout += n
		default:
			res.Other += n
			res.OtherTexts[text] += n
		}
	}
}

// requireTimeLeft fails (a setup error, not a lesson mismatch) when when
// is less than 100 ms before hey's -z runs out: the new process would get
// no request of its own.
func (r *LoadRun) requireTimeLeft(what string, when time.Time) error {
	if when.Add(100 * time.Millisecond).Before(r.Ends) {
		return nil
	}
	return fmt.Errorf("-z %s is too short: hey's run was (nearly) over when %s, %s s in; use a longer -z",
		r.Config.Duration, what, report.Seconds(when.Sub(r.Began)))
}

// RunLoad starts the program with GET / taking cfg.Delay, runs hey (or
// client.NeverResend's clients) for cfg.Duration, sends SIGTERM in the middle (with
// hey, when the first round of requests after half of the run is all in
// the handler), and returns what the clients saw and how the server ended.
func RunLoad(d *proc.Guard, cfg LoadConfig) (LoadResult, error) {
	r, err := BeginLoad(d, cfg)
	if err != nil {
		return LoadResult{}, err
	}
	if err := r.SignalInFlight(syscall.SIGTERM); err != nil {
		return LoadResult{}, err
	}
	r.WaitExit()
	err = r.Finish()
	r.countStarted(r.Server.Process)
	return r.Result, err
}

// countStarted adds, under hey, the requests that reached the handlers of
// servers (their output complete: each has exited) to Result.Started.
func (r *LoadRun) countStarted(servers ...*proc.Process) {
	if r.Hey == nil {
		return
	}
	for _, s := range servers {
		r.Result.Started += started(s.Out.All())
	}
}

// RunRestart puts a new version in place the classic way: under hey's
// load, the program gets SIGTERM in the middle of the run (as in RunLoad);
// once it has exited, a new one starts on the same port, and hey goes on.
// Until the new one listens, nothing does.
func RunRestart(d *proc.Guard, cfg LoadConfig) (LoadResult, error) {
	r, err := BeginLoad(d, cfg)
	if err != nil {
		return LoadResult{}, err
	}
	r.Result.OldServer = fmt.Sprintf("PID %d", r.Server.PID())
	if err := r.SignalInFlight(syscall.SIGTERM); err != nil {
		return LoadResult{}, err
	}
	r.WaitExit()

	next, err := StartServerListening(d, cfg)
	if err != nil {
		return LoadResult{}, err
	}
	listening := time.Now()
	if err := r.requireTimeLeft("the new "+cfg.Program+" listened", listening); err != nil {
		return LoadResult{}, err
	}
	r.Result.NewServer = fmt.Sprintf("PID %d", next.PID())
	r.Result.NewAfter = listening.Sub(r.Signalled)

	if err := r.Finish(); err != nil {
		return LoadResult{}, err
	}
	r.Result.AfterOldExit = answered(next.Out.All())
	if err := next.Signal(syscall.SIGTERM); err != nil {
		return LoadResult{}, err
	}
	r.Result.NewExit = next.WaitEnding(15 * time.Second).Text()
	select { // the last of its output
	case <-next.OutputDone:
	case <-time.After(2 * time.Second):
	}
	r.countStarted(r.Server.Process, next.Process)
	return r.Result, nil
}

// RunUpgrade upgrades 04-zero-downtime in place under hey's load: in the
// middle of the run (when RunLoad would send SIGTERM), the build v2 is
// moved over the running binary and the program gets SIGHUP (see
// UpgradeInPlace). It starts v2 as its child on the same socket and, once
// v2 serves, finishes its requests and exits; hey goes on. Then v2 gets
// SIGTERM, as 02 does in RunRestart. pidFile is the program's -pidfile.
func RunUpgrade(d *proc.Guard, cfg LoadConfig, v2, pidFile string) (LoadResult, error) {
	r, err := BeginLoad(d, cfg, "-pidfile", pidFile)
	if err != nil {
		return LoadResult{}, err
	}
	old := r.Server.Process
	// v2 will be v1's child, not ours: the cleanup finds it through these.
	d.WatchSuccessors(old, pidFile)
	first, err := WaitServing(old, 0, 10*time.Second)
	if err != nil {
		return LoadResult{}, err
	}
	r.Result.OldServer = fmt.Sprintf("%s, PID %d", first.Version, old.PID())

	u, err := UpgradeInPlace(old, UpgradeSteps{
		Binary:       cfg.Binary,
		Build:        v2,
		PIDFile:      pidFile,
		BeforeSignal: r.waitSignalMoment,
		ServeLimit:   10 * time.Second,
		ExitLimit:    15 * time.Second,
	})
	if err != nil {
		return LoadResult{}, err
	}
	r.Signalled = u.Signalled
	r.Result.Signal, r.Result.SignalAt = unix.SignalName(syscall.SIGHUP), u.Signalled.Sub(r.Began)
	r.Result.NewServer = fmt.Sprintf("%s, PID %d", u.New.Version, u.New.PID)
	r.Result.NewVersion, r.Result.NewPID, r.Result.PIDFilePID = u.New.Version, u.New.PID, u.PIDFile
	r.Result.NewAfter = u.New.At.Sub(u.Signalled)
	r.recordExit(u.Old)
	if err := r.requireTimeLeft("the old "+cfg.Program+" exited", u.Old.At); err != nil {
		return LoadResult{}, err
	}

	if err := r.Finish(); err != nil {
		return LoadResult{}, err
	}
	r.Result.AfterOldExit = answersAfterExit(old.Out.All())
	r.Result.NewExit = stopSuccessor(old, u.New.PID)
	if !proc.PIDRunning(u.New.PID) {
		d.UnwatchSuccessors()
	}
	return r.Result, nil
}

// answersAfterExit counts the answers logged after the first "Server
// exiting": in 04's output, which v1 and v2 share, the answers v2 gave
// once v1 was gone.
func answersAfterExit(lines []proc.Line) int {
	for i, l := range lines {
		if strings.HasSuffix(l.Text, " Server exiting") {
			return answered(lines[i+1:])
		}
	}
	return 0
}

// stopSuccessor sends SIGTERM to the process that took over from old. It
// is not our child: there is no exit status to wait for, so it polls until
// the process is gone and reads how it ended in the log they share: "exit
// 0 (log)" when the log ends with the second "Server exiting".
func stopSuccessor(old *proc.Process, pid int) string {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !proc.WaitPIDGone(pid, 15*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		proc.WaitPIDGone(pid, 2*time.Second)
		return "hung, killed"
	}
	select {
	case <-old.OutputDone: // the last of its output is in
	case <-time.After(2 * time.Second):
	}
	lines := old.Out.All()
	exiting := 0
	for _, l := range lines {
		if strings.HasSuffix(l.Text, " Server exiting") {
			exiting++
		}
	}
	if exiting >= 2 && strings.HasSuffix(lines[len(lines)-1].Text, " Server exiting") {
		return "exit 0 (log)"
	}
	return "failed (log)"
}

// ParseDuration reads a duration with one unit, as load.sh's -z takes it:
// 300ms, 2s, 1.5s, 1m (6 decimals at most).
func ParseDuration(text string) (time.Duration, error) {
	m := durationText.FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("not a duration like 3s, 1500ms or 1m: '%s'", text)
	}
	whole, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || whole > 1_000_000 {
		whole = 1_000_000 // far beyond any limit, and no overflow below
	}
	frac, _ := strconv.ParseInt((m[3] + "000000")[:6], 10, 64)
	millionths := whole*1_000_000 + frac // of the unit
	unit := map[string]time.Duration{"ms": time.Nanosecond, "s": time.Microsecond, "m": 60 * time.Microsecond}[m[4]]
	return time.Duration(millionths) * unit, nil
}

var durationText = regexp.MustCompile(`^([0-9]+)(\.([0-9]{1,6}))?(ms|s|m)$`)
