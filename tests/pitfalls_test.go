package tests

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
	tmp := t.TempDir()
	logFile, err := os.Create(filepath.Join(tmp, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	addr := freePort(t)
	goRun := exec.Command("go", "run", "./02-graceful", "-addr", addr, "-delay", "1s")
	goRun.Dir = repoRoot()
	// GOTMPDIR: the binary go run builds lives in the test's temp dir, which
	// the test removes, even though the go tool is killed before it can.
	goRun.Env = append(os.Environ(), "GIN_MODE=release", "GOTMPDIR="+tmp)
	// A file, not a pipe: the orphaned server keeps a pipe open, and Wait
	// would wait for it.
	goRun.Stdout, goRun.Stderr = logFile, logFile
	goRun.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := goRun.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = goRun.Wait() // the exit status is read from ProcessState
		close(exited)
	}()
	// The group outlives the go tool: the orphaned server is still in it.
	t.Cleanup(func() {
		_ = syscall.Kill(-goRun.Process.Pid, syscall.SIGKILL)
		<-exited
		reapGroup(goRun.Process.Pid)
	})

	// go run compiles first: on a fresh machine that takes a while.
	if err := waitListening(addr, 5*time.Minute, exited); err != nil {
		t.Fatalf("go run ./02-graceful: %v", err)
	}
	if err := goRun.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(exitTimeout):
		t.Fatal("the go tool survived SIGTERM")
	}
	if ws := goRun.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("want the go tool killed by SIGTERM, got %s", goRun.ProcessState)
	}

	// The server is still there, serving as if nothing happened.
	assertWelcome(t, send(http.MethodGet, "http://"+addr+"/"))
	log, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "GET / started") || strings.Contains(string(log), "Shutdown Server") {
		t.Errorf("want the orphaned server to serve and never shut down, its log:\n%s", log)
	}
}

// Ending main when ListenAndServe returns drops in-flight requests:
// ListenAndServe returns ErrServerClosed as soon as Shutdown starts, so
// the process exits, with status 0 and "Server exiting", mid-request.
func TestPitfallExitOnServeReturn(t *testing.T) {
	t.Parallel()
	s, pending := startInFlight(t, "exit-on-serve-return", "-delay", "20s")
	s.signal(t, syscall.SIGTERM)
	assertExitedWith(t, s, s.waitExit(t), 0)
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
		assertExitedWith(t, s, s.waitExit(t), 0)
		if len(s.out.lines(cleanup)) != 1 {
			t.Errorf("want %q\noutput:\n%s", cleanup, s.out)
		}
	})
	t.Run("timed-out shutdown skips it", func(t *testing.T) {
		t.Parallel()
		s, pending := startInFlight(t, "log-fatal", "-delay", "20s", "-timeout", "1s")
		s.signal(t, syscall.SIGTERM)
		assertExitedWith(t, s, s.waitExit(t), 1)
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
		assertExitedWith(t, s, s.waitExit(t), 0)
		if len(s.out.lines(cancelled)) != 0 {
			t.Errorf("Shutdown must not cancel the request's context\noutput:\n%s", s.out)
		}
	})
}
