// The keep-alive drain: what the old process does after an upgrade, before
// main.go calls srv.Shutdown. Its clients still hold keep-alive connections
// to it and send more requests on them. Shutdown alone would fail some: it
// closes, unanswered, a connection whose request it reads after Shutdown
// began. srv.SetKeepAlivesEnabled(false) would too: it closes every
// connection idle at that instant, and under load a client's next request
// is often on the wire already. A client that does not resend (wrk, or Go's
// client sending a POST) sees those requests fail. So finishAccepted lets
// the connections go one by one, each when it is safe.
//
// "Idle" must mean that nothing came in. net/http calls a connection
// active only once it has read a whole request header, and a process
// that was not given the CPU for a second (a busy machine) wakes up to
// find its connections "idle" for that long, requests waiting in the
// kernel or half read. So the connections net/http gets are watched
// ones (watchedConn): closeIdle lets one go only if it has read nothing
// since its last answer, and nothing waits in the kernel's buffer.

package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
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
// Every connection comes from listener (see watchedConn).
type connections struct {
	// draining is set by finishAccepted: from then on every answer says
	// "Connection: close" (closeWhenDraining).
	draining atomic.Bool
	// grace is idleGrace, or less when the budget is short: the drain must
	// fit in it, or the old process would exit 1 for one idle client.
	grace time.Duration

	mu   sync.Mutex
	idle map[*watchedConn]idleness // since: zero when not idle
}

// idleness is since when a connection has been idle, and how many reads
// had brought it bytes by then.
type idleness struct {
	since time.Time
	reads int64
}

// watchedConn is a connection that counts the reads that brought bytes.
type watchedConn struct {
	net.Conn
	reads atomic.Int64
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

// waiting says whether bytes wait in the kernel's buffer for c: a peek,
// which leaves them there for net/http.
func (c *watchedConn) waiting() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	raw.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), make([]byte, 1), syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n > 0
}

// watchedListener hands net/http watched connections.
type watchedListener struct{ net.Listener }

func (l watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c}, nil
}

// listener is ln, handing out connections cs can watch: serve on it.
func (cs *connections) listener(ln net.Listener) net.Listener {
	return watchedListener{ln}
}

// watchConnections hooks srv, before it serves, so that finishAccepted can
// let its connections go: it wraps srv's handler in closeWhenDraining and
// tracks every connection's state. It also gives a client that connects but
// sends nothing half the timeout: it would otherwise hold up finishAccepted
// until the budget runs out.
func watchConnections(srv *http.Server, timeout time.Duration) *connections {
	conns := &connections{grace: min(idleGrace, timeout/4), idle: make(map[*watchedConn]idleness)}
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
	// most likely not sending, unless a request came in after all. A new
	// connection that never sends a request is closed by
	// ReadHeaderTimeout. Look often: a busy connection closes within a
	// request's time.
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

func (cs *connections) track(conn net.Conn, state http.ConnState) {
	c := conn.(*watchedConn) // from cs.listener
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch state {
	case http.StateIdle:
		cs.idle[c] = idleness{since: time.Now(), reads: c.reads.Load()}
	case http.StateClosed, http.StateHijacked:
		delete(cs.idle, c)
	default: // new, active: reading or answering a request
		cs.idle[c] = idleness{}
	}
}

// closeIdle closes the connections idle for longer than the grace, with
// nothing come in since, and says how many are still open. A closed one
// leaves once net/http sees it closed; one a request came in on turns
// active once net/http has read the header.
func (cs *connections) closeIdle() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c, idle := range cs.idle {
		if !idle.since.IsZero() && time.Since(idle.since) > cs.grace && !c.waiting() && c.reads.Load() == idle.reads {
			c.Close()
		}
	}
	return len(cs.idle)
}
