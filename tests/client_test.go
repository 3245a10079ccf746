package tests

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graceful-shutdown-lab/lab/internal/client"
)

// clientTimeout bounds every request, so a hung server fails a test
// instead of hanging it.
const clientTimeout = client.RequestTimeout

// response is what a client saw: a status and body, or an error.
type response struct {
	status int
	body   string
	err    error
}

// errorClass sorts a failed request the way the lesson talks about it
// (client.Classify is the one rule, for Go's errors and hey's texts alike).
type errorClass = client.Class

const (
	refused = client.Refused // the listener was closed: never accepted
	cut     = client.Cut     // accepted, then the connection died
	timeout = client.Timeout // no answer in time
	other   = client.Other
)

func classify(err error) errorClass { return client.Classify(err) }

// send makes one request on a connection of its own (no keep-alive), so
// each in-flight request is exactly one connection the server must drain.
func send(method, url string) response {
	return sendContext(context.Background(), method, url)
}

// sendContext is send with a context: cancelling it hangs up.
func sendContext(ctx context.Context, method, url string) response {
	r := client.Send(ctx, method, url)
	return response{status: r.Status, body: r.Body, err: r.Err}
}

// sendAsync starts a request in the background; receive its response from
// the channel.
func sendAsync(method, url string) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- send(method, url) }()
	return ch
}

// receive waits for an async response, with a guard against a hang.
func receive(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(clientTimeout + 5*time.Second):
		t.Fatal("request never returned")
		return response{}
	}
}

// assertWelcome checks the lesson's happy ending: the in-flight request was answered in full.
func assertWelcome(t *testing.T, r response) {
	t.Helper()
	if r.err != nil || r.status != http.StatusOK || r.body != "Welcome Gin Server" {
		t.Fatalf("want 200 %q, got status %d body %q err %v", "Welcome Gin Server", r.status, r.body, r.err)
	}
}

// assertFailed checks that a request failed with an error of the given class.
func assertFailed(t *testing.T, r response, want errorClass) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("want a %s request, got status %d body %q", want, r.status, strings.TrimSpace(r.body))
	}
	if got := classify(r.err); got != want {
		t.Fatalf("want a %s request, got %s: %v", want, got, r.err)
	}
}

// dial opens a TCP connection that gives up after clientTimeout.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, clientTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(clientTimeout)); err != nil {
		t.Fatal(err)
	}
	return conn
}
