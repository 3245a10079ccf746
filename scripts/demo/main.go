// The classroom demo, run by scripts/demo.sh: the graceful-shutdown lesson,
// live, one step per program, numbered as its lesson. The steps are
// internal/lesson's Steps, data: each has a Shape, and runners below has
// one runner per shape. demo.sh --help lists them, from the same data.
//
// Every step prints the commands it runs and runs exactly those (real curl,
// real kill, real cp and mv), then a verdict table (what happened, what the
// lesson expects, from the step's Expect) and a timeline.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/pgcluster"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"golang.org/x/sys/unix"
)

const name = "demo.sh"

// usage is --help's text: usageHead, the steps (stepList), usageTail; %s
// in usageTail is the list of step numbers.
const usageHead = `Usage: demo.sh [--fast] [--no-pause] [--step N] [--lang LANG] [--json FILE] [--help]

Runs the graceful-shutdown lesson live, one step per example server, each
step numbered as its lesson:
`

const usageTail = `Each step prints the commands it runs, then a verdict table and a timeline.

Options:
  --fast       short timings (GET / takes 2s, a job 500ms, shutdown budget 4s;
               300ms a request in step 4) instead of the blog post's 5 s
               (1s a request in step 4); a shorter class
               and the tests
  --no-pause   do not wait for Enter between steps (also the case when
               stdin is not a terminal)
  --step N     run step N only (%s)
  --lang LANG  the language of the narration, the tables and the last line:
               en or zh-TW (Traditional Chinese, Taiwan); by default zh-TW
               when the locale (LC_ALL, else LC_MESSAGES, else LANG) is
               zh_TW.*, else en. The commands and the programs' own output
               stay as they are
  --json FILE  also write every verdict to FILE, as JSON
  -h, --help   show this help

Environment:
  PORT         port on 127.0.0.1 for the servers (default 8080); must be free
  NO_COLOR     set it (non-empty) to turn colours off; they are only ever
               used when stdout is a terminal

Exit status: 0 every outcome matched the lesson; 1 some did not (the last
line names them); 2 the demo could not run (bad option, missing tool, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
`

// stepList is the steps' entries in --help: number, program, summary.
func stepList(w lesson.Words) string {
	var b strings.Builder
	for _, s := range lesson.Steps {
		for i, line := range w.Step(s).Summary {
			if i == 0 {
				fmt.Fprintf(&b, "  %d. %-16s %s\n", s.Number, s.Program, line)
			} else {
				fmt.Fprintf(&b, "  %19s %s\n", "", line)
			}
		}
	}
	return b.String()
}

// runners run the steps, one per shape: a new lesson's step is an entry
// in lesson.Steps, and a runner here only when its shape is new.
var runners = map[lesson.Shape]func(d *demo, s lesson.Step){
	lesson.InFlight:        (*demo).runInFlight,
	lesson.HandOver:        (*demo).runUpgrade,
	lesson.RollingRestart:  (*demo).runRolling,
	lesson.OpenConnections: (*demo).runStreaming,
	lesson.KillAndRestart:  (*demo).runDurable,
	lesson.SharedQueue:     (*demo).runRiver,
	lesson.OpenCalls:       (*demo).runGRPC,
}

// missing is the one-line message for a command a step needs.
func missing(command string) string {
	if command == "postgresql" {
		return pgcluster.ErrNotInstalled.Error()
	}
	return command + " is not installed: apt-get install " + command
}

// lacks reports whether what step s needs is missing: a command on PATH,
// or PostgreSQL (DATABASE_URL's server, or initdb and pg_ctl, which
// Debian keeps off PATH).
func lacks(s lesson.Step) bool {
	switch s.Needs {
	case "":
		return false
	case "postgresql":
		_, err := pgcluster.Binaries()
		return err != nil && os.Getenv("DATABASE_URL") == ""
	}
	_, err := exec.LookPath(s.Needs)
	return err != nil
}

// stepNumbers lists the steps for a person: "1, 2, 3, 4, 5, 6 or 7".
func stepNumbers(w lesson.Words) string {
	var numbers []string
	for _, s := range lesson.Steps {
		numbers = append(numbers, strconv.Itoa(s.Number))
	}
	last := len(numbers) - 1
	return w.T("%s or %s", strings.Join(numbers[:last], ", "), numbers[last])
}

// demo is one run: its options, its output, what it started, its verdicts.
type demo struct {
	t       lesson.Timings
	c       report.Colours
	w       lesson.Words // the language of all it prints but commands and logs
	pause   bool
	addr    string
	root    string // the checkout
	work    string // the temporary folder: the upgrade's builds, PID file, HAProxy's files
	bin     string // the build folder, kept between runs: the servers run from there
	stepT0  time.Time
	results []stepResult
	leftOut string // why a step is left out (no haproxy), or empty

	// drv ends, on every exit path, every server the demo started and the
	// successor 04-zero-downtime starts itself, and removes the temporary
	// folder; SIGINT or SIGTERM end the demo that way with 130 or 143.
	drv *proc.Guard
}

// stepResult is one step's verdicts and timeline, as --json writes them.
type stepResult struct {
	Program  string           `json:"program"`
	Verdicts []lesson.Verdict `json:"verdicts"`
	Timeline []timelineRow    `json:"timeline"`
}

// timelineRow is a timeline row's bar, in plain text.
type timelineRow struct {
	Label string `json:"label"`
	Bar   string `json:"bar"`
	Note  string `json:"note"`
}

func main() {
	d := &demo{t: lesson.PostTimings, drv: proc.NewGuard(name)}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fast := fs.Bool("fast", false, "")
	noPause := fs.Bool("no-pause", false, "")
	only := fs.Int("step", 0, "")
	jsonFile := fs.String("json", "", "")
	lang := fs.String("lang", "", "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		fail("%v (try --help)", err)
	}
	// --lang wins over the locale.
	language := lesson.LocaleLanguage(os.Getenv)
	if *lang != "" {
		var err error
		if language, err = lesson.ParseLanguage(*lang); err != nil {
			fail("%v", err)
		}
	}
	d.w = lesson.WordsOf(language)
	if *help {
		fmt.Print(d.w.T(usageHead) + stepList(d.w) + d.w.T(usageTail, stepNumbers(d.w)))
		return
	}
	if fs.NArg() > 0 {
		fail("unknown argument '%s' (try --help)", fs.Arg(0))
	}
	selected := lesson.Steps
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "step" {
			i := slices.IndexFunc(lesson.Steps, func(s lesson.Step) bool { return s.Number == *only })
			if i < 0 {
				fail("--step must be %s (a step is its lesson's number), got %d", stepNumbers(lesson.WordsOf(lesson.English)), *only)
			}
			selected = lesson.Steps[i : i+1]
		}
	})

	if *fast {
		d.t = lesson.FastTimings
	}
	d.pause = !*noPause && isTerminal(os.Stdin)
	if isTerminal(os.Stdout) && os.Getenv("NO_COLOR") == "" {
		d.c = report.TerminalColours
	}
	d.check()
	// A step may need a command (step 5: haproxy). Asked for alone, it
	// cannot run without it; the whole demo leaves it out, says so now and
	// again at the end.
	var leftOut []string
	for _, s := range selected {
		if lacks(s) {
			if len(selected) == 1 {
				fail("%s", missing(s.Needs))
			}
			leftOut = append(leftOut, d.w.T("step %d left out: %s", s.Number, missing(s.Needs)))
		}
	}
	if len(leftOut) > 0 {
		selected = slices.DeleteFunc(slices.Clone(selected), lacks)
		d.leftOut = strings.Join(leftOut, "; ")
		fmt.Println(d.leftOut)
	}

	start := time.Now()
	d.build(selected)
	for i, s := range selected {
		if i > 0 {
			d.pauseFor(d.w.T("go on to step %d, %s", s.Number, s.Program))
		}
		run, ok := runners[s.Shape]
		if !ok {
			d.die("step %d: no runner for its shape %q", s.Number, s.Shape)
		}
		run(d, s)
	}
	d.finish(start, *jsonFile)
}

// fail prints one line and exits 2: the demo could not run.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", name, fmt.Sprintf(format, args...))
	os.Exit(2)
}

// die is fail once everything the demo started is ended.
func (d *demo) die(format string, args ...any) {
	d.drv.Failf(format, args...)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// check refuses to start without its tools or with a busy port.
func (d *demo) check() {
	for _, tool := range []string{"go", "curl", "kill", "cp", "mv"} {
		if _, err := exec.LookPath(tool); err != nil {
			fail("'%s' is needed but was not found in PATH", tool)
		}
	}
	out, err := exec.Command("curl", "--version").Output()
	m := regexp.MustCompile(`^curl (\d+)\.(\d+)`).FindSubmatch(out)
	if err != nil || m == nil || atoi(m[1])*1000+atoi(m[2]) < 7084 {
		first, _, _ := strings.Cut(string(out), "\n")
		fail("needs curl 7.84 or newer (for -w '%%header{...}'); this is %s", first)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if _, err := proc.ParsePort(port); err != nil {
		fail("%v", err)
	}
	d.addr = "127.0.0.1:" + port
	if err := proc.RequireFreePort(d.addr); err != nil {
		fail("%v", err)
	}
	if err := proc.SetSubreaper(); err != nil {
		fail("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	if d.root, err = proc.RepoRoot(); err != nil {
		fail("%v", err)
	}
}

func atoi(b []byte) int { n, _ := strconv.Atoi(string(b)); return n }

// ------------------------------------------------------------- printing --

// quote is a command as you would type it.
func quote(words ...string) string {
	plain := regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)
	var out []string
	for _, w := range words {
		if plain.MatchString(w) || w == "&" {
			out = append(out, w)
		} else {
			out = append(out, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
	}
	return strings.Join(out, " ")
}

// show prints a command line, with the step's clock, before it runs.
func (d *demo) show(line string) {
	when := "       "
	if !d.stepT0.IsZero() {
		when = fmt.Sprintf("+%5ss", report.Seconds(time.Since(d.stepT0)))
	}
	fmt.Printf("  %s%s%s  %s$ %s%s\n", d.c.Dim, when, d.c.Reset, d.c.Bold, line, d.c.Reset)
}

// note prints a comment line between commands, in the demo's language.
func (d *demo) note(format string, args ...any) {
	fmt.Printf("  %s# %s%s\n", d.c.Cyan, d.w.T(format, args...), d.c.Reset)
}

// result prints what a foreground command got.
func (d *demo) result(text string) {
	fmt.Printf("             %s-> %s%s\n", d.c.Dim, text, d.c.Reset)
}

func (d *demo) pauseFor(what string) {
	if !d.pause {
		return
	}
	fmt.Printf("\n%s>> %s %s", d.c.Yellow, d.w.T("Press Enter to %s (Ctrl+C quits)", what), d.c.Reset)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

// banner says what a step will do, and the commands it will run.
func (d *demo) banner(title string, about, commands []string) {
	fmt.Printf("\n%s%s== %s ==%s\n", d.c.Bold, d.c.Cyan, title, d.c.Reset)
	for _, line := range about {
		fmt.Printf("  %s\n", line)
	}
	fmt.Printf("\n  %s\n", d.w.T("The commands, in order:"))
	for _, line := range commands {
		fmt.Printf("    %s\n", line)
	}
}

// run shows a command, runs it in dir and dies if it fails.
func (d *demo) run(dir string, args ...string) {
	d.show(quote(args...))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	// The go command's own temporary folder beside the build folder: a
	// build then moves into place with one rename, and two demos that
	// build at once never see a half-written binary.
	cmd.Env = append(os.Environ(), "GOTMPDIR="+d.bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		d.die("%s failed: %v\n%s", quote(args...), err, out)
	}
}

// kill sends sig to pid with a real kill, as the class would.
func (d *demo) kill(sig syscall.Signal, pid int) time.Time {
	flag := "-" + strings.TrimPrefix(unix.SignalName(sig), "SIG")
	d.show(quote("kill", flag, strconv.Itoa(pid)))
	at := time.Now()
	if out, err := exec.Command("kill", flag, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		d.die("kill %s %d: %v %s", flag, pid, err, out)
	}
	return at
}

// --------------------------------------------------------------- servers --

func (d *demo) pidFile() string {
	if d.work == "" {
		return ""
	}
	return filepath.Join(d.work, lesson.PIDFile)
}

// build compiles the programs the steps need, as a person would.
func (d *demo) build(selected []lesson.Step) {
	var err error
	if d.work, err = d.drv.TempDir("graceful-demo."); err != nil {
		d.die("%v", err)
	}
	if d.bin, err = proc.CacheDir("demo"); err != nil {
		d.die("%v", err)
	}
	var pkgs []string
	for _, s := range selected {
		pkgs = append(pkgs, s.Builds...)
	}
	if len(pkgs) == 0 {
		return // the upgrade step builds its own two versions
	}
	title := d.w.T("Build the programs")
	if len(pkgs) == 1 {
		title = d.w.T("Build the program")
	}
	d.banner(title, []string{
		d.w.T("We build binaries and run those, not `go run`: a signal sent to `go run`"),
		d.w.T("reaches the go tool, which dies and leaves the real server running."),
		d.w.T("Requests go to %s only. Timings: GET / takes %s, shutdown budget %s.", d.addr, d.t.Delay, d.t.Timeout),
	}, nil)
	d.show(quote("cd", d.root))
	// One go build for them all: it links them side by side, and a folder
	// as -o names each binary after its package.
	build := []string{"go", "build", "-o", d.bin + string(filepath.Separator)}
	for _, pkg := range pkgs {
		// A folder of the checkout, or a tool of go.mod (its module path
		// starts with a domain name).
		if first, _, _ := strings.Cut(pkg, "/"); !strings.Contains(first, ".") {
			pkg = "./" + pkg
		}
		if !slices.Contains(build, pkg) {
			build = append(build, pkg)
		}
	}
	d.run(d.root, build...)
	d.show(quote("cd", d.bin))
}

// launch starts ./program from the folder dir and waits until it listens.
func (d *demo) launch(dir, program string, flags ...string) *proc.Server {
	if err := proc.RequireFreePort(d.addr); err != nil {
		d.die("%v", err)
	}
	args := append([]string{"-addr", d.addr}, flags...)
	d.show(quote(append([]string{"GIN_MODE=release", "./" + program}, append(args, "&")...)...))
	s, err := d.drv.StartServer(filepath.Join(dir, program), d.addr, flags...)
	if err != nil {
		d.die("%v", err)
	}
	if err := s.WaitReady(10 * time.Second); err != nil {
		d.die("the server did not start: %v: %s", err, lastLine(s.Out))
	}
	d.note("listening, PID %d", s.PID())
	return s
}

// lastLine is the last thing a server said, for an error message.
func lastLine(o *proc.Output) string {
	lines := o.All()
	if len(lines) == 0 {
		return "(no output)"
	}
	return lines[len(lines)-1].Text
}

// waitLog waits for evidence in the server's log, or dies.
func (d *demo) waitLog(s *proc.Server, e lesson.Evidence) {
	if err := s.WaitLog(e.Text, e.N, 10*time.Second); err != nil {
		d.die("%v", err)
	}
}

// waitExit waits for a server to exit.
func (d *demo) waitExit(s *proc.Server) *os.ProcessState {
	state, err := s.WaitProcessExit(d.t.Timeout + 10*time.Second)
	if err != nil {
		d.die("%v", err)
	}
	return state
}

// goLog matches a line of Go's log package: its date, its time, its text.
var goLog = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (.*)$`)

// lastWords is the last line of Go's log (without the date) among lines.
func lastWords(lines []proc.Line) string {
	last := ""
	for _, l := range lines {
		if m := goLog.FindStringSubmatch(l.Text); m != nil {
			last = m[1]
		}
	}
	return last
}

// curl sends one request with a real curl.
// write is client.CurlStatus, or client.CurlHeaders where the step needs to
// know which build answered.
func (d *demo) curl(write, method, path string) *client.Curl {
	return client.RunCurl(context.Background(), d.curlArgs(write, method, path))
}

func (d *demo) curlArgs(write, method, path string) []string {
	return client.CurlArgs(d.t.Timeout+10*time.Second, write, method, "http://"+d.addr+path)
}

func (d *demo) curlLine(write, method, path string) string {
	return quote(d.curlArgs(write, method, path)...)
}

// ------------------------------------------------------------ steps 1-3 --

// request is one request of a step and, once it returned, what curl got.
type request struct {
	label string
	done  chan *client.Curl
	curl  *client.Curl
}

func (r *request) wait() *client.Curl {
	if r.curl == nil {
		r.curl = <-r.done
	}
	return r.curl
}

// send starts a request in the background: it will be in flight at the
// signal.
func (d *demo) send(label, method, path string) *request {
	if d.stepT0.IsZero() {
		d.stepT0 = time.Now()
	}
	d.show(d.curlLine(client.CurlStatus, method, path) + " &")
	r := &request{label: label, done: make(chan *client.Curl, 1)}
	go func() { r.done <- d.curl(client.CurlStatus, method, path) }()
	return r
}

// sendNow sends a request in the foreground and shows its answer.
func (d *demo) sendNow(label, method, path string) *request {
	if d.stepT0.IsZero() {
		d.stepT0 = time.Now()
	}
	d.show(d.curlLine(client.CurlStatus, method, path))
	r := &request{label: label, curl: d.curl(client.CurlStatus, method, path)}
	d.result(r.curl.Outcome())
	return r
}

// evidenceText is what a step waits for in the log, in the demo's
// language: "2 x 'GET / started' and 4 x 'queued'".
func (d *demo) evidenceText(es []lesson.Evidence) string {
	text := ""
	for i, e := range es {
		part := d.w.T("%d x '%s'", e.N, strings.TrimSpace(e.Text))
		if i == 0 {
			text = part
		} else {
			text = d.w.T("%s and %s", text, part)
		}
	}
	return text
}

// beginStep shows a step's banner (its title, what will happen, the
// commands it runs) in the demo's language, pauses for the instructor, and
// starts the step's clock at its first command.
func (d *demo) beginStep(step lesson.Step, commands []string) {
	words := d.w.Step(step)
	d.banner(d.w.T("Step %d: %s", step.Number, words.Title), words.Intro(d.t), commands)
	d.pauseFor(d.w.T("run step %d", step.Number))
	fmt.Println()
	d.stepT0 = time.Time{}
}

// runInFlight runs a step of the InFlight shape (steps 1 to 3).
func (d *demo) runInFlight(step lesson.Step) {
	flags := step.Flags(d.t)
	sigFlag := "-" + strings.TrimPrefix(unix.SignalName(step.Signal), "SIG")
	commands := []string{
		quote(append([]string{"GIN_MODE=release", "./" + step.Program, "-addr", d.addr}, append(flags, "&")...)...),
		d.w.T("%s &        # %d times, %s apart", d.curlLine(client.CurlStatus, "GET", "/"), step.Gets, d.t.Stagger),
	}
	if step.Jobs > 0 {
		commands = append(commands, d.w.T("%s         # %d times", d.curlLine(client.CurlStatus, "POST", "/jobs"), step.Jobs))
	}
	commands = append(commands,
		d.w.T("kill %s <server pid>    # once %s are logged", sigFlag, d.evidenceText(step.Before)),
		d.w.T("%s          # once the port is closed", d.curlLine(client.CurlStatus, step.Late.Method, step.Late.Path)))
	d.beginStep(step, commands)

	s := d.launch(d.bin, step.Program, flags...)
	var requests []*request
	for i := 1; i <= step.Gets; i++ {
		if i > 1 {
			time.Sleep(d.t.Stagger) // pacing: the requests start apart
		}
		requests = append(requests, d.send(fmt.Sprintf("req%d", i), "GET", "/"))
	}
	for i := 1; i <= step.Jobs; i++ {
		requests = append(requests, d.sendNow(fmt.Sprintf("job%d", i), "POST", "/jobs"))
	}
	for _, e := range step.Before {
		d.waitLog(s, e)
	}
	time.Sleep(d.t.Settle) // pacing, not synchronisation: see lesson.Timings
	d.note("the log shows %s: signal now", d.evidenceText(step.Before))
	signalled := d.kill(step.Signal, s.PID())
	for _, e := range step.After {
		d.waitLog(s, e)
	}
	if err := proc.WaitRefused(d.addr, 10*time.Second); err != nil {
		d.die("%v", err)
	}
	d.note("the port is closed; one more request")
	requests = append(requests, d.sendNow(step.Late.Label, step.Late.Method, step.Late.Path))
	for _, r := range requests {
		r.wait()
	}
	d.note("waiting for the server to exit")
	state := d.waitExit(s)
	if _, err := s.WaitExit(5 * time.Second); err != nil {
		d.die("%v", err)
	}

	fmt.Printf("\n  %s%s%s\n", d.c.Bold, d.w.T("The server log (%s):", step.Program), d.c.Reset)
	for _, l := range s.Out.All() {
		fmt.Printf("    %s%s%s\n", d.c.Dim, l.Text, d.c.Reset)
	}
	if step.Jobs > 0 {
		fmt.Printf("\n  %s%s%s\n", d.c.Bold, d.w.T("Each job's fate, from that log:"), d.c.Reset)
		fates := 0
		for _, l := range s.Out.All() {
			if m := jobFate.FindString(l.Text); m != "" {
				fmt.Printf("    %s\n", m)
				fates++
			}
		}
		if fates == 0 {
			fmt.Println("    " + d.w.T("(none logged)"))
		}
	}

	byLabel := map[string]*client.Curl{}
	for _, r := range requests {
		byLabel[r.label] = r.curl
	}
	var verdicts []lesson.Verdict
	var rows []report.TimelineRow
	for _, want := range step.Expect {
		v := lesson.Verdict{Label: want.Label, Want: want.Want}
		switch c := byLabel[want.Label]; {
		case want.Label == "server":
			v.Got = proc.ExitText(state)
			if state.Exited() {
				v.Got += " (" + lastWords(s.Out.All()) + ")"
			}
			rows = append(rows, serverRow(d.stepT0, s, state))
		case strings.HasPrefix(want.Label, "job"):
			id := jobID(c)
			v.Want = fmt.Sprintf("job %s %s", id, want.Want)
			v.Got = jobOutcome(c, id, s.Out)
			rows = append(rows, jobRow(want.Label, c, id, s.Out))
		default:
			v.Got = c.Outcome()
			rows = append(rows, requestRow(want.Label, c))
		}
		verdicts = append(verdicts, v)
	}
	d.report(step.Program, verdicts, report.Timeline{
		Start: d.stepT0, Signal: signalled, SignalName: unix.SignalName(step.Signal),
		Rows: rows, Legend: report.LegendSteps,
	})
}

// judge is a step's verdict: each row the lesson expects, with what
// happened (got, by row label).
func judge(expect []lesson.Verdict, got map[string]string) []lesson.Verdict {
	var verdicts []lesson.Verdict
	for _, want := range expect {
		verdicts = append(verdicts, lesson.Verdict{Label: want.Label, Got: got[want.Label], Want: want.Want})
	}
	return verdicts
}

// report prints a step's verdict and timeline, and keeps both for --json.
func (d *demo) report(program string, verdicts []lesson.Verdict, timeline report.Timeline) {
	report.RenderVerdicts(os.Stdout, d.c, d.w, program, verdicts)
	report.RenderTimeline(os.Stdout, d.c, d.w, timeline)
	result := stepResult{Program: program, Verdicts: verdicts}
	for i, bar := range timeline.Bars() {
		row := timeline.Rows[i]
		result.Timeline = append(result.Timeline, timelineRow{Label: row.Label, Bar: bar, Note: row.Note})
	}
	d.results = append(d.results, result)
}

var (
	jobFate   = regexp.MustCompile(`job \d+ (done|abandoned: .*)$`)
	jobIDBody = regexp.MustCompile(`^\{"id":(\d+)\}$`)
)

// jobID is the id the server gave a job (empty when it was not accepted).
func jobID(c *client.Curl) string {
	if m := jobIDBody.FindStringSubmatch(c.Body()); c.Status() == 202 && m != nil {
		return m[1]
	}
	return ""
}

// jobOutcome is a job's fate from the server's log.
func jobOutcome(c *client.Curl, id string, out *proc.Output) string {
	if id == "" {
		return "POST /jobs: " + c.Outcome()
	}
	if l, ok := logLine(out, `job `+id+` (done|abandoned: .*)$`); ok {
		return jobFate.FindString(l.Text)
	}
	return "job " + id + ": no fate in the log"
}

// logLine is the first line of out matching the regular expression.
func logLine(out *proc.Output, pattern string) (proc.Line, bool) {
	re := regexp.MustCompile(pattern)
	for _, l := range out.All() {
		if re.MatchString(l.Text) {
			return l, true
		}
	}
	return proc.Line{}, false
}

func end(ok bool) byte {
	if ok {
		return 'o'
	}
	return 'X'
}

// requestRow draws a request: in flight from sent to answered.
func requestRow(label string, c *client.Curl) report.TimelineRow {
	ok := c.Exit == 0
	return report.TimelineRow{Label: label, OK: ok,
		Spans: []report.Span{{From: c.Sent, To: c.Done, Fill: '=', End: end(ok)}},
		Note:  fmt.Sprintf("%s after %s s", c.Short(), report.Seconds(c.Done.Sub(c.Sent)))}
}

// jobRow draws a job: queued from its 202 until a worker starts it, then
// running until done, as the server's log stamps them.
func jobRow(label string, c *client.Curl, id string, out *proc.Output) report.TimelineRow {
	if id == "" {
		return report.TimelineRow{Label: label, Note: "not accepted",
			Spans: []report.Span{{From: c.Sent, To: c.Done, Fill: '=', End: 'X'}}}
	}
	at := func(pattern string, otherwise time.Time) time.Time {
		if l, ok := logLine(out, pattern); ok {
			return l.At
		}
		return otherwise
	}
	queued := at(`job `+id+` queued$`, c.Sent)
	started := at(`job `+id+` started`, queued)
	finished := at(`job `+id+` (done|abandoned)`, started)
	_, done := logLine(out, `job `+id+` done$`)
	fate := "abandoned"
	if done {
		fate = "done"
	}
	return report.TimelineRow{Label: label, OK: done,
		Spans: []report.Span{{From: queued, To: started, Fill: '.'}, {From: started, To: finished, Fill: '=', End: end(done)}},
		Note:  fmt.Sprintf("%s %s s after queued", fate, report.Seconds(finished.Sub(queued)))}
}

// serverRow draws the server: up from the first request until it exited.
func serverRow(t0 time.Time, s *proc.Server, state *os.ProcessState) report.TimelineRow {
	ok := state.Exited() && state.ExitCode() == 0
	return report.TimelineRow{Label: "server", OK: ok,
		Spans: []report.Span{{From: t0, To: s.ExitedAt, Fill: '-', End: end(ok)}},
		Note:  fmt.Sprintf("%s at %s s", proc.ExitText(state), report.Seconds(s.ExitedAt.Sub(t0)))}
}

// --------------------------------------------------------------- finish --

func (d *demo) finish(start time.Time, jsonFile string) {
	total, mismatches := 0, []string{}
	for _, r := range d.results {
		for _, v := range r.Verdicts {
			total++
			if !v.Matched() {
				mismatches = append(mismatches, r.Program+" "+d.w.Label(v.Label))
			}
		}
	}
	// Interrupted, the demo writes no report: what the cleanup cut short
	// is no result.
	if jsonFile != "" && !d.drv.Interrupted() {
		data, _ := json.MarshalIndent(struct {
			Steps []stepResult `json:"steps"`
		}{d.results}, "", "  ")
		if err := os.WriteFile(jsonFile, append(data, '\n'), 0o644); err != nil {
			d.die("%v", err)
		}
	}
	fmt.Printf("\n%s\n", d.w.T("Finished in %s s.", report.Seconds(time.Since(start))))
	if d.leftOut != "" {
		fmt.Println(d.leftOut)
	}
	if len(mismatches) == 0 {
		fmt.Printf("%s%s%s\n", d.c.Green, d.w.T("RESULT: PASS %d/%d outcomes matched the lesson", total, total), d.c.Reset)
		d.drv.Exit(0)
	}
	fmt.Printf("%s%s%s\n", d.c.Red, d.w.T("RESULT: FAIL %d/%d outcomes matched the lesson; mismatches: %s",
		total-len(mismatches), total, strings.Join(mismatches, ", ")), d.c.Reset)
	d.drv.Exit(1)
}
