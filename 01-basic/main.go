// 01-basic is the blog post's first server: a gin app whose only route
// takes a while to answer, and no signal handling at all.
//
// Start it, send a request, press Ctrl+C (SIGINT) or run `kill PID`
// (SIGTERM) while the request is in flight: the process dies on the spot and
// the client gets an empty reply. That dropped request is the problem the
// next two examples solve.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	// The defaults are the post's numbers, so `go run ./01-basic` is the
	// post's first server.
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	flag.Parse()

	if err := run(*addr, *delay); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay time.Duration) error {
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

	// ListenAndServe blocks until it fails (a busy port, say). Nothing here
	// listens for signals, so SIGINT and SIGTERM keep Go's default action:
	// the process exits at once, in-flight requests and all.
	err := srv.ListenAndServe()
	return fmt.Errorf("listen: %w", err)
}
