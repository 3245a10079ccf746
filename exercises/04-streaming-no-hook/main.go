// Exercise 04. At SIGTERM, an SSE stream on /events should get a last
// "event: shutdown" and end, a WebSocket on /ws should get a close frame
// 1001 (going away), and the process should exit 0 at once. Here the stream
// holds the shutdown until its budget runs out and the socket is cut. Find
// what is missing and add it. Grade your copy from the repository root:
//
//	scripts/grade.sh 04-streaming-no-hook
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-contrib/sse"
	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	delay := flag.Duration("delay", 5*time.Second, "how long GET / takes to answer")
	timeout := flag.Duration("timeout", 5*time.Second, "how long shutdown may wait for in-flight requests")
	tick := flag.Duration("tick", time.Second, "how often /events and /ws send a message")
	flag.Parse()
	if err := run(*addr, *delay, *timeout, *tick); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, delay, timeout, tick time.Duration) error {
	router := gin.Default()
	router.GET("/", func(c *gin.Context) {
		log.Printf("GET / started, answering in %s", delay)
		time.Sleep(delay)
		c.String(http.StatusOK, "Welcome Gin Server")
	})
	router.GET("/events", func(c *gin.Context) {
		c.Header("Content-Type", sse.ContentType)
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
			case <-c.Request.Context().Done():
				return false
			}
		})
	})
	router.GET("/ws", func(c *gin.Context) {
		conn, err := websocket.Accept(c.Writer, c.Request, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		log.Println("GET /ws: socket opened")
		clientGone := conn.CloseRead(context.Background())
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for n := 1; ; n++ {
			select {
			case <-ticker.C:
				if err := conn.Write(clientGone, websocket.MessageText, fmt.Appendf(nil, "tick %d", n)); err != nil {
					return
				}
			case <-clientGone.Done():
				return
			}
		}
	})

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Addr: addr, Handler: router, Protocols: &protocols}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	stop()
	log.Println("Shutdown Server ... (press Ctrl+C again to force exit)")

	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		//lint:ignore ST1005 the post's own words: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}
	log.Println("Server exiting")
	return nil
}
