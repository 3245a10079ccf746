package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// ErrInterrupted is what Guard.Start returns once the driver is stopping.
var ErrInterrupted = errors.New("interrupted")

// Guard is what a script's Go program (load.sh, bench.sh, demo.sh) keeps
// to end on every exit path: the processes it started, the successors they
// start themselves (04-zero-downtime), its temporary folders. On SIGINT or
// SIGTERM it ends them all and exits 130 or 143, like a shell script's trap.
type Guard struct {
	name       string // how error lines begin: "load.sh"
	mu         sync.Mutex
	stopping   bool
	signalled  syscall.Signal
	processes  []*Process
	successors []successor
	dirs       []string
	atExit     []func()
	cleanup    sync.Once
}

// successor is where to find a process a server started as its own
// successor: the PID file it writes once it serves, and the process group
// of the first server, which every successor inherits (it also catches
// one that has not written its PID yet).
type successor struct {
	pgid    int
	pidFile string
}

// NewGuard catches SIGINT and SIGTERM: from now on they end everything the
// driver started and exit 128+N. A second Ctrl+C does not cut that short.
func NewGuard(name string) *Guard {
	d := &Guard{name: name}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := (<-signals).(syscall.Signal)
		d.mu.Lock()
		d.signalled = sig
		d.mu.Unlock()
		d.Exit(0) // the status becomes 128+sig
	}()
	return d
}

// Start starts cmd (see Start) and records it for the cleanup. Once the
// driver is stopping it starts nothing and returns ErrInterrupted.
func (d *Guard) Start(cmd *exec.Cmd) (*Process, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return nil, ErrInterrupted
	}
	p, err := Start(cmd)
	if err == nil {
		d.processes = append(d.processes, p)
	}
	return p, err
}

// StartServer is the package's StartServer, the server recorded for the cleanup.
func (d *Guard) StartServer(path, addr string, args ...string) (*Server, error) {
	p, err := d.Start(ServerCommand(path, addr, args...))
	if err != nil {
		return nil, err
	}
	return &Server{Process: p, Addr: addr}, nil
}

// TempDir makes a temporary folder (in $TMPDIR) that the cleanup removes.
func (d *Guard) TempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	d.dirs = append(d.dirs, dir)
	d.mu.Unlock()
	return dir, nil
}

// AtExit has the cleanup call f, after it ended the processes and before
// it removes the folders: for what the driver started that is no process
// of its own (a PostgreSQL cluster, which pg_ctl starts and leaves).
func (d *Guard) AtExit(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.atExit = append(d.atExit, f)
}

// WatchSuccessors records where to find the successors the server p may
// start (04-zero-downtime on SIGHUP): they are not the driver's children,
// and outlive p. pidFile is the file the serving process writes.
func (d *Guard) WatchSuccessors(p *Process, pidFile string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.successors = append(d.successors, successor{pgid: p.PID(), pidFile: pidFile})
}

// UnwatchSuccessors forgets them once they are known to be gone.
func (d *Guard) UnwatchSuccessors() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.successors = nil
}

// Interrupted reports whether SIGINT or SIGTERM arrived.
func (d *Guard) Interrupted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.signalled != 0
}

// Stdout and Stderr are the driver's output: they write nothing once
// SIGINT or SIGTERM arrived, so that what the cleanup does to the runs
// under way (a server killed, hey's report cut short) never shows as a
// result.
func (d *Guard) Stdout() io.Writer { return quietWriter{d, os.Stdout} }
func (d *Guard) Stderr() io.Writer { return quietWriter{d, os.Stderr} }

type quietWriter struct {
	d *Guard
	w io.Writer
}

func (q quietWriter) Write(p []byte) (int, error) {
	if q.d.Interrupted() {
		return len(p), nil
	}
	return q.w.Write(p)
}

// Fail prints one line, "NAME: err", on stderr and exits 2: the driver
// could not run (bad input, a busy port, a server that never started).
// Once interrupted it prints nothing: what failed was the cleanup's doing.
func (d *Guard) Fail(err error) {
	if !d.Interrupted() {
		fmt.Fprintf(os.Stderr, "%s: %v\n", d.name, err)
	}
	d.Exit(2)
}

// Failf is Fail with a format.
func (d *Guard) Failf(format string, args ...any) {
	d.Fail(fmt.Errorf(format, args...))
}

// Exit ends everything the driver started, removes its folders and exits
// with status, or with 128+N once signal N arrived.
func (d *Guard) Exit(status int) {
	d.cleanup.Do(d.stop)
	d.mu.Lock()
	if d.signalled != 0 {
		status = 128 + int(d.signalled)
	}
	d.mu.Unlock()
	os.Exit(status)
}

// stop kills, by process group, every process still running, then every
// watched successor (by the PID its file names, and by its group), waits
// briefly until they are gone, and removes the folders.
func (d *Guard) stop() {
	d.mu.Lock()
	d.stopping = true
	processes, successors, dirs, atExit := d.processes, d.successors, d.dirs, d.atExit
	d.mu.Unlock()
	var pids []int
	for _, s := range successors {
		if pid := ReadPIDFile(s.pidFile); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
		_ = syscall.Kill(-s.pgid, syscall.SIGKILL)
	}
	for _, p := range processes {
		// One that has exited is not signalled: its PID may be reused.
		if p.Running() {
			_ = p.Kill(2 * time.Second)
		}
	}
	for _, pid := range pids {
		WaitPIDGone(pid, 2*time.Second)
	}
	for _, f := range atExit {
		f()
	}
	for _, dir := range dirs {
		_ = os.RemoveAll(dir)
	}
}
