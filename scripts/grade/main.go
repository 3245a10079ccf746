// grade builds a student's copy of an exercise (exercises/NN-name, the
// pitfall programs the tests run, given as "find the bug" tasks),
// starts it on a free loopback port, and runs the same black-box check the
// tests run against the pitfall: real requests, a real SIGTERM, the answer,
// the log and the exit status. It prints one line, PASS or FAIL with the
// reason, and exits 0 on PASS, 1 on FAIL, 2 when it cannot grade (bad
// usage, no such exercise).
//
//	grade EXERCISE [DIR]
//
// DIR is the package to grade, exercises/EXERCISE by default; give
// exercises/EXERCISE/solution to grade the solution. scripts/grade.sh is
// the entry point: it builds this program and runs it.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// exercise is one "find the bug" task: its check and the arguments the
// program is started with.
type exercise struct {
	args  []string
	check func(s *proc.Server) error
}

// exercises are the tasks, by the name of their folder under exercises/.
var exercises = map[string]exercise{
	"01-exit-on-serve-return": {[]string{"-delay", "2s"}, checkAnswersInFlight},
	"02-log-fatal":            {[]string{"-delay", "20s", "-timeout", "1s"}, checkCleanupAfterTimeout},
	"03-request-context":      {[]string{"-delay", "60s"}, checkHandlerStopsAtSignal},
	"04-streaming-no-hook":    {[]string{"-timeout", "10s", "-tick", "200ms"}, checkStreamsEndAtSignal},
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintf(os.Stderr, "usage: grade EXERCISE [DIR]\nexercises: %s\n", strings.Join(names(), ", "))
		os.Exit(2)
	}
	name := os.Args[1]
	ex, ok := exercises[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "grade: no exercise %q: want one of %s\n", name, strings.Join(names(), ", "))
		os.Exit(2)
	}
	root, err := proc.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "grade:", err)
		os.Exit(2)
	}
	dir := filepath.Join(root, "exercises", name)
	if len(os.Args) == 3 {
		if dir, err = filepath.Abs(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "grade:", err)
			os.Exit(2)
		}
	}
	if rel, err := filepath.Rel(root, dir); err != nil || strings.HasPrefix(rel, "..") {
		fmt.Fprintf(os.Stderr, "grade: %s is outside the repository: copy it under exercises/ first\n", dir)
		os.Exit(2)
	}
	if err := grade(root, dir, ex); err != nil {
		fmt.Printf("FAIL %s: %v\n", name, err)
		os.Exit(1)
	}
	fmt.Printf("PASS %s\n", name)
}

func names() []string {
	var all []string
	for name := range exercises {
		all = append(all, name)
	}
	sort.Strings(all)
	return all
}

// grade builds the program in dir, starts it and runs the check. The
// program is killed, with everything it started, whatever the outcome.
func grade(root, dir string, ex exercise) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return err
	}
	// Built into a folder kept between runs (see proc.CacheDir), named
	// after the copy's folder: grading it again relinks only if it changed.
	builds, err := proc.CacheDir("grade")
	if err != nil {
		return err
	}
	bin := filepath.Join(builds, strings.ReplaceAll(filepath.ToSlash(rel), "/", "_"))
	build := exec.Command("go", "build", "-o", bin, "./"+filepath.ToSlash(rel))
	build.Dir = root
	// The go command's temporary folder beside the binary: the build moves
	// into place with one rename, so two graders never see half of it.
	build.Env = append(os.Environ(), "GOTMPDIR="+builds)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("it does not build:\n%s", strings.TrimSpace(string(out)))
	}

	addr, err := proc.FreePort()
	if err != nil {
		return err
	}
	s, err := proc.StartServer(bin, addr, ex.args...)
	if err != nil {
		return err
	}
	defer func() { _ = s.Kill(5 * time.Second) }()
	if err := s.WaitReady(30 * time.Second); err != nil {
		return fmt.Errorf("it never listened on %s: %v\nits output:\n%s", addr, err, s.Out)
	}
	return ex.check(s)
}

// errNoExit is what a check reports when the server outlives its bound.
var errNoExit = errors.New("the process did not exit")
