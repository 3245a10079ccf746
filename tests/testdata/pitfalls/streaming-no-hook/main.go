// streaming-no-hook is a pitfall, not a lesson: 06-streaming's server with
// 02-graceful's shutdown and no hook. Its streams end only when the client
// goes away, the way gin's SSE example and most WebSocket examples loop.
// Shutdown never tells them: an open SSE stream holds the shutdown for its
// whole budget (exit 1, then the stream is cut when the process exits), and
// a WebSocket, hijacked and so forgotten by Shutdown, is cut without a close
// frame (a browser reports 1006, coder/websocket's client EOF).
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
		// The pitfall: only the client going away ends this loop.
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
		// The pitfall: only the client going away ends this loop.
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

	// 02-graceful's shutdown, and nothing else: no hook tells the streams.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		//lint:ignore ST1005 the post's own words, as in 06-streaming: log.Fatal("Server Shutdown: ", err)
		return fmt.Errorf("Server Shutdown: %w", err)
	}
	log.Println("Server exiting")
	return nil
}
