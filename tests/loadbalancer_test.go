package tests

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/haproxy"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
	"github.com/graceful-shutdown-lab/lab/internal/scenario"
)

// readyz sends GET /readyz on a connection of its own.
func readyz(s *server) client.Response {
	return client.Send(context.Background(), http.MethodGet, s.url("/readyz"))
}

// readResponse reads one answer from a raw keep-alive connection.
func readResponse(t *testing.T, r *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// 05-load-balancer's contract with the load balancer: /readyz says 200
// ready while serving and 503 draining from the signal on; for the drain
// delay the listener stays open and serves every request, new connections
// and keep-alive ones, each answer closing its connection; then Shutdown as
// in 02: in-flight requests finish, new connections are refused, exit 0.
func TestReadyzContract(t *testing.T) {
	t.Parallel()
	const drainDelay = 3 * time.Second
	s, pending := startInFlight(t, "05-load-balancer", "-delay", "1s", "-drain-delay", drainDelay.String(), "-timeout", "20s")
	pid := strconv.Itoa(s.PID())

	if r := readyz(s); r.Status != http.StatusOK || r.Body != "ready" || r.PID != pid {
		t.Fatalf("before the signal: want 200 %q from pid %s, got %d %q from %q (err %v)", "ready", pid, r.Status, r.Body, r.PID, r.Err)
	}
	// A keep-alive connection opened before the signal.
	conn := dial(t, s.addr)
	defer conn.Close()
	connReader := bufio.NewReader(conn)
	const request = "GET /readyz HTTP/1.1\r\nHost: lab\r\n\r\n"
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	if resp, _ := readResponse(t, connReader); resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("before the signal: want 200 on a connection kept open, got %d (close %v)", resp.StatusCode, resp.Close)
	}

	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	// Readiness fails at once: ask until it does, then see how long it took.
	var first client.Response
	for first = readyz(s); first.Status == http.StatusOK && time.Since(signalled) < logTimeout; first = readyz(s) {
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
	failedAfter := first.Done.Sub(signalled)
	if first.Status != http.StatusServiceUnavailable || first.Body != "draining" || first.PID != pid {
		t.Fatalf("after the signal: want 503 %q from pid %s, got %d %q from %q (err %v)", "draining", pid, first.Status, first.Body, first.PID, first.Err)
	}
	// At once is a few milliseconds on an idle machine; the guard is a
	// third of the drain delay, so that a busy machine passes and the
	// balancer still has the rest of the delay to see the 503s.
	if failedAfter > drainDelay/3 {
		t.Errorf("/readyz answered 503 %s after the signal, want within %s", failedAfter.Round(time.Millisecond), drainDelay/3)
	}
	t.Logf("/readyz answered 503 %s after the signal", failedAfter.Round(time.Millisecond))
	s.waitLog(t, "Draining: /readyz answers 503 from now on; still serving for 3s", 1)

	// The drain: a new connection is served, its answer closes it.
	late := send(http.MethodGet, s.url("/"))
	assertWelcome(t, late)
	if sinceSignal := time.Since(signalled); sinceSignal >= drainDelay {
		t.Fatalf("the request sent during the drain took until %s after the signal: the check proves nothing", sinceSignal)
	}
	// The keep-alive connection is served too, once, and then closed.
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, connReader); resp.StatusCode != http.StatusServiceUnavailable || body != "draining" || !resp.Close {
		t.Fatalf("during the drain, on the old connection: want 503 %q and Connection: close, got %d %q (close %v)", "draining", resp.StatusCode, body, resp.Close)
	}
	if n, err := connReader.ReadByte(); err != io.EOF {
		t.Fatalf("want the server to close the keep-alive connection after its answer, read %q, %v", n, err)
	}

	// The request in flight at the signal was answered (1 s), well inside the drain.
	assertWelcome(t, receive(t, pending))
	s.waitLog(t, "Shutdown Server ...", 1)
	shutdownAt, _ := s.out.First("Shutdown Server ...")
	if held := shutdownAt.At.Sub(signalled); held < drainDelay {
		t.Errorf("shutdown started %s after the signal, before the %s drain delay was over", held.Round(time.Millisecond), drainDelay)
	}
	s.waitRefused(t, 5*time.Second)
	assertFailed(t, send(http.MethodGet, s.url("/")), refused)
	s.assertExitedWith(t, s.waitExit(t), 0)
	for _, line := range []string{"Draining:", "Shutdown Server ...", "Server exiting"} {
		if len(s.out.lines(line)) != 1 {
			t.Errorf("want one log line %q\noutput:\n%s", line, s.out)
		}
	}
}

// A second signal forces the exit, during the drain delay or during the
// shutdown after it.
func TestLoadBalancerSecondSignal(t *testing.T) {
	t.Parallel()
	for _, phase := range []struct {
		name, drainDelay, waitFor string
	}{
		{"during the drain", "60s", "Draining:"},
		{"during the shutdown", "100ms", "Shutdown Server ..."},
	} {
		for _, second := range signals {
			t.Run(phase.name+"/"+signalNames[second], func(t *testing.T) {
				t.Parallel()
				s, pending := startInFlight(t, "05-load-balancer", "-delay", "60s", "-drain-delay", phase.drainDelay, "-timeout", "60s")
				s.signal(t, syscall.SIGTERM)
				s.waitLog(t, phase.waitFor, 1)
				s.signal(t, second)
				// exitTimeout (30 s) is well inside the 60 s drain and the 60 s
				// budget: an exit in time can only be the forced one.
				s.assertKilledBy(t, s.waitExit(t), second)
				assertFailed(t, receive(t, pending), cut)
			})
		}
	}
}

// -timeout is the shutdown's budget counted from the end of the drain:
// the whole stop takes drain-delay + timeout, then the process gives up on
// the request still in flight and exits 1.
func TestLoadBalancerTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the slow timeout scenario")
	}
	t.Parallel()
	const drainDelay, budget = 2 * time.Second, time.Second
	s, pending := startInFlight(t, "05-load-balancer", "-delay", "30s", "-drain-delay", drainDelay.String(), "-timeout", budget.String())
	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	state := s.waitExit(t)
	took := time.Since(signalled)

	s.assertExitedWith(t, state, 1)
	assertFailed(t, receive(t, pending), cut)
	if len(s.out.lines("Server Shutdown: context deadline exceeded")) != 1 || len(s.out.lines("Server exiting")) != 0 {
		t.Errorf("want the timeout logged, and no clean exit claimed\noutput:\n%s", s.out)
	}
	// The upper bound is a guard (Go's idle-poll slack, a busy machine), far
	// below the 30 s the request would take.
	if took < drainDelay+budget || took > drainDelay+budget+500*time.Millisecond+5*time.Second {
		t.Errorf("exit %s after the signal, want about %s (drain delay + timeout)", took.Round(time.Millisecond), drainDelay+budget)
	}
}

// requireHAProxy skips a test where haproxy is missing, saying how to
// install it, except under CI=true, where .ci/run installs it and the
// tests must run.
func requireHAProxy(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		missing(t, haproxy.HAProxyMissing)
	}
}

// shortTempDir is a temporary folder with a short path, removed at
// cleanup: a unix socket's path has 107 bytes at most, and t.TempDir's
// carry the test's name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "haproxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// A rolling restart of three instances behind HAProxy, under load from hey
// and from keep-alive clients that never resend a request (client.NeverResend):
// each instance in turn gets SIGTERM, exits, and is started again on its
// port; the next one goes once HAProxy reports the new one UP
// (scenario.RunRolling, which load.sh rolling runs too). Same load, same
// HAProxy configuration, 02-graceful and 05-load-balancer side by side;
// each case states its promise below.
//
// 05 fails no request and needs no retry: HAProxy's runtime API shows
// each instance DOWN before it stopped accepting. 02 closes its listener
// at the signal, while HAProxy still sends it connections: with retries 3
// HAProxy retries them (a second later), with retries 0 they become 503s.
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the rolling restarts")
	}
	t.Parallel()
	requireHAProxy(t)
	for _, tc := range []struct {
		name        string
		program     string
		retries     int
		healthCheck string
		args        []string
		// promise is what the lesson says this rolling restart shows.
		promise func(t *testing.T, r scenario.RollingResult)
	}{
		{"05-load-balancer/retries-3", "05-load-balancer", 3, "/readyz", []string{"-drain-delay", lesson.RollingDrainDelay(lesson.PostTimings).String()},
			leavesHAProxyBeforeItStopsAccepting},
		// 02 has no /readyz (it would answer 404): HAProxy can only check
		// that it accepts connections.
		{"02-graceful/retries-3", "02-graceful", 3, "", nil, needsHAProxysRetries},
		{"02-graceful/retries-0", "02-graceful", 0, "", nil, costsUsers503s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trackSources(t)
			cfg := scenario.RollingConfig{
				Program: tc.program, Binary: filepath.Join(binDir, tc.program),
				Args:        append([]string{"-delay", lesson.RollingHandlerDelay.String(), "-timeout", "20s"}, tc.args...),
				HealthCheck: tc.healthCheck, Retries: tc.retries,
				Hey: filepath.Join(binDir, "hey"), Clients: rollingClients, Dir: shortTempDir(t),
				Limit: exitTimeout,
			}
			start := starter(t)
			// Another process may take a free port between our probe and
			// the bind: then try other ports, a few times (as startServer).
			var result scenario.RollingResult
			var err error
			for attempt := 1; ; attempt++ {
				addrs := freePorts(t, 4)
				cfg.Listen, cfg.Instances = addrs[0], addrs[1:]
				result, err = scenario.RunRolling(start, cfg)
				if err == nil || attempt == 3 || !errors.Is(err, proc.ErrPortBusy) {
					break
				}
				t.Logf("attempt %d: %v", attempt, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: hey: %d requests, statuses %v, errors %v; never-resending clients: %d requests, statuses %v, failures %v %q; "+
				"HAProxy: %d requests logged, %d retries (show stat), %d requests retried and %d stalled (log), slowest %s; 503s: %d",
				tc.name, result.Requests, result.Statuses, result.Errors, result.NeverResend.Requests, result.NeverResend.Statuses, result.NeverResend.Failures, result.NeverResend.Examples,
				result.Logged, result.Retried, result.RetriedLog, result.Stalled, result.Slowest, result.Rejected())
			if result.RetriedLine != "" {
				t.Logf("a retried request in HAProxy's log: %s", result.RetriedLine)
			}
			for _, r := range result.Restarts {
				t.Logf("%s: pid %d SIGTERM; DOWN after %s; listener closing after %s; %s after %s; pid %d UP after %s; probes %v",
					r.Server, r.OldPID, since(r.Signalled, r.Down), since(r.Signalled, r.Stopping), r.Exit,
					since(r.Signalled, r.Exited), r.NewPID, since(r.Signalled, r.Up), r.Probes)
			}
			for _, r := range result.Restarts {
				if r.Exit != "exit 0" {
					t.Errorf("%s (pid %d) ended with %s, want exit 0: every instance drains and exits 0", r.Server, r.OldPID, r.Exit)
				}
			}
			tc.promise(t, result)
			if t.Failed() {
				return
			}
			// load.sh rolling judges its runs with scenario.RollingMismatches:
			// it must agree with the promises above.
			if mismatches := scenario.RollingMismatches([]scenario.RollingResult{result}); len(mismatches) > 0 {
				t.Errorf("load.sh rolling's verdict contradicts this test's: %q", mismatches)
			}
		})
	}
}

// leavesHAProxyBeforeItStopsAccepting is 05's promise: at SIGTERM its
// /readyz answers 503 while it keeps serving, so HAProxy takes it out
// (DOWN) before its listener closes. Not one request fails, hey's nor the
// clients' that never resend nor the probes', and HAProxy never retries
// one: not in show stat, not in its log, none stalled.
func leavesHAProxyBeforeItStopsAccepting(t *testing.T, r scenario.RollingResult) {
	t.Helper()
	if n := r.Failed(); n > 0 {
		t.Errorf("%d of hey's requests failed (statuses %v, errors %v), want none", n, r.Statuses, r.Errors)
	}
	if n := r.NeverResend.Failed(); n > 0 {
		t.Errorf("%d requests of the clients that never resend failed (%v), want none", n, r.NeverResend.Failures)
	}
	if n := r.ProbesFailed(); n > 0 {
		t.Errorf("%d probes failed (%v), want none", n, r.Probes())
	}
	if r.Retried > 0 || r.RetriedLog > 0 || r.Stalled > 0 {
		t.Errorf("HAProxy retried %d connections (show stat); its log shows %d requests retried, %d stalled; want none", r.Retried, r.RetriedLog, r.Stalled)
	}
	if n := r.DownBeforeStopping(); n != len(r.Restarts) {
		t.Errorf("%d of %d instances DOWN in HAProxy before they stopped accepting, want all", n, len(r.Restarts))
	}
}

// needsHAProxysRetries is 02's behind HAProxy with retries: 02 closes its
// listener at SIGTERM while HAProxy still has it UP, so the connections
// HAProxy sends it are refused; HAProxy retries them (show stat), and the
// requests stall for the retry (its log).
func needsHAProxysRetries(t *testing.T, r scenario.RollingResult) {
	t.Helper()
	if r.Retried == 0 || r.Stalled == 0 {
		t.Errorf("HAProxy retried %d connections (show stat), %d requests stalled (log); want some of each", r.Retried, r.Stalled)
	}
}

// costsUsers503s is 02's behind HAProxy without retries: what its closed
// listener refuses, HAProxy answers with 503.
func costsUsers503s(t *testing.T, r scenario.RollingResult) {
	t.Helper()
	if r.Rejected() == 0 {
		t.Errorf("no 503 (hey's, the other clients', the probes'), want some")
	}
}

// starter is a proc.Starter for the rolling restarts and HAProxy: each
// process it starts is ended at cleanup, its whole process group killed,
// unless it has exited and been reaped already (a restarted instance):
// then its PID, and so its group's ID, may belong to another process by
// now.
func starter(t *testing.T) proc.Starter {
	return func(cmd *exec.Cmd) (*proc.Process, error) {
		p, err := proc.Start(cmd)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			if !p.Running() {
				return
			}
			if t.Failed() && p.Quit(quitGrace) {
				t.Logf("%s was still running: SIGQUIT, then its output:\n%s", p.Name, p.Out)
			}
			if err := p.Kill(exitTimeout); err != nil {
				t.Error(err)
			}
		})
		return p, nil
	}
}

// freePorts is n consecutive free ports, below the ephemeral range (see
// proc.FreePorts).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := proc.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// Callers running at once (the rolling restarts, the demo's and the load
// script's tests) never get overlapping port runs.
func TestFreePortsNoOverlap(t *testing.T) {
	t.Parallel()
	const callers, n = 20, 10
	runs := make([][]string, callers)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			var err error
			runs[i], err = proc.FreePorts(n)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	owner := map[string]int{}
	for i, run := range runs {
		for _, addr := range run {
			if j, ok := owner[addr]; ok {
				t.Errorf("%s handed out to callers %d and %d", addr, j, i)
			}
			owner[addr] = i
		}
	}
}

// since is how long after from at came, "never" for a zero at.
func since(from, at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return at.Sub(from).Round(time.Millisecond).String()
}

// rollingClients is how many clients hey runs in a rolling restart, and
// how many never resend: with GET / answering in lesson.RollingHandlerDelay,
// some 300 requests a second, many of which fall into the moment when
// 02's port refuses connections (20 to 200 ms here). That some do is
// certain: RunRolling's probes (scenario.RestartOne) send one round-robin
// cycle through HAProxy in that moment.
const rollingClients = 8

// HAProxy on a busy frontend port: proc.ErrPortBusy, which the tests
// and scripts retry on other ports, and HAProxy's own line saying why.
func TestHAProxyBusyPort(t *testing.T) {
	t.Parallel()
	requireHAProxy(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := shortTempDir(t)
	cfg := haproxy.HAProxyConfig{Listen: busy.Addr().String(), Servers: []string{freePort(t)}, Retries: 3, Socket: dir + "/admin.sock"}
	start := starter(t)
	h, err := haproxy.StartHAProxy(start, dir, cfg, readyTimeout)
	if err == nil {
		t.Fatalf("want HAProxy to fail on the busy port %s, it runs (pid %d)", cfg.Listen, h.PID())
	}
	if !errors.Is(err, proc.ErrPortBusy) || !strings.Contains(err.Error(), "cannot bind socket (Address already in use)") {
		t.Errorf("want proc.ErrPortBusy with HAProxy's line about the bind, got: %v", err)
	}
}

// The premise of RestartOne's probes: with the generated configuration,
// one one-shot request per instance, sent at once through HAProxy, reaches
// every instance HAProxy has UP (balance roundrobin), so that during a
// restart one of them reaches the instance whose listener just closed.
func TestHAProxyProbeCycleReachesEveryInstance(t *testing.T) {
	t.Parallel()
	requireHAProxy(t)
	var servers []string
	pids := map[string]bool{}
	for range 3 {
		s := startServer(t, "05-load-balancer", "-delay", "1ms", "-drain-delay", "0s") // answers carry X-Pid
		servers = append(servers, s.addr)
		pids[strconv.Itoa(s.PID())] = true
	}
	dir := shortTempDir(t)
	cfg := haproxy.HAProxyConfig{Listen: freePort(t), Servers: servers, Retries: 3, Socket: dir + "/admin.sock"}
	h, err := haproxy.StartHAProxy(starter(t), dir, cfg, readyTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.WaitAllUp(readyTimeout); err != nil {
		t.Fatal(err)
	}
	for cycle := range 5 {
		answers := make([]client.Response, len(servers))
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() { answers[i] = client.Send(context.Background(), http.MethodGet, "http://"+cfg.Listen+"/") })
		}
		wg.Wait()
		reached := map[string]bool{}
		for _, a := range answers {
			if a.Err != nil || a.Status != http.StatusOK || !pids[a.PID] {
				t.Fatalf("cycle %d: want 200 from one of the instances %v, got %d from %q (err %v)", cycle, pids, a.Status, a.PID, a.Err)
			}
			reached[a.PID] = true
		}
		if len(reached) != len(servers) {
			t.Errorf("cycle %d: %d one-shot requests reached the instances %v, want every one of %v", cycle, len(servers), reached, pids)
		}
	}
}
