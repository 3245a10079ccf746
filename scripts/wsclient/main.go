// wsclient is the classroom demo's WebSocket client, a stand-in for a
// browser's WebSocket: it connects to URL, prints each message the server
// sends, and prints how the socket ended, as a browser's onclose reports it:
//
//	message: tick 1
//	close 1001 server shutting down
//
// It sends nothing; it answers the server's close frame with its own, as a
// browser does. A socket that ends without a close frame prints "close 1006
// (no close frame)", the status RFC 6455 reserves for that (a browser
// reports the same), and the error on stderr.
//
// Why a program of our own: curl cannot speak WebSocket frames (Debian 12's
// curl 7.88 lists no ws protocol), and Debian has no WebSocket client the
// lab uses. This one is built on coder/websocket, the library 06-streaming
// serves with. By hand: go run ./scripts/wsclient ws://127.0.0.1:8080/ws
//
// Exit status: 0 the server closed the socket with a close frame; 1 the
// socket ended without one, or -max-time ran out; 2 bad usage, or no
// socket was opened.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/coder/websocket"
)

func main() {
	maxTime := flag.Duration("max-time", 30*time.Second, "give up after this long, like curl --max-time")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: wsclient [-max-time DURATION] ws://HOST:PORT/PATH")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *maxTime)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, flag.Arg(0), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wsclient: %v\n", err)
		os.Exit(2)
	}
	defer conn.CloseNow()

	for {
		_, msg, err := conn.Read(ctx)
		if err == nil {
			fmt.Printf("message: %s\n", msg)
			continue
		}
		// Read has answered a close frame with ours: the handshake is done.
		var closed websocket.CloseError
		if errors.As(err, &closed) {
			fmt.Printf("close %d %s\n", closed.Code, closed.Reason)
			return
		}
		fmt.Println("close 1006 (no close frame)")
		fmt.Fprintf(os.Stderr, "wsclient: %v\n", err)
		conn.CloseNow()
		cancel()
		os.Exit(1)
	}
}
