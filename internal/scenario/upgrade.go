package scenario

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

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
func FindServing(lines []proc.Line, otherThan int) (Serving, bool, error) {
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
func WaitServing(p *proc.Process, otherThan int, limit time.Duration) (Serving, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		changed := p.Out.Changed()
		if s, ok, err := FindServing(p.Out.All(), otherThan); ok || err != nil {
			return s, named(p, err)
		}
		select {
		case <-changed:
		case <-p.OutputDone:
			if s, ok, err := FindServing(p.Out.All(), otherThan); ok || err != nil {
				return s, named(p, err)
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
	Signalled time.Time   // when SIGHUP went
	New       Serving     // the new process's serving line
	Old       proc.Ending // how the old process ended
	// PIDFile is the PID the PID file names once the old process is
	// gone: the new process's, if the hand-over worked.
	PIDFile int
}

// UpgradeInPlace upgrades the running old process: it installs the new
// build over its binary (Install), sends it SIGHUP, waits for a new
// process's "version V serving" line, then for the old process's exit, and
// reads the PID file. An upgrade the log says failed is an error; an old
// process that does not exit in time is killed, and says so in Old.Hung.
func UpgradeInPlace(old *proc.Process, steps UpgradeSteps) (Upgrade, error) {
	var u Upgrade
	if err := proc.Install(steps.Build, steps.Binary); err != nil {
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
	serving, err := WaitServing(old, old.PID(), steps.ServeLimit)
	if err != nil {
		return u, err
	}
	u.New = serving
	u.Old = old.WaitEnding(steps.ExitLimit)
	u.PIDFile = proc.ReadPIDFile(steps.PIDFile)
	return u, nil
}

// named prefixes err, if any, with the process's name.
func named(p *proc.Process, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", p.Name, err)
}
