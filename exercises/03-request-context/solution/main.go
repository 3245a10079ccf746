// The solution to exercise 03. In the starting copy, which the tests run as
// the pitfall request-context, the handler waits on the request's context,
// expecting Shutdown to cancel it. Shutdown never does: it only waits. The
// handler answers 200 as if nothing happened; a handler that must stop
// early needs its own signal (like 03-workers' jobs).
//
// Here every request's context derives from the signal's context
// (http.Server.BaseContext), so the signal cancels it. The handler that
// waits on c.Request.Context() then stops early and answers 503, and
// Shutdown has nothing left to wait for.
package main

import (
	"context"
	"flag"
	"log"
	"net"
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

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		log.Printf("GET / started, answering in %s", *delay)
		select {
		case <-time.After(*delay):
			c.String(http.StatusOK, "Welcome Gin Server")
		case <-c.Request.Context().Done():
			log.Println("request context cancelled")
			c.String(http.StatusServiceUnavailable, "cancelled")
		}
	})
	srv := &http.Server{
		Addr:        *addr,
		Handler:     router,
		BaseContext: func(net.Listener) context.Context { return ctx },
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()

	select {
	case err := <-serveErr:
		log.Fatalf("listen: %s", err)
	case <-ctx.Done():
	}
	log.Println("Shutdown Server ...")

	if err := srv.Shutdown(context.Background()); err != nil {
		log.Fatal("Server Shutdown: ", err)
	}
	log.Println("Server exiting")
}
