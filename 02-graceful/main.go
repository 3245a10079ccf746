// 02-graceful is the blog post's second server: the same slow route, but a
// SIGINT or SIGTERM now starts a graceful shutdown. The listener closes at
// once (new connections are refused), requests already in flight are
// allowed to finish, and only then does the process exit.
//
// Start it, send a request, press Ctrl+C while the request is in flight: the
// client still gets "Welcome Gin Server" and the process exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	// The defaults are the post's numbers, so `go run ./02-graceful` is the
	// post's program (the comments below say where its code differs).
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests")
	flag.Parse()

	// run returns instead of calling log.Fatal itself, so its deferred
	// cleanup always runs before the process exits non-zero.
	if err := run(*addr, *delay, *timeout); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout time.Duration) error {
	router := gin.Default()
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
	}

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
	//
	// When shutdownCtx expires first, Shutdown returns context.DeadlineExceeded and
	// stops waiting. That is all it does: it neither closes the remaining
	// connections nor cancels their requests' contexts (the post's "強制關閉所有
	// 連線" is loose here). Those connections die when the process exits just
	// below, or earlier if you call srv.Close().
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		//lint:ignore ST1005 the post's own words: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}

	log.Println("Server exiting")
	return nil
}
