package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
	"github.com/graceful-shutdown-lab/lab/internal/lesson"
)

// 50 keep-alive clients hammer a slow GET / and SIGTERM lands mid-run.
// 01-basic cuts the requests in flight; the graceful ones cut none and
// answer every request they accepted with 200 "Welcome Gin Server". Refused
// requests are allowed: once the listener is closed, new connections are
// refused, the cost of a restart (and why load balancers drain first).
func TestUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the load runs")
	}
	t.Parallel()
	const clients = 50
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, name, timing(name, 500*time.Millisecond, 20*time.Second)...)
			// hey runs a fixed time, then stops by itself: it never outlives
			// the test. -q caps each client's rate once the server is gone
			// and every request is refused at once.
			hey := exec.Command(filepath.Join(binDir, "hey"), "-c", strconv.Itoa(clients), "-q", "10", "-z", "4s", s.url("/"))
			heyRun := startProcess(t, hey)
			// Signal once every client's first request is inside the
			// handler. Not later: Go's client (and so hey) silently retries
			// a GET whose reused keep-alive connection died before the
			// answer, and the retry is refused: a cut would count as refused.
			s.waitLog(t, "GET / started", clients)
			s.signal(t, syscall.SIGTERM)
			state := s.waitExit(t)
			heyRun.assertExitedWith(t, heyRun.waitExit(t), 0)
			report := client.ParseHey(heyRun.out.String())
			t.Logf("%s: statuses %v, errors %v", name, report.Statuses, report.Errors)

			if name == "01-basic" {
				s.assertKilledBy(t, state, syscall.SIGTERM)
				if report.Errors[client.Cut] == 0 {
					t.Errorf("want requests cut by the kill, got none\nhey:\n%s", heyRun.out)
				}
				return
			}
			s.assertExitedWith(t, state, 0)
			for _, class := range []client.Class{client.Cut, client.Timeout, client.Other} {
				if n := report.Errors[class]; n > 0 {
					t.Errorf("want no %s request, got %d (e.g. %s)", class, n, report.Examples[class])
				}
			}
			// Every request that reached the handler was answered, in full.
			served := report.Served()
			if started := len(s.out.lines("GET / started")); len(report.Statuses) != 1 || served != started {
				t.Errorf("want a 200 for each of the %d requests the server started, got %v", started, report.Statuses)
			}
			if want := served * len(lesson.Welcome); report.Bytes != want {
				t.Errorf("want %d bytes of %q bodies, got %d", want, lesson.Welcome, report.Bytes)
			}
		})
	}
}

// hey's error lines are keyed by their full text: client.ParseHey adds up
// the counts of lines that differ only in ephemeral ports, and sorts each
// with client.ClassifyText, the one classifier load.sh and the tests share.
// The lines are shaped as hey prints them (one per distinct error text).
func TestParseHey(t *testing.T) {
	t.Parallel()
	summary := `
Status code distribution:
  [200]	61 responses
  [503]	2 responses

Error distribution:
  [3]	Get "http://127.0.0.1:8080/": EOF
  [1]	Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:51234->127.0.0.1:8080: read: connection reset by peer
  [2]	Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:51300->127.0.0.1:8080: read: connection reset by peer
  [1]	Get "http://127.0.0.1:8080/": write tcp 127.0.0.1:51301->127.0.0.1:8080: write: broken pipe
  [1]	Get "http://127.0.0.1:8080/": http: server closed idle connection
  [40]	Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: connect: connection refused
  [1]	Get "http://127.0.0.1:8080/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)
  [1]	Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:51999->127.0.0.1:8080: something new
  [2]	Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:52000->127.0.0.1:8080: something new
`
	got := client.ParseHey(summary)
	want := fmt.Sprint(map[client.Class]int{client.Cut: 8, client.Refused: 40, client.Timeout: 1, client.Other: 3})
	if fmt.Sprint(got.Errors) != want || got.Statuses[200] != 61 || got.Statuses[503] != 2 || got.Served() != 61 {
		t.Errorf("got statuses %v errors %v, want 200:61 503:2 and %s", got.Statuses, got.Errors, want)
	}
	wantOther := map[string]int{`Get "http://127.0.0.1/": dial tcp 127.0.0.1->127.0.0.1: something new`: 3}
	if fmt.Sprint(got.OtherTexts) != fmt.Sprint(wantOther) {
		t.Errorf("got other texts %v, want %v", got.OtherTexts, wantOther)
	}
}
