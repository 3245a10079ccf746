package tests

import (
	"bufio"
	"fmt"
	"io"
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

// boundedClient is http.DefaultClient with a time limit.
var boundedClient = &http.Client{Timeout: clientTimeout}

// The builds 04-zero-downtime is upgraded between: TestMain builds the
// example as it is (version "dev") and again with -X main.version=v2.
const (
	oldVersion = "dev"
	newVersion = "v2"
)

// upgradable is a running 04-zero-downtime whose binary the test may replace.
type upgradable struct {
	*server
	dir     string // its own folder: the binary, the PID file
	binary  string
	pidFile string
}

// startUpgradable installs the 04-zero-downtime build in a folder of its own
// (inside binDir, so the suite's leak check sees it) and starts it there,
// with args after its defaults (a flag given twice takes the last value).
func startUpgradable(t *testing.T, args ...string) *upgradable {
	t.Helper()
	dir, err := os.MkdirTemp(binDir, "04-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // runs after the server's cleanup
	u := &upgradable{dir: dir, binary: filepath.Join(dir, "04-zero-downtime"), pidFile: filepath.Join(dir, "pid")}
	u.install(t, filepath.Join(binDir, "04-zero-downtime"))
	u.server = startBinary(t, u.binary, append([]string{"-delay", "100ms", "-timeout", "20s", "-pidfile", u.pidFile}, args...)...)
	return u
}

// install puts a new build at the running binary's path the way a deploy
// should, with the commands proc.InstallCommands gives (cp beside, mv over).
func (u *upgradable) install(t *testing.T, build string) {
	t.Helper()
	for _, args := range proc.InstallCommands(build, u.binary) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
	}
}

// script writes a shell script to install as a "build".
func (u *upgradable) script(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(u.dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+text), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// servingPID reads the PID file, which the serving process writes when ready.
func (u *upgradable) servingPID(t *testing.T) int {
	t.Helper()
	pid := proc.ReadPIDFile(u.pidFile)
	if pid == 0 {
		t.Fatalf("no PID in the PID file %s", u.pidFile)
	}
	return pid
}

// stopSuccessor sends SIGTERM to the process that took over, and checks that
// it drains and exits 0. It was handed to the suite when its parent exited
// (TestMain makes the suite a child subreaper), so the suite can wait for it.
func (u *upgradable) stopSuccessor(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the new process %d: %v", pid, err)
	}
	ws, err := proc.WaitOrphan(pid, exitTimeout)
	if err != nil {
		t.Fatalf("the new process %d %v after SIGTERM", pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("the new process %d: want exit status 0, got %#v\noutput:\n%s", pid, ws, u.out)
	}
	u.waitLog(t, "Server exiting", 2) // the old process's and the new one's
}

// assertNoFailure checks that every hit of a load run was a 200 "Welcome
// Gin Server", and counts the failures by class when not.
func assertNoFailure(t *testing.T, hits []hit) {
	t.Helper()
	failures := make(map[string]int)
	var examples []string
	for _, h := range hits {
		var what string
		switch {
		case h.err != nil:
			what = string(classify(h.err))
			examples = append(examples, fmt.Sprintf("%s %s client: %v", h.at.Format("15:04:05.000"), h.client, h.err))
		case h.status != http.StatusOK || h.body != "Welcome Gin Server":
			what = fmt.Sprintf("status %d", h.status)
			examples = append(examples, fmt.Sprintf("%s %s client: %d %q", h.at.Format("15:04:05.000"), h.client, h.status, h.body))
		default:
			continue
		}
		failures[what]++
	}
	if len(failures) > 0 {
		t.Errorf("%d requests: want no failure, got %v:\n%s", len(hits), failures, strings.Join(examples, "\n"))
	}
}

// Under load from keep-alive and fresh-connection clients, SIGHUP swaps the
// running binary for a new build: no request is refused, cut or answered
// with anything but 200, both builds answer, the old process drains and
// exits 0, and the new one serves on, then stops gracefully on SIGTERM.
func TestZeroDowntimeUpgrade(t *testing.T) {
	t.Parallel()
	u := startUpgradable(t)
	oldPID := u.cmd.Process.Pid
	l := startLoad(t, u.url("/"), 20, 20)
	l.waitUntil(t, "50 answers from the old build", func(h []hit) bool { return answeredBy(h, oldVersion) >= 50 })

	u.install(t, filepath.Join(binDir, newVersion, "04-zero-downtime"))
	u.signal(t, syscall.SIGHUP)
	u.assertExitedWith(t, u.waitProcessExit(t), 0)
	newPID := u.servingPID(t)
	if newPID == oldPID {
		t.Fatalf("the PID file still names the old process %d", oldPID)
	}
	l.waitUntil(t, "50 answers from the new build", func(h []hit) bool { return answeredBy(h, newVersion) >= 50 })
	hits := l.finish()

	assertNoFailure(t, hits)
	byPID := make(map[string]int)
	for _, h := range hits {
		if h.err == nil {
			byPID[h.pid+" "+h.version]++
		}
	}
	want := []string{fmt.Sprintf("%d %s", oldPID, oldVersion), fmt.Sprintf("%d %s", newPID, newVersion)}
	if len(byPID) != 2 || byPID[want[0]] == 0 || byPID[want[1]] == 0 {
		t.Errorf("want answers from exactly %q, got %v", want, byPID)
	}
	if got := get(boundedClient, u.url("/")); got.pid != strconv.Itoa(newPID) || got.version != newVersion {
		t.Errorf("after the upgrade want pid %d version %s, got %+v", newPID, newVersion, got)
	}
	u.stopSuccessor(t, newPID)
}

// A new build that fails to start changes nothing: the old process logs
// why and keeps serving, and no request fails.
func TestZeroDowntimeBrokenUpgrade(t *testing.T) {
	t.Parallel()
	u := startUpgradable(t)
	oldPID := strconv.Itoa(u.cmd.Process.Pid)
	l := startLoad(t, u.url("/"), 10, 10)
	l.waitUntil(t, "30 answers", func(h []hit) bool { return answeredBy(h, oldVersion) >= 30 })

	u.install(t, u.script(t, "broken", "echo 'this build is broken' >&2\nexit 1\n"))
	u.signal(t, syscall.SIGHUP)
	u.waitLog(t, "Upgrade failed, still serving", 1)
	served := answeredBy(l.hitsSoFar(), oldVersion)
	l.waitUntil(t, "30 more answers after the failed upgrade", func(h []hit) bool { return answeredBy(h, oldVersion) >= served+30 })
	hits := l.finish()

	assertNoFailure(t, hits)
	for _, h := range hits {
		if h.pid != oldPID || h.version != oldVersion {
			t.Fatalf("want every answer from pid %s version %s, got %+v", oldPID, oldVersion, h)
		}
	}
	if len(u.out.lines("this build is broken")) != 1 {
		t.Errorf("want the broken build's own complaint in the log\noutput:\n%s", u.out)
	}
	u.signal(t, syscall.SIGTERM)
	u.assertExitedWith(t, u.waitExit(t), 0)
}

// A SIGHUP while an upgrade is still starting the new build is refused,
// and the upgrade under way completes.
func TestZeroDowntimeSecondSIGHUPRefused(t *testing.T) {
	t.Parallel()
	u := startUpgradable(t)
	oldPID := u.cmd.Process.Pid
	// The new build waits for a gate file before it starts, so the upgrade
	// stays in progress until the test opens the gate.
	gate := filepath.Join(u.dir, "gate")
	v2 := filepath.Join(binDir, newVersion, "04-zero-downtime")
	u.install(t, u.script(t, "gated", fmt.Sprintf("while [ ! -e '%s' ]; do sleep 0.05; done\nexec '%s' \"$@\"\n", gate, v2)))

	u.signal(t, syscall.SIGHUP)
	u.waitLog(t, "SIGHUP: upgrading", 1)
	u.signal(t, syscall.SIGHUP)
	u.waitLog(t, "SIGHUP refused: an upgrade is already in progress", 1)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	u.assertExitedWith(t, u.waitProcessExit(t), 0)
	newPID := u.servingPID(t)
	if got := get(boundedClient, u.url("/")); got.pid != strconv.Itoa(newPID) || newPID == oldPID || got.version != newVersion {
		t.Errorf("after the upgrade want a new pid %d version %s, got %+v", newPID, newVersion, got)
	}
	if n := len(u.out.lines("SIGHUP: upgrading")); n != 1 {
		t.Errorf("want exactly one upgrade started, got %d\noutput:\n%s", n, u.out)
	}
	u.stopSuccessor(t, newPID)
}

// The old process answers every connection it accepted, even a request
// sent after the new process took over: net/http's Shutdown alone would
// close that connection unanswered. A connection that never sends a
// request holds up the old process's exit for at most half its -timeout.
func TestZeroDowntimeAcceptedConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the wait for the silent connection")
	}
	t.Parallel()
	u := startUpgradable(t)
	silent := dial(t, u.addr) // connects, never sends a thing
	defer silent.Close()
	late := dial(t, u.addr) // sends its request once the upgrade is done
	defer late.Close()

	u.install(t, filepath.Join(binDir, newVersion, "04-zero-downtime"))
	u.signal(t, syscall.SIGHUP)
	u.waitLog(t, "Upgrade done", 1)
	if _, err := fmt.Fprintf(late, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", u.addr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(late), nil)
	if err != nil {
		t.Fatalf("the request sent after the upgrade on an accepted connection: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "Welcome Gin Server" {
		t.Fatalf("want 200 %q, got %d %q (%v)", "Welcome Gin Server", resp.StatusCode, body, err)
	}

	u.assertExitedWith(t, u.waitProcessExit(t), 0)
	u.stopSuccessor(t, u.servingPID(t))
}

// A keep-alive connection that sits idle at the hand-over is closed within
// the budget: with a short -timeout the old process waits a quarter of it,
// not a whole second, for the connection to prove idle, and still exits 0.
func TestZeroDowntimeIdleConnectionShortBudget(t *testing.T) {
	t.Parallel()
	const budget = 800 * time.Millisecond
	u := startUpgradable(t, "-timeout", budget.String())
	idle := dial(t, u.addr)
	defer idle.Close()
	if _, err := fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", u.addr); err != nil {
		t.Fatal(err)
	}
	reader := bufio.NewReader(idle)
	resp, err := http.ReadResponse(reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("want 200, got %d (%v)", resp.StatusCode, err)
	}

	u.install(t, filepath.Join(binDir, newVersion, "04-zero-downtime"))
	u.signal(t, syscall.SIGHUP)
	u.assertExitedWith(t, u.waitProcessExit(t), 0)
	if _, err := reader.ReadByte(); err != io.EOF {
		t.Errorf("want the idle connection closed by the old process (EOF), got %v", err)
	}
	u.stopSuccessor(t, u.servingPID(t))
}
