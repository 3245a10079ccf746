package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// heyReport is what hey printed, by status code and by error class.
type heyReport struct {
	statuses map[int]int
	errors   map[errorClass]int
	examples map[errorClass]string
	bytes    int // "Total data", the bodies of every response
}

var (
	heyStatus = regexp.MustCompile(`^\s*\[(\d{3})\]\s+(\d+) responses`)
	heyError  = regexp.MustCompile(`^\s*\[(\d+)\]\s+(.*)$`)
	heyBytes  = regexp.MustCompile(`Total data:\s+(\d+) bytes`)
)

// classifyHeyError sorts one line of hey's "Error distribution" the way
// classify sorts a Go error: hey prints only the text.
func classifyHeyError(text string) errorClass {
	switch {
	case strings.Contains(text, "connection refused"):
		return refused
	case strings.HasSuffix(text, "EOF"), strings.Contains(text, "connection reset by peer"),
		strings.Contains(text, "broken pipe"):
		return cut
	case strings.Contains(text, "Client.Timeout exceeded"), strings.Contains(text, "deadline exceeded"),
		strings.Contains(text, "i/o timeout"):
		return timeout
	default:
		return other
	}
}

// parseHey reads hey's summary. hey exits 0 even when every request
// failed; the errors are only in its "Error distribution" section.
func parseHey(summary string) heyReport {
	r := heyReport{statuses: map[int]int{}, errors: map[errorClass]int{}, examples: map[errorClass]string{}}
	inErrors := false
	for line := range strings.Lines(summary) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "Error distribution:"):
			inErrors = true
		case inErrors:
			if m := heyError.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				class := classifyHeyError(m[2])
				r.errors[class] += n
				r.examples[class] = m[2]
			}
		case heyStatus.MatchString(line):
			m := heyStatus.FindStringSubmatch(line)
			code, _ := strconv.Atoi(m[1])
			r.statuses[code], _ = strconv.Atoi(m[2])
		case heyBytes.MatchString(line):
			r.bytes, _ = strconv.Atoi(heyBytes.FindStringSubmatch(line)[1])
		}
	}
	return r
}

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
			report := parseHey(heyRun.out.String())
			t.Logf("%s: statuses %v, errors %v", name, report.statuses, report.errors)

			if name == "01-basic" {
				s.assertKilledBy(t, state, syscall.SIGTERM)
				if report.errors[cut] == 0 {
					t.Errorf("want requests cut by the kill, got none\nhey:\n%s", heyRun.out)
				}
				return
			}
			s.assertExitedWith(t, state, 0)
			for _, class := range []errorClass{cut, timeout, other} {
				if n := report.errors[class]; n > 0 {
					t.Errorf("want no %s request, got %d (e.g. %s)", class, n, report.examples[class])
				}
			}
			// Every request that reached the handler was answered, in full.
			served := report.statuses[200]
			if started := len(s.out.lines("GET / started")); len(report.statuses) != 1 || served != started {
				t.Errorf("want a 200 for each of the %d requests the server started, got %v", started, report.statuses)
			}
			if want := served * len("Welcome Gin Server"); report.bytes != want {
				t.Errorf("want %d bytes of %q bodies, got %d", want, "Welcome Gin Server", report.bytes)
			}
		})
	}
}

// hey's error lines are keyed by their full text: parseHey must add up
// the counts of lines that differ only in ephemeral ports.
func TestParseHey(t *testing.T) {
	t.Parallel()
	summary := `
Status code distribution:
  [200]	61 responses

Error distribution:
  [3]	Get "http://127.0.0.1:8080/": EOF
  [1]	Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:51234->127.0.0.1:8080: read: connection reset by peer
  [2]	Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:51300->127.0.0.1:8080: read: connection reset by peer
  [40]	Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: connect: connection refused
  [1]	Get "http://127.0.0.1:8080/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)
  [1]	Get "http://127.0.0.1:8080/": something new
`
	got := parseHey(summary)
	want := fmt.Sprint(map[errorClass]int{cut: 6, refused: 40, timeout: 1, other: 1})
	if fmt.Sprint(got.errors) != want || got.statuses[200] != 61 {
		t.Errorf("got statuses %v errors %v, want 200:61 and %s", got.statuses, got.errors, want)
	}
}
