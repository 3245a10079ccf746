// connections.go is the piece of the stop that Shutdown leaves out: the
// connections a client opened and never used. 06-streaming teaches it;
// 05-load-balancer, 07-durable-jobs and 08-river carry the same file, byte
// for byte (tests/connections_test.go checks), because every lesson is a
// program of its own that imports nothing from this repo.
//
// A browser opens connections before it needs them (a preconnect, a second
// one for the next request), and a port scanner or a Slowloris client
// opens one and sends nothing, or half a request header. Shutdown counts
// such a connection as busy until it is 5 s old (net/http's closeIdleConns,
// golang/go issue 22682): one open browser tab holds the stop for 5 s, or
// for the whole budget if that is shorter, and the process exits 1. And
// Shutdown notices that the last busy connection has closed only at its
// next poll (1 ms, doubling up to every 500 ms), often hundreds of
// milliseconds after the last answer.
//
// So a server here
//   - sets ReadHeaderTimeout: a request header must arrive whole within
//     readHeaderTimeout, or net/http closes the connection, stop or no stop;
//   - watches every connection's state through the server's ConnState hook;
//   - at the stop, once Serve has returned, closes the connections that
//     have not sent a whole request header yet (StateNew);
//   - returns as soon as the last connection has closed, instead of at
//     Shutdown's next poll.

package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// readHeaderTimeout is how long a client may take to send a whole request
// header: a few seconds, below the shutdown budget. Without it (the zero
// value) a half-sent request holds its connection forever.
const readHeaderTimeout = 3 * time.Second

// connections follows the state of every connection of one http.Server.
type connections struct {
	srv *http.Server

	mu     sync.Mutex
	states map[net.Conn]http.ConnState
	// serveReturned is set once Serve has returned: no connection can be
	// added any more, so an empty states means none is left.
	serveReturned bool
	// noneLeft is closed once serveReturned is set and states is empty.
	noneLeft chan struct{}
}

// trackConnections has srv report every connection's state to the
// returned tracker. Call it before serving.
func trackConnections(srv *http.Server) *connections {
	c := &connections{
		srv:      srv,
		states:   make(map[net.Conn]http.ConnState),
		noneLeft: make(chan struct{}),
	}
	srv.ConnState = c.changed
	return c
}

// changed is the ConnState hook. net/http calls it with StateNew as Serve
// accepts a connection, before Serve can return; with StateActive once the
// first bytes of a request have been read, its whole header included;
// StateIdle between two requests; StateClosed or StateHijacked (a
// WebSocket: no longer the server's) at the end. HTTP/2 without TLS reports
// its states on the same connection (StateActive while a stream is open,
// StateIdle when none is).
func (c *connections) changed(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch state {
	case http.StateNew:
		c.states[conn] = state
	case http.StateClosed, http.StateHijacked:
		delete(c.states, conn)
		c.closeIfNoneLeft()
	default:
		if _, ok := c.states[conn]; ok {
			c.states[conn] = state
		}
	}
}

// closeIfNoneLeft closes noneLeft once Serve has returned and the last
// connection has gone. c.mu must be held.
func (c *connections) closeIfNoneLeft() {
	if c.serveReturned && len(c.states) == 0 {
		select {
		case <-c.noneLeft:
		default:
			close(c.noneLeft)
		}
	}
}

// shutdown is srv.Shutdown(ctx) with what it leaves out. serveErr is where
// the goroutine running ListenAndServe (or Serve) sends what it returned.
//
// Shutdown closes the listener, so Serve returns; only then is the list of
// connections complete: one accepted just before the listener closed is
// registered (StateNew) before Serve returns. Then the connections that
// have not sent a whole request header are closed: they hold no request in
// flight. Shutdown itself closes the idle keep-alive connections and waits
// for the requests in flight. shutdown returns nil as soon as the last
// connection has closed, or whatever Shutdown returns if that comes first
// (its context's error once the budget has run out).
//
// The race this leaves: a client may send its first request just as its
// connection is closed. That request is lost, but no handler ever saw it,
// and closing cuts nothing net/http would have answered: net/http answers
// no HTTP/1 request whose header it finishes reading after Shutdown has
// begun (it checks right after reading one, and closes the connection
// instead), and Shutdown began before Serve returned. Without this piece
// such a request is dropped the same way, only up to 5 s later. A client
// whose request fails on a connection it never used may send it again on a
// new one, and browsers do: behind a load balancer the new connection
// reaches another instance; alone, the restarted server once it listens.
func (c *connections) shutdown(ctx context.Context, serveErr <-chan error) error {
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- c.srv.Shutdown(ctx) }()

	select {
	case <-serveErr: // http.ErrServerClosed, the listener is closed
	case err := <-shutdownErr:
		return err
	}
	c.mu.Lock()
	c.serveReturned = true
	for conn, state := range c.states {
		if state == http.StateNew {
			// Its StateClosed comes once net/http's read fails.
			conn.Close()
		}
	}
	c.closeIfNoneLeft()
	c.mu.Unlock()

	select {
	case <-c.noneLeft:
		return nil
	case err := <-shutdownErr:
		return err
	}
}
