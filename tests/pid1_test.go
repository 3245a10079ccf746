package tests

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// entrypoint is a container entry point as many images have one: a shell
// script that runs the server as its child (here "$0" "$@") and does
// something after it. The shell stays, as PID 1; the server is PID 2.
const entrypoint = `echo "entrypoint: starting the server"; "$0" "$@"; echo "entrypoint: the server exited with $?"`

// inPIDNamespace starts args as PID 1 of a new PID namespace, the way a
// container runtime does (unshare --fork: unshare's child is PID 1; a /proc
// of its own; --kill-child: it dies with unshare). Its process group is
// ours to kill at cleanup, and with PID 1 the kernel kills every process
// in the namespace. It returns unshare and PID 1's PID as seen from here.
func inPIDNamespace(t *testing.T, addr string, args ...string) (*process, int) {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", "--kill-child"}, args...)...)
	cmd.Env = proc.ServerEnv()
	p := startProcess(t, cmd)
	// The child's PID, once unshare has forked it.
	children := fmt.Sprintf("/proc/%d/task/%d/children", p.PID(), p.PID())
	deadline := time.Now().Add(readyTimeout)
	for {
		data, _ := os.ReadFile(children)
		if fields := strings.Fields(string(data)); len(fields) == 1 {
			pid, err := strconv.Atoi(fields[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := proc.WaitListening(addr, proc.Connect, readyTimeout, p.exited); err != nil {
				t.Fatalf("unshare %s: %v\noutput:\n%s", strings.Join(args, " "), err, p.out)
			}
			return p, pid
		}
		if !p.Running() || time.Now().After(deadline) {
			t.Fatalf("unshare started no child (is this root?)\noutput:\n%s", p.out)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// nsPID is pid's PID inside its own namespace (the last of NSpid's).
func nsPID(t *testing.T, pid int) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			fields := strings.Fields(rest)
			return fields[len(fields)-1]
		}
	}
	t.Fatalf("no NSpid in /proc/%d/status", pid)
	return ""
}

// A process that is PID 1 of its namespace (a container's first process)
// gets from outside only the signals it has a handler for, besides
// SIGKILL: the kernel drops the rest. A shell has no handler for SIGTERM,
// and does not pass it on to its child. So with a shell as PID 1, docker
// stop's (or the kubelet's) SIGTERM does nothing: the server goes on
// serving, /readyz still says ready, and the request in flight lives only
// until the SIGKILL that comes at the end of the grace period. The server
// itself as PID 1 (exec form) handles the SIGTERM and finishes it.
func TestPitfallShellAsPID1(t *testing.T) {
	t.Parallel()
	// A PID namespace takes root (CI runs as root, and must run this).
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		const why = "needs root and unshare (util-linux) for a PID namespace"
		missing(t, why)
	}
	binary := filepath.Join(binDir, "05-load-balancer")

	t.Run("shell as PID 1", func(t *testing.T) {
		t.Parallel()
		trackSources(t)
		addr := freePort(t)
		ns, pid1 := inPIDNamespace(t, addr, "sh", "-c", entrypoint, binary, "-addr", addr, "-delay", "60s", "-drain-delay", "1s")
		s := &server{process: ns, addr: addr}
		if got := nsPID(t, pid1); got != "1" {
			t.Fatalf("the shell is PID %s in its namespace, want 1", got)
		}
		pending := sendAsync(http.MethodGet, s.url("/"))
		s.waitLog(t, "GET / started", 1)

		// docker stop: SIGTERM to the container's PID 1.
		if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The server never heard of it: it still says ready, and serves.
		if r := readyz(s); r.Status != http.StatusOK || r.Body != "ready" {
			t.Fatalf("after SIGTERM to the shell: want /readyz 200 %q, got %d %q (err %v)", "ready", r.Status, r.Body, r.Err)
		}
		if ns.out.lines("Draining:") != nil || !ns.Running() {
			t.Fatalf("the SIGTERM reached the server\noutput:\n%s", ns.out)
		}
		// The grace period is over: SIGKILL to PID 1, which ends every
		// process in its namespace. The request in flight dies with them.
		if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		assertFailed(t, receive(t, pending), cut)
		ns.waitExit(t)
		if ns.out.lines("Shutdown Server") != nil || ns.out.lines("entrypoint: the server exited") != nil {
			t.Errorf("want no shutdown and no word from the shell after its child\noutput:\n%s", ns.out)
		}
	})

	t.Run("the server as PID 1", func(t *testing.T) {
		t.Parallel()
		trackSources(t)
		addr := freePort(t)
		ns, pid1 := inPIDNamespace(t, addr, binary, "-addr", addr, "-delay", "2s", "-drain-delay", "500ms", "-timeout", "20s")
		s := &server{process: ns, addr: addr}
		if got := nsPID(t, pid1); got != "1" {
			t.Fatalf("the server is PID %s in its namespace, want 1", got)
		}
		pending := sendAsync(http.MethodGet, s.url("/"))
		s.waitLog(t, "GET / started", 1)
		if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		assertWelcome(t, receive(t, pending))
		// unshare exits with its child's status.
		ns.assertExitedWith(t, ns.waitExit(t), 0)
		for _, line := range []string{"Draining:", "Shutdown Server ...", "Server exiting"} {
			if len(ns.out.lines(line)) != 1 {
				t.Errorf("want one log line %q\noutput:\n%s", line, ns.out)
			}
		}
	})
}
