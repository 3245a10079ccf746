// Command load is scripts/load.sh: it puts each example under load, sends
// it SIGTERM halfway through, and shows side by side what the load
// generator (hey) saw: the answers it got, and its errors sorted into
// refused / cut / timeout / other.
//
//	refused  the listener was already closed: harmless, a client can retry
//	cut      the server accepted the request, then dropped it: data loss
//
// The lesson: 01-basic cuts the requests it was serving; 02-graceful and
// 03-workers answer every request they accepted, and only refuse new ones.
//
// With --upgrade it compares two ways to put a new version in place under
// the same load: 02-graceful stopped (SIGTERM) and started again, which
// refuses clients until the new process listens, and 04-zero-downtime
// upgraded in place (v2 moved over its binary, then SIGHUP), which refuses
// none; then the same with a 1 ms handler and keep-alive clients that
// never resend a request, where only the hand-over cuts none.
//
// With --arrival, clients that never resend, a fresh connection per
// request, keep arriving while 02, 03 and 04 stop (SIGTERM) and while 04
// hands over (SIGHUP): what a stop loses under traffic, by mechanism.
//
// It exits 1, naming the mismatch, when the numbers disagree with the
// lesson, and 2 when it could not run at all. The run itself is
// internal/scenario's (RunLoad, RunRestart, RunUpgrade), shared with bench.sh;
// the clients that never resend are client.NeverResend (see neverresend.go).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// allPrograms are what load.sh runs by default; --upgrade runs 02-graceful
// and 04-zero-downtime.
var allPrograms = []string{"01-basic", "02-graceful", "03-workers"}

const usage = `Usage: load.sh [--fast] [-c N] [-z DURATION] [--json FILE] [PROGRAM...]
       load.sh --upgrade [--fast] [-c N] [-z DURATION] [--json FILE]
       load.sh --arrival [--fast] [-c N] [-z DURATION] [--json FILE]
       load.sh --rolling [--fast] [-c N] [--json FILE]

Runs hey against GET / of each PROGRAM (default: 01-basic 02-graceful 03-workers),
sends the server SIGTERM in the middle of the run, and prints what hey saw.

With --upgrade, the same load meets a new version put in place mid-run:
02-graceful is stopped (SIGTERM), and once it has exited a new 02-graceful
starts on the same port; 04-zero-downtime gets a v2 build moved over its
binary, then SIGHUP, and hands its socket over. Expected: 02 refuses some
requests (nothing listens in between), 04 none; neither cuts any.
Then both again with GET / answering in 1ms and clients that never resend
a request, on keep-alive connections: 02 may refuse and cut requests
(Shutdown closes connections whose next request may be on its way,
counted, not judged); 04 refuses and cuts none.

With --arrival, clients that never resend open a fresh connection per
request and keep arriving, GET / answering in 1ms: 02-graceful, 03-workers
and 04-zero-downtime get SIGTERM in the middle of the run, then
04-zero-downtime gets SIGHUP (v2 moved over its binary). Expected: each
SIGTERM refuses the clients that arrive once the listener is closed and
may cut some on the way (reset in the accept queue, EOF after the read,
counted, not judged); the SIGHUP loses none.

  -c N          concurrent clients (hey -c; also the clients that never
                resend), 1 to 1000; default 50
  -z DURATION   how long the clients run (hey -z), 1s to 60s, like 3s or 1500ms,
                and 3 times GET /'s delay at least; default 4s, 2s with --fast.
                With --upgrade, 4 times the delay and 3s at least (default
                4s, 3s with --fast): the signal goes after half of -z, the
                old process may take a delay to drain, or a second to let an
                idle keep-alive connection go, and the new one must still get
                requests before hey stops. If hey stops first all the same,
                that is a setup error (exit 2): use a longer -z
  --fast        GET / takes 300ms instead of 1s, and the default -z is 2s
                (3s with --upgrade)
  --upgrade     compare 02-graceful and 04-zero-downtime as above (no PROGRAM)
  --arrival     clients that keep arriving at the stop, as above (no PROGRAM)
  --rolling     three instances behind HAProxy (needs haproxy), restarted one
                by one under load (hey, and as many keep-alive clients that
                never resend) until the restart is done: 05-load-balancer,
                then 02-graceful with HAProxy's retries and without; 05
                should fail nothing and need no retry. GET / takes
                50ms; --fast shortens 05's drain delay from 2s to 1s. Uses PORT
                and the three ports after it (no PROGRAM, no -z)
  --json FILE   also write the results to FILE as JSON (what the tests read)
  -h, --help    show this help

Environment: PORT (default 8080) is the port on 127.0.0.1 the servers use.
Exit status: 0 the results match the lesson; 1 they do not (the lines
after the table name each mismatch); 2 it could not run (bad option, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
`

// options are the command line, checked.
type options struct {
	clients  int
	duration string // hey -z, as given
	delay    string // GET /'s delay: 1s, 300ms with --fast
	upgrade  bool
	arrival  bool
	rolling  bool
	jsonFile string
	programs []string
	port     int
}

func main() {
	d := proc.NewGuard("load.sh")
	opts, err := parse(os.Args[1:])
	if err != nil {
		d.Fail(err)
	}
	if opts == nil { // --help
		fmt.Print(usage)
		d.Exit(0)
	}
	dir, err := d.TempDir("load.")
	if err != nil {
		d.Fail(err)
	}
	if opts.rolling {
		runRolling(d, opts, dir) // it exits
	}
	var rep scenario.LoadReport
	switch {
	case opts.upgrade:
		rep = runUpgrade(d, opts, dir)
	case opts.arrival:
		rep = runArrival(d, opts, dir)
	default:
		rep = runShutdown(d, opts, dir)
	}
	if opts.jsonFile != "" && !d.Interrupted() {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(opts.jsonFile, append(data, '\n'), 0o644); err != nil {
			d.Fail(err)
		}
	}
	d.Exit(report.WriteVerdict(d.Stdout(), rep.Mismatches))
}

// parse reads the command line and the environment; nil options (and no
// error) mean --help.
func parse(args []string) (*options, error) {
	conc, duration, fast := "50", "", false
	opts := &options{}
	for len(args) > 0 {
		arg := args[0]
		value := func(need string) (string, error) {
			if len(args) < 2 {
				return "", fmt.Errorf("%s needs %s", arg, need)
			}
			args = args[1:]
			return args[0], nil
		}
		var err error
		switch {
		case arg == "-h" || arg == "--help":
			return nil, nil
		case arg == "--fast":
			fast = true
		case arg == "--upgrade":
			opts.upgrade = true
		case arg == "--arrival":
			opts.arrival = true
		case arg == "--rolling":
			opts.rolling = true
		case arg == "-c":
			conc, err = value("a number")
		case arg == "-z":
			duration, err = value("a duration, like 3s")
		case arg == "--json":
			opts.jsonFile, err = value("a file name")
		case strings.HasPrefix(arg, "-"):
			err = fmt.Errorf("unknown option '%s' (try --help)", arg)
		case !slices.Contains(opts.programs, arg): // once each
			opts.programs = append(opts.programs, arg)
		}
		if err != nil {
			return nil, err
		}
		args = args[1:]
	}

	n, err := strconv.Atoi(conc)
	if !digits.MatchString(conc) || err != nil || n < 1 || n > 1000 {
		return nil, fmt.Errorf("-c must be a number from 1 to 1000, got '%s'", conc)
	}
	opts.clients = n
	opts.delay, opts.duration = "1s", "4s"
	if fast {
		opts.delay, opts.duration = "300ms", "2s"
		if opts.upgrade {
			opts.duration = upgradeMinimum
		}
	}
	if duration != "" {
		opts.duration = duration
	}
	z, err := scenario.ParseDuration(opts.duration)
	if err != nil {
		return nil, fmt.Errorf("-z must be a duration like 3s, 1500ms or 1m, got '%s'", opts.duration)
	}
	if z < time.Second || z > time.Minute {
		return nil, fmt.Errorf("-z must be from 1s to 60s, got '%s'", opts.duration)
	}
	// The signal goes at the first round of requests that starts after
	// half of -z: a round must fit in the second half.
	delay, _ := scenario.ParseDuration(opts.delay)
	if z < 3*delay {
		return nil, fmt.Errorf("-z must be at least 3 times as long as GET / takes (%s), got '%s'", opts.delay, opts.duration)
	}
	if opts.upgrade {
		// Half of -z, a round to drain (or 04's second for an idle
		// keep-alive connection), and the new process must get requests.
		if z < 4*delay {
			return nil, fmt.Errorf("with --upgrade, -z must be at least 4 times as long as GET / takes (%s), got '%s'", opts.delay, opts.duration)
		}
		if minimum, _ := scenario.ParseDuration(upgradeMinimum); z < minimum {
			return nil, fmt.Errorf("with --upgrade, -z must be at least %s, got '%s'", upgradeMinimum, opts.duration)
		}
		if len(opts.programs) > 0 {
			return nil, fmt.Errorf("--upgrade always runs 02-graceful and 04-zero-downtime; it takes no PROGRAM, got '%s'", strings.Join(opts.programs, " "))
		}
	}
	if opts.arrival {
		if opts.upgrade {
			return nil, fmt.Errorf("--arrival and --upgrade are two separate comparisons: choose one")
		}
		if len(opts.programs) > 0 {
			return nil, fmt.Errorf("--arrival always runs 02-graceful, 03-workers and 04-zero-downtime; it takes no PROGRAM, got '%s'", strings.Join(opts.programs, " "))
		}
	}
	if opts.rolling && (opts.upgrade || opts.arrival || len(opts.programs) > 0 || duration != "") {
		return nil, fmt.Errorf("--rolling always runs 05-load-balancer and 02-graceful until the restart is done; it takes no --upgrade, --arrival, PROGRAM or -z")
	}
	if len(opts.programs) == 0 {
		opts.programs = allPrograms
	}
	for _, name := range opts.programs {
		if !slices.Contains(allPrograms, name) {
			return nil, fmt.Errorf("unknown program '%s' (choose from: %s)", name, strings.Join(allPrograms, " "))
		}
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if opts.port, err = proc.ParsePort(port); err != nil {
		return nil, err
	}
	if err := proc.RequireFreePort(fmt.Sprintf("127.0.0.1:%d", opts.port)); err != nil {
		return nil, err
	}
	return opts, nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// upgradeMinimum is --upgrade's shortest -z: after an upgrade, 04's old
// process lets a keep-alive connection go once it has sat idle for a
// second, and hey's pool may hold one.
const upgradeMinimum = "3s"

// config is one program's load run.
func config(opts *options, dir, name string) scenario.LoadConfig {
	return scenario.LoadConfig{
		Program:  name,
		Binary:   filepath.Join(dir, name),
		Hey:      filepath.Join(dir, "hey"),
		Port:     opts.port,
		Delay:    opts.delay,
		Clients:  opts.clients,
		Duration: opts.duration,
	}
}

// build builds hey and the programs into dir. hey is built once rather
// than run as `go tool hey`: that would re-check the build on every run,
// and its process would be the go command's, not hey's.
func build(d *proc.Guard, dir string, programs ...string) {
	if err := proc.BuildHey(dir); err != nil {
		d.Failf("could not build hey: %v", err)
	}
	pkgs := make([]string, len(programs))
	for i, name := range programs {
		pkgs[i] = "./" + name
	}
	if err := proc.Build(dir, false, pkgs...); err != nil {
		d.Failf("could not build %s: %v", strings.Join(pkgs, " "), err)
	}
}

// runShutdown is the normal mode: each program under load, SIGTERM
// mid-run.
func runShutdown(d *proc.Guard, opts *options, dir string) scenario.LoadReport {
	out := d.Stdout()
	build(d, dir, opts.programs...)
	fmt.Fprintf(out, "GET / answers in %s; hey -c %d -z %s; SIGTERM in the middle of the run.\n", opts.delay, opts.clients, opts.duration)
	var results []scenario.LoadResult
	for _, name := range opts.programs {
		fmt.Fprintf(out, "running %s ...\n", name)
		r, err := scenario.RunLoad(d, config(opts, dir, name))
		if err != nil {
			d.Fail(err)
		}
		results = append(results, r)
	}

	fmt.Fprintln(out)
	report.WriteTable(out, scenario.LoadTable(results, scenario.ShutdownRows, 13, 13))
	fmt.Fprintln(out)
	fmt.Fprintln(out, "refused: connection refused, the listener was closed (the client may retry)")
	fmt.Fprintln(out, "cut:     accepted, then dropped (EOF, connection reset, broken pipe)")
	// The two subtleties behind the numbers: see scenario.BeginLoad and scenario.LoadRun.WaitAllInFlight.
	fmt.Fprintln(out, "body:    1 byte, else Go's client silently resends a GET whose reused keep-alive connection died unanswered")
	fmt.Fprintln(out, "timing:  SIGTERM once every request is in the handler: net/http can drop one racing Shutdown on an idle connection")
	return scenario.LoadReport{Mode: "shutdown", Results: results, Mismatches: scenario.ShutdownMismatches(results)}
}

// runUpgrade is the --upgrade mode: a restart of 02 against 04's hand-over.
func runUpgrade(d *proc.Guard, opts *options, dir string) scenario.LoadReport {
	out := d.Stdout()
	const zd = "04-zero-downtime"
	build(d, dir, "02-graceful")
	build04(d, dir)

	fmt.Fprintf(out, "GET / answers in %s; hey -c %d -z %s; a new version in the middle of the run.\n", opts.delay, opts.clients, opts.duration)
	fmt.Fprintln(out, "running 02-graceful: SIGTERM, wait for its exit, start a new one ...")
	restart, err := scenario.RunRestart(d, config(opts, dir, "02-graceful"))
	if err != nil {
		d.Fail(err)
	}
	fmt.Fprintf(out, "running %s: v2 moved over its binary, SIGHUP ...\n", zd)
	install04(d, dir)
	upgrade, err := scenario.RunUpgrade(d, config(opts, dir, zd), filepath.Join(dir, zd+"-v2"), filepath.Join(dir, zd+".pid"))
	if err != nil {
		d.Fail(err)
	}

	fmt.Fprintln(out)
	results := []scenario.LoadResult{restart, upgrade}
	report.WriteTable(out, scenario.LoadTable(results, scenario.UpgradeRows, 16, 16))
	mismatches := scenario.UpgradeMismatches(restart, upgrade)
	neverResend, more := runNeverResendUpgrade(d, opts, dir)
	results, mismatches = append(results, neverResend...), append(mismatches, more...)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "refused:          connection refused, nothing was listening (the client may retry)")
	fmt.Fprintln(out, "cut:              accepted, then dropped (EOF, connection reset, broken pipe)")
	fmt.Fprintln(out, "new serves after: signal -> the new process accepts; meanwhile 02 refuses, 04's old one accepts")
	fmt.Fprintln(out, "after old exit:   answers the new process gave once the old one had exited")
	fmt.Fprintln(out, "exit 0 (log):     04's new process is not our child: its log ends with 'Server exiting'")
	fmt.Fprintln(out, "cut: reset, EOF:  the cut requests of clients that never resend, by what they saw")
	return scenario.LoadReport{Mode: "upgrade", Results: results, Mismatches: mismatches}
}

// build04 builds 04-zero-downtime into dir as v1 and v2
// (04-zero-downtime-v1, -v2): each run starts from v1 (install04), and an
// upgrade moves v2 over it.
func build04(d *proc.Guard, dir string) {
	const zd = "04-zero-downtime"
	for _, version := range []string{"v1", "v2"} {
		if err := proc.BuildVersion(filepath.Join(dir, zd+"-"+version), "./"+zd, version, false); err != nil {
			d.Failf("could not build ./%s (%s): %v", zd, version, err)
		}
	}
}

// install04 puts v1 at 04-zero-downtime's path, where an earlier run may
// have left v2.
func install04(d *proc.Guard, dir string) {
	const zd = "04-zero-downtime"
	if err := proc.Install(filepath.Join(dir, zd+"-v1"), filepath.Join(dir, zd)); err != nil {
		d.Fail(err)
	}
}
