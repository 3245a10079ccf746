// The solution to exercise 01. The starting copy, which the tests run as
// the pitfall exit-on-serve-return, calls Shutdown at the signal but lets
// main end as soon as ListenAndServe returns. ListenAndServe returns
// ErrServerClosed the moment Shutdown starts, so its return is no sign that
// the work is done: the process exits, and reports success, while requests
// are still in flight.
//
// Here main waits until Shutdown has returned, that is until every request
// in flight has been answered, before it says "Server exiting" and ends.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	flag.Parse()

	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		log.Printf("GET / started, answering in %s", *delay)
		time.Sleep(*delay)
		c.String(http.StatusOK, "Welcome Gin Server")
	})
	srv := &http.Server{Addr: *addr, Handler: router}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	shutdownDone := make(chan struct{})
	go func() {
		<-ctx.Done()
		log.Println("Shutdown Server ...")
		_ = srv.Shutdown(context.Background())
		close(shutdownDone)
	}()

	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("listen: %s", err)
	}
	// ErrServerClosed: Shutdown has started. Wait for it to finish.
	<-shutdownDone
	log.Println("Server exiting")
}
