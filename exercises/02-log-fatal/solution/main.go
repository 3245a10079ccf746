// The solution to exercise 02. The starting copy, which the tests run as
// the pitfall log-fatal, is the post's shutdown code with a deferred
// cleanup added. When Shutdown times out, log.Fatal calls os.Exit, which
// runs no deferred function: the cleanup never happens.
//
// Here the shutdown code lives in run, which returns its error instead of
// calling log.Fatal. run's deferred cleanup runs when it returns, and only
// then does main exit 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	if err := run(); err != nil {
		log.Println(err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests")
	flag.Parse()

	defer log.Println("cleanup: database connection closed")

	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		log.Printf("GET / started, answering in %s", *delay)
		time.Sleep(*delay)
		c.String(http.StatusOK, "Welcome Gin Server")
	})
	srv := &http.Server{Addr: *addr, Handler: router}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()

	select {
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("listen: %w", err)
		}
	case <-ctx.Done():
	}
	log.Println("Shutdown Server ...")

	shutdownCtx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		//lint:ignore ST1005 the post's own words: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}
	log.Println("Server exiting")
	return nil
}
