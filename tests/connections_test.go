package tests

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/proc"
)

// connectionLessons are the lessons that carry connections.go, 06's piece:
// an unused or half-sent connection is closed at the stop, a half-sent
// request header is closed after ReadHeaderTimeout, and the process exits
// as soon as its last connection has closed.
var connectionLessons = []string{"05-load-balancer", "06-streaming", "07-durable-jobs", "08-river"}

// halfSent is the start of a request whose header never ends (Slowloris).
const halfSent = "GET / HTTP/1.1\r\nHost: localhost\r\n"

// startWithBudget starts a lesson with the shutdown budget given and the
// flags it needs besides: a short drain for 05, a fresh database for 07
// (08 gets a database of its own from launch).
func startWithBudget(t *testing.T, name string, budget time.Duration) *server {
	t.Helper()
	args := []string{"-delay", "10ms", "-timeout", budget.String()}
	switch name {
	case "05-load-balancer":
		args = append(args, "-drain-delay", "100ms")
	case "07-durable-jobs":
		args = append(args, "-db", jobsDB(t))
	}
	return startServer(t, name, args...)
}

// youngConnection is how old a connection may be when openConnection
// returns it: well below the 3 s of ReadHeaderTimeout and the 5 s after
// which net/http lets an unused connection go, so that neither has ended
// it by itself by the time of the signal.
const youngConnection = 1500 * time.Millisecond

// openConnection opens a connection to s, sends it what (maybe nothing),
// and returns once the server process has accepted it: a connection still
// in the listener's queue at the stop is one the server never sees. On a
// machine too busy to see the accept while the connection is young, it
// tries again with a new one.
func openConnection(t *testing.T, s *server, what string) net.Conn {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dialled := time.Now()
		conn := dial(t, s.addr)
		t.Cleanup(func() { conn.Close() })
		if what != "" {
			if _, err := io.WriteString(conn, what); err != nil {
				t.Fatal(err)
			}
		}
		err := proc.WaitHeld(s.PID(), conn, youngConnection)
		if err == nil && time.Since(dialled) < youngConnection {
			return conn
		}
		conn.Close()
		if attempt == 5 {
			t.Fatalf("no connection seen accepted while younger than %s in %d tries: %v", youngConnection, attempt, err)
		}
		t.Logf("try %d: the accept was not seen within %s (%v): a new connection", attempt, youngConnection, err)
	}
}

// A connection that has not sent a whole request header holds no request:
// at SIGTERM the lessons close it and exit 0 at once. Today's net/http
// alone waits for it until it is 5 s old, and with a 3 s budget the
// process gives up and exits 1 ("context deadline exceeded").
func TestUnusedConnectionAtStop(t *testing.T) {
	t.Parallel()
	const budget = 3 * time.Second
	for _, name := range connectionLessons {
		for _, kind := range []struct{ name, sent string }{
			{"never-sent", ""},
			{"half-sent", halfSent},
		} {
			t.Run(name+"/"+kind.name, func(t *testing.T) {
				t.Parallel()
				s := startWithBudget(t, name, budget)
				conn := openConnection(t, s, kind.sent)
				signalled := time.Now()
				s.signal(t, syscall.SIGTERM)
				got, took, err := client.ReadUntilClosed(conn, exitTimeout)
				state := s.waitExit(t)
				exited := s.ExitedAt.Sub(signalled)
				t.Logf("%s: connection closed %s and process exited %s after SIGTERM (budget %s): %v",
					name, took.Round(time.Millisecond), exited.Round(time.Millisecond), budget, err)
				s.assertExitedWith(t, state, 0)
				if got != "" || !closedByPeer(err) {
					t.Errorf("want the connection closed without an answer, got %q, %v", got, err)
				}
				if len(s.out.lines("Server exiting")) != 1 {
					t.Errorf("want %q\noutput:\n%s", "Server exiting", s.out)
				}
			})
		}
	}
}

// closedByPeer reports whether a read ended because the other side closed
// the connection (EOF, or a reset when it closed with bytes unread).
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// Even without a stop, a request header that never ends is closed after
// ReadHeaderTimeout (3 s in connections.go): the server never sees a
// request, and answers none. Without ReadHeaderTimeout net/http would
// hold the connection for as long as the client likes.
func TestHalfSentRequestTimesOut(t *testing.T) {
	t.Parallel()
	const guard = 30 * time.Second // well above the lesson's 3 s
	for _, name := range connectionLessons {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startWithBudget(t, name, 60*time.Second)
			conn := dial(t, s.addr)
			defer conn.Close()
			if _, err := io.WriteString(conn, halfSent); err != nil {
				t.Fatal(err)
			}
			got, took, err := client.ReadUntilClosed(conn, guard)
			t.Logf("%s: half-sent request closed after %s: %v", name, took.Round(time.Millisecond), err)
			if got != "" || !closedByPeer(err) {
				t.Fatalf("want the connection closed without an answer within %s, got %q, %v", guard, got, err)
			}
			if !s.Running() {
				t.Fatalf("the server exited\noutput:\n%s", s.out)
			}
		})
	}
}

// The copies of connections.go are 06's, byte for byte: one mechanism,
// taught once. Each lesson must stay a program of its own, hence a file
// and not a package.
func TestConnectionsPieceIsOne(t *testing.T) {
	trackSources(t)
	taught, err := os.ReadFile(filepath.Join(repoRoot(), "06-streaming", "connections.go"))
	if err != nil {
		t.Fatal(err)
	}
	copies, err := filepath.Glob(filepath.Join(repoRoot(), "*", "connections.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range connectionLessons {
		if path := filepath.Join(repoRoot(), name, "connections.go"); !slices.Contains(copies, path) {
			t.Errorf("%s has no connections.go", name)
		}
	}
	for _, path := range copies {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, taught) {
			t.Errorf("%s differs from 06-streaming/connections.go: copy 06's file over it", path)
		}
	}
}

// The WebSocket's access-log line (gin's "| 101 |") is written before the
// process exits: run waits for the socket's handler until gin's logger
// has returned. Counted inside the handler, the socket was done before the
// logger wrote its line, and the process could exit in between: that lost
// the line in 4 stops of 40 here (8 of 40 under -race), so this test stops
// the server 30 times.
func TestWebSocketAccessLogLine(t *testing.T) {
	t.Parallel()
	const stops = 30
	for i := range stops {
		s := startServer(t, "06-streaming", "-tick", "50ms", "-timeout", "60s")
		ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
		conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/ws", nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if _, _, err := conn.Read(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		s.signal(t, syscall.SIGTERM)
		for err == nil {
			_, _, err = conn.Read(ctx)
		}
		cancel()
		s.assertExitedWith(t, s.waitExit(t), 0)
		if len(s.out.lines("| 101 |")) != 1 {
			t.Fatalf("stop %d of %d: want gin's access-log line of the WebSocket (| 101 |)\noutput:\n%s", i+1, stops, s.out)
		}
	}
}

// The pitfall side by side: the same unused connection (a browser's
// preconnect, opened and never used) holds 02-graceful, the post's server,
// for its whole budget: Shutdown waits for it, gives up, and the process
// exits 1. It holds 06-streaming not at all: connections.go closes it at
// the stop.
func TestPitfallUnusedConnection(t *testing.T) {
	t.Parallel()
	const budget = 3 * time.Second
	for _, name := range []string{"02-graceful", "06-streaming"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, name, "-delay", "10ms", "-timeout", budget.String())
			openConnection(t, s, "")
			signalled := time.Now()
			s.signal(t, syscall.SIGTERM)
			state := s.waitExit(t)
			exited := s.ExitedAt.Sub(signalled)
			t.Logf("%s: exited %s after SIGTERM with an unused connection open (budget %s): %s",
				name, exited.Round(time.Millisecond), budget, proc.ExitText(state))
			if name == "02-graceful" {
				s.assertExitedWith(t, state, 1)
				if exited < budget {
					t.Errorf("exit %s after the signal: want the whole %s budget held", exited.Round(time.Millisecond), budget)
				}
				if len(s.out.lines("Server Shutdown: context deadline exceeded")) != 1 {
					t.Errorf("want the timeout logged\noutput:\n%s", s.out)
				}
				return
			}
			s.assertExitedWith(t, state, 0)
		})
	}
}
