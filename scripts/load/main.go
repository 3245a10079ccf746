// Command load is scripts/load.sh: the lessons under load, side by side.
// Each subcommand runs a comparison, prints what the clients saw, and
// judges it against the lesson:
//
//	stop     hey against each program, SIGTERM halfway through: 01-basic
//	         cuts the requests it was serving; 02-graceful and 03-workers
//	         answer every request they accepted, and only refuse new ones
//	upgrade  a new version mid-run: 02-graceful stopped (SIGTERM) and
//	         started again, which refuses clients until the new process
//	         listens, against 04-zero-downtime upgraded in place (v2 moved
//	         over its binary, then SIGHUP), which refuses none; then the
//	         same with a 1 ms handler and keep-alive clients that never
//	         resend a request, where only the hand-over cuts none
//	arrival  clients that never resend, a fresh connection per request,
//	         keep arriving while 02, 03 and 04 stop (SIGTERM) and while 04
//	         hands over (SIGHUP): what a stop loses under traffic
//	rolling  three instances behind HAProxy restarted one by one (see
//	         rolling.go)
//
// hey's errors are sorted into refused / cut / timeout / other:
//
//	refused  the listener was already closed: harmless, a client can retry
//	cut      the server accepted the request, then dropped it: data loss
//
// Each subcommand has its own flag set. It exits 1, naming the mismatch,
// when the numbers disagree with the lesson, and 2 when it could not run
// at all. The runs themselves are internal/scenario's (RunLoad,
// RunRestart, RunUpgrade, RunRolling), shared with bench.sh; the clients
// that never resend are client.NeverResend (see neverresend.go).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/report"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// subcommand is one comparison load.sh runs.
type subcommand struct {
	name    string
	summary string // its line in load.sh --help
	about   string // the top of its own --help
	// programs lists the PROGRAM arguments it takes, all of them its
	// default; none: it takes none.
	programs []string
	// zHelp is -z's help; "": no -z (rolling runs until its restarts are
	// done). zDefault and zFast are -z's default, without and with -fast.
	zHelp, zDefault, zFast string
	// check checks the options further; nil: nothing more to check.
	check func(*options) error
	// run runs it and returns the report --json writes and the mismatches.
	run func(d *proc.Guard, opts *options, dirs folders) (report any, mismatches []string)
}

// folders are where a run's programs are: builds, kept between runs (see
// proc.CacheDir), and run, this run's own temporary folder, where
// 04-zero-downtime runs from, since an upgrade moves v2 over it, and its
// PID file.
type folders struct{ builds, run string }

// zeroDowntime is the program that an upgrade moves a new version over.
const zeroDowntime = "04-zero-downtime"

// subcommands, in the order load.sh --help lists them.
var subcommands = []subcommand{
	{
		name:    "stop",
		summary: "hey against each PROGRAM, SIGTERM mid-run: who cuts the requests it was serving",
		about: `Runs hey against GET / of each PROGRAM (default: 01-basic 02-graceful 03-workers),
sends the server SIGTERM in the middle of the run, and prints what hey saw.
Expected: 01 cuts requests; 02 and 03 cut none, they only refuse new ones.`,
		programs: []string{"01-basic", "02-graceful", "03-workers"},
		zDefault: "4s", zFast: "2s",
		zHelp: "how long hey runs (hey -z), a `DURATION` from 1s to 60s, like 3s or 1500ms,\n" +
			"and 3 times GET /'s delay at least (default 4s, 2s with -fast)",
		run: runStop,
	},
	{
		name:    "upgrade",
		summary: "a new version mid-run: 02 stopped and started again against 04's socket hand-over",
		about: `The same load meets a new version put in place mid-run: 02-graceful is
stopped (SIGTERM), and once it has exited a new 02-graceful starts on the
same port; 04-zero-downtime gets a v2 build moved over its binary, then
SIGHUP, and hands its socket over. Expected: 02 refuses some requests
(nothing listens in between), 04 none; neither cuts any.
Then both again with GET / answering in 1ms and clients that never resend
a request, on keep-alive connections: 02 may refuse and cut requests
(Shutdown closes connections whose next request may be on its way,
counted, not judged); 04 refuses and cuts none.`,
		zDefault: "4s", zFast: upgradeMinimum,
		zHelp: "how long the clients run (hey -z), a `DURATION` from 3s to 60s, like 3s or\n" +
			"1500ms, and 4 times GET /'s delay at least (default 4s, 3s with -fast): the\n" +
			"signal goes after half of -z, the old process may take a delay to drain,\n" +
			"or a second to let an idle keep-alive connection go, and the new one must\n" +
			"still get requests before hey stops. If hey stops first all the same, that\n" +
			"is a setup error (exit 2): use a longer -z",
		check: checkUpgrade,
		run:   runUpgrade,
	},
	{
		name:    "arrival",
		summary: "clients that keep arriving while 02, 03 and 04 stop, and while 04 hands over",
		about: `Clients that never resend open a fresh connection per request and keep
arriving, GET / answering in 1ms: 02-graceful, 03-workers and
04-zero-downtime get SIGTERM in the middle of the run, then
04-zero-downtime gets SIGHUP (v2 moved over its binary). Expected: each
SIGTERM refuses the clients that arrive once the listener is closed and
may cut some on the way (reset in the accept queue, EOF after the read,
counted, not judged); the SIGHUP loses none.`,
		zDefault: "4s", zFast: "2s",
		zHelp: "how long the clients run, a `DURATION` from 1s to 60s, like 3s or 1500ms\n" +
			"(default 4s, 2s with -fast)",
		run: runArrival,
	},
	{
		name:    "rolling",
		summary: "three instances behind HAProxy restarted one by one: 05 against 02 (needs haproxy)",
		about: `Puts three instances behind HAProxy (needs haproxy) and restarts them one
by one under load (hey, and as many keep-alive clients that never resend)
until the restart is done: 05-load-balancer, then 02-graceful with
HAProxy's retries and without. Expected: 05 fails nothing and needs no
retry. GET / takes 50ms. Uses PORT and the three ports after it.`,
		run: runRolling,
	},
}

const usage = `Usage: load.sh SUBCOMMAND [FLAGS]

The lessons under load, side by side. Each subcommand prints what the
clients saw and judges it against the lesson.

Subcommands:
%s
Run 'load.sh SUBCOMMAND --help' for its flags.

` + footer

// footer ends every help text.
const footer = `Environment: PORT (default 8080) is the port on 127.0.0.1 the servers use.
Exit status: 0 the results match the lesson; 1 they do not (the lines
after the table name each mismatch); 2 it could not run (bad flag, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
`

// options are a subcommand's command line, checked.
type options struct {
	clients  int
	duration string // hey -z, as given
	delay    string // GET /'s delay: 1s, 300ms with -fast
	fast     bool
	jsonFile string
	programs []string
	port     int
}

func main() {
	args := os.Args[1:]
	i := -1
	if len(args) > 0 {
		i = slices.IndexFunc(subcommands, func(c subcommand) bool { return c.name == args[0] })
	}
	if i < 0 {
		d := proc.NewGuard("load.sh")
		switch {
		case len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
			fmt.Printf(usage, subcommandList())
			d.Exit(0)
		case len(args) == 0:
			d.Failf("choose a subcommand: %s (try --help)", subcommandNames())
		default:
			d.Failf("unknown subcommand '%s'; choose from: %s (try --help)", args[0], subcommandNames())
		}
	}
	c := subcommands[i]
	d := proc.NewGuard("load.sh " + c.name)
	opts, err := c.parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp()
		d.Exit(0)
	}
	if err != nil {
		d.Fail(err)
	}
	run, err := d.TempDir("load.")
	if err != nil {
		d.Fail(err)
	}
	builds, err := proc.CacheDir("load")
	if err != nil {
		d.Fail(err)
	}
	rep, mismatches := c.run(d, opts, folders{builds: builds, run: run})
	if opts.jsonFile != "" && !d.Interrupted() {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(opts.jsonFile, append(data, '\n'), 0o644); err != nil {
			d.Fail(err)
		}
	}
	d.Exit(report.WriteVerdict(d.Stdout(), mismatches))
}

// subcommandList is load.sh --help's list, a line each.
func subcommandList() string {
	var b strings.Builder
	for _, c := range subcommands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	return b.String()
}

// subcommandNames lists them for an error: "stop, upgrade, ...".
func subcommandNames() string {
	var names []string
	for _, c := range subcommands {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// rawFlags are the flags as given, before any check.
type rawFlags struct {
	clients, duration, jsonFile string
	fast                        bool
}

// flagSet is c's own flag set, writing into f. It prints nothing: main
// prints the help, and an error as one line.
func (c subcommand) flagSet(f *rawFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("load.sh "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.clients, "c", "", "`N` concurrent clients, 1 to 1000 (hey -c; also the clients that never\nresend; default 50)")
	if c.name == "rolling" {
		fs.BoolVar(&f.fast, "fast", false, "05's drain delay 1s instead of 2s")
	} else {
		fs.BoolVar(&f.fast, "fast", false, "GET / takes 300ms instead of 1s, and -z's default is shorter")
	}
	if c.zHelp != "" {
		fs.StringVar(&f.duration, "z", "", c.zHelp)
	}
	fs.StringVar(&f.jsonFile, "json", "", "also write the results to `FILE` as JSON (what the tests read)")
	return fs
}

// printHelp prints c's --help: what it does, its flags, the footer.
func (c subcommand) printHelp() {
	fs := c.flagSet(&rawFlags{})
	fs.SetOutput(os.Stdout)
	args := "[FLAGS]"
	if len(c.programs) > 0 {
		args = "[FLAGS] [PROGRAM...]"
	}
	fmt.Printf("Usage: load.sh %s %s\n\n%s\n\nFlags:\n", c.name, args, c.about)
	fs.PrintDefaults()
	fmt.Println("  -h, --help\n    \tshow this help")
	fmt.Println()
	fmt.Print(footer)
}

// parse reads c's command line (flags and PROGRAMs in any order) and the
// environment. flag.ErrHelp means --help.
func (c subcommand) parse(args []string) (*options, error) {
	var f rawFlags
	fs := c.flagSet(&f)
	var programs []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%v (try --help)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		programs, args = append(programs, fs.Arg(0)), fs.Args()[1:]
	}
	opts := &options{jsonFile: f.jsonFile, fast: f.fast}

	if f.clients == "" {
		f.clients = "50"
	}
	n, err := strconv.Atoi(f.clients)
	if !digits.MatchString(f.clients) || err != nil || n < 1 || n > 1000 {
		return nil, fmt.Errorf("-c must be a number from 1 to 1000, got '%s'", f.clients)
	}
	opts.clients = n

	if len(c.programs) == 0 && len(programs) > 0 {
		return nil, fmt.Errorf("unknown argument '%s': %s takes no PROGRAM (try --help)", programs[0], c.name)
	}
	for _, name := range programs {
		if !slices.Contains(c.programs, name) {
			return nil, fmt.Errorf("unknown program '%s' (choose from: %s)", name, strings.Join(c.programs, " "))
		}
		if !slices.Contains(opts.programs, name) { // once each
			opts.programs = append(opts.programs, name)
		}
	}
	if len(opts.programs) == 0 {
		opts.programs = c.programs
	}

	opts.delay, opts.duration = "1s", c.zDefault
	if f.fast {
		opts.delay, opts.duration = "300ms", c.zFast
	}
	if c.zHelp != "" {
		if f.duration != "" {
			opts.duration = f.duration
		}
		if err := checkDuration(opts); err != nil {
			return nil, err
		}
		if c.check != nil {
			if err := c.check(opts); err != nil {
				return nil, err
			}
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

// checkDuration checks -z: from 1s to 60s, and, since the signal goes at
// the first round of requests that starts after half of -z, long enough
// for a round to fit in the second half.
func checkDuration(opts *options) error {
	z, err := scenario.ParseDuration(opts.duration)
	if err != nil {
		return fmt.Errorf("-z must be a duration like 3s, 1500ms or 1m, got '%s'", opts.duration)
	}
	if z < time.Second || z > time.Minute {
		return fmt.Errorf("-z must be from 1s to 60s, got '%s'", opts.duration)
	}
	delay, _ := scenario.ParseDuration(opts.delay)
	if z < 3*delay {
		return fmt.Errorf("-z must be at least 3 times as long as GET / takes (%s), got '%s'", opts.delay, opts.duration)
	}
	return nil
}

// upgradeMinimum is upgrade's shortest -z: after an upgrade, 04's old
// process lets a keep-alive connection go once it has sat idle for a
// second, and hey's pool may hold one.
const upgradeMinimum = "3s"

// checkUpgrade checks upgrade's -z: half of it, a round to drain (or 04's
// second for an idle keep-alive connection), and the new process must
// still get requests.
func checkUpgrade(opts *options) error {
	z, _ := scenario.ParseDuration(opts.duration)
	delay, _ := scenario.ParseDuration(opts.delay)
	if z < 4*delay {
		return fmt.Errorf("-z must be at least 4 times as long as GET / takes (%s), got '%s'", opts.delay, opts.duration)
	}
	if minimum, _ := scenario.ParseDuration(upgradeMinimum); z < minimum {
		return fmt.Errorf("-z must be at least %s, got '%s'", upgradeMinimum, opts.duration)
	}
	return nil
}

// config is one program's load run.
func config(opts *options, dirs folders, name string) scenario.LoadConfig {
	binary := filepath.Join(dirs.builds, name)
	if name == zeroDowntime {
		binary = filepath.Join(dirs.run, name) // see install04
	}
	return scenario.LoadConfig{
		Program:  name,
		Binary:   binary,
		Hey:      filepath.Join(dirs.builds, "hey"),
		Port:     opts.port,
		Delay:    opts.delay,
		Clients:  opts.clients,
		Duration: opts.duration,
	}
}

// build builds hey and the programs into dir, and with versions also
// 04-zero-downtime as v1 and v2 (04-zero-downtime-v1, -v2: each run starts
// from v1, see install04, and an upgrade moves v2 over it). The go
// commands run at once: each ends in links of its own. hey is built once
// rather than run as `go tool hey`: that would re-check the build on every
// run, and its process would be the go command's, not hey's.
func build(d *proc.Guard, dir string, versions bool, programs ...string) {
	pkgs := make([]string, len(programs))
	for i, name := range programs {
		pkgs[i] = "./" + name
	}
	builds := []func() error{
		func() error {
			if err := proc.BuildHey(dir); err != nil {
				return fmt.Errorf("could not build hey: %v", err)
			}
			return nil
		},
		func() error {
			if err := proc.Build(dir, false, pkgs...); err != nil {
				return fmt.Errorf("could not build %s: %v", strings.Join(pkgs, " "), err)
			}
			return nil
		},
	}
	const zd = zeroDowntime
	var tagged []string // the versions of 04 to build
	if versions {
		tagged = []string{"v1", "v2"}
	}
	for _, version := range tagged {
		builds = append(builds, func() error {
			if err := proc.BuildVersion(filepath.Join(dir, zd+"-"+version), "./"+zd, version, false); err != nil {
				return fmt.Errorf("could not build ./%s (%s): %v", zd, version, err)
			}
			return nil
		})
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Go(func() { errs[i] = b() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			d.Fail(err)
		}
	}
}

// runStop is load.sh stop: each program under load, SIGTERM mid-run.
func runStop(d *proc.Guard, opts *options, dirs folders) (any, []string) {
	out := d.Stdout()
	build(d, dirs.builds, false, opts.programs...)
	fmt.Fprintf(out, "GET / answers in %s; hey -c %d -z %s; SIGTERM in the middle of the run.\n", opts.delay, opts.clients, opts.duration)
	var results []scenario.LoadResult
	for _, name := range opts.programs {
		fmt.Fprintf(out, "running %s ...\n", name)
		r, err := scenario.RunLoad(d, config(opts, dirs, name))
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
	for _, note := range scenario.LateSignalNotes(results) {
		fmt.Fprintln(out, "late:    "+note)
	}
	mismatches := scenario.ShutdownMismatches(results)
	return scenario.LoadReport{Mode: "stop", Results: results, Mismatches: mismatches}, mismatches
}

// runUpgrade is load.sh upgrade: a restart of 02 against 04's hand-over.
func runUpgrade(d *proc.Guard, opts *options, dirs folders) (any, []string) {
	out := d.Stdout()
	const zd = zeroDowntime
	build(d, dirs.builds, true, "02-graceful")

	fmt.Fprintf(out, "GET / answers in %s; hey -c %d -z %s; a new version in the middle of the run.\n", opts.delay, opts.clients, opts.duration)
	fmt.Fprintln(out, "running 02-graceful: SIGTERM, wait for its exit, start a new one ...")
	restart, err := scenario.RunRestart(d, config(opts, dirs, "02-graceful"))
	if err != nil {
		d.Fail(err)
	}
	fmt.Fprintf(out, "running %s: v2 moved over its binary, SIGHUP ...\n", zd)
	install04(d, dirs)
	upgrade, err := scenario.RunUpgrade(d, config(opts, dirs, zd), filepath.Join(dirs.builds, zd+"-v2"), filepath.Join(dirs.run, zd+".pid"))
	if err != nil {
		d.Fail(err)
	}

	fmt.Fprintln(out)
	results := []scenario.LoadResult{restart, upgrade}
	report.WriteTable(out, scenario.LoadTable(results, scenario.UpgradeRows, 16, 16))
	mismatches := scenario.UpgradeMismatches(restart, upgrade)
	neverResend, more := runNeverResendUpgrade(d, opts, dirs)
	results, mismatches = append(results, neverResend...), append(mismatches, more...)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "refused:          connection refused, nothing was listening (the client may retry)")
	fmt.Fprintln(out, "cut:              accepted, then dropped (EOF, connection reset, broken pipe)")
	fmt.Fprintln(out, "new serves after: signal -> the new process accepts; meanwhile 02 refuses, 04's old one accepts")
	fmt.Fprintln(out, "after old exit:   answers the new process gave once the old one had exited")
	fmt.Fprintln(out, "exit 0 (log):     04's new process is not our child: its log ends with 'Server exiting'")
	fmt.Fprintln(out, "cut: reset, EOF:  the cut requests of clients that never resend, by what they saw")
	for _, note := range scenario.LateSignalNotes(results) {
		fmt.Fprintln(out, "late:             "+note)
	}
	return scenario.LoadReport{Mode: "upgrade", Results: results, Mismatches: mismatches}, mismatches
}

// install04 puts v1 at 04-zero-downtime's path in the run's folder, where
// an earlier upgrade of this run may have left v2.
func install04(d *proc.Guard, dirs folders) {
	const zd = zeroDowntime
	if err := proc.Install(filepath.Join(dirs.builds, zd+"-v1"), filepath.Join(dirs.run, zd)); err != nil {
		d.Fail(err)
	}
}
