package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// Generous guards for a busy 2-core machine under -race: they catch a hang,
// they do not measure speed (the benchmarks do that).
const (
	readyTimeout = 30 * time.Second
	logTimeout   = 30 * time.Second
	exitTimeout  = 30 * time.Second
	// scriptTimeout bounds a whole run of demo.sh or load.sh (15 s when idle).
	scriptTimeout = 3 * time.Minute
	// quitGrace is how long a process still running when its test failed
	// gets to print its goroutines after SIGQUIT, before SIGKILL.
	quitGrace = 2 * time.Second
)

// process is a program the suite started (proc.Process), with the test's
// vocabulary: every helper fails the test instead of returning an error.
type process struct {
	*proc.Process
	name   string
	cmd    *exec.Cmd
	out    output
	exited chan struct{}
}

// output is a process's output (proc.Output).
type output struct{ *proc.Output }

// lines returns the complete lines containing text.
func (o output) lines(text string) []string { return o.Lines(text) }

// server is one running example process and the address it serves on.
type server struct {
	*process
	addr string // 127.0.0.1:port
}

// startServer starts an example on a free loopback port and returns once it
// accepts connections. The process runs in its own process group, which
// t.Cleanup kills, and it dies with the test binary (Pdeathsig) should go
// test itself time out before cleanups run.
func startServer(t *testing.T, name string, args ...string) *server {
	t.Helper()
	remindExercise(t, name)
	return startBinary(t, filepath.Join(binDir, name), args...)
}

// startBinary is startServer for a binary at any path.
func startBinary(t *testing.T, path string, args ...string) *server {
	t.Helper()
	trackSources(t)
	// Another process may take the free port between our probe and the
	// server's bind: then try another port, a few times.
	for attempt := 1; ; attempt++ {
		s := launch(t, path, freePort(t), args...)
		err := s.waitReady()
		if err == nil {
			// Whoever answered may be another program that took the port
			// (a second test suite on the machine), with ours on its way
			// to "address already in use".
			if err = (&proc.Server{Process: s.Process, Addr: s.addr}).OwnsPort(); err == nil {
				return s
			}
		}
		if attempt == 3 || !(errors.Is(err, proc.ErrPortBusy) || strings.Contains(s.out.String(), "address already in use")) {
			t.Fatalf("%s did not start: %v\noutput:\n%s", s.name, err, s.out)
		}
	}
}

// launch starts the binary at path without waiting for it to listen. A
// program that keeps its jobs in PostgreSQL (08-river) gets a new database
// of its own, unless args name one: so it runs in every table.
func launch(t *testing.T, path, addr string, args ...string) *server {
	t.Helper()
	if filepath.Base(path) == "08-river" && !slices.Contains(args, "-database-url") {
		args = append([]string{"-database-url", database(t)}, args...)
	}
	s, err := proc.StartServer(path, addr, args...)
	if err != nil {
		t.Fatal(err)
	}
	return &server{process: track(t, s.Process), addr: addr}
}

// startProcess starts cmd in a process group of its own, collects its
// output, and has t.Cleanup end the group.
func startProcess(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return track(t, p)
}

// track wraps a started process and has t.Cleanup end its group. A process
// still running when its test failed gets SIGQUIT first: a Go program then
// prints every goroutine, which shows where it hung.
func track(t *testing.T, p *proc.Process) *process {
	t.Cleanup(func() {
		if t.Failed() && p.Quit(quitGrace) {
			t.Logf("%s was still running: SIGQUIT, then its output:\n%s", p.Name, p.Out)
		}
		if err := p.Kill(exitTimeout); err != nil {
			t.Error(err)
		}
	})
	return &process{Process: p, name: p.Name, cmd: p.Cmd, out: output{p.Out}, exited: p.Exited}
}

// waitReady polls until the server accepts a TCP connection.
func (s *server) waitReady() error {
	return proc.WaitListening(s.addr, proc.Connect, readyTimeout, s.exited)
}

func (s *server) url(path string) string {
	return "http://" + s.addr + path
}

// signal sends sig to the server process (not its group: that is what
// Ctrl+C in a terminal, kill or docker stop would do to a lone server).
func (s *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// waitExit waits for the process to end, and for the last of its output,
// and returns how it ended.
func (s *process) waitExit(t *testing.T) *os.ProcessState {
	t.Helper()
	return s.waitExitWithin(t, exitTimeout)
}

// waitExitWithin is waitExit with a limit of its own, for a script.
func (s *process) waitExitWithin(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	state, err := s.WaitExit(limit)
	if err != nil {
		t.Fatalf("%v\noutput:\n%s", err, s.out)
	}
	return state
}

// waitProcessExit waits for the process itself to end, not for the output
// a successor it started may still write.
func (s *process) waitProcessExit(t *testing.T) *os.ProcessState {
	t.Helper()
	return s.waitProcessExitWithin(t, exitTimeout)
}

// waitProcessExitWithin is waitProcessExit with a limit of its own, for a
// script that runs a whole lesson before it exits.
func (s *process) waitProcessExitWithin(t *testing.T, limit time.Duration) *os.ProcessState {
	t.Helper()
	state, err := s.WaitProcessExit(limit)
	if err != nil {
		t.Fatalf("%v\noutput:\n%s", err, s.out)
	}
	return state
}

// waitLog waits until the output holds at least n lines containing text.
func (s *process) waitLog(t *testing.T, text string, n int) {
	t.Helper()
	if err := s.WaitLog(text, n, logTimeout); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, s.out)
	}
}

// waitRefused polls until a new connection to the server is refused: the
// listener is closed. It fails the test if that takes longer than within.
func (s *server) waitRefused(t *testing.T, within time.Duration) {
	t.Helper()
	if err := proc.WaitRefused(s.addr, within); err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
}

// assertExitedWith checks a normal exit with the given status code.
func (s *process) assertExitedWith(t *testing.T, state *os.ProcessState, code int) {
	t.Helper()
	ws := state.Sys().(syscall.WaitStatus)
	if !ws.Exited() || ws.ExitStatus() != code {
		t.Fatalf("%s: want exit status %d, got %s\noutput:\n%s", s.name, code, state, s.out)
	}
}

// assertKilledBy checks that the process died of sig, the way Go's default
// action for an uncaught SIGINT or SIGTERM ends it (ExitCode() is then -1).
func (s *process) assertKilledBy(t *testing.T, state *os.ProcessState, sig syscall.Signal) {
	t.Helper()
	ws := state.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != sig {
		t.Fatalf("%s: want death by %v, got %s\noutput:\n%s", s.name, sig, state, s.out)
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	addr, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
