// The keep-alive drain: what the old process does after an upgrade, before
// main.go calls srv.Shutdown. Its clients still hold keep-alive connections
// to it and send more requests on them. Shutdown alone would fail some: it
// closes, unanswered, a connection whose request it reads after Shutdown
// began. srv.SetKeepAlivesEnabled(false) would too: it closes every
// connection idle at that instant, and under load a client's next request
// is often on the wire already. A client that does not resend (wrk, or Go's
// client sending a POST) sees those requests fail. So finishAccepted lets
// the connections go one by one, each when it is safe.

package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// idleGrace is how long a keep-alive connection must have sat idle before
// the draining process closes it. A busy client sends its next request
// within microseconds of reading an answer (a distant one, a round trip
// later): it is never idle that long. What is left is HTTP/1.1's own race:
// a client that reuses a connection idle for longer, at the very instant
// it is closed, sees it fail (clients resend an idempotent request then).
// A -timeout under 4 s shortens it to a quarter of the budget.
const idleGrace = time.Second

// connections are a server's open connections (its ConnState hook keeps
// them), and since when each has been idle between two requests.
type connections struct {
	// draining is set by finishAccepted: from then on every answer says
	// "Connection: close" (closeWhenDraining).
	draining atomic.Bool
	// grace is idleGrace, or less when the budget is short: the drain must
	// fit in it, or the old process would exit 1 for one idle client.
	grace time.Duration

	mu        sync.Mutex
	idleSince map[net.Conn]time.Time // zero: not idle
}

// watchConnections hooks srv, before it serves, so that finishAccepted can
// let its connections go: it wraps srv's handler in closeWhenDraining and
// tracks every connection's state. It also gives a client that connects but
// sends nothing half the timeout: it would otherwise hold up finishAccepted
// until the budget runs out.
func watchConnections(srv *http.Server, timeout time.Duration) *connections {
	conns := &connections{grace: min(idleGrace, timeout/4), idleSince: make(map[net.Conn]time.Time)}
	handler := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(closeWhenDraining{w, &conns.draining}, r)
	})
	srv.ReadHeaderTimeout = timeout / 2
	srv.ConnState = conns.track
	return conns
}

// finishAccepted answers, after an upgrade, every connection this process
// accepted, and returns once all are closed, or with ctx's error.
func (cs *connections) finishAccepted(ctx context.Context, ln net.Listener, serveErr <-chan error) error {
	// 1. Every answer sent from now on says "Connection: close": a busy
	// connection closes right after its next answer, which its client
	// reads, then connects again, to the new process. That is HTTP/1.1's
	// one clean way to end a keep-alive connection.
	cs.draining.Store(true)
	// 2. Stop accepting: the new process takes every connection from now
	// on. Once Serve has returned, every connection it accepted is counted.
	ln.Close()
	<-serveErr
	// 3. A connection that stays idle gets no answer to carry the header:
	// close it once it has been idle for the grace, when its client is
	// most likely not sending. A new connection that never sends a
	// request is closed by ReadHeaderTimeout. Look often: a busy
	// connection closes within a request's time.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for cs.closeIdle() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// closeWhenDraining adds "Connection: close" to an answer whose header
// goes out once the drain has begun, also when its request came in before
// (gin calls WriteHeader before it writes a body). net/http then closes
// the connection after the answer. It passes on WriteHeader only: a handler
// that streams (Flush) or takes the connection over (Hijack) would need
// those passed on too; 04's one route does neither.
type closeWhenDraining struct {
	http.ResponseWriter
	draining *atomic.Bool
}

func (w closeWhenDraining) WriteHeader(code int) {
	if w.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (cs *connections) track(c net.Conn, state http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch state {
	case http.StateIdle:
		cs.idleSince[c] = time.Now()
	case http.StateClosed, http.StateHijacked:
		delete(cs.idleSince, c)
	default: // new, active: reading or answering a request
		cs.idleSince[c] = time.Time{}
	}
}

// closeIdle closes the connections idle for longer than the grace, and says
// how many are still open. A closed one leaves once net/http sees it closed.
func (cs *connections) closeIdle() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c, since := range cs.idleSince {
		if !since.IsZero() && time.Since(since) > cs.grace {
			c.Close()
		}
	}
	return len(cs.idleSince)
}
