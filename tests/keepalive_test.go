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

// idleGrace is 04-zero-downtime's (keepalive.go) with a -timeout of 4 s or
// more: how long a kept connection must sit idle before the draining
// process closes it.
const idleGrace = time.Second

// 40 keep-alive clients that never resend a request (client.NeverResend: GET and
// POST in turn, back to back) against 04-zero-downtime with a 1 ms
// handler, through three upgrades in a row (v2, the old build again, v2):
// both builds answer, and no request fails that keepalive.go promises to
// keep. Under such load a connection sits idle for microseconds between
// an answer and the next request; closing it then (what
// SetKeepAlivesEnabled(false) does) loses the request already on its way,
// and no client here hides that by sending it again.
//
// What keepalive.go does not promise: a connection idle for longer than
// idleGrace is closed, and a request its client sends just then is lost.
// These clients pause that long only when their process starves (seen
// with the load average at 40: 7 of 5,735 requests, "unexpected EOF").
// Stopping the test's process for 1.3 s with SIGSTOP does the same: each
// lost request went out 1.3 s after the previous one on its connection,
// microseconds after its client read that one's answer, which had waited
// for it all along. The old process cannot tell such a client from an
// idle one. So a request may fail only that way: "unexpected EOF" (closed
// before it came), on a kept connection, sent more than idleGrace after
// the previous request on it; and at most once per client and upgrade
// (its next connection goes to the new process). The other way round, no
// request may be lost when the old process itself starves: stopping it
// for 1.3 s lost requests sent milliseconds after the previous one (3
// runs of 10) while keepalive.go closed connections whose request had
// come in but was not parsed yet.
func TestZeroDowntimeKeepAliveNeverResend(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load runs")
	}
	t.Parallel()
	u := startUpgradable(t, "-delay", "1ms")
	const clients = 40
	load := client.StartNeverResend(client.NeverResendOptions{
		Addr:    u.addr,
		Clients: clients,
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
	if n := got.Failed(); n > 0 {
		examples := strings.Join(got.Examples, "\n")
		if got.Failures["unexpected EOF"] != n || got.KeptFailed != n || got.KeptPause <= idleGrace || n > clients*len(builds) {
			t.Errorf("want no failed request but \"unexpected EOF\" on a kept connection more than %s after its previous request (%d at most), got %v of %d (%d on kept connections, the shortest pause %s), first ones:\n%s",
				idleGrace, clients*len(builds), got.Failures, got.Requests, got.KeptFailed, got.KeptPause, examples)
		} else {
			t.Logf("%d requests lost to clients that paused %s or more (their process starved), as keepalive.go allows:\n%s", n, got.KeptPause, examples)
		}
	}
	if got.Answered(200, oldVersion) == 0 || got.Answered(200, newVersion) == 0 || got.Answered(404, "") == 0 {
		t.Errorf("want 200s from %s and %s, and 404s (POST /), got %v", oldVersion, newVersion, got.Answers)
	}
	u.stopSuccessor(t, pid)
}
