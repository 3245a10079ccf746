package tests

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// 40 keep-alive clients that never resend a request (client.NeverResend: GET and
// POST in turn, back to back) against 04-zero-downtime with a 1 ms
// handler, through three upgrades in a row (v2, the old build again, v2):
// not one request fails, and both builds answer. Under such load a
// connection sits idle for microseconds between an answer and the next
// request; closing it then (what SetKeepAlivesEnabled(false) does) loses
// the request already on its way, and no client here hides that by
// sending it again.
func TestZeroDowntimeKeepAliveNeverResend(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load runs")
	}
	t.Parallel()
	u := startUpgradable(t, "-delay", "1ms")
	load := client.StartNeverResend(client.NeverResendOptions{
		Addr:    u.addr,
		Clients: 40,
		Methods: []string{"GET", "POST"},
		Until:   time.Now().Add(loadLimit),
	})
	t.Cleanup(func() { load.Stop() })
	answers := func(version string, n int) {
		t.Helper()
		what := "answers from " + version
		if err := load.WaitUntil(what, func(c client.Counts) bool { return c.Answered(200, version) >= n }, loadLimit); err != nil {
			t.Fatal(err)
		}
	}
	answers(oldVersion, 500)

	builds := []struct{ path, version string }{
		{filepath.Join(binDir, newVersion, "04-zero-downtime"), newVersion},
		{filepath.Join(binDir, "04-zero-downtime"), oldVersion},
		{filepath.Join(binDir, newVersion, "04-zero-downtime"), newVersion},
	}
	pid := u.cmd.Process.Pid
	for i, build := range builds {
		u.install(t, build.path)
		already := load.Counts().Answered(200, build.version)
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatalf("upgrade %d: SIGHUP to %d: %v", i+1, pid, err)
		}
		// The first process is the test's child; the next ones are
		// orphans the suite reaps (it is their subreaper).
		if i == 0 {
			u.assertExitedWith(t, u.waitProcessExit(t), 0)
		} else if ws, err := proc.WaitOrphan(pid, exitTimeout); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
			t.Fatalf("upgrade %d: the old process %d: want exit status 0, got %#v (%v)", i+1, pid, ws, err)
		}
		next := u.servingPID(t)
		if next == pid {
			t.Fatalf("upgrade %d: the PID file still names the old process %d", i+1, pid)
		}
		pid = next
		answers(build.version, already+500)
	}
	got := load.Stop()

	t.Logf("%d requests through %d upgrades: answers %v, failures %v", got.Requests, len(builds), got.Answers, got.Failures)
	if got.Failed() > 0 {
		t.Errorf("want no failed request, got %v of %d, first ones:\n%s", got.Failures, got.Requests, strings.Join(got.Examples, "\n"))
	}
	if got.Answered(200, oldVersion) == 0 || got.Answered(200, newVersion) == 0 || got.Answered(404, "") == 0 {
		t.Errorf("want 200s from %s and %s, and 404s (POST /), got %v", oldVersion, newVersion, got.Answers)
	}
	u.stopSuccessor(t, pid)
}
