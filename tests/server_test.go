package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Generous guards for a busy 2-core machine under -race: they catch a hang,
// they do not measure speed (the benchmarks do that).
const (
	readyTimeout = 30 * time.Second
	logTimeout   = 30 * time.Second
	exitTimeout  = 30 * time.Second
	// scriptTimeout bounds a whole run of demo.sh or load.sh (15 s when idle).
	scriptTimeout = 3 * time.Minute
)

// process is a program the suite started, in a process group of its own.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *output
	exited chan struct{} // closed once the process has exited and been reaped
	// outputDone is closed when no process writes to out any more: the
	// process and any it started (04-zero-downtime's successor, the
	// demo's servers).
	outputDone chan struct{}
}

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
			return s
		}
		if attempt == 3 || !strings.Contains(s.out.String(), "address already in use") {
			t.Fatalf("%s did not start: %v\noutput:\n%s", s.name, err, s.out)
		}
	}
}

// launch starts the binary at path without waiting for it to listen.
func launch(t *testing.T, path, addr string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(path, append([]string{"-addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), "GIN_MODE=release", "GORACE=atexit_sleep_ms=0")
	return &server{process: startProcess(t, cmd), addr: addr}
}

// startProcess starts cmd in a process group of its own, collects its
// output, and has t.Cleanup kill the group.
func startProcess(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{
		name:       filepath.Base(cmd.Path),
		cmd:        cmd,
		out:        newOutput(),
		exited:     make(chan struct{}),
		outputDone: make(chan struct{}),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Our own pipe rather than an io.Writer: exec would then make Wait wait
	// for every process holding the pipe, and an upgraded 04-zero-downtime
	// hands it on to its successor.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		_, _ = io.Copy(p.out, r)
		r.Close()
		close(p.outputDone)
	}()
	go func() {
		_ = cmd.Wait() // the exit status is read from ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill ends the whole process group and waits until it is gone.
func (s *process) kill(t *testing.T) {
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(exitTimeout):
		t.Errorf("%s (pid %d) still running after SIGKILL", s.name, pgid)
	}
	reapGroup(pgid)
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d of %s still exists after cleanup (kill -0: %v)", pgid, s.name, err)
	}
}

// reapGroup waits for the members of a process group that were handed to
// the suite when their parent died (TestMain makes it a child subreaper):
// the successor of an upgraded 04-zero-downtime, or the server `go run`
// started. Call it once the group was killed and its leader reaped.
func reapGroup(pgid int) {
	deadline := time.Now().Add(exitTimeout)
	for time.Now().Before(deadline) {
		pid, err := syscall.Wait4(-pgid, nil, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil:
			return // ECHILD: none left
		case pid == 0:
			time.Sleep(10 * time.Millisecond) // one is still dying: poll
		}
	}
}

// waitReady polls until the server accepts a TCP connection.
func (s *server) waitReady() error {
	return waitListening(s.addr, readyTimeout, s.exited)
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits (exited is closed) or the timeout passes.
func waitListening(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the process exited before it listened")
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return conn.Close()
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	return fmt.Errorf("nothing listening on %s after %s", addr, timeout)
}

func (s *server) url(path string) string {
	return "http://" + s.addr + path
}

// signal sends sig to the server process (not its group: that is what
// Ctrl+C in a terminal, kill or docker stop would do to a lone server).
func (s *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to %s: %v", sig, s.name, err)
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
	state := s.waitProcessExitWithin(t, limit)
	select {
	case <-s.outputDone:
	case <-time.After(exitTimeout):
		t.Fatalf("%s exited, but something still holds its output open", s.name)
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
	select {
	case <-s.exited:
		return s.cmd.ProcessState
	case <-time.After(limit):
		t.Fatalf("%s still running after %s\noutput:\n%s", s.name, limit, s.out)
		return nil
	}
}

// waitLog waits until the output holds at least n lines containing text.
func (s *process) waitLog(t *testing.T, text string, n int) {
	t.Helper()
	if err := s.out.waitFor(text, n, s.outputDone, logTimeout); err != nil {
		t.Fatalf("%s: %v\noutput:\n%s", s.name, err, s.out)
	}
}

// waitRefused polls until a new connection to the server is refused: the
// listener is closed. It fails the test if that takes longer than within.
func (s *server) waitRefused(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			conn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: new connections still accepted %s after the signal (last dial: %v)", s.name, within, err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	rememberAddr(addr)
	return addr
}

// output collects a process's stdout and stderr and lets tests wait for a
// line to appear in it.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newOutput() *output {
	return &output{changed: make(chan struct{})}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// lines returns the complete lines containing text.
func (o *output) lines(text string) []string {
	var found []string
	for line := range strings.Lines(o.String()) {
		if strings.Contains(line, text) && strings.HasSuffix(line, "\n") {
			found = append(found, strings.TrimSuffix(line, "\n"))
		}
	}
	return found
}

// waitFor returns once n lines contain text, or an error when the output
// ends (closed is closed) or the timeout passes first.
func (o *output) waitFor(text string, n int, closed <-chan struct{}, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o.mu.Lock()
		changed := o.changed
		o.mu.Unlock()
		if len(o.lines(text)) >= n {
			return nil
		}
		select {
		case <-changed:
		case <-closed:
			if len(o.lines(text)) >= n {
				return nil
			}
			return fmt.Errorf("output ended before %d line(s) containing %q", n, text)
		case <-timer.C:
			return fmt.Errorf("no %d line(s) containing %q within %s", n, text, timeout)
		}
	}
}
