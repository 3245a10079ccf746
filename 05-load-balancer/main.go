// 05-load-balancer is 02-graceful made for life behind a load balancer.
// The load balancer learns that an instance is going away only after the
// signal (Kubernetes removes the endpoint while it sends SIGTERM; a health
// check notices after fall × inter). A server that closes its listener at
// once, as 02 does, refuses the connections still sent its way meanwhile.
// So at the first SIGINT or SIGTERM this one fails its readiness check
// (GET /readyz answers 503) and keeps serving for -drain-delay, until the
// load balancer has stopped sending; only then does it shut down as 02 does.
//
// Put it behind HAProxy with `option httpchk GET /readyz`, restart the
// instances one by one under load: no request fails, none is retried.
//
// connections.go is 06-streaming's piece, copied: at the stop it closes the
// connections that never sent a whole request header (a browser's
// preconnect), which Shutdown would wait for, and it ends the stop as soon
// as the last connection has closed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	// The defaults are the post's numbers, as in 02-graceful; the post has no
	// load balancer, so -drain-delay is this lesson's.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	drainDelay := flag.Duration("drain-delay", 5*time.Second, "how long to keep serving after the signal, with /readyz failing, before shutdown starts")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests, counted from the end of the drain")
	flag.Parse()

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *drainDelay, *timeout); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, drainDelay, timeout time.Duration) error {
	// draining is set at the first signal; the handlers read it while the
	// main goroutine waits out the drain, hence an atomic.
	var draining atomic.Bool
	pid := strconv.Itoa(os.Getpid())

	// gin.Default() without logging /readyz: the load balancer asks for it
	// every 100 ms, and would drown the requests in the log.
	router := gin.New()
	router.Use(gin.LoggerWithConfig(gin.LoggerConfig{SkipPaths: []string{"/readyz"}}), gin.Recovery())
	router.Use(func(c *gin.Context) {
		// Which instance answered: behind a load balancer the client
		// cannot tell otherwise.
		c.Header("X-Pid", pid)
		// During the drain, close each connection after its answer: a
		// keep-alive client, or the load balancer's connection pool, then
		// opens a new connection, and the load balancer gives it to
		// another instance. Closing idle connections ourselves instead
		// would race with a request already on its way to us.
		if draining.Load() {
			c.Header("Connection", "close")
		}
	})
	// The load balancer's health check. It fails from the first signal on,
	// while the server still serves: that is what takes the instance out
	// of rotation before it stops accepting.
	router.GET("/readyz", func(c *gin.Context) {
		if draining.Load() {
			c.String(http.StatusServiceUnavailable, "draining")
			return
		}
		c.String(http.StatusOK, "ready")
	})
	router.GET("/", func(c *gin.Context) {
		// This line lets you (and the tests) see that the request is
		// inside the handler before the signal is sent.
		log.Printf("GET / started, answering in %s", delay)
		time.Sleep(delay)
		c.String(http.StatusOK, "Welcome Gin Server")
	})

	srv := &http.Server{
		Addr:    addr,
		Handler: router,
		// A half-sent request header is closed after this (connections.go).
		ReadHeaderTimeout: readHeaderTimeout,
	}
	conns := trackConnections(srv)

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
	// action and kills the process at once, during the drain delay or the
	// shutdown after it.
	stop()

	// Fail readiness, keep serving. The listener stays open for the whole
	// delay: the load balancer may still send new connections until its
	// health check has seen the 503s (HAProxy: fall × inter), or until
	// Kubernetes' endpoint removal has reached every node.
	draining.Store(true)
	log.Printf("Draining: /readyz answers 503 from now on; still serving for %s (press Ctrl+C again to force exit)", drainDelay)
	time.Sleep(drainDelay)

	log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")

	// Shutdown closes the listener, then waits for every in-flight request
	// to finish. Do not wait for ListenAndServe instead: it returns
	// ErrServerClosed the moment Shutdown starts, while requests still run.
	// conns.shutdown is Shutdown plus connections.go.
	//
	// The budget starts now, after the drain: the whole stop takes at most
	// drain-delay + timeout, what Kubernetes' grace period must cover.
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

	log.Println("Server exiting")
	return nil
}
