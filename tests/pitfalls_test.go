package tests

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// remindExercise says, when a test of a pitfall fails, that the pitfall is
// an exercise's starting copy, one a student may have fixed.
func remindExercise(t *testing.T, name string) {
	pkg := pitfalls[name]
	if !strings.HasPrefix(pkg, "./exercises/") {
		return
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s is the starting copy of an exercise, %s/main.go: if you fixed it, `git checkout exercises/` restores it", name, strings.TrimPrefix(pkg, "./"))
		}
	})
}

// `go run` builds the server and runs it as a child. A `kill` (SIGTERM)
// aimed at the `go run` process ends the go tool only: the server never
// hears of it, keeps serving as an orphan, and its graceful shutdown never
// runs. (A Ctrl+C in a terminal reaches both, as it signals the whole
// foreground process group; docker stop and Kubernetes signal one PID.)
func TestGoRunHidesSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the go run build")
	}
	t.Parallel()
	trackSources(t)
	addr := freePort(t)
	cmd := exec.Command("go", "run", "./02-graceful", "-addr", addr, "-delay", "1s")
	cmd.Dir = repoRoot()
	// GOTMPDIR: the binary go run builds lives in the test's temp dir, which
	// the test removes, even though the go tool is killed before it can.
	cmd.Env = append(os.Environ(), "GIN_MODE=release", "GOTMPDIR="+t.TempDir())
	goRun := startProcess(t, cmd) // its cleanup kills the group: the orphan too

	// go run compiles first: on a fresh machine that takes a while.
	if err := proc.WaitListening(addr, proc.Connect, 5*time.Minute, goRun.exited); err != nil {
		t.Fatalf("go run ./02-graceful: %v\noutput:\n%s", err, goRun.out)
	}
	goRun.signal(t, syscall.SIGTERM)
	goRun.assertKilledBy(t, goRun.waitProcessExit(t), syscall.SIGTERM)

	// The server is still there, serving as if nothing happened.
	assertWelcome(t, send(http.MethodGet, "http://"+addr+"/"))
	// The pipe keeps the order: a "Shutdown Server" line would come first.
	goRun.waitLog(t, "GET / started", 1)
	if len(goRun.out.lines("Shutdown Server")) != 0 {
		t.Errorf("want the orphaned server to serve and never shut down, its log:\n%s", goRun.out)
	}
}

// Ending main when ListenAndServe returns drops in-flight requests:
// ListenAndServe returns ErrServerClosed as soon as Shutdown starts, so
// the process exits, with status 0 and "Server exiting", mid-request.
func TestPitfallExitOnServeReturn(t *testing.T) {
	t.Parallel()
	s, pending := startInFlight(t, "exit-on-serve-return", "-delay", "20s")
	s.signal(t, syscall.SIGTERM)
	s.assertExitedWith(t, s.waitExit(t), 0)
	assertFailed(t, receive(t, pending), cut)
	if len(s.out.lines("Server exiting")) != 1 {
		t.Errorf("want the misleading %q line\noutput:\n%s", "Server exiting", s.out)
	}
}

// log.Fatal calls os.Exit, which skips every deferred function. The post's
// `log.Fatal("Server Shutdown: ", err)` after a timed-out Shutdown skips
// the program's deferred cleanup; the same program cleans up on an idle
// shutdown, so the defer itself works.
func TestPitfallLogFatalSkipsDefers(t *testing.T) {
	t.Parallel()
	const cleanup = "cleanup: database connection closed"
	t.Run("idle shutdown runs the defer", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "log-fatal", "-timeout", "20s")
		s.signal(t, syscall.SIGTERM)
		s.assertExitedWith(t, s.waitExit(t), 0)
		if len(s.out.lines(cleanup)) != 1 {
			t.Errorf("want %q\noutput:\n%s", cleanup, s.out)
		}
	})
	t.Run("timed-out shutdown skips it", func(t *testing.T) {
		t.Parallel()
		s, pending := startInFlight(t, "log-fatal", "-delay", "20s", "-timeout", "1s")
		s.signal(t, syscall.SIGTERM)
		s.assertExitedWith(t, s.waitExit(t), 1)
		assertFailed(t, receive(t, pending), cut)
		if len(s.out.lines("Server Shutdown: context deadline exceeded")) != 1 || len(s.out.lines(cleanup)) != 0 {
			t.Errorf("want the timeout logged and no %q\noutput:\n%s", cleanup, s.out)
		}
	})
}

// Shutdown does not cancel the contexts of requests in flight: a handler
// waiting on c.Request.Context() is never told to stop, and answers 200.
// The same handler does see a cancellation when its client goes away.
func TestPitfallShutdownDoesNotCancelRequestContext(t *testing.T) {
	t.Parallel()
	const cancelled = "request context cancelled"
	t.Run("client gone: cancelled", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "request-context", "-delay", "60s")
		ctx, hangUp := context.WithCancel(context.Background())
		pending := make(chan response, 1)
		go func() { pending <- sendContext(ctx, http.MethodGet, s.url("/")) }()
		s.waitLog(t, "GET / started", 1)
		hangUp()
		s.waitLog(t, cancelled, 1)
		receive(t, pending)
	})
	t.Run("shutdown: not cancelled", func(t *testing.T) {
		t.Parallel()
		s, pending := startInFlight(t, "request-context", "-delay", "2s")
		s.signal(t, syscall.SIGTERM)
		s.waitLog(t, "Shutdown Server ...", 1)
		assertWelcome(t, receive(t, pending))
		s.assertExitedWith(t, s.waitExit(t), 0)
		if len(s.out.lines(cancelled)) != 0 {
			t.Errorf("Shutdown must not cancel the request's context\noutput:\n%s", s.out)
		}
	})
}
