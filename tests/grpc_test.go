package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/graceful-shutdown-lab/lab/internal/grpcclient"
)

// 09-grpc against its two pitfalls: grpc-no-deadline (a bare GracefulStop,
// no stream told to end) and grpc-stop-at-once (Stop at the signal). The
// clients are grpc-go's, with retries off, plus grpc-health-probe and
// grpcurl, clients nobody here wrote.

// grpcWait bounds a client's wait for a message or a stream's end: a
// generous guard for a busy machine, not a measure.
const grpcWait = 30 * time.Second

// grpcBudget is the -timeout of the runs that must end well before it.
const grpcBudget = 30 * time.Second

// dialGRPC connects a client that never retries; the test closes it.
func dialGRPC(t *testing.T, s *server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpcclient.Dial(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// slowInFlight calls Slow and returns once the server has logged that the
// call is inside its handler.
func slowInFlight(t *testing.T, s *server, conn *grpc.ClientConn) <-chan grpcclient.Answer {
	t.Helper()
	before := len(s.out.lines("Slow started"))
	pending := make(chan grpcclient.Answer, 1)
	go func() { pending <- grpcclient.Slow(context.Background(), conn) }()
	s.waitLog(t, "Slow started", before+1)
	return pending
}

func receiveAnswer(t *testing.T, pending <-chan grpcclient.Answer) grpcclient.Answer {
	t.Helper()
	select {
	case a := <-pending:
		return a
	case <-time.After(grpcWait):
		t.Fatalf("no answer within %s", grpcWait)
		return grpcclient.Answer{}
	}
}

// openStreams opens a Ticks stream and a health Watch, and returns once
// each has received its first message: both are open on the server.
func openStreams(t *testing.T, conn *grpc.ClientConn) (ticks, watch *grpcclient.Stream) {
	t.Helper()
	ticks, err := grpcclient.Ticks(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ticks.Next(grpcWait); err != nil {
		t.Fatalf("Ticks: %v", err)
	}
	watch, err = grpcclient.Watch(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.WaitFor("SERVING", grpcWait); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return ticks, watch
}

func streamEnd(t *testing.T, name string, s *grpcclient.Stream) grpcclient.Answer {
	t.Helper()
	end, err := s.End(grpcWait)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return end
}

// assertShuttingDown checks that a stream ended with the status the server
// chose, not with a transport error.
func assertShuttingDown(t *testing.T, name string, end grpcclient.Answer) {
	t.Helper()
	if !grpcclient.Is(end.Err, grpcclient.ShuttingDownCode, grpcclient.ShuttingDownMessage) || !grpcclient.FromServer(end.Err) {
		t.Errorf("%s: want the server's status %s %q, got %s", name, grpcclient.ShuttingDownCode, grpcclient.ShuttingDownMessage, grpcclient.Describe(end))
	}
}

// assertTransportError checks that a call or stream was cut: grpc-go's
// client made up its status when the connection died under it.
func assertTransportError(t *testing.T, name string, end grpcclient.Answer) {
	t.Helper()
	if end.Err == nil || grpcclient.FromServer(end.Err) {
		t.Errorf("%s: want a transport error, got %s", name, grpcclient.Describe(end))
	}
}

// logLineAt is when the server logged its first line containing text.
func logLineAt(t *testing.T, s *server, text string) time.Time {
	t.Helper()
	line, ok := s.out.First(text)
	if !ok {
		t.Fatalf("no log line %q\noutput:\n%s", text, s.out)
	}
	return line.At
}

// A signal lands while a Slow call is in flight. 09-grpc answers it and
// exits 0 right after, well before its budget; so does a bare GracefulStop
// when no stream is open; Stop at once cuts it.
func TestGRPCInFlightCall(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		answered bool
	}{
		{"09-grpc", []string{"-delay", "1s", "-drain-delay", "200ms", "-timeout", grpcBudget.String()}, true},
		{"grpc-no-deadline", []string{"-delay", "1s", "-drain-delay", "200ms"}, true},
		{"grpc-stop-at-once", []string{"-delay", "1s"}, false},
	}
	for _, c := range cases {
		for _, sig := range signals {
			t.Run(c.name+"/"+signalNames[sig], func(t *testing.T) {
				t.Parallel()
				s := startServer(t, c.name, c.args...)
				pending := slowInFlight(t, s, dialGRPC(t, s))
				s.signal(t, sig)
				answer := receiveAnswer(t, pending)
				s.assertExitedWith(t, s.waitExit(t), 0)
				exited := time.Now()

				t.Logf("Slow: %s", grpcclient.Describe(answer))
				if !c.answered {
					assertTransportError(t, "Slow", answer)
					return
				}
				if answer.Err != nil || answer.Body != grpcclient.Welcome {
					t.Fatalf("Slow: want %q, got %s\noutput:\n%s", grpcclient.Welcome, grpcclient.Describe(answer), s.out)
				}
				if after := exited.Sub(answer.At); after > grpcBudget/3 {
					t.Errorf("exit %s after the last answer: want it well before the %s budget", after, grpcBudget)
				}
				t.Logf("answered, exit 0 %s after the answer", exited.Sub(answer.At).Round(time.Millisecond))
				for _, line := range []string{"Shutdown Server ...", "Server exiting"} {
					if len(s.out.lines(line)) != 1 {
						t.Errorf("want one log line %q\noutput:\n%s", line, s.out)
					}
				}
			})
		}
	}
}

// A Ticks stream and a health Watch are open at the signal. 09-grpc ends
// both with its own status, UNAVAILABLE "server shutting down", and exits 0
// well before its budget. A bare GracefulStop leaves them open, and waits
// for them for as long as the client keeps them (here until the test's
// client goes away); Stop at once cuts them with a transport error.
func TestGRPCStreamsEnd(t *testing.T) {
	t.Parallel()
	const drain = 300 * time.Millisecond
	common := []string{"-tick", "100ms"}
	cases := []struct {
		name string
		args []string
		// held: the streams still run once the stop has begun, and the
		// process waits for them.
		held, cut bool
	}{
		{name: "09-grpc", args: []string{"-drain-delay", drain.String(), "-timeout", grpcBudget.String()}},
		{name: "grpc-no-deadline", args: []string{"-drain-delay", drain.String()}, held: true},
		{name: "grpc-stop-at-once", cut: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, c.name, append(c.args, common...)...)
			conn := dialGRPC(t, s)
			ticks, watch := openStreams(t, conn)
			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)

			if c.held {
				s.waitLog(t, "Shutdown Server ...", 1)
				// Ten ticks after the stop began, the stream still runs.
				for range 10 {
					if _, err := ticks.Next(grpcWait); err != nil {
						t.Fatalf("Ticks: want it to run on during GracefulStop, got %v", err)
					}
				}
				if !s.Running() || watch.Ended() {
					t.Fatalf("want the process waiting for the streams\noutput:\n%s", s.out)
				}
				// The client goes away: only that ends the wait.
				conn.Close()
				s.assertExitedWith(t, s.waitExit(t), 0)
				t.Logf("the streams still open %s after the signal; exit 0 once the client went away", took(signalled, time.Now()))
				return
			}

			tickEnd, watchEnd := streamEnd(t, "Ticks", ticks), streamEnd(t, "Watch", watch)
			t.Logf("Ticks: %s; Watch: %s", grpcclient.Describe(tickEnd), grpcclient.Describe(watchEnd))
			s.assertExitedWith(t, s.waitExit(t), 0)
			exited := time.Now()
			if c.cut {
				assertTransportError(t, "Ticks", tickEnd)
				assertTransportError(t, "Watch", watchEnd)
				return
			}
			assertShuttingDown(t, "Ticks", tickEnd)
			assertShuttingDown(t, "Watch", watchEnd)
			if elapsed := exited.Sub(signalled); elapsed > grpcBudget/3 {
				t.Errorf("exit %s after the signal: want it well before the %s budget", elapsed, grpcBudget)
			}
			stopAt := logLineAt(t, s, "Shutdown Server ...")
			t.Logf("Ticks ended %s after the drain, Watch %s, exit 0 %s after the signal",
				tickEnd.At.Sub(stopAt).Round(time.Millisecond), watchEnd.At.Sub(stopAt).Round(time.Millisecond), took(signalled, exited))
		})
	}
}

func took(from, to time.Time) time.Duration { return to.Sub(from).Round(time.Millisecond) }

// At the signal the health service says NOT_SERVING at once, while calls
// are still taken: a Watch already open receives it, a Check made during
// the drain gets it, and a Slow call made during the drain is answered.
// Stop at once has no drain: its Watch is cut and never says NOT_SERVING.
func TestGRPCNotServingDuringDrain(t *testing.T) {
	t.Parallel()
	const drain = 5 * time.Second
	cases := []struct {
		name  string
		args  []string
		drain bool
	}{
		{"09-grpc", []string{"-drain-delay", drain.String(), "-delay", "100ms", "-timeout", grpcBudget.String()}, true},
		{"grpc-no-deadline", []string{"-drain-delay", drain.String(), "-delay", "100ms"}, true},
		{"grpc-stop-at-once", []string{"-delay", "100ms"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, c.name, c.args...)
			conn := dialGRPC(t, s)
			watch, err := grpcclient.Watch(context.Background(), conn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := watch.WaitFor("SERVING", grpcWait); err != nil {
				t.Fatalf("Watch: %v", err)
			}
			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)

			notServing, err := watch.WaitFor("NOT_SERVING", grpcWait)
			if !c.drain {
				if err == nil {
					t.Fatalf("want no NOT_SERVING from a server without a drain, got it at %s", notServing.At)
				}
				assertTransportError(t, "Watch", streamEnd(t, "Watch", watch))
				s.assertExitedWith(t, s.waitExit(t), 0)
				return
			}
			if err != nil {
				t.Fatalf("Watch: %v\noutput:\n%s", err, s.out)
			}
			status, err := grpcclient.Check(context.Background(), conn)
			if err != nil || status != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("Check during the drain: want NOT_SERVING, got %s, %v", status, err)
			}
			answer := grpcclient.Slow(context.Background(), conn)
			if answer.Err != nil || answer.Body != grpcclient.Welcome {
				t.Errorf("Slow during the drain: want %q, got %s", grpcclient.Welcome, grpcclient.Describe(answer))
			}
			// All of that happened during the drain: the server had not
			// yet begun to stop when the call was answered.
			if err := s.Sync(logTimeout); err != nil {
				t.Fatal(err)
			}
			if len(s.out.lines("Shutdown Server")) != 0 {
				t.Fatalf("the drain ended before the Check and the call were answered: a busy machine? (drain %s)\noutput:\n%s", drain, s.out)
			}
			t.Logf("NOT_SERVING %s after the signal", took(signalled, notServing.At))
			conn.Close()
			s.assertExitedWith(t, s.waitExit(t), 0)
		})
	}
}

// A call longer than the budget: 09-grpc cancels it when -timeout runs out
// (Stop), and exits 1. A bare GracefulStop has no budget: it waits for the
// call to the end, however long it takes.
func TestGRPCBudget(t *testing.T) {
	t.Parallel()
	const budget = time.Second
	cases := []struct {
		name string
		args []string
		// cancelled: the call is cut at the budget and the process exits 1.
		cancelled bool
	}{
		{"09-grpc", []string{"-delay", "60s", "-drain-delay", "0s", "-timeout", budget.String()}, true},
		{"grpc-no-deadline", []string{"-delay", "3s", "-drain-delay", "0s"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, c.name, c.args...)
			pending := slowInFlight(t, s, dialGRPC(t, s))
			// With no drain the stop begins at the signal: the budget
			// counts from here (the log line's time is when our reader
			// saw it, which may lag).
			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)
			answer := receiveAnswer(t, pending)
			state := s.waitExit(t)

			if !c.cancelled {
				if answer.Err != nil || answer.Body != grpcclient.Welcome {
					t.Fatalf("Slow: want %q, got %s", grpcclient.Welcome, grpcclient.Describe(answer))
				}
				s.assertExitedWith(t, state, 0)
				return
			}
			assertTransportError(t, "Slow", answer)
			if at := answer.At.Sub(signalled); at < budget || at > budget+grpcWait {
				t.Errorf("Slow: want it cancelled when the %s budget runs out, got it ended %s after the signal", budget, at)
			}
			s.assertExitedWith(t, state, 1)
			for _, line := range []string{"Slow cancelled: context canceled", "Server GracefulStop: context deadline exceeded, Stop cancelled the calls left"} {
				if len(s.out.lines(line)) != 1 {
					t.Errorf("want one log line %q\noutput:\n%s", line, s.out)
				}
			}
			t.Logf("Slow cut %s after the signal (budget %s): %s", took(signalled, answer.At), budget, grpcclient.Describe(answer))
		})
	}
}

// The second signal forces the exit: during the drain, and during the
// stop while a call holds it. The process dies of the signal.
func TestGRPCSecondSignal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, waitFor string
		args          []string
	}{
		{"during the drain", "Draining", []string{"-drain-delay", "60s"}},
		{"during the stop", "Shutdown Server ...", []string{"-drain-delay", "0s", "-timeout", "60s"}},
	}
	for _, c := range cases {
		t.Run("09-grpc/"+c.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "09-grpc", append(c.args, "-delay", "60s")...)
			pending := slowInFlight(t, s, dialGRPC(t, s))
			s.signal(t, syscall.SIGTERM)
			s.waitLog(t, c.waitFor, 1)
			s.signal(t, syscall.SIGINT)
			s.assertKilledBy(t, s.waitExit(t), syscall.SIGINT)
			assertTransportError(t, "Slow", receiveAnswer(t, pending))
		})
	}
}

// A connection that never sends HTTP/2's preface (a port scan, a stalled
// client) holds GracefulStop, and even Stop, until grpc-go gives up on its
// handshake: 120 s by default. 09-grpc sets 2 s, so it exits 0 well
// before its budget.
func TestGRPCIdleConnection(t *testing.T) {
	t.Parallel()
	s := startServer(t, "09-grpc", "-drain-delay", "0s", "-timeout", grpcBudget.String())
	idle := dial(t, s.addr)
	defer idle.Close()
	signalled := time.Now()
	s.signal(t, syscall.SIGTERM)
	s.assertExitedWith(t, s.waitExit(t), 0)
	if elapsed := time.Since(signalled); elapsed > grpcBudget/3 {
		t.Errorf("exit %s after the signal: want it well before the %s budget", elapsed, grpcBudget)
	}
	t.Logf("exit 0 %s after the signal, with an idle connection open", took(signalled, time.Now()))
}

// grpc-health-probe, what many Kubernetes setups ran before the kubelet
// spoke gRPC: exit 0 while SERVING, exit 4 (NOT_SERVING) during the drain.
func TestGRPCHealthProbe(t *testing.T) {
	t.Parallel()
	s := startServer(t, "09-grpc", "-drain-delay", "60s")
	probe := func() (int, string) {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "grpc-health-probe"), "-addr", s.addr).CombinedOutput()
		code := 0
		if err != nil {
			exit, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatal(err)
			}
			code = exit.ExitCode()
		}
		return code, strings.TrimSpace(string(out))
	}
	if code, out := probe(); code != 0 || out != "status: SERVING" {
		t.Errorf("before the signal: want exit 0 %q, got exit %d %q", "status: SERVING", code, out)
	}
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, "Draining", 1)
	const want = `service unhealthy (responded with "NOT_SERVING")`
	if code, out := probe(); code != 4 || out != want {
		t.Errorf("during the drain: want exit 4 %q, got exit %d %q", want, code, out)
	}
	s.signal(t, syscall.SIGTERM)
	s.assertKilledBy(t, s.waitExit(t), syscall.SIGTERM)
}

// grpcurl, the README's by-hand client: it lists the services (through
// reflection), gets Slow's answer, and prints the status that ends Ticks.
func TestGRPCurl(t *testing.T) {
	t.Parallel()
	s := startServer(t, "09-grpc", "-delay", "10ms", "-drain-delay", "0s", "-tick", "100ms")
	grpcurl := filepath.Join(binDir, "grpcurl")
	out, err := exec.Command(grpcurl, "-plaintext", s.addr, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	for _, service := range []string{"lab.v1.Lab", "grpc.health.v1.Health"} {
		if !strings.Contains(string(out), service+"\n") {
			t.Errorf("grpcurl list: want %s, got\n%s", service, out)
		}
	}
	out, err = exec.Command(grpcurl, "-plaintext", s.addr, "lab.v1.Lab/Slow").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != `"Welcome gRPC Server"` {
		t.Errorf("grpcurl lab.v1.Lab/Slow: want %q, got %v\n%s", `"Welcome gRPC Server"`, err, out)
	}

	ticks := startProcess(t, exec.Command(grpcurl, "-plaintext", s.addr, "lab.v1.Lab/Ticks"))
	ticks.waitLog(t, `"1"`, 1)
	s.signal(t, syscall.SIGTERM)
	// grpcurl exits with 64 + the status code: 78 for UNAVAILABLE.
	ticks.assertExitedWith(t, ticks.waitExit(t), 64+int(grpcclient.ShuttingDownCode))
	for _, line := range []string{"Code: Unavailable", "Message: server shutting down"} {
		if len(ticks.out.lines(line)) != 1 {
			t.Errorf("grpcurl lab.v1.Lab/Ticks: want %q\noutput:\n%s", line, ticks.out)
		}
	}
	s.assertExitedWith(t, s.waitExit(t), 0)
}

// The generated code is what lab.proto says: regenerated with Debian's
// protoc and go.mod's two plugins, it matches the committed files, but
// for the header line naming protoc's version.
func TestGRPCGeneratedCode(t *testing.T) {
	t.Parallel()
	trackSources(t)
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed (apt-get install protobuf-compiler): the generated files are committed, nothing to regenerate")
	}
	out := t.TempDir()
	var plugins []string
	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		path, err := exec.Command("go", "tool", "-n", plugin).Output()
		if err != nil {
			t.Fatalf("go tool -n %s: %v", plugin, err)
		}
		plugins = append(plugins, "--plugin="+plugin+"="+strings.TrimSpace(string(path)))
	}
	cmd := exec.Command("protoc", append(plugins,
		"--go_out="+out, "--go_opt=paths=source_relative",
		"--go-grpc_out="+out, "--go-grpc_opt=paths=source_relative",
		"lab.proto")...)
	cmd.Dir = filepath.Join(repoRoot(), "09-grpc")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, msg)
	}
	for _, name := range []string{"lab.pb.go", "lab_grpc.pb.go"} {
		committed, err := os.ReadFile(filepath.Join(repoRoot(), "09-grpc", name))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if withoutProtocVersion(committed) != withoutProtocVersion(fresh) {
			t.Errorf("09-grpc/%s is not what lab.proto generates: run go generate ./09-grpc", name)
		}
	}
}

// withoutProtocVersion drops the header line that names protoc's version,
// which differs between machines and says nothing about the code.
func withoutProtocVersion(code []byte) string {
	var kept []string
	for line := range strings.SplitSeq(string(code), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "//" && f[1] == "protoc" || len(f) >= 3 && f[1] == "-" && f[2] == "protoc") {
			continue
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "\n")
}
