// 06-streaming is 02-graceful plus connections that never finish by
// themselves: Server-Sent Events on GET /events, a WebSocket on GET /ws,
// and HTTP/2 without TLS beside HTTP/1.1 on the same port.
//
// Shutdown treats them badly unless it is told about them. An SSE stream is
// a request in flight that never ends: Shutdown waits for it until the
// budget runs out, then the process exits under it. A WebSocket is a
// hijacked connection: Shutdown forgets it, so the process exits under it
// and the client never gets a close frame. The fix is one hook: at the
// first signal the streams and sockets are told that the server is going
// away, each ends in its protocol's own way (a last "shutdown" event, a
// close frame 1001), and the budget is left for the short requests.
//
// HTTP/2 needs nothing from us: on Shutdown Go's HTTP/2 server sends GOAWAY
// by itself, telling the client which of its requests will still be
// answered, so no request is lost to a connection closing under it.
//
// A browser also opens connections it does not use yet, which Shutdown
// waits for as if they were busy; connections.go closes them at the stop,
// and ends the stop as soon as the last connection has closed.
//
// Start it, open `curl -N localhost:8080/events`, press Ctrl+C: curl gets
// "event:shutdown" and ends, and the process exits 0 at once. Or open
// http://localhost:8080/live in a browser: a page that prints each event.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-contrib/sse"
	"github.com/gin-gonic/gin"
)

// reconnectAfter is the retry: hint of the last SSE event: how long a
// browser's EventSource waits before it reconnects, to the restarted
// server or to another one behind the load balancer.
const reconnectAfter = 2 * time.Second

// livePage is GET /live: a page that opens /events and /ws in the browser
// and prints each event as a line. It is built into the binary, and asks
// for nothing else: students open it while the server stops and restarts.
//
//go:embed live.html
var livePage []byte

func main() {
	// The defaults are the post's numbers, as in 02-graceful; the post has no
	// streams, so -tick is this lesson's.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests")
	tick := flag.Duration("tick", time.Second, "how often /events and /ws send a message")
	flag.Parse()
	if *tick <= 0 {
		// A value the flag package accepts but this program cannot use:
		// report it the way the flag package reports a bad flag.
		fmt.Fprintln(flag.CommandLine.Output(), "-tick must be more than 0")
		flag.Usage()
		os.Exit(2)
	}

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout, *tick); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout, tick time.Duration) error {
	// goingAway is done once the shutdown starts: every stream and socket
	// watches it. Nothing else tells them; see RegisterOnShutdown below.
	goingAway, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	// sockets counts the WebSockets still open, which Shutdown cannot do.
	var sockets sync.WaitGroup

	// gin.Default() is gin.New() with gin's logger and recovery. Here a
	// socket is counted in front of the logger: it is done only once the
	// logger has written its access-log line, which the process must not
	// exit before.
	router := gin.New()
	router.Use(countSockets(&sockets), gin.Logger(), gin.Recovery())
	router.GET("/", func(c *gin.Context) {
		// This line lets you (and the tests) see that the request is
		// inside the handler before the signal is sent.
		log.Printf("GET / started, answering in %s", delay)
		time.Sleep(delay)
		c.String(http.StatusOK, "Welcome Gin Server")
	})
	router.GET("/events", func(c *gin.Context) { streamEvents(c, goingAway.Done(), tick) })
	router.GET("/ws", func(c *gin.Context) { serveSocket(c, goingAway.Done(), tick) })
	router.GET("/live", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", livePage) })

	// HTTP/2 without TLS ("h2c", what curl --http2-prior-knowledge speaks)
	// beside HTTP/1.1 on the same port: the server tells them apart by the
	// first bytes a client sends. Browsers speak HTTP/2 only over TLS; a
	// proxy in front of the server may speak h2c to it.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Addr:      addr,
		Handler:   router,
		Protocols: &protocols,
		// A half-sent request header is closed after this (connections.go).
		ReadHeaderTimeout: readHeaderTimeout,
	}
	conns := trackConnections(srv)
	// The lesson: Shutdown calls this hook as it starts (in a goroutine of
	// its own), and the streams and sockets end at once instead of holding
	// the shutdown until its budget runs out. Go's HTTP/2 server registers
	// a hook of its own here: that is the one that sends GOAWAY.
	srv.RegisterOnShutdown(endStreams)

	// The post makes a channel and calls signal.Notify; NotifyContext does
	// the same job and hands back a context that is done at the first
	// SIGINT (Ctrl+C, kill -2) or SIGTERM (kill, docker stop, Kubernetes).
	// It comes before serving: a signal that beat it would kill the process.
	// SIGKILL (kill -9) cannot be caught by any program.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Serve in the background so that run can wait for a signal. The post
	// calls log.Fatal inside this goroutine; sending the error back instead
	// lets a busy port end the program through the same return path.
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.ListenAndServe()
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}

	// Stop catching signals: from now on a second Ctrl+C gets Go's default
	// action and kills the process at once, for when the drain takes too long.
	stop()
	log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")

	// Shutdown closes the listener, then waits for every in-flight request
	// to finish. Do not wait for ListenAndServe instead: it returns
	// ErrServerClosed the moment Shutdown starts, while requests still run.
	// An SSE stream is such a request: it finishes because the hook told it
	// to. An HTTP/2 connection counts as busy until it has closed itself,
	// after its GOAWAY and its last stream. conns.shutdown is Shutdown plus
	// connections.go: the unused connections closed at once, the return as
	// soon as the last connection has closed.
	//
	// When shutdownCtx expires first, Shutdown returns context.DeadlineExceeded and
	// stops waiting. That is all it does: it neither closes the remaining
	// connections nor cancels their requests' contexts (the post's "強制關閉所有
	// 連線" is loose here). Those connections die when the process exits just
	// below, or earlier if you call srv.Close().
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := conns.shutdown(shutdownCtx, serveErr); err != nil {
		//lint:ignore ST1005 the post's own words: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}
	// Shutdown does not wait for hijacked connections, so it may return
	// while a WebSocket is still saying goodbye. Wait for the sockets here,
	// within what is left of the same budget.
	if err := waitUntilDone(shutdownCtx, &sockets); err != nil {
		return fmt.Errorf("WebSockets: %w", err)
	}

	log.Println("Server exiting")
	return nil
}

// streamEvents serves Server-Sent Events: an "event:tick" with an increasing
// number every tick, until the client goes away or the server does.
//
// gin's helpers fit here: c.Stream runs the loop and flushes after each
// step, c.SSEvent and sse.Event write the events. But c.Stream only checks
// whether the client has gone (CloseNotify), between two steps: it knows
// nothing about a shutdown. gin's SSE example blocks its step on a message
// channel and nothing else; under 02's shutdown a stream like that holds
// Shutdown for its whole budget (exercises/04-streaming-no-hook).
// The step itself has to watch goingAway.
func streamEvents(c *gin.Context, goingAway <-chan struct{}, tick time.Duration) {
	// Send the headers now, not with the first tick: the client (a
	// browser's EventSource fires onopen) sees the stream open at once.
	c.Header("Content-Type", sse.ContentType)
	c.Header("Cache-Control", "no-cache")
	c.Status(http.StatusOK)
	c.Writer.Flush()
	log.Println("GET /events: stream opened")

	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	n := 0
	c.Stream(func(io.Writer) bool {
		select {
		case <-ticker.C:
			n++
			c.SSEvent("tick", n)
			return true
		case <-goingAway:
			// One last event, with data: a browser's EventSource drops an
			// event that has none. retry: tells it when to reconnect.
			c.Render(-1, sse.Event{
				Event: "shutdown",
				Data:  "server shutting down",
				Retry: uint(reconnectAfter.Milliseconds()),
			})
			log.Println("GET /events: sent event shutdown, stream ended")
			return false
		case <-c.Request.Context().Done():
			return false // the client went away
		}
	})
}

// countSockets counts each WebSocket request in sockets until every
// middleware after it has returned. It counts the socket before Accept
// hijacks the connection: until then it is a request Shutdown waits for,
// so run's wait cannot miss it.
func countSockets(sockets *sync.WaitGroup) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !c.IsWebsocket() {
			return
		}
		sockets.Add(1)
		defer sockets.Done()
		c.Next()
	}
}

// serveSocket serves a WebSocket that sends "tick N" every tick, until the
// client goes away or the server does; then it closes with 1001, going away.
func serveSocket(c *gin.Context, goingAway <-chan struct{}, tick time.Duration) {
	conn, err := websocket.Accept(c.Writer, c.Request, nil)
	if err != nil {
		log.Printf("GET /ws: %v", err) // Accept has answered the client
		return
	}
	defer conn.CloseNow()
	log.Println("GET /ws: socket opened")

	// The client sends nothing but control frames: CloseRead reads them
	// in the background (pings, its close) and its context is done once the
	// client has gone.
	clientGone := conn.CloseRead(context.Background())
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for n := 1; ; n++ {
		select {
		case <-ticker.C:
			// A client that stopped reading must not hold this loop.
			ctx, cancel := context.WithTimeout(clientGone, tick)
			err := conn.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "tick %d", n))
			cancel()
			if err != nil {
				return
			}
		case <-goingAway:
			// Close sends the close frame and waits for the client's (the
			// library gives each 5 s): a clean end on both sides.
			log.Println("GET /ws: closing with 1001 going away")
			if err := conn.Close(websocket.StatusGoingAway, "server shutting down"); err != nil {
				log.Printf("GET /ws: close: %v", err)
				return
			}
			log.Println("GET /ws: closed")
			return
		case <-clientGone.Done():
			return
		}
	}
}

// waitUntilDone waits for wg, or until ctx is done.
func waitUntilDone(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
