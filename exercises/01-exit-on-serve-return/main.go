// Exercise 01. This server handles SIGINT and SIGTERM: it calls Shutdown,
// prints "Server exiting" and exits 0. Yet a request in flight at the
// signal never gets its answer. Find the bug and fix it, then grade your
// copy from the repository root:
//
//	scripts/grade.sh 01-exit-on-serve-return
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
	go func() {
		<-ctx.Done()
		log.Println("Shutdown Server ...")
		_ = srv.Shutdown(context.Background())
	}()

	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("listen: %s", err)
	}
	log.Println("Server exiting")
}
