package proc

import (
	"fmt"
	"os"
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

// Text says how the process ended, as load.sh's table does: "exit 0",
// "SIGTERM" (killed by that signal), "hung, killed".
func (e Ending) Text() string {
	if e.Hung || e.State == nil {
		return "hung, killed"
	}
	return strings.TrimPrefix(ExitText(e.State), "killed by ")
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

// ExitText says how a process ended, in the lesson's words: "exit 0",
// "killed by SIGINT".
func ExitText(state *os.ProcessState) string {
	ws := state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}
