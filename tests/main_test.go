// Package tests is the chaos suite: it starts the real example programs,
// sends them real signals while requests and jobs are in flight, and checks
// which of them survived. It is black-box: it only uses the programs' flags,
// their HTTP answers, their log lines and their exit status.
package tests

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// examples are the programs under test, built once by TestMain.
var examples = []string{"01-basic", "02-graceful", "03-workers", "04-zero-downtime", "06-streaming"}

// gracefulExamples are the ones that must finish in-flight requests.
var gracefulExamples = []string{"02-graceful", "03-workers", "04-zero-downtime", "06-streaming"}

// pitfalls are small wrong programs that the README's pitfalls point to,
// built from testdata/pitfalls/NAME.
var pitfalls = []string{"exit-on-serve-return", "log-fatal", "request-context", "streaming-no-hook"}

// binDir holds the built examples for the whole run.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	flag.Parse()
	// The tests spend their time waiting for the servers' slow handlers,
	// not on the CPU, so run more of them at once than -parallel's default
	// (the number of CPUs) unless it was given explicitly.
	parallelGiven := false
	flag.Visit(func(f *flag.Flag) { parallelGiven = parallelGiven || f.Name == "test.parallel" })
	if !parallelGiven {
		_ = flag.Set("test.parallel", "8")
	}

	// Orphans of the servers (an upgraded 04-zero-downtime's successor, the
	// server `go run` starts) are handed to this process instead of init,
	// so tests can wait for them and read their exit status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", err)
		return 1
	}

	dir, err := os.MkdirTemp("", "graceful-shutdown-lab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir

	if err := buildAll(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := buildVersion("04-zero-downtime", "v2"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// hey, the load tool: a tool of the module, built once, without -race
	// (it is the client, not what is under test).
	if err := goBuild([]string{"build", "-o", filepath.Join(binDir, "hey"), "github.com/rakyll/hey"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	if timeout, ok := flag.Lookup("test.timeout").Value.(flag.Getter).Get().(time.Duration); ok {
		killBeforeTimeout(timeout)
	}
	code := m.Run()
	reapOrphans()
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left running after the suite: %v\n", left)
		killLeftovers()
		return 1
	}
	return code
}

// buildAll compiles every program into binDir with one `go build -o`,
// never `go run`: a signal sent to `go run` reaches the go tool, which dies
// and leaves the server itself running (TestGoRunHidesSignals). Under -race
// the programs are built with -race too.
func buildAll() error {
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	for _, name := range examples {
		args = append(args, "./"+name)
	}
	for _, name := range pitfalls {
		args = append(args, "./tests/testdata/pitfalls/"+name)
	}
	return goBuild(args)
}

// buildVersion builds an example again as another version, into
// binDir/VERSION/NAME, the way a release would set it.
func buildVersion(name, version string) error {
	args := []string{"build", "-o", filepath.Join(binDir, version, name), "-ldflags", "-X main.version=" + version}
	if raceEnabled {
		args = append(args, "-race")
	}
	return goBuild(append(args, "./"+name))
}

func goBuild(args []string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// repoRoot is the module root: go test runs a package in its own folder.
func repoRoot() string {
	return ".."
}
