package lab

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Ending is how a process ended: its state, or Hung when it had to be
// killed after its time ran out; At is when it was seen gone.
type Ending struct {
	State *os.ProcessState
	Hung  bool
	At    time.Time
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

// Text says how the process ended, as load.sh's table does: "exit 0",
// "SIGTERM" (killed by that signal), "hung, killed".
func (e Ending) Text() string {
	if e.Hung || e.State == nil {
		return "hung, killed"
	}
	ws := e.State.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// Status is the exit status as a shell reports it: 128+N when signal N
// killed the process (and for a hung one, killed by SIGKILL).
func (e Ending) Status() int {
	if e.Hung || e.State == nil {
		return 128 + int(syscall.SIGKILL)
	}
	ws := e.State.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// InstallCommands are the commands that put a new build at the path of a
// running binary, the way a deploy should: cp onto a running binary fails
// (text file busy), so the build is copied beside it, then renamed over it.
// The running process keeps its own file, which no name points to any more;
// the next one to start gets the new build.
func InstallCommands(build, binary string) [][]string {
	next := binary + ".next"
	return [][]string{{"cp", build, next}, {"mv", "-f", next, binary}}
}

// Install runs InstallCommands. The copy is made by cp, not by this
// process: a child forked meanwhile could inherit our write descriptor for
// a moment, and exec of a file open for writing fails with "text file busy".
func Install(build, binary string) error {
	for _, args := range InstallCommands(build, binary) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Serving is 04-zero-downtime's "version V serving on ADDR (pid N)" line:
// which build serves, in which process, and when the line arrived.
type Serving struct {
	Version string
	PID     int
	At      time.Time
}

var servingLine = regexp.MustCompile(` version (\S+) serving on .*\(pid (\d+)\)$`)

// FindServing returns the first serving line of lines whose PID is not
// otherThan (0: any), and whether there is one. When an "Upgrade failed"
// line comes first, it returns that line's text as an error.
func FindServing(lines []Line, otherThan int) (Serving, bool, error) {
	for _, l := range lines {
		if _, failed, ok := strings.Cut(l.Text, " Upgrade failed"); ok {
			return Serving{}, false, fmt.Errorf("Upgrade failed%s", failed)
		}
		if m := servingLine.FindStringSubmatch(l.Text); m != nil {
			pid, _ := strconv.Atoi(m[2])
			if pid != otherThan {
				return Serving{Version: m[1], PID: pid, At: l.At}, true, nil
			}
		}
	}
	return Serving{}, false, nil
}

// WaitServing waits, limit at most, until p's output (which its successors
// share) shows a process other than otherThan (0: any) serving.
func (p *Process) WaitServing(otherThan int, limit time.Duration) (Serving, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		p.Out.mu.Lock()
		changed := p.Out.changed
		p.Out.mu.Unlock()
		if s, ok, err := FindServing(p.Out.All(), otherThan); ok || err != nil {
			return s, p.named(err)
		}
		select {
		case <-changed:
		case <-p.OutputDone:
			if s, ok, err := FindServing(p.Out.All(), otherThan); ok || err != nil {
				return s, p.named(err)
			}
			return Serving{}, fmt.Errorf("%s: its output ended before a new process served", p.Name)
		case <-timer.C:
			if otherThan == 0 {
				return Serving{}, fmt.Errorf("%s: not serving within %s", p.Name, limit)
			}
			return Serving{}, fmt.Errorf("%s: no new process served within %s of SIGHUP", p.Name, limit)
		}
	}
}

// named prefixes err, if any, with the process's name.
func (p *Process) named(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", p.Name, err)
}

// UpgradeSteps are the parameters of an in-place upgrade of a running
// 04-zero-downtime.
type UpgradeSteps struct {
	Binary  string // the path the running process was started from
	Build   string // the new build, installed over Binary
	PIDFile string // the -pidfile the process was started with
	// BeforeSignal, when set, runs between the install and the SIGHUP
	// (load.sh waits there until every client's request is in flight).
	BeforeSignal func() error
	ServeLimit   time.Duration // for the new process to serve
	ExitLimit    time.Duration // for the old one to exit, once it does
}

// Upgrade is what an in-place upgrade did.
type Upgrade struct {
	Signalled time.Time // when SIGHUP went
	New       Serving   // the new process's serving line
	Old       Ending    // how the old process ended
	// PIDFile is the PID the PID file names once the old process is
	// gone: the new process's, if the hand-over worked.
	PIDFile int
}

// UpgradeInPlace upgrades the running old process: it installs the new
// build over its binary (Install), sends it SIGHUP, waits for a new
// process's "version V serving" line, then for the old process's exit, and
// reads the PID file. An upgrade the log says failed is an error; an old
// process that does not exit in time is killed, and says so in Old.Hung.
func UpgradeInPlace(old *Process, steps UpgradeSteps) (Upgrade, error) {
	var u Upgrade
	if err := Install(steps.Build, steps.Binary); err != nil {
		return u, err
	}
	if steps.BeforeSignal != nil {
		if err := steps.BeforeSignal(); err != nil {
			return u, err
		}
	}
	u.Signalled = time.Now()
	if err := old.Signal(syscall.SIGHUP); err != nil {
		return u, err
	}
	serving, err := old.WaitServing(old.PID(), steps.ServeLimit)
	if err != nil {
		return u, err
	}
	u.New = serving
	u.Old = old.WaitEnding(steps.ExitLimit)
	u.PIDFile = ReadPIDFile(steps.PIDFile)
	return u, nil
}
