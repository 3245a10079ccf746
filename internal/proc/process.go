package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a program started in a process group of its own, its stdout
// and stderr collected, line by line, with the time each line arrived.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Output
	// Exited is closed once the process has exited and been reaped; then
	// Cmd.ProcessState says how, and ExitedAt when it was seen.
	Exited   chan struct{}
	ExitedAt time.Time
	// OutputDone is closed when no process writes to Out any more: the
	// process and any it started (04-zero-downtime's successor).
	OutputDone chan struct{}

	// pipe is this process's copy of the output pipe's write end, open
	// until the process has exited: Sync writes its markers there.
	pipeMu sync.Mutex
	pipe   *os.File
	syncs  int
}

// Start starts cmd in a process group of its own, so that a signal to the
// group reaches everything it started; the process dies with its parent
// (Pdeathsig), should the parent be killed before it cleans up.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{
		Name:       filepath.Base(cmd.Path),
		Cmd:        cmd,
		Out:        NewOutput(),
		Exited:     make(chan struct{}),
		OutputDone: make(chan struct{}),
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	// Our own pipe rather than an io.Writer: exec would then make Wait wait
	// for every process holding the pipe, and an upgraded 04-zero-downtime
	// hands it on to its successor.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p.pipe = w
	go func() {
		_, _ = io.Copy(p.Out, r)
		r.Close()
		p.Out.Close()
		close(p.OutputDone)
	}()
	go func() {
		_ = cmd.Wait() // the exit status is read from ProcessState
		p.ExitedAt = time.Now()
		p.pipeMu.Lock()
		p.pipe.Close()
		p.pipe = nil
		p.pipeMu.Unlock()
		close(p.Exited)
	}()
	return p, nil
}

// PID is the process's PID, which is also its process group's ID.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.Exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process alone (not its group): what Ctrl+C in a
// terminal, kill or docker stop does to a lone server.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("send %v to %s: %w", sig, p.Name, err)
	}
	return nil
}

// WaitProcessExit waits for the process itself to end, not for output a
// successor it started may still write.
func (p *Process) WaitProcessExit(limit time.Duration) (*os.ProcessState, error) {
	select {
	case <-p.Exited:
		return p.Cmd.ProcessState, nil
	case <-time.After(limit):
		return nil, fmt.Errorf("%s still running after %s", p.Name, limit)
	}
}

// WaitExit waits for the process to end and for the last of its output.
func (p *Process) WaitExit(limit time.Duration) (*os.ProcessState, error) {
	state, err := p.WaitProcessExit(limit)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.OutputDone:
		return state, nil
	case <-time.After(limit):
		return nil, fmt.Errorf("%s exited, but something still holds its output open", p.Name)
	}
}

// syncMarker begins the lines Sync writes into a process's output pipe; a
// NUL byte, which no program here prints, keeps them out of Out's lines.
const syncMarker = "\x00lab-sync "

// Sync waits (limit at most) until Out holds every line the process wrote
// before Sync was called. Out fills as a reader goroutine gets to the
// pipe, and on a busy machine it can lag behind what the process has
// already said; a marker written into the same pipe comes out after all
// of it. Once the process has exited there is nothing to wait for.
func (p *Process) Sync(limit time.Duration) error {
	p.pipeMu.Lock()
	if p.pipe == nil {
		p.pipeMu.Unlock()
		return nil
	}
	p.syncs++
	marker := fmt.Sprintf("%s%d", syncMarker, p.syncs)
	_, err := p.pipe.WriteString(marker + "\n")
	p.pipeMu.Unlock()
	if err != nil {
		return err
	}
	return p.Out.waitMarker(marker, p.OutputDone, limit)
}

// WaitLog waits until the output holds at least n lines containing text.
func (p *Process) WaitLog(text string, n int, limit time.Duration) error {
	if err := p.Out.WaitFor(text, n, p.OutputDone, limit); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return nil
}

// Quit sends SIGQUIT to a process that is still running, so that a Go
// program prints every goroutine's stack (into Out) before it dies, and
// waits up to grace for it to exit. It reports whether it sent the signal.
func (p *Process) Quit(grace time.Duration) bool {
	if !p.Running() || p.Cmd.Process.Signal(syscall.SIGQUIT) != nil {
		return false
	}
	select {
	case <-p.Exited:
	case <-time.After(grace):
	}
	return true
}

// Kill ends the whole process group, waits until the process is gone and
// reaps the members handed to this process (see SetSubreaper). It fails if
// the group still exists after limit.
func (p *Process) Kill(limit time.Duration) error {
	pgid := p.PID()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.Exited:
	case <-time.After(limit):
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", p.Name, pgid)
	}
	ReapGroup(pgid, limit)
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process group %d of %s still exists after SIGKILL (kill -0: %v)", pgid, p.Name, err)
	}
	return nil
}

// Output collects a process's output and lets callers wait for a line.
// Each complete line keeps the time it arrived: Go's log prints whole
// seconds only, and the timelines need milliseconds.
type Output struct {
	mu      sync.Mutex
	all     strings.Builder // the complete lines, as written
	lines   []Line
	partial string
	marker  string        // the last Sync marker seen
	changed chan struct{} // closed and replaced on every write
}

// Line is one complete line of output and when it arrived.
type Line struct {
	At   time.Time
	Text string
}

func NewOutput() *Output {
	return &Output{changed: make(chan struct{})}
}

func (o *Output) Write(p []byte) (int, error) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	rest := o.partial + string(p)
	for {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if line := rest[:i]; strings.HasPrefix(line, syncMarker) {
			o.marker = line
		} else {
			o.lines = append(o.lines, Line{At: now, Text: line})
			o.all.WriteString(line + "\n")
		}
		rest = rest[i+1:]
	}
	o.partial = rest
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

// Close ends the last line, should it lack a newline.
func (o *Output) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.partial != "" {
		o.lines = append(o.lines, Line{At: time.Now(), Text: o.partial})
		o.all.WriteString(o.partial)
		o.partial = ""
	}
}

// String is everything written so far, a last line without its newline
// included.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if strings.HasPrefix(o.partial, syncMarker[:1]) {
		return o.all.String() // a Sync marker on its way
	}
	return o.all.String() + o.partial
}

// waitMarker waits until the line marker has come through, done is
// closed (no more output) or limit passes.
func (o *Output) waitMarker(marker string, done <-chan struct{}, limit time.Duration) error {
	deadline := time.After(limit)
	for {
		o.mu.Lock()
		seen, changed := o.marker == marker, o.changed
		o.mu.Unlock()
		if seen {
			return nil
		}
		select {
		case <-changed:
		case <-done:
			return nil
		case <-deadline:
			return fmt.Errorf("the output did not catch up within %s", limit)
		}
	}
}

// Changed is closed on the next write: wait on it, then look again.
func (o *Output) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// All returns every complete line so far.
func (o *Output) All() []Line {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Line(nil), o.lines...)
}

// Lines returns the complete lines containing text.
func (o *Output) Lines(text string) []string {
	var found []string
	for _, l := range o.All() {
		if strings.Contains(l.Text, text) {
			found = append(found, l.Text)
		}
	}
	return found
}

// First returns the first complete line containing text.
func (o *Output) First(text string) (Line, bool) {
	for _, l := range o.All() {
		if strings.Contains(l.Text, text) {
			return l, true
		}
	}
	return Line{}, false
}

// WaitFor returns once n lines contain text, or an error when the output
// ends (closed is closed) or the limit passes first.
func (o *Output) WaitFor(text string, n int, closed <-chan struct{}, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		changed := o.Changed()
		if len(o.Lines(text)) >= n {
			return nil
		}
		select {
		case <-changed:
		case <-closed:
			if len(o.Lines(text)) >= n {
				return nil
			}
			return fmt.Errorf("output ended before %d line(s) containing %q", n, text)
		case <-timer.C:
			return fmt.Errorf("no %d line(s) containing %q within %s", n, text, limit)
		}
	}
}

// WaitEnding waits until p exits, limit at most, then SIGKILLs it (the
// process alone, as a shell's kill would) and waits for that.
func (p *Process) WaitEnding(limit time.Duration) Ending {
	if state, err := p.WaitProcessExit(limit); err == nil {
		return Ending{State: state, At: p.ExitedAt}
	}
	_ = syscall.Kill(p.PID(), syscall.SIGKILL)
	state, _ := p.WaitProcessExit(5 * time.Second)
	return Ending{State: state, Hung: true, At: time.Now()}
}

// Starter starts a command as a Process whose end the caller guarantees:
// a Guard's Start, or a test's wrapper that ends it at cleanup.
type Starter func(*exec.Cmd) (*Process, error)

// LastLine is the last line the process wrote, once its output has ended
// (1 s at most: the reader may lag behind a process that just exited).
func (p *Process) LastLine() string {
	select {
	case <-p.OutputDone:
	case <-time.After(time.Second):
	}
	lines := p.Out.All()
	if len(lines) == 0 {
		return "(no output)"
	}
	return lines[len(lines)-1].Text
}
