// Package tests is the chaos suite: it starts the real example programs,
// sends them real signals while requests and jobs are in flight, and checks
// which of them survived. It is black-box: it only uses the programs' flags,
// their HTTP answers, their log lines and their exit status.
package tests

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// examples are the programs under test, built once by TestMain. 08-river
// needs PostgreSQL: launch gives it a database of the suite's cluster.
var examples = []string{"01-basic", "02-graceful", "03-workers", "04-zero-downtime", "05-load-balancer", "06-streaming", "07-durable-jobs", "08-river"}

// gracefulExamples are the ones that must finish in-flight requests.
// 05-load-balancer finishes them too, but keeps its listener open for its
// drain delay: the shared drain tests (refused at once, prompt idle exit,
// the timeout counted from the signal) do not hold for it; its own tests
// are in loadbalancer_test.go.
var gracefulExamples = []string{"02-graceful", "03-workers", "04-zero-downtime", "06-streaming", "07-durable-jobs", "08-river"}

// pitfalls are small wrong programs that the README's pitfalls point to:
// the name the tests start each by, and its package. Four are the starting
// copies of the exercises (TEACHING.md), one program for both; the gRPC
// ones live in testdata/pitfalls.
var pitfalls = map[string]string{
	"exit-on-serve-return": "./exercises/01-exit-on-serve-return",
	"log-fatal":            "./exercises/02-log-fatal",
	"request-context":      "./exercises/03-request-context",
	"streaming-no-hook":    "./exercises/04-streaming-no-hook",
	"grpc-no-deadline":     "./tests/testdata/pitfalls/grpc-no-deadline",
	"grpc-stop-at-once":    "./tests/testdata/pitfalls/grpc-stop-at-once",
}

// grpcExamples speak gRPC, not HTTP: the HTTP tests skip them; their own
// tests are in grpc_test.go.
var grpcExamples = []string{"09-grpc"}

// grpcTools are clients nobody here wrote, tools of the module (go.mod's
// tool lines), built once per suite: their name in binDir and package.
var grpcTools = map[string]string{
	"grpcurl":           "github.com/fullstorydev/grpcurl/cmd/grpcurl",
	"grpc-health-probe": "github.com/grpc-ecosystem/grpc-health-probe",
}

// binDir holds the built examples for the whole run (see buildDir).
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	flag.Parse()
	// The tests spend their time waiting (for the servers' slow handlers,
	// for River's rescuer), not on the CPU, so run more of them at once
	// than -parallel's default (the number of CPUs) unless it was given
	// explicitly. On 2 cores, 16 took the suite from 86 s to 68 s, and 32
	// was no faster (72 s). Under -race, which costs each test about twice
	// the CPU, 8: at 32, with the load average at 40, tests that wait for
	// a moment (a job still queued, a request in flight) starved and
	// failed, where at 8 they pass.
	parallelGiven := false
	flag.Visit(func(f *flag.Flag) { parallelGiven = parallelGiven || f.Name == "test.parallel" })
	if !parallelGiven {
		parallel := "16"
		if raceEnabled {
			parallel = "8"
		}
		_ = flag.Set("test.parallel", parallel)
	}

	// Run directly in the background by a shell (`go test -c`, then
	// `./tests.test &` in a script; go test itself catches SIGINT, which
	// resets it for its children), this process inherits SIGINT ignored,
	// and so would every program it starts: 01-basic would shrug off the
	// tests' SIGINT, and a graceful server, its handler gone once the stop
	// began, its second Ctrl+C (TestSecondSignalForcesExit waited 30 s).
	// Caught here, and dropped as before, SIGINT is back at its default
	// action in each program started from now on, as a terminal gives it.
	if signal.Ignored(syscall.SIGINT) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	}

	// Orphans of the servers (an upgraded 04-zero-downtime's successor, the
	// server `go run` starts) are handed to this process instead of init,
	// so tests can wait for them and read their exit status.
	if err := proc.SetSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", err)
		return 1
	}

	dir, err := buildDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = dir

	// Every program with one `go build -o`, never `go run`: a signal sent
	// to `go run` reaches the go tool, which dies and leaves the server
	// itself running (TestGoRunHidesSignals). Under -race the programs are
	// built with -race too; hey, the client, never is.
	var pkgs []string
	for _, name := range examples {
		pkgs = append(pkgs, "./"+name)
	}
	for _, name := range grpcExamples {
		pkgs = append(pkgs, "./"+name)
	}
	// The drivers of demo.sh, load.sh and grade.sh: each script builds its
	// driver on every run, a cost the many cases of a test need not pay
	// each (one case of each runs the script itself).
	pkgs = append(pkgs, "./scripts/demo", "./scripts/load", "./scripts/grade")
	// The builds at once: each go command ends in links of its own.
	builds := []func() error{
		func() error { return proc.Build(binDir, raceEnabled, pkgs...) },
		func() error {
			return proc.BuildVersion(filepath.Join(binDir, newVersion, "04-zero-downtime"), "./04-zero-downtime", newVersion, raceEnabled)
		},
		func() error { return proc.BuildHey(binDir) },
	}
	for name, pkg := range pitfalls {
		builds = append(builds, func() error { return proc.BuildAs(filepath.Join(binDir, name), pkg, raceEnabled) })
	}
	for name, pkg := range grpcTools {
		builds = append(builds, func() error { return proc.BuildTool(binDir, name, pkg) })
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, build := range builds {
		wg.Go(func() { errs[i] = build() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	if timeout, ok := flag.Lookup("test.timeout").Value.(flag.Getter).Get().(time.Duration); ok {
		killBeforeTimeout(timeout)
	}
	code := m.Run()
	if err := stopSuitePostgres(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	proc.ReapOrphans()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left running after the suite: %v\n", left)
		killLeftovers()
		return 1
	}
	return code
}

// buildDir is where TestMain builds, kept from one run to the next (see
// proc.CacheDir): a warm run links nothing.
func buildDir() (string, error) {
	if raceEnabled {
		return proc.CacheDir("tests-race")
	}
	return proc.CacheDir("tests-plain")
}

// repoRoot is the module root: go test runs a package in its own folder.
func repoRoot() string {
	return ".."
}

// missing skips a test that needs something this machine lacks, saying
// what and how to install it. Under CI=true, where .ci/run installs
// everything, it fails the test instead: CI never passes by skipping.
func missing(t *testing.T, why any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// rowsInTurn runs subtests at once, each in a goroutine of its own, in
// its test's own turn (testing.T.Run may be called from several
// goroutines). For rows that mostly wait, for River's rescuer (a sweep
// every 30 s) or a slow handler: as parallel subtests they would queue
// behind every other test of the suite, and they then started 20-30 s in
// and ended last. Call Run as t.Run, with no t.Parallel in the row, and
// Wait before the test returns.
type rowsInTurn struct {
	t  *testing.T
	wg sync.WaitGroup
}

// inTurn starts t's rows.
func inTurn(t *testing.T) *rowsInTurn {
	return &rowsInTurn{t: t}
}

// Run starts the row name, at once.
func (r *rowsInTurn) Run(name string, f func(*testing.T)) {
	r.wg.Go(func() { r.t.Run(name, f) })
}

// Wait waits until every row has ended.
func (r *rowsInTurn) Wait() {
	r.wg.Wait()
}
