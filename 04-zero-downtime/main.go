// 04-zero-downtime answers the post's opening question, "how do we upgrade
// a web service?", without refusing a single connection. Graceful shutdown
// (02-graceful) finishes the requests in flight, but between the old
// process closing its listener and the new one opening its own, new clients
// are refused. Here the running process hands its listening socket to the
// new binary instead, using github.com/cloudflare/tableflip:
//
//  1. SIGHUP: start the binary now at the same path (the new version) as a
//     child, passing it the listening socket;
//  2. the child serves on that socket at once, and tells the parent it is
//     ready; both accept from the one socket for a moment;
//  3. the parent stops accepting, answers what its connections send,
//     lets each keep-alive connection go when that loses no request
//     (finishAccepted), and drains like 02-graceful, then exits 0.
//
// The socket never closes, so the kernel queues new connections for
// whichever process accepts next: no client is refused. If the new binary
// fails to start or exits, the old process keeps serving and says why.
//
// SIGINT and SIGTERM stop the server gracefully, exactly like 02-graceful.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/gin-gonic/gin"
)

// version is set at build time: go build -ldflags "-X main.version=v2".
var version = "dev"

func main() {
	// The defaults are the post's numbers. Build it rather than `go run` it:
	// an upgrade starts the binary at this process's path again.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests")
	pidFile := flag.String("pidfile", "", "file to write the serving process's PID to (empty: none)")
	flag.Parse()

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout, *pidFile); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout time.Duration, pidFile string) error {
	// Catch signals first: one that came before would kill the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// In the first process, New finds no parent. In an upgraded one, it
	// picks up the sockets the parent passed down.
	upg, err := tableflip.New(tableflip.Options{PIDFile: pidFile})
	if err != nil {
		return err
	}
	defer upg.Stop()

	var stopping atomic.Bool
	go upgradeOnSIGHUP(upg, hup, &stopping)

	// The parent's socket if there is one, else a new one on addr.
	ln, err := upg.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	pid := strconv.Itoa(os.Getpid())
	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		// This line lets you (and the tests) see that the request is
		// inside the handler before the signal is sent.
		log.Printf("GET / started, answering in %s", delay)
		time.Sleep(delay)
		// Which process answered, and which build: the hand-over is
		// visible from the client's side.
		c.Header("X-Pid", pid)
		c.Header("X-Version", version)
		c.String(http.StatusOK, "Welcome Gin Server")
	})

	// Once the old process drains after an upgrade (finishAccepted below),
	// every answer it sends says "Connection: close" (closeWhenDraining).
	var draining atomic.Bool
	// conns are the open connections, for the hand-over below.
	conns := &connections{idleSince: make(map[net.Conn]time.Time)}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			router.ServeHTTP(closeWhenDraining{w, &draining}, r)
		}),
		// A client that connects but sends nothing would hold up the
		// hand-over below until the budget runs out: give it half.
		ReadHeaderTimeout: timeout / 2,
		ConnState:         conns.track,
	}
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- srv.Serve(ln)
	}()

	// Ready writes the PID file and, in an upgraded process, tells the
	// parent to let go: from here on this process alone is the server.
	if err := upg.Ready(); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	log.Printf("version %s serving on %s (pid %s)", version, ln.Addr(), pid)

	var reason string
	upgraded := false
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-upg.Exit():
		upgraded = true
		reason = "Upgrade done: the new process serves; draining this one ..."
	case <-ctx.Done():
		reason = "Shutdown Server ... (press Ctrl+C again to force exit)"
	}

	// Stop catching SIGINT and SIGTERM: a second one now kills the process at
	// once, for when the drain takes too long.
	stop()
	log.Println(reason)

	// tableflip keeps a copy of the listening socket to pass on. Stop refuses
	// any further upgrade and has tableflip close that copy (after an upgrade
	// it is closed already); Exit tells when it has. While a copy stays open,
	// the kernel keeps accepting connections that no one would serve.
	stopping.Store(true)
	upg.Stop()
	<-upg.Exit()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if upgraded {
		// A short -timeout shortens the idle grace too: the drain must fit
		// in the budget, or the old process would exit 1 for one idle client.
		grace := min(idleGrace, timeout/4)
		if err := finishAccepted(shutdownCtx, ln, serveErr, conns, &draining, grace); err != nil {
			return fmt.Errorf("hand-over: %w", err)
		}
	}

	// From here on this is 02-graceful: Shutdown closes this process's
	// listener (the new process keeps its own) and waits for the requests
	// in flight. See 02-graceful for what a timed-out Shutdown does and does
	// not do. After an upgrade, finishAccepted has left it nothing to wait for.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		//lint:ignore ST1005 the post's own words: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}

	log.Println("Server exiting")
	return nil
}

// idleGrace is how long a keep-alive connection must have sat idle before
// the draining process closes it. A busy client sends its next request
// within microseconds of reading an answer (a distant one, a round trip
// later): it is never idle that long. What is left is HTTP/1.1's own race:
// a client that reuses a connection idle for longer, at the very instant
// it is closed, sees it fail (clients resend an idempotent request then).
// A -timeout under 4 s shortens it to a quarter of the budget.
const idleGrace = time.Second

// finishAccepted answers, after an upgrade, every connection this process
// accepted, before Shutdown is called. Shutdown alone is not enough for
// "zero failed requests": net/http closes without an answer a connection
// whose request it reads after Shutdown began, so a client that connected
// a moment before would see EOF. (Clients retry that on a reused keep-alive
// connection, never on a fresh one.)
//
// Nor is srv.SetKeepAlivesEnabled(false), the usual way to let keep-alive
// connections go: it closes at once every connection idle at that
// instant. Under load a connection is idle for a few microseconds between
// an answer and the client's next request, which is often on the wire
// already: closed unanswered, and a client that does not resend (wrk, or
// Go's client sending a POST) sees the request fail. So the connections
// are let go one by one, each when it is safe.
func finishAccepted(ctx context.Context, ln net.Listener, serveErr <-chan error, conns *connections, draining *atomic.Bool, grace time.Duration) error {
	// 1. Every answer sent from now on says "Connection: close": a busy
	// connection closes right after its next answer, which its client
	// reads, then connects again, to the new process. That is HTTP/1.1's
	// one clean way to end a keep-alive connection.
	draining.Store(true)
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
	for conns.closeIdle(grace) > 0 {
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

// connections are a server's open connections (its ConnState hook keeps
// them), and since when each has been idle between two requests.
type connections struct {
	mu        sync.Mutex
	idleSince map[net.Conn]time.Time // zero: not idle
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

// closeIdle closes the connections idle for longer than grace, and says
// how many are still open. A closed one leaves once net/http sees it closed.
func (cs *connections) closeIdle(grace time.Duration) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c, since := range cs.idleSince {
		if !since.IsZero() && time.Since(since) > grace {
			c.Close()
		}
	}
	return len(cs.idleSince)
}

// upgradeOnSIGHUP runs one upgrade per SIGHUP. It refuses a SIGHUP that
// comes while an upgrade is still starting the new process, or once this
// process is stopping.
func upgradeOnSIGHUP(upg *tableflip.Upgrader, hup <-chan os.Signal, stopping *atomic.Bool) {
	var upgrading atomic.Bool
	for range hup {
		switch {
		case stopping.Load():
			log.Println("SIGHUP refused: this process is stopping")
		case !upgrading.CompareAndSwap(false, true):
			log.Println("SIGHUP refused: an upgrade is already in progress")
		default:
			log.Println("SIGHUP: upgrading, starting the new binary ...")
			go func() {
				// Upgrade starts the binary at this process's path and waits
				// until it is ready, or fails. On failure nothing changes:
				// this process keeps its socket, keeps serving, and may try
				// again.
				if err := upg.Upgrade(); err != nil {
					if stopping.Load() {
						log.Printf("Upgrade cancelled, this process is stopping: %v", err)
						return
					}
					log.Printf("Upgrade failed, still serving: %v", err)
					upgrading.Store(false)
				}
			}()
		}
	}
}
